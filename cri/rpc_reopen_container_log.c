/* ReopenContainerLog: the kubelet rotated the log (renamed it away) and
 * asks for a fresh file at the same path.  conmon holds the file, so the
 * request goes to it over its control FIFO (<bundle>/ctl); it is only
 * there while the container runs.  Not a state transition. */
#include <errno.h>

#include "cri/ctr_ops.h"

/* conmon answers within milliseconds; this only bounds a stuck one. */
#define REOPEN_TIMEOUT_MS 10000u

int cri_handle_reopen_container_log(struct cri_request *req, ProtobufCMessage **response,
                                    crio_error_t *err) {
  const Runtime__V1__ReopenContainerLogRequest *in = (const void *)req->message;
  cleanup_store_record store_record *rec = NULL;
  if (cri_ctr_record_get(req, in->container_id, &rec, err) < 0 ||
      cri_ctr_check_running(rec, err) < 0)
    return -1;
  const char *bundle = rec->container->bundle_dir;
  const char *log_path = rec->container->log_path;
  if (bundle == NULL || *bundle == '\0' || log_path == NULL || *log_path == '\0')
    return crio_error(err, EUCLEAN, "container %s: record names no bundle or log path", rec->id);
  if (oci_conmon_reopen_log(bundle, log_path, REOPEN_TIMEOUT_MS, err) < 0) {
    /* EBUSY: nobody reads the FIFO, the container has just exited. */
    if (crio_error_status(err) == EBUSY) {
      crio_error_release(err);
      return crio_error(err, EBUSY, "container %s is not running (its monitor has exited)",
                        rec->id);
    }
    return crio_error_prefix(err, "reopen log of container %s", rec->id);
  }
  Runtime__V1__ReopenContainerLogResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__reopen_container_log_response__init(resp);
  *response = &resp->base;
  return 0;
}
