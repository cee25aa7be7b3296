#include <errno.h>

#include "cri/pod.h"
#include "reconciler/reconciler.h"
#include "statemachine/statemachine.h"

/* Idempotent: a pod that is already stopped, being removed or gone is a
 * success, as the CRI requires. */
int cri_handle_stop_pod_sandbox(struct cri_request *req, ProtobufCMessage **response,
                                crio_error_t *err) {
  const Runtime__V1__StopPodSandboxRequest *in = (const void *)req->message;
  cleanup_free char *id = NULL;
  int found = cri_pod_resolve_existing(req, in->pod_sandbox_id, &id, err);
  if (found < 0)
    return -1;
  if (!found) {
    log_debug("StopPodSandbox: pod %s does not exist; nothing to stop", in->pod_sandbox_id);
  } else {
    int rc = reconciler_request(req->ctx->reconciler, SM_KIND_POD, id, SM_POD_STOPPED,
                                req->deadline_mono_ns, err);
    /* Past STOPPED already (being removed), or removed meanwhile: nothing
     * left to stop. */
    if (rc < 0 && (crio_error_status(err) == EBUSY || crio_error_status(err) == ENOENT)) {
      crio_error_release(err);
      rc = 0;
    }
    if (rc < 0)
      return crio_error_prefix(err, "stop pod sandbox %s", id);
  }
  Runtime__V1__StopPodSandboxResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__stop_pod_sandbox_response__init(resp);
  *response = &resp->base;
  return 0;
}
