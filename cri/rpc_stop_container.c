#include <errno.h>

#include "cri/container.h"
#include "reconciler/reconciler.h"
#include "statemachine/statemachine.h"

/* The stop signal, then SIGKILL after `timeout` seconds (0: at once).
 * Idempotent: a container that has exited, is being removed or is gone is
 * stopped. */
int cri_handle_stop_container(struct cri_request *req, ProtobufCMessage **response,
                              crio_error_t *err) {
  const Runtime__V1__StopContainerRequest *in = (const void *)req->message;
  Runtime__V1__StopContainerResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__stop_container_response__init(resp);
  *response = &resp->base;

  cleanup_free char *id = NULL;
  int found = cri_container_resolve_existing(req, in->container_id, &id, NULL, err);
  if (found < 0)
    return -1;
  if (!found) {
    log_debug("StopContainer: container %s does not exist; nothing to stop", in->container_id);
    return 0;
  }
  reconciler_container_stop_timeout(req->ctx->containers, id, in->timeout > 0 ? in->timeout : 0);
  int rc = reconciler_request(req->ctx->reconciler, SM_KIND_CONTAINER, id, SM_CONTAINER_EXITED,
                              req->deadline_mono_ns, err);
  /* Past EXITED already (being removed), or removed meanwhile. */
  if (rc < 0 && (crio_error_status(err) == EBUSY || crio_error_status(err) == ENOENT)) {
    crio_error_release(err);
    rc = 0;
  }
  if (rc < 0)
    return crio_error_prefix(err, "stop container %s", id);
  return 0;
}
