/* What a CNI plugin prints on ADD (cni_result_parse): its interfaces, ips,
 * routes and DNS, and the pod IPs derived from them for PodSandboxStatus.
 * Whatever parses must keep its indexes in range and its lists terminated. */
#include "cni/cni.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  fuzz_quiet_logs();
  return 0;
}

static size_t strv_len(char **v) {
  FUZZ_ASSERT(v != NULL);
  size_t n = 0;
  while (v[n])
    n++;
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cleanup_free char *text = fuzz_cstring(data, size);
  struct cni_result r = {0};
  cleanup_error crio_error_t err = NULL;
  if (cni_result_parse(text, &r, &err) == 0) {
    for (size_t i = 0; i < r.n_ips; i++) {
      FUZZ_ASSERT(r.ips[i].address != NULL);
    }
    for (size_t i = 0; i < r.n_routes; i++)
      FUZZ_ASSERT(r.routes[i].dst != NULL);
    FUZZ_ASSERT(strv_len(r.pod_ips) <= r.n_ips);
    strv_len(r.dns_nameservers);
    strv_len(r.dns_search);
    strv_len(r.dns_options);
  } else {
    FUZZ_ASSERT(crio_error_status(&err) != 0);
  }
  cni_result_release(&r);
  return 0;
}
