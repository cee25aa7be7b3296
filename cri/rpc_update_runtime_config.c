#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cri/internal.h"
#include "store/store.h"

/* "10.88.0.0/16" or "fd00::/64": an address and a prefix length that fits. */
static bool valid_cidr(const char *cidr) {
  const char *slash = strchr(cidr, '/');
  if (slash == NULL || slash == cidr || slash[1] == '\0')
    return false;
  cleanup_free char *addr = xstrndup(cidr, (size_t)(slash - cidr));
  unsigned char buf[16];
  int max_prefix;
  if (inet_pton(AF_INET, addr, buf) == 1)
    max_prefix = 32;
  else if (inet_pton(AF_INET6, addr, buf) == 1)
    max_prefix = 128;
  else
    return false;
  /* Plain digits only: strtol alone would take "+24", " 24" and "-0". */
  const char *digits = slash + 1;
  size_t n = strspn(digits, "0123456789");
  if (n == 0 || n > 3 || digits[n] != '\0')
    return false;
  return atoi(digits) <= max_prefix;
}

/* The kubelet sends the node's pod CIDR once it knows it.  We persist it
 * (it survives restarts) and log the change; CNI plugins that want it read
 * it from the runtime config. */
int cri_handle_update_runtime_config(struct cri_request *req, ProtobufCMessage **response,
                                     crio_error_t *err) {
  const Runtime__V1__UpdateRuntimeConfigRequest *in = (const void *)req->message;
  const char *cidr = NULL;
  if (in->runtime_config && in->runtime_config->network_config)
    cidr = in->runtime_config->network_config->pod_cidr;
  if (cidr != NULL && *cidr != '\0') {
    if (!valid_cidr(cidr))
      return crio_error(err, EINVAL,
                        "runtime_config.network_config.pod_cidr: \"%s\" is not "
                        "a CIDR",
                        cidr);
    cleanup_store_txn struct store_txn *txn = NULL;
    if (store_txn_begin(req->ctx->store, STORE_TXN_WRITE, &txn, err) < 0)
      return -1;
    cleanup_free char *old = NULL;
    cleanup_error crio_error_t lookup_err = NULL;
    bool changed = store_meta_get(txn, "pod_cidr", &old, &lookup_err) < 0 || strcmp(old, cidr) != 0;
    if (changed) {
      store_meta_put(txn, "pod_cidr", cidr);
      cleanup_free char *note = xasprintf("pod CIDR set to %s", cidr);
      store_log_note(txn, note);
      if (store_txn_commit(steal_pointer(&txn), err) < 0)
        return crio_error_prefix(err, "persist pod CIDR");
      log_info("pod CIDR is now %s", cidr);
    }
  }
  Runtime__V1__UpdateRuntimeConfigResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__update_runtime_config_response__init(resp);
  *response = &resp->base;
  return 0;
}
