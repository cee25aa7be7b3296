/* The CRI metrics (ListMetricDescriptors, ListPodSandboxMetrics,
 * StreamPodSandboxMetrics): the cAdvisor-named metrics the kubelet exports
 * on /metrics/cadvisor when it takes pod and container stats from the
 * runtime.  This file owns the table of what is produced and the
 * conversion of one pod's stats sample into its metrics.
 *
 * Only what the stats RPCs really read is produced, from the same sample
 * (cri_pod_stats_sample: the pod cgroup's CPU, memory and process count,
 * eth0's counters in the pod's network namespace, and each container's
 * cgroup and writable layer); a part the sample could not read (a stopped
 * pod's network, a container whose cgroup is gone) gives no metric rather
 * than a zero.
 *
 * Labels, as CRI-O and cAdvisor name them: id (the pod sandbox or
 * container id), namespace and pod (the pod's metadata), container (the
 * container's name; "POD" for the pod's own samples, the name cAdvisor
 * gives the pod-level cgroup's sandbox, so the usual `container!="POD"`
 * selectors do not count a pod twice), then what a metric adds (cpu,
 * interface, failure_type and scope).
 *
 * Values are UInt64: *_seconds_total metrics are whole seconds, truncated
 * (the protocol has no fraction; CRI-O does the same).  Every sample
 * carries the time it was read on the host as its timestamp. */
#include <string.h>

#include "cri/internal.h"

enum metric_id {
  M_CPU_USAGE,
  M_MEMORY_USAGE,
  M_MEMORY_WORKING_SET,
  M_MEMORY_RSS,
  M_MEMORY_FAILURES,
  M_PROCESSES,
  M_NETWORK_RX_BYTES,
  M_NETWORK_RX_ERRORS,
  M_NETWORK_TX_BYTES,
  M_NETWORK_TX_ERRORS,
  M_FS_USAGE,
  M_COUNT
};

#define N_BASE_LABELS 4
static const char *const base_label_keys[N_BASE_LABELS] = {"id", "namespace", "pod", "container"};

struct metric_info {
  const char *name;
  const char *help;
  Runtime__V1__MetricType type;
  const char *extra_keys[2]; /* after the base labels */
};

static const struct metric_info metrics[M_COUNT] = {
    [M_CPU_USAGE] = {"container_cpu_usage_seconds_total",
                     "Cumulative CPU time consumed in seconds (whole seconds).",
                     RUNTIME__V1__METRIC_TYPE__COUNTER,
                     {"cpu"}},
    [M_MEMORY_USAGE] = {"container_memory_usage_bytes",
                        "Current memory usage in bytes, including all memory regardless of when "
                        "it was accessed.",
                        RUNTIME__V1__METRIC_TYPE__GAUGE,
                        {NULL}},
    [M_MEMORY_WORKING_SET] = {"container_memory_working_set_bytes",
                              "Current working set in bytes (usage less inactive file pages).",
                              RUNTIME__V1__METRIC_TYPE__GAUGE,
                              {NULL}},
    [M_MEMORY_RSS] = {"container_memory_rss",
                      "Size of RSS (anonymous memory) in bytes.",
                      RUNTIME__V1__METRIC_TYPE__GAUGE,
                      {NULL}},
    [M_MEMORY_FAILURES] = {"container_memory_failures_total",
                           "Cumulative count of memory allocation failures (page faults).",
                           RUNTIME__V1__METRIC_TYPE__COUNTER,
                           {"failure_type", "scope"}},
    [M_PROCESSES] = {"container_processes",
                     "Number of processes running in the pod's cgroup.",
                     RUNTIME__V1__METRIC_TYPE__GAUGE,
                     {NULL}},
    [M_NETWORK_RX_BYTES] = {"container_network_receive_bytes_total",
                            "Cumulative count of bytes received.",
                            RUNTIME__V1__METRIC_TYPE__COUNTER,
                            {"interface"}},
    [M_NETWORK_RX_ERRORS] = {"container_network_receive_errors_total",
                             "Cumulative count of errors encountered while receiving.",
                             RUNTIME__V1__METRIC_TYPE__COUNTER,
                             {"interface"}},
    [M_NETWORK_TX_BYTES] = {"container_network_transmit_bytes_total",
                            "Cumulative count of bytes transmitted.",
                            RUNTIME__V1__METRIC_TYPE__COUNTER,
                            {"interface"}},
    [M_NETWORK_TX_ERRORS] = {"container_network_transmit_errors_total",
                             "Cumulative count of errors encountered while transmitting.",
                             RUNTIME__V1__METRIC_TYPE__COUNTER,
                             {"interface"}},
    [M_FS_USAGE] = {"container_fs_usage_bytes",
                    "Bytes used by the container's writable layer.",
                    RUNTIME__V1__METRIC_TYPE__GAUGE,
                    {NULL}},
};

static size_t n_extra(const struct metric_info *m) {
  return m->extra_keys[0] == NULL ? 0 : m->extra_keys[1] == NULL ? 1 : 2;
}

int cri_handle_list_metric_descriptors(struct cri_request *req, ProtobufCMessage **response,
                                       crio_error_t *err) {
  (void)err;
  Runtime__V1__ListMetricDescriptorsResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__list_metric_descriptors_response__init(resp);
  resp->descriptors = cri_alloc(req, M_COUNT * sizeof(*resp->descriptors));
  for (size_t i = 0; i < M_COUNT; i++) {
    Runtime__V1__MetricDescriptor *d = cri_alloc(req, sizeof(*d));
    runtime__v1__metric_descriptor__init(d);
    d->name = (char *)metrics[i].name;
    d->help = (char *)metrics[i].help;
    d->n_label_keys = N_BASE_LABELS + n_extra(&metrics[i]);
    d->label_keys = cri_alloc(req, d->n_label_keys * sizeof(*d->label_keys));
    for (size_t k = 0; k < N_BASE_LABELS; k++)
      d->label_keys[k] = (char *)base_label_keys[k];
    for (size_t k = 0; k < n_extra(&metrics[i]); k++)
      d->label_keys[N_BASE_LABELS + k] = (char *)metrics[i].extra_keys[k];
    resp->descriptors[i] = d;
  }
  resp->n_descriptors = M_COUNT;
  *response = &resp->base;
  return 0;
}

/* ---- samples -> metrics ------------------------------------------------------------- */

/* The metrics of one object (a pod or a container) as they are added. */
struct metric_list {
  struct cri_request *req;
  const char *base[N_BASE_LABELS];
  Runtime__V1__Metric **items;
  size_t n, cap;
};

static void add(struct metric_list *l, enum metric_id id, int64_t timestamp, uint64_t value,
                const char *extra0, const char *extra1) {
  const struct metric_info *m = &metrics[id];
  Runtime__V1__Metric *metric = cri_alloc(l->req, sizeof(*metric));
  runtime__v1__metric__init(metric);
  metric->name = (char *)m->name;
  metric->timestamp = timestamp;
  metric->metric_type = m->type;
  metric->n_label_values = N_BASE_LABELS + n_extra(m);
  metric->label_values = cri_alloc(l->req, metric->n_label_values * sizeof(char *));
  memcpy(metric->label_values, l->base, sizeof(l->base));
  const char *extra[2] = {extra0, extra1};
  for (size_t k = 0; k < n_extra(m); k++)
    metric->label_values[N_BASE_LABELS + k] = (char *)extra[k];
  metric->value = cri_alloc(l->req, sizeof(*metric->value));
  runtime__v1__uint64_value__init(metric->value);
  metric->value->value = value;
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 16;
    Runtime__V1__Metric **grown = cri_alloc(l->req, cap * sizeof(*grown));
    if (l->n)
      memcpy(grown, l->items, l->n * sizeof(*grown));
    l->items = grown;
    l->cap = cap;
  }
  l->items[l->n++] = metric;
}

static void add_cpu_memory(struct metric_list *l, const Runtime__V1__CpuUsage *cpu,
                           const Runtime__V1__MemoryUsage *mem) {
  if (cpu && cpu->usage_core_nano_seconds)
    add(l, M_CPU_USAGE, cpu->timestamp, cpu->usage_core_nano_seconds->value / 1000000000u, "total",
        NULL);
  if (mem == NULL)
    return;
  if (mem->usage_bytes)
    add(l, M_MEMORY_USAGE, mem->timestamp, mem->usage_bytes->value, NULL, NULL);
  if (mem->working_set_bytes)
    add(l, M_MEMORY_WORKING_SET, mem->timestamp, mem->working_set_bytes->value, NULL, NULL);
  if (mem->rss_bytes)
    add(l, M_MEMORY_RSS, mem->timestamp, mem->rss_bytes->value, NULL, NULL);
  /* memory.stat's total_pgfault (v1) and pgfault (v2) count the whole
   * subtree: cAdvisor's "hierarchy" scope. */
  if (mem->page_faults)
    add(l, M_MEMORY_FAILURES, mem->timestamp, mem->page_faults->value, "pgfault", "hierarchy");
  if (mem->major_page_faults)
    add(l, M_MEMORY_FAILURES, mem->timestamp, mem->major_page_faults->value, "pgmajfault",
        "hierarchy");
}

static void add_network(struct metric_list *l, const Runtime__V1__NetworkUsage *net) {
  const Runtime__V1__NetworkInterfaceUsage *i = net ? net->default_interface : NULL;
  if (i == NULL)
    return;
  if (i->rx_bytes)
    add(l, M_NETWORK_RX_BYTES, net->timestamp, i->rx_bytes->value, i->name, NULL);
  if (i->rx_errors)
    add(l, M_NETWORK_RX_ERRORS, net->timestamp, i->rx_errors->value, i->name, NULL);
  if (i->tx_bytes)
    add(l, M_NETWORK_TX_BYTES, net->timestamp, i->tx_bytes->value, i->name, NULL);
  if (i->tx_errors)
    add(l, M_NETWORK_TX_ERRORS, net->timestamp, i->tx_errors->value, i->name, NULL);
}

static Runtime__V1__ContainerMetrics *container_metrics(struct cri_request *req,
                                                        const Runtime__V1__ContainerStats *s,
                                                        const char *namespace_, const char *pod) {
  struct metric_list l = {.req = req};
  l.base[0] = s->attributes->id;
  l.base[1] = namespace_;
  l.base[2] = pod;
  l.base[3] =
      s->attributes->metadata && s->attributes->metadata->name ? s->attributes->metadata->name : "";
  add_cpu_memory(&l, s->cpu, s->memory);
  if (s->writable_layer && s->writable_layer->used_bytes)
    add(&l, M_FS_USAGE, s->writable_layer->timestamp, s->writable_layer->used_bytes->value, NULL,
        NULL);
  Runtime__V1__ContainerMetrics *c = cri_alloc(req, sizeof(*c));
  runtime__v1__container_metrics__init(c);
  c->container_id = s->attributes->id;
  c->metrics = l.items;
  c->n_metrics = l.n;
  return c;
}

Runtime__V1__PodSandboxMetrics *cri_pod_metrics_sample(struct cri_request *req,
                                                       const struct cri_pod_stats_source *src) {
  Runtime__V1__PodSandboxStats *stats = NULL;
  /* As the stats lists: a pod stopped or removed meanwhile keeps what
   * could still be read. */
  cleanup_error crio_error_t e = NULL;
  if (cri_pod_stats_sample(req, src, &stats, &e) < 0)
    log_debug("pod metrics: %s", crio_error_message(&e));
  const Runtime__V1__PodSandboxMetadata *md = src->attributes->metadata;
  const char *namespace_ = md && md->namespace_ ? md->namespace_ : "";
  const char *pod = md && md->name ? md->name : "";

  struct metric_list l = {.req = req};
  l.base[0] = src->attributes->id;
  l.base[1] = namespace_;
  l.base[2] = pod;
  l.base[3] = "POD";
  const Runtime__V1__LinuxPodSandboxStats *linux = stats->linux;
  add_cpu_memory(&l, linux->cpu, linux->memory);
  if (linux->process && linux->process->process_count)
    add(&l, M_PROCESSES, linux->process->timestamp, linux->process->process_count->value, NULL,
        NULL);
  add_network(&l, linux->network);

  Runtime__V1__PodSandboxMetrics *pm = cri_alloc(req, sizeof(*pm));
  runtime__v1__pod_sandbox_metrics__init(pm);
  pm->pod_sandbox_id = src->attributes->id;
  pm->metrics = l.items;
  pm->n_metrics = l.n;
  pm->container_metrics =
      cri_alloc(req, (linux->n_containers + 1) * sizeof(*pm->container_metrics));
  for (size_t i = 0; i < linux->n_containers; i++)
    pm->container_metrics[i] = container_metrics(req, linux->containers[i], namespace_, pod);
  pm->n_container_metrics = linux->n_containers;
  return pm;
}
