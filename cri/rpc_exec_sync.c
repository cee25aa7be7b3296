/* ExecSync: a command in a running container, its output and exit code.
 * Not a state transition: the reconciler runs it as a shared operation
 * (reconciler_container_exec_sync), serialised with the container's steps
 * for its lookup but not with other execs.  The process template is the
 * container's own "process" from its bundle's config.json (user, env,
 * cwd, capabilities, rlimits, LSM labels), with the request's argv.
 *
 * Timeout: the request's `timeout` seconds (0: none), further bounded by
 * the call's own deadline.  When it passes the command's process group is
 * killed and the call fails with DEADLINE_EXCEEDED, which the kubelet turns
 * into a timed-out probe (its remote runtime maps that code, and only that
 * code, to a timeout); the output collected so far is dropped, as a failed
 * call carries no response.
 *
 * Output: each stream is capped by the runtime at 16 MiB (CVE-2022-1708),
 * and together they must also fit one gRPC message (16 MiB, the kubelet's
 * receive limit too), so the pair is trimmed to EXEC_RESPONSE_MAX, stdout
 * first. */
#include <errno.h>
#include <string.h>

#include "cri/ctr_ops.h"
#include "reconciler/reconciler.h"

/* Room for the message's own framing (three tags, two lengths, a varint). */
#define EXEC_RESPONSE_MAX ((size_t)16 * 1024 * 1024 - 4096)

int cri_exec_sync_request_validate(const Runtime__V1__ExecSyncRequest *in, crio_error_t *err) {
  if (in->container_id == NULL || *in->container_id == '\0')
    return crio_error(err, EINVAL, "container_id is required");
  if (in->n_cmd == 0 || in->cmd[0] == NULL || *in->cmd[0] == '\0')
    return crio_error(err, EINVAL, "cmd is required");
  if (in->timeout < 0)
    return crio_error(err, EINVAL, "timeout must not be negative (saw %lld)",
                      (long long)in->timeout);
  return 0;
}

static void trim_to_message(size_t *out_len, size_t *err_len) {
  if (*out_len + *err_len <= EXEC_RESPONSE_MAX)
    return;
  /* stderr keeps up to half, stdout what is left, stderr the rest. */
  size_t err_keep = *err_len < EXEC_RESPONSE_MAX / 2 ? *err_len : EXEC_RESPONSE_MAX / 2;
  if (*out_len > EXEC_RESPONSE_MAX - err_keep)
    *out_len = EXEC_RESPONSE_MAX - err_keep;
  if (*err_len > EXEC_RESPONSE_MAX - *out_len)
    *err_len = EXEC_RESPONSE_MAX - *out_len;
}

static ProtobufCBinaryData bytes_copy(struct cri_request *req, const char *data, size_t len) {
  ProtobufCBinaryData b = {0, NULL};
  if (len) {
    b.data = cri_alloc(req, len);
    memcpy(b.data, data, len);
    b.len = len;
  }
  return b;
}

int cri_handle_exec_sync(struct cri_request *req, ProtobufCMessage **response, crio_error_t *err) {
  const Runtime__V1__ExecSyncRequest *in = (const void *)req->message;
  if (cri_exec_sync_request_validate(in, err) < 0)
    return -1;
  cleanup_store_record store_record *rec = NULL;
  if (cri_ctr_record_get(req, in->container_id, &rec, err) < 0 ||
      cri_ctr_check_running(rec, err) < 0)
    return -1;

  /* protobuf-c's repeated strings are counted, not NULL-terminated. */
  const char **argv = cri_alloc(req, (in->n_cmd + 1) * sizeof(*argv));
  for (size_t i = 0; i < in->n_cmd; i++)
    argv[i] = in->cmd[i];
  struct reconciler_exec_result result;
  if (reconciler_container_exec_sync(req->ctx->reconciler, rec->id, argv, in->timeout,
                                     req->deadline_mono_ns, &result, err) < 0) {
    reconciler_exec_result_release(&result);
    return -1;
  }

  Runtime__V1__ExecSyncResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__exec_sync_response__init(resp);
  size_t out_len = result.out_len, err_len = result.err_len;
  trim_to_message(&out_len, &err_len);
  resp->stdout = bytes_copy(req, result.out, out_len);
  resp->stderr = bytes_copy(req, result.err_out, err_len);
  resp->exit_code = result.exit_code;
  if (result.out_truncated || result.err_truncated || out_len < result.out_len ||
      err_len < result.err_len)
    log_info("ExecSync %s in %s: output over %zu bytes was dropped", in->cmd[0], rec->id,
             (size_t)EXEC_RESPONSE_MAX);
  reconciler_exec_result_release(&result);
  *response = &resp->base;
  return 0;
}
