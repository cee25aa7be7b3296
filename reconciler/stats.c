/* The read-only samplers of the stats calls (reconciler.h), a thin pass-
 * through to the folders that own each part of the host, so that cri/
 * converts readings to messages without knowing how a cgroup file or a
 * netns is laid out. */
#include <errno.h>
#include <string.h>

#include "cni/cni.h"
#include "oci/oci.h"
#include "reconciler/internal.h"

void reconciler_samplers_init(struct reconciler *r) {
  r->cgroup_sampler = oci_cgroup_sampler_new(NULL);
  r->netns_sampler = cni_stats_sampler_new();
  r->layer_sampler = oci_layer_sampler_new();
}

void reconciler_samplers_release(struct reconciler *r) {
  oci_cgroup_sampler_free(r->cgroup_sampler);
  cni_stats_sampler_free(r->netns_sampler);
  oci_layer_sampler_free(r->layer_sampler);
  r->layer_sampler = NULL;
  r->cgroup_sampler = NULL;
  r->netns_sampler = NULL;
}

char *reconciler_container_cgroup(const store_record *rec) {
  if (rec->container == NULL || rec->container->cgroup_path[0] == '\0')
    return NULL;
  return oci_cgroup_of_spec_path(rec->container->cgroup_path);
}

static int pod_cgroup(const struct oci_cgroup_manager *cgroups, const store_record *rec,
                      char **path, crio_error_t *err) {
  *path = NULL;
  if (rec->pod == NULL)
    return crio_error(err, EINVAL, "pod sandbox %s: record has no pod body", rec->id);
  /* Our cgroup exists from create_cgroup to remove_cgroup, and only then. */
  if (*rec->pod->cgroup_path == '\0')
    return 0;
  if (*rec->pod->cgroup_parent == '\0') {
    *path = xstrdup(rec->pod->cgroup_path);
    return 0;
  }
  if (cgroups == NULL)
    return crio_error(err, EINVAL, "no cgroup manager configured");
  return cgroups->parent_path(rec->pod->cgroup_parent, path, err);
}

int reconciler_pod_cgroup(const struct reconciler_container_env *env, const store_record *rec,
                          char **path, crio_error_t *err) {
  return pod_cgroup(env ? env->cgroups : NULL, rec, path, err);
}

int reconciler_sample_cgroup(struct reconciler *r, const char *cgroup,
                             enum reconciler_cgroup_kind kind, struct reconciler_cgroup_usage *out,
                             crio_error_t *err) {
  struct oci_cgroup_usage u;
  memset(out, 0, sizeof(*out));
  unsigned flags =
      kind == RECONCILER_CGROUP_POD ? OCI_CGROUP_SAMPLE_PROCESSES : OCI_CGROUP_SAMPLE_LIMIT_KEPT;
  if (oci_cgroup_sample(r->cgroup_sampler, cgroup, flags, &u, err) < 0)
    return -1;
  *out = (struct reconciler_cgroup_usage){
      .timestamp_ns = u.timestamp_ns,
      .cpu_usage_ns = u.cpu_usage_ns,
      .memory_usage_bytes = u.memory_usage_bytes,
      .memory_working_set_bytes = u.memory_working_set_bytes,
      .memory_rss_bytes = u.memory_rss_bytes,
      .memory_page_faults = u.memory_page_faults,
      .memory_major_page_faults = u.memory_major_page_faults,
      .memory_limit_bytes = u.memory_limit_bytes,
      .has_process_count = u.has_process_count,
      .process_count = u.process_count,
  };
  return 0;
}

int reconciler_sample_interface(struct reconciler *r, const char *netns_path, const char *ifname,
                                struct reconciler_if_usage *out, crio_error_t *err) {
  struct cni_if_stats st;
  memset(out, 0, sizeof(*out));
  if (cni_stats_sample(r->netns_sampler, netns_path, ifname, &st, err) < 0)
    return -1;
  *out = (struct reconciler_if_usage){.rx_bytes = st.rx_bytes,
                                      .rx_errors = st.rx_errors,
                                      .tx_bytes = st.tx_bytes,
                                      .tx_errors = st.tx_errors};
  return 0;
}

void reconciler_samplers_forget_container_cgroup(struct reconciler *r, const store_record *rec) {
  cleanup_free char *cgroup = reconciler_container_cgroup(rec);
  if (r && cgroup)
    oci_cgroup_sampler_forget(r->cgroup_sampler, cgroup);
}

void reconciler_samplers_forget_pod_cgroup(struct reconciler *r,
                                           const struct oci_cgroup_manager *cgroups,
                                           const store_record *rec) {
  cleanup_free char *cgroup = NULL;
  cleanup_error crio_error_t e = NULL;
  if (r && pod_cgroup(cgroups, rec, &cgroup, &e) == 0 && cgroup)
    oci_cgroup_sampler_forget(r->cgroup_sampler, cgroup);
}

void reconciler_samplers_forget_netns(struct reconciler *r, const char *netns_path) {
  if (r)
    cni_stats_sampler_forget(r->netns_sampler, netns_path);
}

int reconciler_sample_layer(struct reconciler *r, const char *upper_dir,
                            struct reconciler_layer_usage *out, crio_error_t *err) {
  struct oci_layer_usage u;
  int64_t sampled_ns = 0;
  memset(out, 0, sizeof(*out));
  if (oci_layer_sample(r->layer_sampler, upper_dir, &u, &sampled_ns, err) < 0)
    return -1;
  *out = (struct reconciler_layer_usage){.timestamp_ns = sampled_ns,
                                         .bytes = u.bytes,
                                         .inodes = u.inodes,
                                         .entries = u.entries,
                                         .partial = u.partial};
  return 0;
}
