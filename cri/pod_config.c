/* Checks of a PodSandboxConfig before anything is persisted.  Every
 * failure is INVALID_ARGUMENT naming the field, as the kubelet logs it. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cri/internal.h"
#include "cri/pod.h"
#include "reconciler/reconciler.h"

static bool valid_ip(const char *s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static int check_metadata(const Runtime__V1__PodSandboxMetadata *md, crio_error_t *err) {
  if (md == NULL)
    return crio_error(err, EINVAL, "config.metadata is required");
  const struct {
    const char *field;
    const char *value;
  } fields[] = {{"name", md->name}, {"namespace", md->namespace_}, {"uid", md->uid}};
  for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
    const char *v = fields[i].value;
    if (v == NULL || *v == '\0')
      return crio_error(err, EINVAL, "config.metadata.%s is required", fields[i].field);
    char field[32];
    snprintf(field, sizeof(field), "config.metadata.%s", fields[i].field);
    if (cri_check_name_field(field, v, err) < 0)
      return -1;
  }
  return 0;
}

static int check_dns(const Runtime__V1__DNSConfig *dns, crio_error_t *err) {
  if (dns == NULL)
    return 0;
  if (reconciler_pod_check_dns(dns, err) < 0)
    return crio_error_prefix(err, "config.dns_config");
  return 0;
}

static int check_ports(const Runtime__V1__PodSandboxConfig *c, crio_error_t *err) {
  for (size_t i = 0; i < c->n_port_mappings; i++) {
    const Runtime__V1__PortMapping *pm = c->port_mappings[i];
    if (pm->container_port < 1 || pm->container_port > 65535)
      return crio_error(err, EINVAL, "config.port_mappings[%zu].container_port: %d is out of range",
                        i, pm->container_port);
    if (pm->host_port < 0 || pm->host_port > 65535)
      return crio_error(err, EINVAL, "config.port_mappings[%zu].host_port: %d is out of range", i,
                        pm->host_port);
    if ((int)pm->protocol < RUNTIME__V1__PROTOCOL__TCP ||
        (int)pm->protocol > RUNTIME__V1__PROTOCOL__SCTP)
      return crio_error(err, EINVAL, "config.port_mappings[%zu].protocol: unknown protocol %d", i,
                        (int)pm->protocol);
    if (pm->host_ip && *pm->host_ip && !valid_ip(pm->host_ip))
      return crio_error(err, EINVAL, "config.port_mappings[%zu].host_ip: \"%s\" is not an IP", i,
                        pm->host_ip);
  }
  return 0;
}

static int check_namespaces(const Runtime__V1__NamespaceOption *ns, crio_error_t *err) {
  if (ns == NULL)
    return 0;
  if (ns->network != RUNTIME__V1__NAMESPACE_MODE__POD &&
      ns->network != RUNTIME__V1__NAMESPACE_MODE__NODE)
    return crio_error(err, EINVAL,
                      "config.linux.security_context.namespace_options.network: mode %d is not "
                      "POD or NODE",
                      (int)ns->network);
  if (ns->ipc != RUNTIME__V1__NAMESPACE_MODE__POD && ns->ipc != RUNTIME__V1__NAMESPACE_MODE__NODE)
    return crio_error(err, EINVAL,
                      "config.linux.security_context.namespace_options.ipc: mode %d is not POD "
                      "or NODE",
                      (int)ns->ipc);
  if (ns->pid == RUNTIME__V1__NAMESPACE_MODE__TARGET)
    return crio_error(err, EINVAL,
                      "config.linux.security_context.namespace_options.pid: TARGET is for "
                      "containers, not pods");
  if (ns->userns_options && ns->userns_options->mode == RUNTIME__V1__NAMESPACE_MODE__POD)
    return crio_error(err, EINVAL,
                      "config.linux.security_context.namespace_options.userns_options: pod user "
                      "namespaces are not supported by this runtime");
  return 0;
}

static int check_cgroup_parent(const char *parent, enum cri_cgroup_driver driver,
                               crio_error_t *err) {
  if (parent == NULL || *parent == '\0')
    return 0;
  if (cri_check_path_field("config.linux.cgroup_parent", parent, err) < 0)
    return -1;
  if (strstr(parent, "..") != NULL)
    return crio_error(err, EINVAL, "config.linux.cgroup_parent: \"%s\" must not contain \"..\"",
                      parent);
  size_t len = strlen(parent);
  bool slice = len > 6 && strcmp(parent + len - 6, ".slice") == 0;
  if (driver == CRI_CGROUP_DRIVER_SYSTEMD && !slice)
    return crio_error(err, EINVAL,
                      "config.linux.cgroup_parent: \"%s\" is not a systemd slice (the cgroup "
                      "driver is systemd)",
                      parent);
  if (driver == CRI_CGROUP_DRIVER_CGROUPFS && parent[0] != '/')
    return crio_error(err, EINVAL,
                      "config.linux.cgroup_parent: \"%s\" is not an absolute cgroup path (the "
                      "cgroup driver is cgroupfs)",
                      parent);
  return 0;
}

const struct cri_runtime_handler *cri_runtime_handler_find(const struct cri_config *cfg,
                                                           const char *name) {
  if (name == NULL || *name == '\0')
    name = cfg->default_runtime;
  for (size_t i = 0; i < cfg->n_runtimes; i++)
    if (strcmp(cfg->runtimes[i].name, name) == 0)
      return &cfg->runtimes[i];
  return NULL;
}

int cri_pod_config_validate(const Runtime__V1__RunPodSandboxRequest *req,
                            const struct cri_config *cfg, crio_error_t *err) {
  const Runtime__V1__PodSandboxConfig *c = req->config;
  if (c == NULL)
    return crio_error(err, EINVAL, "config is required");
  if (check_metadata(c->metadata, err) < 0)
    return -1;
  if (c->hostname && *c->hostname && reconciler_pod_check_hostname(c->hostname, err) < 0)
    return crio_error_prefix(err, "config.hostname");
  if (c->log_directory && *c->log_directory && c->log_directory[0] != '/')
    return crio_error(err, EINVAL, "config.log_directory: \"%s\" is not an absolute path",
                      c->log_directory);
  /* Room is left for the container's log file under it (a component of
   * its own, checked by CreateContainer). */
  if (c->log_directory && strlen(c->log_directory) >= PATH_MAX - NAME_MAX - 1)
    return crio_error(err, EINVAL, "config.log_directory: a path of %zu bytes, at most %d allowed",
                      strlen(c->log_directory), PATH_MAX - NAME_MAX - 2);
  if (c->log_directory && cri_check_path_field("config.log_directory", c->log_directory, err) < 0)
    return -1;
  if (check_dns(c->dns_config, err) < 0 || check_ports(c, err) < 0)
    return -1;
  if (c->linux) {
    if (check_cgroup_parent(c->linux->cgroup_parent, cfg->cgroup_driver, err) < 0)
      return -1;
    if (c->linux->security_context &&
        check_namespaces(c->linux->security_context->namespace_options, err) < 0)
      return -1;
    if (reconciler_pod_check_sysctls(c, err) < 0)
      return crio_error_prefix(err, "config.linux.sysctls");
  }
  if (cri_runtime_handler_find(cfg, req->runtime_handler) == NULL)
    return crio_error(err, EINVAL, "runtime_handler: \"%s\" is not a configured runtime handler",
                      req->runtime_handler);
  return 0;
}

/* CRI-O's naming, so tools that parse it keep working:
 * k8s_<name>_<namespace>_<uid>_<attempt>. */
char *cri_pod_name(const Runtime__V1__PodSandboxMetadata *md) {
  return xasprintf("k8s_%s_%s_%s_%u", md->name, md->namespace_, md->uid, md->attempt);
}
