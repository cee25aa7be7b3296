/* PortForward: the pod must exist and be ready; the answer is a URL with a
 * single-use token on the streaming server, which connects to the ports
 * in the pod's network namespace (the host's for a host-network pod) when
 * the client asks for them. */
#include <errno.h>

#include "cri/pod.h"
#include "statemachine/statemachine.h"
#include "streaming/streaming.h"

int cri_handle_port_forward(struct cri_request *req, ProtobufCMessage **response,
                            crio_error_t *err) {
  const Runtime__V1__PortForwardRequest *in = (const void *)req->message;
  if (in->pod_sandbox_id == NULL || *in->pod_sandbox_id == '\0')
    return crio_error(err, EINVAL, "pod_sandbox_id is required");
  for (size_t i = 0; i < in->n_port; i++)
    if (in->port[i] < 1 || in->port[i] > 65535)
      return crio_error(err, EINVAL, "port %d is not a TCP port", in->port[i]);
  if (req->ctx->streaming == NULL)
    return crio_error(err, ENOSYS, "the streaming server is not running");
  cleanup_store_record store_record *rec = NULL;
  if (cri_pod_record_get(req, in->pod_sandbox_id, &rec, err) < 0)
    return -1;
  if (rec->state != SM_POD_READY)
    return crio_error(err, EBUSY, "pod %s is not ready (%s)", rec->id,
                      sm_state_name(SM_KIND_POD, rec->state));
  cleanup_free char *url = NULL;
  if (stream_server_port_forward_url(req->ctx->streaming, rec->id, in->port, in->n_port, &url,
                                     err) < 0)
    return -1;
  Runtime__V1__PortForwardResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__port_forward_response__init(resp);
  resp->url = cri_strdup(req, url);
  *response = &resp->base;
  return 0;
}
