/* Exec and Attach: validated as the kubelet's streaming server validates
 * them (a container id; not a terminal together with stderr, as a
 * terminal multiplexes nothing; at least one stream), the container must
 * be running, and the answer is a URL holding a single-use token on the
 * streaming server (streaming/streaming.h), where the command runs once
 * the client connects. */
#include <errno.h>

#include "cri/ctr_ops.h"
#include "streaming/streaming.h"

static int validate_streams(bool tty, bool in, bool out, bool err_stream, crio_error_t *err) {
  if (tty && err_stream)
    return crio_error(err, EINVAL, "tty and stderr cannot both be true");
  if (!in && !out && !err_stream)
    return crio_error(err, EINVAL, "one of stdin, stdout, or stderr must be set");
  return 0;
}

/* The full id of a running container (a unique prefix is resolved). */
static int running_container(struct cri_request *req, const char *id_or_prefix, char **id,
                             crio_error_t *err) {
  if (id_or_prefix == NULL || *id_or_prefix == '\0')
    return crio_error(err, EINVAL, "container_id is required");
  if (req->ctx->streaming == NULL)
    return crio_error(err, ENOSYS, "the streaming server is not running");
  cleanup_store_record store_record *rec = NULL;
  if (cri_ctr_record_get(req, id_or_prefix, &rec, err) < 0 || cri_ctr_check_running(rec, err) < 0)
    return -1;
  *id = cri_strdup(req, rec->id);
  return 0;
}

int cri_handle_exec(struct cri_request *req, ProtobufCMessage **response, crio_error_t *err) {
  const Runtime__V1__ExecRequest *in = (const void *)req->message;
  if (in->n_cmd == 0 || in->cmd[0] == NULL || *in->cmd[0] == '\0')
    return crio_error(err, EINVAL, "cmd is required");
  if (validate_streams(in->tty, in->stdin, in->stdout, in->stderr, err) < 0)
    return -1;
  char *id = NULL;
  if (running_container(req, in->container_id, &id, err) < 0)
    return -1;
  struct stream_exec_request sr = {.container_id = id,
                                   .cmd = (const char *const *)in->cmd,
                                   .n_cmd = in->n_cmd,
                                   .tty = in->tty,
                                   .stdin = in->stdin,
                                   .stdout = in->stdout,
                                   .stderr = in->stderr};
  cleanup_free char *url = NULL;
  if (stream_server_exec_url(req->ctx->streaming, &sr, &url, err) < 0)
    return -1;
  Runtime__V1__ExecResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__exec_response__init(resp);
  resp->url = cri_strdup(req, url);
  *response = &resp->base;
  return 0;
}

int cri_handle_attach(struct cri_request *req, ProtobufCMessage **response, crio_error_t *err) {
  const Runtime__V1__AttachRequest *in = (const void *)req->message;
  if (validate_streams(in->tty, in->stdin, in->stdout, in->stderr, err) < 0)
    return -1;
  char *id = NULL;
  if (running_container(req, in->container_id, &id, err) < 0)
    return -1;
  struct stream_exec_request sr = {.container_id = id,
                                   .tty = in->tty,
                                   .stdin = in->stdin,
                                   .stdout = in->stdout,
                                   .stderr = in->stderr};
  cleanup_free char *url = NULL;
  if (stream_server_attach_url(req->ctx->streaming, &sr, &url, err) < 0)
    return -1;
  Runtime__V1__AttachResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__attach_response__init(resp);
  resp->url = cri_strdup(req, url);
  *response = &resp->base;
  return 0;
}
