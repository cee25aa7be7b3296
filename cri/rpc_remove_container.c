#include <errno.h>

#include "cri/container.h"
#include "reconciler/reconciler.h"
#include "statemachine/statemachine.h"

/* Force-stops a running container (SIGKILL, as the kubelet stopped it
 * before if it cared), deletes it from the runtime, unmounts its root
 * filesystem and drops its directories, record and name.  Idempotent: a
 * container that is gone is removed. */
int cri_handle_remove_container(struct cri_request *req, ProtobufCMessage **response,
                                crio_error_t *err) {
  const Runtime__V1__RemoveContainerRequest *in = (const void *)req->message;
  Runtime__V1__RemoveContainerResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__remove_container_response__init(resp);
  *response = &resp->base;

  cleanup_free char *id = NULL;
  cleanup_store_record store_record *rec = NULL;
  int found = cri_container_resolve_existing(req, in->container_id, &id, &rec, err);
  if (found <= 0)
    return found;
  /* A stop already under way keeps the timeout it was given. */
  if (rec->state == SM_CONTAINER_RUNNING && rec->goal == SM_CONTAINER_RUNNING)
    reconciler_container_stop_timeout(req->ctx->containers, id, 0);
  if (reconciler_request(req->ctx->reconciler, SM_KIND_CONTAINER, id, SM_CONTAINER_REMOVED,
                         req->deadline_mono_ns, err) < 0)
    return crio_error_prefix(err, "remove container %s", id);
  return 0;
}
