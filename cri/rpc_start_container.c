#include <errno.h>

#include "cri/container.h"
#include "reconciler/reconciler.h"
#include "statemachine/statemachine.h"

/* Idempotent for a running container; an exited one cannot start again
 * (FAILED_PRECONDITION), as the CRI has it. */
int cri_handle_start_container(struct cri_request *req, ProtobufCMessage **response,
                               crio_error_t *err) {
  const Runtime__V1__StartContainerRequest *in = (const void *)req->message;
  cleanup_free char *id = NULL;
  cleanup_store_record store_record *rec = NULL;
  if (cri_container_resolve(req, in->container_id, &id, &rec, err) < 0)
    return -1;
  if (rec->state > SM_CONTAINER_RUNNING || rec->goal > SM_CONTAINER_RUNNING)
    return crio_error(err, EBUSY, "container %s cannot start: it is %s", id,
                      rec->state >= SM_CONTAINER_EXITED ? "exited" : "being stopped or removed");
  if (reconciler_request(req->ctx->reconciler, SM_KIND_CONTAINER, id, SM_CONTAINER_RUNNING,
                         req->deadline_mono_ns, err) < 0) {
    if (crio_error_status(err) == EBUSY)
      return crio_error_prefix(err, "container %s cannot start (it has exited)", id);
    return crio_error_prefix(err, "start container %s", id);
  }
  Runtime__V1__StartContainerResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__start_container_response__init(resp);
  *response = &resp->base;
  return 0;
}
