/* The pod's CNI attachment.  ADD uses the network config found on disk and
 * stores exactly what it used (conflist and result) in the record; DEL uses
 * what was stored, so a changed or removed config file after a restart or a
 * reboot still releases what ADD acquired. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cni/cni.h"
#include "reconciler/pod_steps.h"

static bool host_network(const store_record *rec) {
  return *rec->pod->netns_path == '\0';
}

/* Where ADD leaves the config it is about to use, before it runs: if ADD
 * fails or the daemon dies during it, the rollback's DEL finds it here. */
static char *stash_path(const store_record *rec) {
  return xasprintf("%s/cni-config.json", rec->pod->run_dir);
}

static const char *annotation(const store_record *rec, const char *key) {
  for (size_t i = 0; i < rec->n_annotations; i++)
    if (strcmp(rec->annotations[i]->key, key) == 0)
      return rec->annotations[i]->value;
  return NULL;
}

/* Kubernetes quantities as the bandwidth annotations use them ("10M",
 * "1Gi"), in bits per second.  0 when absent or unparsable. */
static uint64_t parse_quantity(const char *s) {
  if (s == NULL || *s == '\0')
    return 0;
  char *end = NULL;
  double v = strtod(s, &end);
  if (end == s || v < 0)
    return 0;
  static const struct {
    const char *suffix;
    double factor;
  } units[] = {{"Ki", 1024.0}, {"Mi", 1048576.0}, {"Gi", 1073741824.0}, {"Ti", 1099511627776.0},
               {"k", 1e3},     {"K", 1e3},        {"M", 1e6},           {"G", 1e9},
               {"T", 1e12},    {"", 1.0}};
  for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
    if (strcmp(end, units[i].suffix) == 0)
      return (uint64_t)(v * units[i].factor);
  return 0;
}

static const char *protocol_name(Runtime__V1__Protocol p) {
  switch (p) {
  case RUNTIME__V1__PROTOCOL__UDP:
    return "udp";
  case RUNTIME__V1__PROTOCOL__SCTP:
    return "sctp";
  default:
    return "tcp";
  }
}

/* The pod's CNI request (cni_request_build): CNI_ARGS from its metadata,
 * port mappings from its config and bandwidth from its annotations.
 * config NULL (it does not decode): empty metadata, no capability
 * arguments. */
static void pod_request(const store_record *rec, const Runtime__V1__PodSandboxConfig *config,
                        const char *netns, struct cni_request *out) {
  size_t n = config ? config->n_port_mappings : 0;
  cleanup_free struct cni_port_mapping *ports = xcalloc(n ? n : 1, sizeof(*ports));
  for (size_t i = 0; i < n; i++) {
    const Runtime__V1__PortMapping *pm = config->port_mappings[i];
    ports[i] = (struct cni_port_mapping){
        .host_port = pm->host_port,
        .container_port = pm->container_port,
        .protocol = protocol_name(pm->protocol),
        .host_ip = pm->host_ip,
    };
  }
  struct cni_pod_request in = {
      .pod_id = rec->id,
      .netns_path = netns,
      .ifname = "eth0",
      .pod_namespace = config ? config->metadata->namespace_ : "",
      .pod_name = config ? config->metadata->name : "",
      .pod_uid = config ? config->metadata->uid : "",
      .port_mappings = ports,
      .n_port_mappings = n,
      .ingress_bps = parse_quantity(annotation(rec, "kubernetes.io/ingress-bandwidth")),
      .egress_bps = parse_quantity(annotation(rec, "kubernetes.io/egress-bandwidth")),
      .no_capability_args = config == NULL,
  };
  cni_request_build(&in, out);
}

/* What releasing the attachment needs, for the log: wipe can replay the
 * DEL from this alone, after the record is gone. */
static char *attachment_detail(const char *conflist, const char *result, const char *netns,
                               const char *caps) {
  cJSON *root = cJSON_CreateObject();
  /* DEL must get the runtimeConfig ADD got (portmap removes its rules by
   * it), so wipe finds it here. */
  cJSON *c_args = caps ? cJSON_Parse(caps) : NULL;
  if (c_args)
    cJSON_AddItemToObject(root, "capabilityArgs", c_args);
  cJSON *c = cJSON_Parse(conflist);
  cJSON_AddItemToObject(root, "conflist", c ? c : cJSON_CreateNull());
  cJSON *r = result ? cJSON_Parse(result) : NULL;
  cJSON_AddItemToObject(root, "result", r ? r : cJSON_CreateNull());
  cJSON_AddStringToObject(root, "netns", netns);
  cJSON_AddStringToObject(root, "ifname", "eth0");
  char *out = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  return out;
}

static char *attachment_id(const char *network, const char *pod_id) {
  return xasprintf("%s/%s/eth0", network, pod_id);
}

static void set_bytes(ProtobufCBinaryData *field, const char *text) {
  free(field->data);
  size_t len = text ? strlen(text) : 0;
  field->data = len ? xmemdup(text, len) : NULL;
  field->len = len;
}

int pod_step_cni_add(struct reconcile_step *step, crio_error_t *err) {
  store_record *rec = step->record;
  const struct reconciler_pod_env *env = pod_step_env(step);
  if (host_network(rec))
    return 0;
  cleanup_pod_step_config Runtime__V1__PodSandboxConfig *config = pod_step_config(rec, err);
  if (config == NULL)
    return -1;
  struct cni_network net;
  if (cni_network_load(env->cni_config_dir, env->cni_plugin_dirs, &net, err) < 0)
    return crio_error_prefix(err, "pod %s: CNI network", rec->id);
  cleanup_free char *stash = stash_path(rec);
  if (crio_write_file_replace(stash, net.conflist, strlen(net.conflist), 0600, err) < 0) {
    cni_network_release(&net);
    return crio_error_prefix(err, "pod %s: keep CNI config", rec->id);
  }
  cleanup_cni_request struct cni_request req = {0};
  pod_request(rec, config, rec->pod->netns_path, &req);
  cleanup_free char *result = NULL;
  if (cni_add(&net, env->cni_plugin_dirs, &req.rt, &result, err) < 0) {
    /* cni_add's message names the network and the plugin that failed. */
    cni_network_release(&net);
    return crio_error_prefix(err, "pod %s", rec->id);
  }
  struct cni_result parsed;
  if (cni_result_parse(result, &parsed, err) < 0) {
    cni_network_release(&net);
    return crio_error_prefix(err, "pod %s: CNI result", rec->id);
  }
  store_string_set(&rec->pod->ip, parsed.pod_ips[0] ? parsed.pod_ips[0] : "");
  for (size_t i = 0; i < rec->pod->n_additional_ips; i++)
    store_string_set(&rec->pod->additional_ips[i], NULL);
  free(rec->pod->additional_ips);
  rec->pod->additional_ips = NULL;
  rec->pod->n_additional_ips = 0;
  size_t n_extra = 0;
  while (parsed.pod_ips[0] && parsed.pod_ips[1 + n_extra])
    n_extra++;
  if (n_extra) {
    rec->pod->additional_ips = xcalloc(n_extra, sizeof(char *));
    for (size_t i = 0; i < n_extra; i++) {
      rec->pod->additional_ips[i] = NULL;
      store_string_set(&rec->pod->additional_ips[i], parsed.pod_ips[1 + i]);
    }
    rec->pod->n_additional_ips = n_extra;
  }
  cni_result_release(&parsed);
  set_bytes(&rec->pod->network_config, net.conflist);
  set_bytes(&rec->pod->network_status, result);
  store_string_set(&rec->pod->network_name, net.name);

  cleanup_free char *id = attachment_id(net.name, rec->id);
  cleanup_free char *detail =
      attachment_detail(net.conflist, result, rec->pod->netns_path, req.capability_args);
  reconcile_step_acquire(step, POD_RES_CNI, id, detail, strlen(detail));
  cni_network_release(&net);

  /* /etc/hosts for containers can name the pod now that it has an IP. */
  cleanup_error crio_error_t hosts_err = NULL;
  if (*rec->pod->ip && pod_step_write_files(rec, config, rec->pod->ip, &hosts_err) < 0)
    crio_error_warn(&hosts_err, "pod hosts file");
  return 0;
}

static int run_del(struct reconcile_step *step, const char *conflist, const char *prev_result,
                   crio_error_t *err) {
  store_record *rec = step->record;
  const struct reconciler_pod_env *env = pod_step_env(step);
  cleanup_error crio_error_t cfg_err = NULL;
  cleanup_pod_step_config Runtime__V1__PodSandboxConfig *config = pod_step_config(rec, &cfg_err);
  cleanup_free char *netns = oci_ns_pin_path(env->runroot, OCI_NS_NET, rec->id);
  /* The spec wants DEL to get the runtimeConfig ADD got: portmap, for one,
   * removes nothing on a DEL without portMappings. */
  cleanup_cni_request struct cni_request req = {0};
  pod_request(rec, config, netns, &req);
  return cni_del(conflist, env->cni_plugin_dirs, &req.rt, prev_result, err);
}

static void forget_attachment(struct reconcile_step *step, const char *network) {
  store_record *rec = step->record;
  cleanup_free char *id = attachment_id(network, rec->id);
  reconcile_step_release(step, POD_RES_CNI, id);
  store_string_set(&rec->pod->ip, NULL);
  set_bytes(&rec->pod->network_status, NULL);
}

/* DEL with what ADD stored. */
int pod_step_cni_del(struct reconcile_step *step, crio_error_t *err) {
  store_record *rec = step->record;
  if (rec->pod->network_config.len == 0)
    return pod_step_rollback_cni_del(step, err);
  cleanup_free char *conflist =
      xstrndup((const char *)rec->pod->network_config.data, rec->pod->network_config.len);
  cleanup_free char *result =
      rec->pod->network_status.len
          ? xstrndup((const char *)rec->pod->network_status.data, rec->pod->network_status.len)
          : NULL;
  if (run_del(step, conflist, result, err) < 0)
    return crio_error_prefix(err, "pod %s: CNI DEL from network %s", rec->id,
                             rec->pod->network_name);
  forget_attachment(step, rec->pod->network_name);
  cleanup_free char *stash = stash_path(rec);
  if (unlink(stash) < 0 && errno != ENOENT)
    log_warning("pod %s: remove %s: %s", rec->id, stash, strerror(errno));
  return 0;
}

/* ADD failed or was interrupted: the record has no result, but the ADD may
 * have done part of its work.  DEL with the config it was given (stashed
 * before it ran); without a stash, ADD never started. */
int pod_step_rollback_cni_del(struct reconcile_step *step, crio_error_t *err) {
  store_record *rec = step->record;
  if (host_network(rec) && *rec->pod->run_dir == '\0')
    return 0;
  cleanup_free char *stash = stash_path(rec);
  cleanup_free char *conflist = NULL;
  cleanup_error crio_error_t read_err = NULL;
  if (crio_read_file(stash, &conflist, NULL, &read_err) < 0) {
    if (crio_error_status(&read_err) != ENOENT)
      return crio_error(err, crio_error_status(&read_err), "%s", crio_error_message(&read_err));
    /* The stash is written before ADD runs: with the pod's run dir there
     * and no stash, ADD never started.  With the run dir gone (a node
     * reboot emptied it) the ADD may have finished on plugins whose state
     * outlives a reboot (host-local's reservations under /var/lib/cni), so
     * DEL with the config on disk now: the best knowledge left, and a DEL
     * of what was never added is success for every plugin. */
    struct stat st;
    if (stat(rec->pod->run_dir, &st) == 0 || errno != ENOENT)
      return 0;
    const struct reconciler_pod_env *env = pod_step_env(step);
    struct cni_network net;
    cleanup_error crio_error_t load_err = NULL;
    if (cni_network_load(env->cni_config_dir, env->cni_plugin_dirs, &net, &load_err) < 0) {
      log_warning("pod %s: rollback DEL after a reboot skipped, no CNI config: %s", rec->id,
                  crio_error_message(&load_err));
      return 0;
    }
    conflist = xstrdup(net.conflist);
    cni_network_release(&net);
  }
  cJSON *parsed = cJSON_Parse(conflist);
  const cJSON *name = parsed ? cJSON_GetObjectItemCaseSensitive(parsed, "name") : NULL;
  cleanup_free char *network = xstrdup(cJSON_IsString(name) ? name->valuestring : "");
  cJSON_Delete(parsed);
  if (run_del(step, conflist, NULL, err) < 0)
    return crio_error_prefix(err, "pod %s: CNI DEL (rollback) from network %s", rec->id, network);
  forget_attachment(step, network);
  if (unlink(stash) < 0 && errno != ENOENT)
    return crio_error_errno(err, errno, "pod %s: remove %s", rec->id, stash);
  return 0;
}
