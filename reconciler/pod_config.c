/* The pod's stored config and what derives from it: the namespaces the
 * pod owns, its hostname, the files in its run dir.  Shared by the pod
 * step files and the container create step; calls none of them. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "reconciler/pod_steps.h"

Runtime__V1__PodSandboxConfig *pod_step_config(const store_record *rec, crio_error_t *err) {
  Runtime__V1__PodSandboxConfig *config = NULL;
  if (rec->pod && rec->pod->cri_config.len)
    config = runtime__v1__pod_sandbox_config__unpack(NULL, rec->pod->cri_config.len,
                                                     rec->pod->cri_config.data);
  if (config == NULL)
    crio_error(err, EINVAL, "pod %s: stored config does not decode", rec->id);
  return config;
}

void pod_step_config_freep(Runtime__V1__PodSandboxConfig **config) {
  if (*config)
    runtime__v1__pod_sandbox_config__free_unpacked(*config, NULL);
  *config = NULL;
}

static const Runtime__V1__NamespaceOption *
namespace_options(const Runtime__V1__PodSandboxConfig *config) {
  if (config->linux && config->linux->security_context)
    return config->linux->security_context->namespace_options;
  return NULL;
}

unsigned pod_step_owned_namespaces(const Runtime__V1__PodSandboxConfig *config) {
  const Runtime__V1__NamespaceOption *ns = namespace_options(config);
  unsigned owned = OCI_NS_BIT(OCI_NS_NET) | OCI_NS_BIT(OCI_NS_IPC) | OCI_NS_BIT(OCI_NS_UTS);
  if (ns == NULL)
    return owned;
  /* A host-network pod also keeps the host's UTS namespace, as in Kubernetes. */
  if (ns->network == RUNTIME__V1__NAMESPACE_MODE__NODE)
    owned &= ~(OCI_NS_BIT(OCI_NS_NET) | OCI_NS_BIT(OCI_NS_UTS));
  if (ns->ipc == RUNTIME__V1__NAMESPACE_MODE__NODE)
    owned &= ~OCI_NS_BIT(OCI_NS_IPC);
  if (ns->pid == RUNTIME__V1__NAMESPACE_MODE__POD)
    owned |= OCI_NS_BIT(OCI_NS_PID);
  return owned;
}

const char *pod_step_hostname(const store_record *rec, const Runtime__V1__PodSandboxConfig *config,
                              char buf[POD_HOSTNAME_FROM_ID_LEN + 1]) {
  if ((pod_step_owned_namespaces(config) & OCI_NS_BIT(OCI_NS_UTS)) == 0)
    return NULL;
  if (config->hostname && *config->hostname)
    return config->hostname;
  snprintf(buf, POD_HOSTNAME_FROM_ID_LEN + 1, "%s", rec->id);
  return buf;
}

int pod_step_write_files(const store_record *rec, const Runtime__V1__PodSandboxConfig *config,
                         const char *pod_ip, crio_error_t *err) {
  char host_name[256] = "";
  char from_id[POD_HOSTNAME_FROM_ID_LEN + 1];
  const char *hostname = pod_step_hostname(rec, config, from_id);
  if (hostname == NULL) {
    /* Host network: the host's name, as the containers will see it. */
    gethostname(host_name, sizeof(host_name) - 1);
    hostname = host_name;
  }
  struct oci_dns_config dns = {0};
  const struct oci_dns_config *dns_ptr = NULL;
  if (config->dns_config) {
    dns.servers = (const char *const *)config->dns_config->servers;
    dns.n_servers = config->dns_config->n_servers;
    dns.searches = (const char *const *)config->dns_config->searches;
    dns.n_searches = config->dns_config->n_searches;
    dns.options = (const char *const *)config->dns_config->options;
    dns.n_options = config->dns_config->n_options;
    dns_ptr = &dns;
  }
  struct oci_pod_files files = {
      .hostname = hostname,
      .dns = dns_ptr,
      .pod_ip = pod_ip && *pod_ip ? pod_ip : NULL,
  };
  return oci_pod_files_write(rec->pod->run_dir, &files, err);
}
