#include "cri/internal.h"

/* The kubelet (1.28+) asks which cgroup driver we use and configures its
 * own to match, so the answer must be the driver we really use. */
int cri_handle_runtime_config(struct cri_request *req, ProtobufCMessage **response,
                              crio_error_t *err) {
  Runtime__V1__RuntimeConfigResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__runtime_config_response__init(resp);
  resp->linux = cri_alloc(req, sizeof(*resp->linux));
  runtime__v1__linux_runtime_configuration__init(resp->linux);
  resp->linux->cgroup_driver = req->ctx->config->cgroup_driver == CRI_CGROUP_DRIVER_SYSTEMD
                                   ? RUNTIME__V1__CGROUP_DRIVER__SYSTEMD
                                   : RUNTIME__V1__CGROUP_DRIVER__CGROUPFS;
  *response = &resp->base;
  return 0;
}
