/* Internal to cri/: what the container handlers that act on a live
 * container share (ExecSync, ReopenContainerLog, UpdateContainerResources,
 * the stats and the event stream): the record read in a short read txn,
 * and the stats sampling. */
#ifndef CRIO_CRI_CTR_OPS_H
#define CRIO_CRI_CTR_OPS_H

#include "cri/internal.h"
#include "store/store.h"

/* The record of a visible container (cri_container_resolve) by full id or
 * unique prefix, read in a read txn that has ended when this returns.
 * ENOENT, EINVAL (empty or ambiguous). */
int cri_ctr_record_get(struct cri_request *req, const char *id_or_prefix, store_record **out,
                       crio_error_t *err);

/* ExecSync's checks of the request alone (container_id and cmd given, a
 * timeout that is not negative). */
int cri_exec_sync_request_validate(const Runtime__V1__ExecSyncRequest *in, crio_error_t *err);

/* EBUSY (FAILED_PRECONDITION) unless the record is RUNNING: "container X
 * is not running (EXITED)". */
int cri_ctr_check_running(const store_record *rec, crio_error_t *err);

/* The container's resources as they are now: the last
 * UpdateContainerResources (ObjectRecord.resources_update), else its
 * creation config's; NULL if it has none.  In the request's arena.
 * ContainerStatus reports this. */
const Runtime__V1__LinuxContainerResources *cri_ctr_resources(struct cri_request *req,
                                                              const store_record *rec);

/* ---- stats (ctr_stats.c) ---------------------------------------------------
 * Split like the pod stats: prepare copies what sampling needs out of the
 * record while a read txn is open; sample reads the host after it ended.
 * Both allocate in the request's arena. */
/* What pods and containers report alike (stats_cgroup.c): a UInt64Value,
 * and the CPU and memory usage of a cgroup as the reconciler's sampler read
 * it, with the memory available under the cgroup's own limit. */
struct reconciler_cgroup_usage;
Runtime__V1__UInt64Value *cri_u64_value(struct cri_request *req, uint64_t value);
void cri_stats_cgroup_view(struct cri_request *req, const struct reconciler_cgroup_usage *usage,
                           Runtime__V1__CpuUsage **cpu, Runtime__V1__MemoryUsage **memory);
struct cri_ctr_stats_source {
  Runtime__V1__ContainerAttributes *attributes;
  const char *cgroup_path; /* the container's cgroup; NULL: none (yet, or any more) */
  const char *upper_dir;   /* its writable layer; NULL: not mounted */
  const char *layer_fs;    /* the directory named as the writable layer's filesystem */
  /* A runtime that keeps its own count (gVisor: the host cgroup holds the
   * sandbox, not the container) is asked first, through the reconciler's
   * read-only sampler; the cgroup is read when it keeps none. */
  const char *runtime_handler; /* set while running: its runtime may keep its own count */
  const char *runtime_id;
};
int cri_ctr_stats_prepare(struct cri_request *req, const store_record *rec,
                          struct cri_ctr_stats_source *out, crio_error_t *err);
/* What can be read: CPU and memory of the cgroup, the writable layer's
 * bytes and inodes.  A part the host no longer has (the cgroup of a removed
 * container) is left unset, not an error: a stats call must not fail
 * because one container went away meanwhile. */
Runtime__V1__ContainerStats *cri_ctr_stats_sample(struct cri_request *req,
                                                  const struct cri_ctr_stats_source *src);
/* Every container of the pod, prepared in a short read txn of its own and
 * then sampled (PodSandboxStats' containers). */
int cri_ctr_stats_of_pod(struct cri_request *req, const char *pod_id,
                         Runtime__V1__ContainerStats ***out, size_t *n_out, crio_error_t *err);

#endif
