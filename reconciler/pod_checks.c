/* What the pod steps accept of a PodSandboxConfig, checked by RunPodSandbox
 * before anything is persisted (reconciler.h): the rules are oci/'s, which
 * the steps apply later on the host, so a request they would fail on is
 * refused up front with the field named. */
#include "oci/oci.h"
#include "reconciler/reconciler.h"

int reconciler_pod_check_hostname(const char *hostname, crio_error_t *err) {
  return oci_hostname_validate(hostname, err);
}

int reconciler_pod_check_dns(const Runtime__V1__DNSConfig *dns, crio_error_t *err) {
  struct oci_dns_config cfg = {
      .servers = (const char *const *)dns->servers,
      .n_servers = dns->n_servers,
      .searches = (const char *const *)dns->searches,
      .n_searches = dns->n_searches,
      .options = (const char *const *)dns->options,
      .n_options = dns->n_options,
  };
  return oci_dns_config_validate(&cfg, err);
}

/* A sysctl that is not namespaced, or belongs to a namespace the pod shares
 * with the host, would change the node. */
int reconciler_pod_check_sysctls(const Runtime__V1__PodSandboxConfig *config, crio_error_t *err) {
  if (config->linux == NULL || config->linux->n_sysctls == 0)
    return 0;
  unsigned owned = OCI_NS_BIT(OCI_NS_NET) | OCI_NS_BIT(OCI_NS_IPC);
  const Runtime__V1__NamespaceOption *ns =
      config->linux->security_context ? config->linux->security_context->namespace_options : NULL;
  if (ns && ns->network == RUNTIME__V1__NAMESPACE_MODE__NODE)
    owned &= ~OCI_NS_BIT(OCI_NS_NET);
  if (ns && ns->ipc == RUNTIME__V1__NAMESPACE_MODE__NODE)
    owned &= ~OCI_NS_BIT(OCI_NS_IPC);
  size_t n = config->linux->n_sysctls;
  cleanup_free struct oci_sysctl *sysctls = xcalloc(n, sizeof(*sysctls));
  for (size_t i = 0; i < n; i++) {
    sysctls[i].key = config->linux->sysctls[i]->key;
    sysctls[i].value = config->linux->sysctls[i]->value;
  }
  return oci_sysctls_validate(sysctls, n, owned, err);
}
