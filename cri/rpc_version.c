#include "cri/internal.h"

/* The kubelet checks runtime_api_version; crictl prints the rest. */
int cri_handle_version(struct cri_request *req, ProtobufCMessage **response, crio_error_t *err) {
  Runtime__V1__VersionResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__version_response__init(resp);
  resp->version = "0.1.0"; /* the kubelet runtime API version string */
  resp->runtime_name = "crio";
  resp->runtime_version = CRIO_VERSION;
  resp->runtime_api_version = "v1";
  *response = &resp->base;
  return 0;
}
