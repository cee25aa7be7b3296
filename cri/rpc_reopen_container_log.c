/* ReopenContainerLog: the kubelet rotated the log (renamed it away) and
 * asks for a fresh file at the same path.  conmon holds the file; the
 * reconciler asks it, serialised with the container's steps
 * (reconciler_container_reopen_log).  Not a state transition. */
#include <errno.h>

#include "cri/ctr_ops.h"
#include "reconciler/reconciler.h"

int cri_handle_reopen_container_log(struct cri_request *req, ProtobufCMessage **response,
                                    crio_error_t *err) {
  const Runtime__V1__ReopenContainerLogRequest *in = (const void *)req->message;
  cleanup_store_record store_record *rec = NULL;
  if (cri_ctr_record_get(req, in->container_id, &rec, err) < 0 ||
      cri_ctr_check_running(rec, err) < 0)
    return -1;
  if (reconciler_container_reopen_log(req->ctx->reconciler, rec->id, req->deadline_mono_ns, err) <
      0)
    return -1;
  Runtime__V1__ReopenContainerLogResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__reopen_container_log_response__init(resp);
  *response = &resp->base;
  return 0;
}
