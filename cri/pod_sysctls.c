#include "cri/pod.h"
#include "oci/oci.h"

/* Rejected before anything is persisted: a sysctl that is not namespaced, or
 * belongs to a namespace the pod shares with the host, would change the
 * node. */
int cri_pod_sysctls_validate(const Runtime__V1__PodSandboxConfig *config, crio_error_t *err) {
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
  if (oci_sysctls_validate(sysctls, n, owned, err) < 0)
    return crio_error_prefix(err, "config.linux.sysctls");
  return 0;
}
