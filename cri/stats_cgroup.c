/* What pod and container stats read alike from a cgroup: CPU and memory
 * through the cgroup manager of the configured driver, the memory left
 * under the cgroup's own limit (cri_pod_stats_memory_limit). */
#include "cri/ctr_ops.h"
#include "oci/oci.h"

const struct oci_cgroup_manager *cri_cgroup_manager(const struct cri_context *ctx,
                                                    crio_error_t *err) {
  return oci_cgroup_manager_get(
      ctx->config->cgroup_driver == CRI_CGROUP_DRIVER_SYSTEMD ? "systemd" : "cgroupfs", err);
}

Runtime__V1__UInt64Value *cri_u64_value(struct cri_request *req, uint64_t value) {
  Runtime__V1__UInt64Value *v = cri_alloc(req, sizeof(*v));
  runtime__v1__uint64_value__init(v);
  v->value = value;
  return v;
}

int cri_stats_cgroup_usage(struct cri_request *req, struct cri_pod_stats_host *host,
                           const char *cgroup, Runtime__V1__CpuUsage **cpu_out,
                           Runtime__V1__MemoryUsage **memory_out, crio_error_t *err) {
  const struct oci_cgroup_manager *mgr = cri_cgroup_manager(req->ctx, err);
  struct oci_cgroup_stats st;
  if (mgr == NULL || mgr->stats(cgroup, &st, err) < 0)
    return -1;
  Runtime__V1__CpuUsage *cpu = cri_alloc(req, sizeof(*cpu));
  runtime__v1__cpu_usage__init(cpu);
  cpu->timestamp = st.timestamp_ns;
  cpu->usage_core_nano_seconds = cri_u64_value(req, st.cpu_usage_ns);
  /* usage_nano_cores needs an earlier sample; the kubelet derives it from
   * two usage_core_nano_seconds when it is absent. */
  *cpu_out = cpu;

  Runtime__V1__MemoryUsage *mem = cri_alloc(req, sizeof(*mem));
  runtime__v1__memory_usage__init(mem);
  mem->timestamp = st.timestamp_ns;
  mem->working_set_bytes = cri_u64_value(req, st.memory_working_set_bytes);
  mem->usage_bytes = cri_u64_value(req, st.memory_usage_bytes);
  mem->rss_bytes = cri_u64_value(req, st.memory_rss_bytes);
  mem->page_faults = cri_u64_value(req, st.memory_page_faults);
  mem->major_page_faults = cri_u64_value(req, st.memory_major_page_faults);
  uint64_t limit = cri_pod_stats_memory_limit(host, cgroup);
  if (limit)
    mem->available_bytes = cri_u64_value(
        req, limit > st.memory_working_set_bytes ? limit - st.memory_working_set_bytes : 0);
  *memory_out = mem;
  return 0;
}
