/* UpdatePodSandboxResources: the kubelet's new pod-level resources (the sum
 * of its containers' resources, and the RuntimeClass overhead) after an
 * in-place resize.
 *
 * The kubelet calls this after it has set the pod-level cgroup itself (the
 * call is best effort for it), so writing the same values again is
 * harmless; doing it makes the pod cgroup right also when the kubelet did
 * not, and it is the pod cgroup PodSandboxStats reads: the cgroup parent
 * the kubelet gave (pod<uid>), or the pod's own cgroup when it had none
 * (the daemon's default parent is shared by every such pod and is never
 * changed).  The values are the kubelet's own rule for a pod cgroup:
 *   cpu shares   = resources + overhead
 *   cpu quota    = resources + overhead, at the resources' period (only
 *                  when resources set one: no quota means unlimited)
 *   memory limit = resources + overhead (only when resources set one)
 * A field left at 0 is not written: the cgroup keeps what it has, as
 * UpdateContainerResources leaves runc's unset fields.  cpuset, hugepages,
 * unified and swap fields are validated and recorded but not written to
 * the pod cgroup (the kubelet manages none of them there); oom_score_adj
 * belongs to processes, not to a cgroup.
 *
 * The record: the pod's ObjectRecord.resources_update gets a serialized
 * LinuxPodSandboxConfig holding only the new overhead and resources — the
 * PodSandboxConfig's linux.overhead/resources as they are now — through
 * store_set_resources_update, as UpdateContainerResources does (a GOAL log
 * entry naming the change; kept by every reconciler commit).  The cgroup
 * is written first and the record follows; a failed write changes nothing
 * in the record.  Two updates of one pod are serialised by an flock(2) on
 * its run dir, held across both, so the record ends with what the cgroup
 * got last. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cri/pod.h"
#include "oci/oci.h"
#include "oci/spec.h"
#include "statemachine/statemachine.h"

#define PERIOD_MIN_US 1000 /* the kernel's CFS period bounds */
#define PERIOD_MAX_US 1000000
#define QUOTA_MIN_US 1000

/* ---- checks ----------------------------------------------------------------------- */

/* The spec builder's checks (memory and swap, cpu, cpuset, hugepages,
 * unified), with its field names ("config.linux.resources.x") renamed to
 * the request's ("resources.x"), then what the pod cgroup adds. */
static int validate_resources(const Runtime__V1__LinuxContainerResources *r, const char *field,
                              const struct oci_spec_host *host, crio_error_t *err) {
  static const char spec_prefix[] = "config.linux.resources";
  cleanup_oci_spec_warnings struct oci_spec_warnings warnings = {0};
  cJSON *json = NULL;
  if (oci_spec_update_resources("pod", r, host, &json, &warnings, err) < 0) {
    const char *msg = crio_error_message(err);
    if (strncmp(msg, spec_prefix, sizeof(spec_prefix) - 1) != 0)
      return -1;
    cleanup_free char *renamed = xasprintf("%s%s", field, msg + sizeof(spec_prefix) - 1);
    int status = crio_error_status(err);
    crio_error_release(err);
    return crio_error(err, status, "%s", renamed);
  }
  cJSON_Delete(json);
  if (r->cpu_period && (r->cpu_period < PERIOD_MIN_US || r->cpu_period > PERIOD_MAX_US))
    return crio_error(err, EINVAL, "%s.cpu_period: %lld is outside %d..%d microseconds", field,
                      (long long)r->cpu_period, PERIOD_MIN_US, PERIOD_MAX_US);
  if (r->cpu_quota < -1 || (r->cpu_quota > 0 && r->cpu_quota < QUOTA_MIN_US))
    return crio_error(err, EINVAL,
                      "%s.cpu_quota: %lld is neither -1 (unlimited) nor at least %d microseconds",
                      field, (long long)r->cpu_quota, QUOTA_MIN_US);
  if (r->oom_score_adj < -1000 || r->oom_score_adj > 1000)
    return crio_error(err, EINVAL, "%s.oom_score_adj: %lld is outside -1000..1000", field,
                      (long long)r->oom_score_adj);
  return 0;
}

static int validate(const Runtime__V1__UpdatePodSandboxResourcesRequest *in, crio_error_t *err) {
  if (in->pod_sandbox_id == NULL || *in->pod_sandbox_id == '\0')
    return crio_error(err, EINVAL, "pod_sandbox_id is required");
  if (in->resources == NULL && in->overhead == NULL)
    return crio_error(err, EINVAL, "resources (or overhead) is required: nothing to update");
  struct oci_spec_host host;
  if (oci_spec_host_detect(&host, err) < 0)
    return -1;
  if (in->resources && validate_resources(in->resources, "resources", &host, err) < 0)
    return -1;
  if (in->overhead && validate_resources(in->overhead, "overhead", &host, err) < 0)
    return -1;
  return 0;
}

/* ---- the pod cgroup's values ---------------------------------------------------- */

static int pod_cgroup_resources(const Runtime__V1__UpdatePodSandboxResourcesRequest *in,
                                struct oci_cgroup_resources *out, crio_error_t *err) {
  static const Runtime__V1__LinuxContainerResources none =
      RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
  const Runtime__V1__LinuxContainerResources *r = in->resources ? in->resources : &none;
  const Runtime__V1__LinuxContainerResources *o = in->overhead ? in->overhead : &none;
  memset(out, 0, sizeof(*out));
  if (r->cpu_shares || o->cpu_shares)
    out->cpu_shares = (uint64_t)r->cpu_shares + (uint64_t)o->cpu_shares;
  if (r->memory_limit_in_bytes > 0) {
    if (__builtin_add_overflow(r->memory_limit_in_bytes, o->memory_limit_in_bytes,
                               &out->memory_limit_bytes))
      return crio_error(err, EINVAL,
                        "resources.memory_limit_in_bytes: with the overhead's, "
                        "more than a 64-bit count of bytes");
  }
  out->cpu_period_us = (uint64_t)r->cpu_period;
  if (r->cpu_quota > 0) {
    /* The overhead's quota, at its own period, scaled to the pod's. */
    int64_t extra = o->cpu_quota > 0 ? o->cpu_quota : 0;
    if (extra && o->cpu_period && r->cpu_period && o->cpu_period != r->cpu_period)
      extra = extra * r->cpu_period / o->cpu_period;
    out->cpu_quota_us = r->cpu_quota + extra;
  } else if (r->cpu_quota == -1) {
    out->cpu_quota_us = -1;
  }
  return 0;
}

/* ---- serialisation of updates of one pod ------------------------------------------ */

static int lock_run_dir(const store_record *rec, int *fd_out, crio_error_t *err) {
  if (crio_lock_dir_wait(rec->pod->run_dir, fd_out, err) < 0)
    return crio_error_prefix(err, "pod sandbox %s", rec->id);
  return 0;
}

/* ---- the record -------------------------------------------------------------------- */

static char *describe(const struct oci_cgroup_resources *res, const char *cgroup) {
  return xasprintf("UpdatePodSandboxResources: cgroup %s cpu_shares=%llu cpu_quota=%lld "
                   "cpu_period=%llu memory_limit_in_bytes=%lld",
                   cgroup, (unsigned long long)res->cpu_shares, (long long)res->cpu_quota_us,
                   (unsigned long long)res->cpu_period_us, (long long)res->memory_limit_bytes);
}

static int persist(struct cri_request *req, const char *id,
                   const Runtime__V1__UpdatePodSandboxResourcesRequest *in, const char *message,
                   crio_error_t *err) {
  Runtime__V1__LinuxPodSandboxConfig now = RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__INIT;
  now.overhead = in->overhead;
  now.resources = in->resources;
  size_t len = runtime__v1__linux_pod_sandbox_config__get_packed_size(&now);
  cleanup_free uint8_t *bytes = xmalloc(len ? len : 1);
  runtime__v1__linux_pod_sandbox_config__pack(&now, bytes);

  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(req->ctx->store, STORE_TXN_WRITE, &txn, err) < 0)
    return -1;
  cleanup_store_record store_record *rec = NULL;
  if (store_record_get(txn, STORE_KIND_POD, id, &rec, err) < 0)
    return crio_error_prefix(err, "pod sandbox %s (removed while its resources were updated)", id);
  store_set_resources_update(txn, rec, bytes, len, message);
  return store_txn_commit(steal_pointer(&txn), err);
}

/* ---- the handler ------------------------------------------------------------------- */

/* The record, READY and meant to stay so, and the cgroup to update — the
 * one PodSandboxStats reads (cri_pod_stats_prepare chooses it). */
static int pod_get(struct cri_request *req, const char *id_or_prefix, store_record **out,
                   const char **cgroup, crio_error_t *err) {
  cleanup_store_record store_record *rec = NULL;
  if (cri_pod_record_get(req, id_or_prefix, &rec, err) < 0)
    return -1;
  const char *id = rec->id;
  if (rec->state == SM_POD_PENDING)
    return crio_error(err, ENOENT, "pod sandbox %s: not found (still being created)", id);
  if (rec->state != SM_POD_READY || rec->goal != SM_POD_READY)
    return crio_error(err, EBUSY, "pod sandbox %s is not ready (%s%s)", id,
                      sm_state_name(SM_KIND_POD, rec->state),
                      rec->goal != SM_POD_READY ? ", stopping" : "");
  struct cri_pod_stats_source src;
  if (cri_pod_stats_prepare(req, rec, &src, err) < 0)
    return -1;
  if (src.cgroup_path == NULL)
    return crio_error(err, EBUSY, "pod sandbox %s has no cgroup", id);
  *cgroup = src.cgroup_path;
  *out = steal_pointer(&rec);
  return 0;
}

int cri_handle_update_pod_sandbox_resources(struct cri_request *req, ProtobufCMessage **response,
                                            crio_error_t *err) {
  const Runtime__V1__UpdatePodSandboxResourcesRequest *in = (const void *)req->message;
  if (validate(in, err) < 0)
    return -1;
  struct oci_cgroup_resources res;
  if (pod_cgroup_resources(in, &res, err) < 0)
    return -1;
  cleanup_store_record store_record *rec = NULL;
  const char *cgroup = NULL;
  if (pod_get(req, in->pod_sandbox_id, &rec, &cgroup, err) < 0)
    return -1;
  const struct oci_cgroup_manager *mgr = cri_cgroup_manager(req->ctx, err);
  if (mgr == NULL)
    return -1;

  cleanup_close int lock_fd = -1;
  if (lock_run_dir(rec, &lock_fd, err) < 0)
    return -1;
  if (mgr->update(cgroup, &res, err) < 0)
    return crio_error_prefix(err, "update resources of pod sandbox %s", rec->id);
  cleanup_free char *message = describe(&res, cgroup);
  if (persist(req, rec->id, in, message, err) < 0)
    return -1;
  log_info("pod sandbox %s: %s", rec->id, message);

  Runtime__V1__UpdatePodSandboxResourcesResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__update_pod_sandbox_resources_response__init(resp);
  *response = &resp->base;
  return 0;
}
