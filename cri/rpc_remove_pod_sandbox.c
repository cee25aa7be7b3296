#include <errno.h>

#include "cri/pod.h"
#include "reconciler/reconciler.h"
#include "statemachine/statemachine.h"

/* Idempotent: removing a pod that is gone is a success.  A ready pod is
 * stopped on the way (the state machine's only way to REMOVED). */
int cri_handle_remove_pod_sandbox(struct cri_request *req, ProtobufCMessage **response,
                                  crio_error_t *err) {
  const Runtime__V1__RemovePodSandboxRequest *in = (const void *)req->message;
  cleanup_free char *id = NULL;
  int found = cri_pod_resolve_existing(req, in->pod_sandbox_id, &id, err);
  if (found < 0)
    return -1;
  if (found && reconciler_request(req->ctx->reconciler, SM_KIND_POD, id, SM_POD_REMOVED,
                                  req->deadline_mono_ns, err) < 0)
    return crio_error_prefix(err, "remove pod sandbox %s", id);
  Runtime__V1__RemovePodSandboxResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__remove_pod_sandbox_response__init(resp);
  *response = &resp->base;
  return 0;
}
