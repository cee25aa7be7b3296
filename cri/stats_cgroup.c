/* What pod and container stats report alike of a cgroup: CPU and memory as
 * messages, from the reconciler's sampler (reconciler.h), with the memory
 * left under the cgroup's own limit. */
#include "cri/ctr_ops.h"
#include "reconciler/reconciler.h"

Runtime__V1__UInt64Value *cri_u64_value(struct cri_request *req, uint64_t value) {
  Runtime__V1__UInt64Value *v = cri_alloc(req, sizeof(*v));
  runtime__v1__uint64_value__init(v);
  v->value = value;
  return v;
}

void cri_stats_cgroup_view(struct cri_request *req, const struct reconciler_cgroup_usage *u,
                           Runtime__V1__CpuUsage **cpu_out, Runtime__V1__MemoryUsage **memory_out) {
  Runtime__V1__CpuUsage *cpu = cri_alloc(req, sizeof(*cpu));
  runtime__v1__cpu_usage__init(cpu);
  cpu->timestamp = u->timestamp_ns;
  cpu->usage_core_nano_seconds = cri_u64_value(req, u->cpu_usage_ns);
  /* usage_nano_cores needs an earlier sample; the kubelet derives it from
   * two usage_core_nano_seconds when it is absent. */
  *cpu_out = cpu;

  Runtime__V1__MemoryUsage *mem = cri_alloc(req, sizeof(*mem));
  runtime__v1__memory_usage__init(mem);
  mem->timestamp = u->timestamp_ns;
  mem->working_set_bytes = cri_u64_value(req, u->memory_working_set_bytes);
  mem->usage_bytes = cri_u64_value(req, u->memory_usage_bytes);
  mem->rss_bytes = cri_u64_value(req, u->memory_rss_bytes);
  mem->page_faults = cri_u64_value(req, u->memory_page_faults);
  mem->major_page_faults = cri_u64_value(req, u->memory_major_page_faults);
  uint64_t limit = u->memory_limit_bytes;
  if (limit)
    mem->available_bytes = cri_u64_value(
        req, limit > u->memory_working_set_bytes ? limit - u->memory_working_set_bytes : 0);
  *memory_out = mem;
}
