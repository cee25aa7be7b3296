/* PodSandboxStats, and the sampling ListPodSandboxStats shares: a pod's
 * usage as the reconciler's read-only samplers read it (reconciler.h) —
 * CPU, memory, memory limit and process count of the cgroup holding the
 * whole pod, and the counters of eth0 inside its network namespace —
 * converted to messages.
 *
 * Sampling is split in two so that no store read transaction is ever held
 * across host I/O: cri_pod_stats_prepare() copies what is needed out of the
 * record while the transaction is open, cri_pod_stats_sample() reads the
 * host after it has ended.
 *
 * usage_nano_cores is left unset: it needs a previous sample, and the
 * handlers have no place for one (no state outside the daemon context, and
 * struct cri_context has no cache).  The kubelet derives it itself from two
 * usage_core_nano_seconds samples when it is missing. */
#include <errno.h>
#include <string.h>

#include "cri/ctr_ops.h"
#include "cri/pod.h"
#include "reconciler/reconciler.h"
#include "statemachine/statemachine.h"

#define POD_IFNAME "eth0" /* what the pod's CNI ADD names the interface */

static Runtime__V1__PodSandboxAttributes *attributes_view(struct cri_request *req,
                                                          const store_record *rec) {
  Runtime__V1__PodSandboxAttributes *a = cri_alloc(req, sizeof(*a));
  runtime__v1__pod_sandbox_attributes__init(a);
  a->id = cri_strdup(req, rec->id);
  a->metadata = cri_pod_metadata_view(req, rec);
  CRI_COPY_MAP(req, a->n_labels, a->labels, Runtime__V1__PodSandboxAttributes__LabelsEntry,
               runtime__v1__pod_sandbox_attributes__labels_entry__init, rec->n_labels, rec->labels);
  CRI_COPY_MAP(req, a->n_annotations, a->annotations,
               Runtime__V1__PodSandboxAttributes__AnnotationsEntry,
               runtime__v1__pod_sandbox_attributes__annotations_entry__init, rec->n_annotations,
               rec->annotations);
  return a;
}

int cri_pod_stats_prepare(struct cri_request *req, const store_record *rec,
                          struct cri_pod_stats_source *out, crio_error_t *err) {
  memset(out, 0, sizeof(*out));
  if (rec->pod == NULL)
    return crio_error(err, EINVAL, "pod sandbox %s: record has no pod body", rec->id);
  cleanup_free char *cgroup = NULL;
  if (reconciler_pod_cgroup(req->ctx->containers, rec, &cgroup, err) < 0)
    return crio_error_prefix(err, "pod sandbox %s: cgroup", rec->id);
  out->attributes = attributes_view(req, rec);
  out->cgroup_path = cgroup ? cri_strdup(req, cgroup) : NULL;
  /* eth0 exists from the CNI ADD until the DEL; a host-network pod has no
   * netns of its own (its traffic is the node's). */
  if (*rec->pod->netns_path &&
      sm_pod_cri_state(rec->state) == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY)
    out->netns_path = cri_strdup(req, rec->pod->netns_path);
  return 0;
}

static int sample_cgroup(struct cri_request *req, const char *cgroup,
                         Runtime__V1__LinuxPodSandboxStats *linux, crio_error_t *err) {
  struct reconciler_cgroup_usage u;
  if (reconciler_sample_cgroup(req->ctx->reconciler, cgroup, RECONCILER_CGROUP_POD, &u, err) < 0)
    return -1;
  cri_stats_cgroup_view(req, &u, &linux->cpu, &linux->memory);
  Runtime__V1__ProcessUsage *proc = cri_alloc(req, sizeof(*proc));
  runtime__v1__process_usage__init(proc);
  proc->timestamp = u.timestamp_ns;
  proc->process_count = cri_u64_value(req, u.process_count);
  linux->process = proc;
  return 0;
}

static int sample_network(struct cri_request *req, const char *netns_path,
                          Runtime__V1__LinuxPodSandboxStats *linux, crio_error_t *err) {
  struct reconciler_if_usage st;
  if (reconciler_sample_interface(req->ctx->reconciler, netns_path, POD_IFNAME, &st, err) < 0)
    return crio_error_prefix(err, "network counters of %s in %s", POD_IFNAME, netns_path);
  Runtime__V1__NetworkInterfaceUsage *iface = cri_alloc(req, sizeof(*iface));
  runtime__v1__network_interface_usage__init(iface);
  iface->name = POD_IFNAME;
  iface->rx_bytes = cri_u64_value(req, st.rx_bytes);
  iface->rx_errors = cri_u64_value(req, st.rx_errors);
  iface->tx_bytes = cri_u64_value(req, st.tx_bytes);
  iface->tx_errors = cri_u64_value(req, st.tx_errors);
  Runtime__V1__NetworkUsage *net = cri_alloc(req, sizeof(*net));
  runtime__v1__network_usage__init(net);
  net->timestamp = crio_now_ns();
  net->default_interface = iface;
  linux->network = net;
  return 0;
}

int cri_pod_stats_sample(struct cri_request *req, const struct cri_pod_stats_source *src,
                         Runtime__V1__PodSandboxStats **out, crio_error_t *err) {
  Runtime__V1__PodSandboxStats *s = cri_alloc(req, sizeof(*s));
  runtime__v1__pod_sandbox_stats__init(s);
  s->attributes = src->attributes;
  s->linux = cri_alloc(req, sizeof(*s->linux));
  runtime__v1__linux_pod_sandbox_stats__init(s->linux);
  *out = s;

  /* Both halves are tried; the first failure is returned with what the
   * other could still read. */
  int rc = 0;
  cleanup_error crio_error_t first = NULL;
  if (src->cgroup_path && sample_cgroup(req, src->cgroup_path, s->linux, &first) < 0) {
    s->linux->cpu = NULL;
    s->linux->memory = NULL;
    s->linux->process = NULL;
    rc = -1;
  }
  cleanup_error crio_error_t second = NULL;
  if (src->netns_path && sample_network(req, src->netns_path, s->linux, &second) < 0)
    rc = -1;
  /* The pod's containers, read in a short transaction of their own (a pod
   * without any gets an empty list, not an absent one). */
  cleanup_error crio_error_t third = NULL;
  if (src->containers_known) {
    s->linux->containers = cri_alloc(req, (src->n_containers + 1) * sizeof(*s->linux->containers));
    for (size_t i = 0; i < src->n_containers; i++)
      s->linux->containers[i] = cri_ctr_stats_sample(req, &src->containers[i]);
    s->linux->n_containers = src->n_containers;
  } else if (cri_ctr_stats_of_pod(req, src->attributes->id, &s->linux->containers,
                                  &s->linux->n_containers, &third) < 0) {
    s->linux->containers = cri_alloc(req, sizeof(*s->linux->containers));
    rc = -1;
  }
  if (rc == 0)
    return 0;
  crio_error_t *e = first ? &first : second ? &second : &third;
  crio_error(err, crio_error_status(e), "stats of pod sandbox %s: %s", src->attributes->id,
             crio_error_message(e));
  return -1;
}

int cri_handle_pod_sandbox_stats(struct cri_request *req, ProtobufCMessage **response,
                                 crio_error_t *err) {
  const Runtime__V1__PodSandboxStatsRequest *in = (const void *)req->message;
  /* The read transaction has ended before the host is read. */
  cleanup_store_record store_record *rec = NULL;
  struct cri_pod_stats_source src;
  if (cri_pod_record_get(req, in->pod_sandbox_id, &rec, err) < 0 ||
      cri_pod_stats_prepare(req, rec, &src, err) < 0)
    return -1;

  Runtime__V1__PodSandboxStatsResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__pod_sandbox_stats_response__init(resp);
  if (cri_pod_stats_sample(req, &src, &resp->stats, err) < 0)
    return -1;
  *response = &resp->base;
  return 0;
}
