/* The pod operations and readings (reconciler.h): UpdatePodSandboxResources
 * as an exclusive, logged operation on the pod, and the network readiness
 * Status reports.
 *
 * UpdatePodSandboxResources: the kubelet's new pod-level resources (the
 * sum of its containers' resources, and the RuntimeClass overhead) after
 * an in-place resize.  The kubelet calls it after it has set the pod-level
 * cgroup itself (the call is best effort for it), so writing the same
 * values again is harmless; doing it makes the pod cgroup right also when
 * the kubelet did not, and it is the pod cgroup PodSandboxStats reads: the
 * cgroup parent the kubelet gave (pod<uid>), or the pod's own cgroup when
 * it had none (the daemon's default parent is shared by every such pod and
 * is never changed).  The values are the kubelet's own rule for a pod
 * cgroup:
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
 * The record: the pod's resources_update gets a serialized
 * LinuxPodSandboxConfig holding only the new overhead and resources, with
 * a GOAL entry naming the change, after the cgroup was written; a failed
 * write changes nothing in the record nor in the log.  Two updates of one pod are
 * serialised by the operation's hold on the pod, so the record ends with
 * what the cgroup got last. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cni/cni.h"
#include "oci/spec.h"
#include "reconciler/internal.h"
#include "reconciler/pod_steps.h"
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

/* The pod cgroup's values. */
static int pod_cgroup_resources(const Runtime__V1__LinuxContainerResources *resources,
                                const Runtime__V1__LinuxContainerResources *overhead,
                                struct oci_cgroup_resources *out, crio_error_t *err) {
  static const Runtime__V1__LinuxContainerResources none =
      RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
  const Runtime__V1__LinuxContainerResources *r = resources ? resources : &none;
  const Runtime__V1__LinuxContainerResources *o = overhead ? overhead : &none;
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

int reconciler_pod_resources_check(const Runtime__V1__LinuxContainerResources *resources,
                                   const Runtime__V1__LinuxContainerResources *overhead,
                                   crio_error_t *err) {
  struct oci_spec_host host;
  if (oci_spec_host_detect(&host, err) < 0)
    return -1;
  if (resources && validate_resources(resources, "resources", &host, err) < 0)
    return -1;
  if (overhead && validate_resources(overhead, "overhead", &host, err) < 0)
    return -1;
  struct oci_cgroup_resources res;
  return pod_cgroup_resources(resources, overhead, &res, err);
}

/* ---- the operation ------------------------------------------------------------------- */

struct pod_update {
  const Runtime__V1__LinuxContainerResources *resources, *overhead;
  struct oci_cgroup_resources values;
  const struct oci_cgroup_manager *mgr;
  char *cgroup; /* the check's choice */
};

/* The cgroup that holds the whole pod (the one PodSandboxStats reads).
 * The kubelet's cgroup_parent is the pod-level cgroup (pod<uid>) in which
 * containers are siblings of our sandbox cgroup; without one the pod lives
 * in the daemon's default parent, shared with other pods, and the
 * sandbox's own cgroup is the pod's.  NULL: none exists. */
static int pod_cgroup(const struct oci_cgroup_manager *mgr, const store_record *rec, char **out,
                      crio_error_t *err) {
  *out = NULL;
  /* Our cgroup exists from create_cgroup to remove_cgroup, and only then. */
  if (*rec->pod->cgroup_path == '\0')
    return 0;
  if (*rec->pod->cgroup_parent == '\0') {
    *out = xstrdup(rec->pod->cgroup_path);
    return 0;
  }
  return mgr->parent_path(rec->pod->cgroup_parent, out, err);
}

static int check_ready(struct reconcile_op *op, crio_error_t *err) {
  struct pod_update *u = op->data;
  const store_record *rec = op->record;
  if (rec->state == SM_POD_PENDING)
    return crio_error(err, ENOENT, "pod sandbox %s: not found (still being created)", rec->id);
  if (rec->state != SM_POD_READY || rec->goal != SM_POD_READY)
    return crio_error(err, EBUSY, "pod sandbox %s is not ready (%s%s)", rec->id,
                      sm_state_name(SM_KIND_POD, rec->state),
                      rec->goal != SM_POD_READY ? ", stopping" : "");
  const struct reconciler_pod_env *env = op->reconciler->pod_env;
  if (env == NULL || env->cgroups == NULL)
    return crio_error(err, ENOSYS, "pod sandbox %s: no pod steps are registered", rec->id);
  u->mgr = env->cgroups;
  if (pod_cgroup(u->mgr, rec, &u->cgroup, err) < 0)
    return crio_error_prefix(err, "pod sandbox %s: cgroup", rec->id);
  if (u->cgroup == NULL)
    return crio_error(err, EBUSY, "pod sandbox %s has no cgroup", rec->id);
  return 0;
}

static char *describe(const struct oci_cgroup_resources *res, const char *cgroup) {
  return xasprintf("UpdatePodSandboxResources: cgroup %s cpu_shares=%llu cpu_quota=%lld "
                   "cpu_period=%llu memory_limit_in_bytes=%lld",
                   cgroup, (unsigned long long)res->cpu_shares, (long long)res->cpu_quota_us,
                   (unsigned long long)res->cpu_period_us, (long long)res->memory_limit_bytes);
}

static int op_update(struct reconcile_op *op, crio_error_t *err) {
  struct pod_update *u = op->data;
  store_record *rec = op->record;
  if (u->mgr->update(u->cgroup, &u->values, err) < 0)
    return crio_error_prefix(err, "update resources of pod sandbox %s", rec->id);
  Runtime__V1__LinuxPodSandboxConfig now = RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__INIT;
  now.overhead = (Runtime__V1__LinuxContainerResources *)u->overhead;
  now.resources = (Runtime__V1__LinuxContainerResources *)u->resources;
  size_t len = runtime__v1__linux_pod_sandbox_config__get_packed_size(&now);
  uint8_t *bytes = xmalloc(len ? len : 1);
  runtime__v1__linux_pod_sandbox_config__pack(&now, bytes);
  free(rec->resources_update.data);
  rec->resources_update.data = bytes;
  rec->resources_update.len = len;
  op->outcome = describe(&u->values, u->cgroup);
  return 0;
}

static const struct reconcile_op_type update_resources = {
    .name = RECONCILER_OP_POD_UPDATE_RESOURCES,
    .kind = SM_KIND_POD,
    .mode = RECONCILE_OP_EXCLUSIVE,
    .logged = true,
    .check = check_ready,
};

int reconciler_pod_update_resources(struct reconciler *r, const char *id,
                                    const Runtime__V1__LinuxContainerResources *resources,
                                    const Runtime__V1__LinuxContainerResources *overhead,
                                    int64_t deadline_ns, crio_error_t *err) {
  struct pod_update u = {.resources = resources, .overhead = overhead};
  if (pod_cgroup_resources(resources, overhead, &u.values, err) < 0)
    return -1;
  int rc = reconciler_run_op(r, &update_resources, id, "UpdatePodSandboxResources", op_update, &u,
                             deadline_ns, err);
  if (rc == 0) {
    cleanup_free char *message = describe(&u.values, u.cgroup);
    log_info("pod sandbox %s: %s", id, message);
  }
  free(u.cgroup);
  return rc;
}

/* ---- network readiness ------------------------------------------------------------------ */

int reconciler_network_ready(struct reconciler *r, crio_error_t *err) {
  const struct reconciler_pod_env *env = r->pod_env;
  if (env == NULL)
    return crio_error(err, ENOSYS, "no pod steps are registered");
  struct cni_network net;
  if (cni_network_load(env->cni_config_dir, env->cni_plugin_dirs, &net, err) < 0)
    return -1;
  cni_network_release(&net);
  return 0;
}
