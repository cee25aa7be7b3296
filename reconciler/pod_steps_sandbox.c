/* The sandbox of a pod whose handler runs a sandbox per pod (gVisor).
 *
 * pod.mark_ready starts it, after CNI has configured the pod's network
 * namespace (the sandbox joins that namespace as it boots): the infra
 * container, named by the pod id, runs crio-pause in an empty rootfs
 * through conmon, like an app container (CRI-O runs its infra container
 * the same way), and every app container of the pod joins the sandbox it
 * booted (oci/runtime_runsc.c).  pod.release_namespaces (and the rollbacks
 * that share its step) deletes it, which ends the sandbox and whatever
 * still ran in it.
 *
 * Files, under <run_dir>/sandbox/ (the bundle): config.json, rootfs/,
 * conmon's pid files, exit file (exits/<pod id>), infra.log; and conmon's
 * attach link in <run_dir>/attach/ (not in the bundle: conmon names its
 * socket <bundle>/attach, which a dir of that name would shadow).
 *
 * Log resources: "runtime" (the pod id, with the handler as detail, as a
 * container's) and "conmon" ("pid:start"), which recovery's registry
 * already knows how to release, so wipe deletes a sandbox the daemon left. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "reconciler/container_steps.h"
#include "reconciler/pod_steps.h"

/* How long the infra's monitors may take to notice the sandbox is gone. */
#define SANDBOX_EXIT_WAIT_MS 5000

static const struct oci_runtime *pod_runtime(const struct reconciler_pod_env *env,
                                             const store_record *rec, crio_error_t *err) {
  const char *name = rec->pod ? rec->pod->runtime_handler : "";
  for (size_t i = 0; i < env->n_runtimes; i++)
    if (strcmp(env->runtimes[i].name, name) == 0)
      return env->runtimes[i].runtime;
  crio_error(err, EINVAL, "pod %s: runtime handler \"%s\" is not configured", rec->id, name);
  return NULL;
}

bool pod_step_has_sandbox(const struct reconciler_pod_env *env, const store_record *rec) {
  cleanup_error crio_error_t e = NULL;
  const struct oci_runtime *rt = pod_runtime(env, rec, &e);
  return rt && rt->ops->sandbox_per_pod;
}

static char *bundle_of(const store_record *rec) {
  return xasprintf("%s/sandbox", rec->pod->run_dir);
}

static int kill_conmon(const char *bundle, const char *id, crio_error_t *err) {
  pid_t pid = 0;
  uint64_t start = 0;
  if (container_conmon_from_pidfile(bundle, id, &pid, &start, err) < 0)
    return -1;
  if (pid > 0 && oci_conmon_kill(pid, start, err) < 0)
    return -1;
  return 0;
}

static void acquire(struct reconcile_step *step, const struct oci_runtime *rt, const char *bundle) {
  store_record *rec = step->record;
  cleanup_free char *detail = container_runtime_detail(rec->pod->runtime_handler, rt);
  reconcile_step_acquire(step, POD_RES_RUNTIME, rec->id, detail, strlen(detail));
  pid_t pid = 0;
  uint64_t start = 0;
  cleanup_error crio_error_t e = NULL;
  if (container_conmon_from_pidfile(bundle, rec->id, &pid, &start, &e) == 0 && pid > 0) {
    cleanup_free char *conmon = xasprintf("%d:%llu", (int)pid, (unsigned long long)start);
    reconcile_step_acquire(step, POD_RES_CONMON, conmon, bundle, strlen(bundle));
  }
}

int pod_step_sandbox_start(struct reconcile_step *step, const char *hostname, crio_error_t *err) {
  store_record *rec = step->record;
  const struct reconciler_pod_env *env = pod_step_env(step);
  const struct oci_runtime *rt = pod_runtime(env, rec, err);
  if (rt == NULL)
    return -1;
  cleanup_free char *bundle = bundle_of(rec);

  /* Safe to repeat: a sandbox an interrupted run booted is adopted; one
   * that was created but not started is started; anything else is
   * removed and made again. */
  struct oci_runtime_state st = {0};
  cleanup_error crio_error_t state_err = NULL;
  int known = oci_runtime_state(rt, rec->id, &st, &state_err) == 0;
  if (!known && crio_error_status(&state_err) != ENOENT)
    return crio_error(err, crio_error_status(&state_err), "pod %s: sandbox state: %s", rec->id,
                      crio_error_message(&state_err));
  if (known && (st.status == OCI_STATUS_RUNNING || st.status == OCI_STATUS_CREATED)) {
    if (st.status == OCI_STATUS_CREATED && oci_runtime_start(rt, rec->id, err) < 0)
      return crio_error_prefix(err, "pod %s: start sandbox", rec->id);
    acquire(step, rt, bundle);
    return 0;
  }
  if (kill_conmon(bundle, rec->id, err) < 0 || oci_runtime_delete(rt, rec->id, err) < 0)
    return crio_error_prefix(err, "pod %s: remove an earlier sandbox", rec->id);

  const char *parent =
      *rec->pod->cgroup_parent ? rec->pod->cgroup_parent : env->default_cgroup_parent;
  struct oci_sandbox_spec spec = {
      .bundle = bundle,
      .pod_id = rec->id,
      .pause_path = env->pause_path,
      .netns_path = *rec->pod->netns_path ? rec->pod->netns_path : NULL,
      .hostname = hostname,
      .cgroup_parent = parent,
      .cgroup_driver = strcmp(env->cgroups->name, "systemd") == 0 ? OCI_CGROUP_DRIVER_SYSTEMD
                                                                  : OCI_CGROUP_DRIVER_CGROUPFS,
  };
  if (crio_mkdir_p(bundle, 0700, err) < 0 || oci_sandbox_spec_write(&spec, err) < 0)
    return crio_error_prefix(err, "pod %s", rec->id);
  cleanup_free char *exits = xasprintf("%s/exits", bundle);
  cleanup_free char *attach = xasprintf("%s/attach", rec->pod->run_dir);
  if (crio_mkdir_p(attach, 0700, err) < 0)
    return crio_error_prefix(err, "pod %s: attach dir", rec->id);
  cleanup_free char *log = xasprintf("%s/infra.log", bundle);
  struct conmon_placement placement = {
      .cgroups = env->cgroups, .parent = parent, .pod_id = rec->id};
  struct oci_conmon_config cfg = {
      .conmon_path = env->conmon_path,
      .runtime = rt,
      .id = rec->id,
      .bundle = bundle,
      .persist_dir = bundle,
      .exit_dir = exits,
      .socket_dir = attach,
      .log_path = log,
      .before_start = container_place_conmon,
      .before_start_arg = &placement,
  };
  struct oci_conmon_created created;
  if (oci_conmon_create(&cfg, &created, err) < 0)
    return crio_error_prefix(err, "pod %s: create sandbox", rec->id);
  /* Logged before the start, so a failed start is still released. */
  acquire(step, rt, bundle);
  if (oci_runtime_start(rt, rec->id, err) < 0)
    return crio_error_prefix(err, "pod %s: start sandbox", rec->id);
  return 0;
}

int pod_step_sandbox_release(struct reconcile_step *step, crio_error_t *err) {
  store_record *rec = step->record;
  const struct reconciler_pod_env *env = pod_step_env(step);
  bool logged = false;
  for (size_t i = 0; i < rec->n_resources; i++)
    logged |= strcmp(rec->resources[i]->type, POD_RES_RUNTIME) == 0;
  if (!logged && !pod_step_has_sandbox(env, rec))
    return 0;
  const struct oci_runtime *rt = pod_runtime(env, rec, err);
  if (rt == NULL)
    return -1;
  cleanup_free char *bundle = bundle_of(rec);
  /* delete --force ends the sandbox: the infra and every container still
   * in it; each container's waiter then reports it killed. */
  if (oci_runtime_delete(rt, rec->id, err) < 0)
    return crio_error_prefix(err, "pod %s: delete sandbox", rec->id);
  reconcile_step_release(step, POD_RES_RUNTIME, rec->id);
  /* The infra's waiter sees the sandbox gone and exits, then its conmon
   * writes the exit file and exits: both live in the pod's cgroup, which
   * pod.remove_cgroup removes next, so let them go first. */
  cleanup_free char *exits = xasprintf("%s/exits", bundle);
  cleanup_error crio_error_t wait_err = NULL;
  if (access(bundle, F_OK) == 0 &&
      oci_exit_file_wait(exits, rec->id, SANDBOX_EXIT_WAIT_MS, &wait_err) < 0 &&
      crio_error_status(&wait_err) != ENOENT)
    crio_error_warn(&wait_err, "sandbox infra exit");
  if (kill_conmon(bundle, rec->id, err) < 0)
    return crio_error_prefix(err, "pod %s: sandbox conmon", rec->id);
  for (size_t i = 0; i < rec->n_resources; i++)
    if (strcmp(rec->resources[i]->type, POD_RES_CONMON) == 0) {
      cleanup_free char *id = xstrdup(rec->resources[i]->id);
      reconcile_step_release(step, POD_RES_CONMON, id);
      break;
    }
  cleanup_free char *attach = xasprintf("%s/attach", rec->pod->run_dir);
  if (oci_conmon_remove_attach_link(attach, rec->id, err) < 0 || oci_remove_tree(attach, err) < 0 ||
      oci_remove_tree(bundle, err) < 0)
    return crio_error_prefix(err, "pod %s: sandbox files", rec->id);
  return 0;
}
