/* The pod sandbox's steps: one idempotent side effect each, named by the
 * transition they implement (statemachine/pod.c).  Every resource lives at
 * a path derived from the pod id, so a step that crashed before its commit
 * left only things its rerun, its rollback or wipe will find. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sys/mount.h>
#include <sys/stat.h>

#include "oci/rootfs.h"
#include "reconciler/internal.h"
#include "reconciler/pod_steps.h"
#include "statemachine/statemachine.h"

static const char *const ns_resource[OCI_NS_COUNT] = {
    [OCI_NS_NET] = POD_RES_NETNS,
    [OCI_NS_IPC] = POD_RES_IPCNS,
    [OCI_NS_UTS] = POD_RES_UTSNS,
    [OCI_NS_PID] = POD_RES_PIDNS,
};

static char **ns_path_field(store_record *rec, enum oci_ns_type type) {
  switch (type) {
  case OCI_NS_NET:
    return &rec->pod->netns_path;
  case OCI_NS_IPC:
    return &rec->pod->ipc_ns_path;
  case OCI_NS_UTS:
    return &rec->pod->uts_ns_path;
  case OCI_NS_PID:
    return &rec->pod->pid_ns_path;
  default:
    return NULL;
  }
}

/* ---- the infra (pause) process's pid file --------------------------------------- */

/* <run_dir>/infra.pid, "<pid> <start time>", written as soon as pause runs
 * and before the step commits, so a pause started by a run of
 * pod.mark_ready that failed or crashed afterwards is still found. */
struct infra_id {
  pid_t pid;
  uint64_t start_time;
};

static char *infra_file_path(const store_record *rec) {
  return xasprintf("%s/infra.pid", rec->pod->run_dir);
}

static int infra_file_read(const store_record *rec, struct infra_id *out, crio_error_t *err) {
  memset(out, 0, sizeof(*out));
  cleanup_free char *path = infra_file_path(rec);
  cleanup_free char *text = NULL;
  cleanup_error crio_error_t read_err = NULL;
  if (crio_read_file(path, &text, NULL, &read_err) < 0) {
    if (crio_error_status(&read_err) == ENOENT)
      return 0;
    return crio_error(err, crio_error_status(&read_err), "pod %s: %s", rec->id,
                      crio_error_message(&read_err));
  }
  int pid = 0;
  unsigned long long start_time = 0;
  if (sscanf(text, "%d %llu", &pid, &start_time) != 2 || pid <= 0) {
    log_warning("pod %s: ignoring malformed %s", rec->id, path);
    return 0;
  }
  out->pid = pid;
  out->start_time = start_time;
  return 0;
}

static int infra_file_write(const store_record *rec, const struct infra_id *id, crio_error_t *err) {
  cleanup_free char *path = infra_file_path(rec);
  cleanup_free char *text =
      xasprintf("%d %llu\n", (int)id->pid, (unsigned long long)id->start_time);
  if (crio_write_file_atomic(path, text, strlen(text), 0644, err) < 0)
    return crio_error_prefix(err, "pod %s: infra pid file", rec->id);
  return 0;
}

static int infra_file_remove(const store_record *rec, crio_error_t *err) {
  cleanup_free char *path = infra_file_path(rec);
  if (unlink(path) < 0 && errno != ENOENT)
    return crio_error_errno(err, errno, "pod %s: remove %s", rec->id, path);
  return 0;
}

/* ---- namespaces and pod files -------------------------------------------------- */

/* gVisor with host networking (runsc --network=host, the only mode its
 * netstack leaves on hosts like these) binds a container's sockets with
 * the sandbox's host process, which holds no CAP_NET_BIND_SERVICE: a
 * container's bind to port 80 failed with EACCES although the container
 * has the capability in gVisor's kernel.  So a sandbox-per-pod pod's own
 * network namespace lets every port be bound, the sysctl containerd sets
 * for the same reason (enable_unprivileged_ports); the pod's own value of
 * it wins. */
#define UNPRIVILEGED_PORT_START "net.ipv4.ip_unprivileged_port_start"

static bool pod_sets_sysctl(const Runtime__V1__PodSandboxConfig *config, const char *key) {
  for (size_t i = 0; config->linux && i < config->linux->n_sysctls; i++)
    if (strcmp(config->linux->sysctls[i]->key, key) == 0)
      return true;
  return false;
}

static int apply_sysctls(const struct reconciler_pod_env *env, const store_record *rec,
                         const Runtime__V1__PodSandboxConfig *config, crio_error_t *err) {
  size_t n_pod = config->linux ? config->linux->n_sysctls : 0, n_defaults = 0;
  for (const char *const *d = env->default_sysctls; d && *d; d++)
    n_defaults++;
  cleanup_free struct oci_sysctl *sysctls = xcalloc(n_pod + n_defaults + 1, sizeof(*sysctls));
  /* The defaults' keys, cut at '=' (config.c checked the form). */
  cleanup_strv char **keys = xcalloc(n_defaults + 1, sizeof(char *));
  unsigned owned = pod_step_owned_namespaces(config);
  size_t n = 0;
  /* CRI-O's configureGeneratorForSysctls: defaults first, each the pod may
   * not set skipped with a warning; the pod's own values win. */
  for (size_t i = 0; i < n_defaults; i++) {
    const char *eq = strchr(env->default_sysctls[i], '=');
    keys[i] = eq ? xstrndup(env->default_sysctls[i], (size_t)(eq - env->default_sysctls[i]))
                 : xstrdup(env->default_sysctls[i]);
    if (eq == NULL || pod_sets_sysctl(config, keys[i]))
      continue;
    struct oci_sysctl one = {keys[i], eq + 1};
    cleanup_error crio_error_t skip = NULL;
    if (oci_sysctls_validate(&one, 1, owned, &skip) < 0) {
      log_warning("pod %s: skipping default sysctl %s: %s", rec->id, env->default_sysctls[i],
                  crio_error_message(&skip));
      continue;
    }
    sysctls[n++] = one;
  }
  bool port_start_set = false;
  for (size_t i = 0; i < n_pod; i++) {
    sysctls[n].key = config->linux->sysctls[i]->key;
    sysctls[n].value = config->linux->sysctls[i]->value;
    port_start_set |= strcmp(sysctls[n].key, UNPRIVILEGED_PORT_START) == 0;
    n++;
  }
  if (!port_start_set && (owned & OCI_NS_BIT(OCI_NS_NET)) && pod_step_has_sandbox(env, rec))
    sysctls[n++] = (struct oci_sysctl){UNPRIVILEGED_PORT_START, "0"};
  if (n == 0)
    return 0;
  struct oci_ns_paths ns = {0};
  ns.path[OCI_NS_NET] = *rec->pod->netns_path ? rec->pod->netns_path : NULL;
  ns.path[OCI_NS_IPC] = *rec->pod->ipc_ns_path ? rec->pod->ipc_ns_path : NULL;
  if (oci_sysctls_validate(sysctls, n, owned, err) < 0)
    return -1;
  return oci_sysctls_apply(&ns, sysctls, n, err);
}

/* The pod's /dev/shm: one tmpfs its containers share (they share the IPC
 * namespace, and POSIX shared memory lives in /dev/shm), as CRI-O's
 * per-pod shm mount.  A host-IPC pod's containers use the host's. */
#define POD_SHM_OPTIONS "mode=1777,size=65536k"

static char *shm_path(const store_record *rec) {
  return xasprintf("%s/shm", rec->pod->run_dir);
}

static int shm_mount(struct reconcile_step *step, crio_error_t *err) {
  store_record *rec = step->record;
  cleanup_free char *path = shm_path(rec);
  if (mkdir(path, 0755) < 0 && errno != EEXIST)
    return crio_error_errno(err, errno, "pod %s: mkdir %s", rec->id, path);
  int mounted = oci_rootfs_is_mounted(path, err);
  if (mounted < 0)
    return crio_error_prefix(err, "pod %s", rec->id);
  if (!mounted &&
      mount("shm", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, POD_SHM_OPTIONS) < 0)
    return crio_error_errno(err, errno, "pod %s: mount tmpfs on %s", rec->id, path);
  reconcile_step_acquire(step, POD_RES_MOUNT, path, NULL, 0);
  return 0;
}

static int shm_unmount(struct reconcile_step *step, crio_error_t *err) {
  store_record *rec = step->record;
  cleanup_free char *path = shm_path(rec);
  if (oci_rootfs_unmount(path, err) < 0)
    return crio_error_prefix(err, "pod %s: /dev/shm", rec->id);
  if (rmdir(path) < 0 && errno != ENOENT)
    return crio_error_errno(err, errno, "pod %s: remove %s", rec->id, path);
  reconcile_step_release(step, POD_RES_MOUNT, path);
  return 0;
}

static int step_pin_namespaces(struct reconcile_step *step, crio_error_t *err) {
  store_record *rec = step->record;
  const struct reconciler_pod_env *env = pod_step_env(step);
  cleanup_pod_step_config Runtime__V1__PodSandboxConfig *config = pod_step_config(rec, err);
  if (config == NULL)
    return -1;
  if (crio_mkdir_p(rec->pod->run_dir, 0755, err) < 0)
    return crio_error_prefix(err, "pod %s: run dir", rec->id);
  reconcile_step_acquire(step, POD_RES_DIR, rec->pod->run_dir, NULL, 0);

  unsigned owned = pod_step_owned_namespaces(config);
  for (int type = 0; type < OCI_NS_COUNT; type++) {
    /* A PID namespace cannot be pinned empty: pod.mark_ready makes it with
     * the pause process that is its init. */
    if ((owned & OCI_NS_BIT(type)) == 0 || type == OCI_NS_PID)
      continue;
    cleanup_free char *path = oci_ns_pin_path(env->runroot, (enum oci_ns_type)type, rec->id);
    char from_id[POD_HOSTNAME_FROM_ID_LEN + 1];
    const char *hostname = pod_step_hostname(rec, config, from_id);
    if (oci_ns_pin((enum oci_ns_type)type, path, type == OCI_NS_UTS ? hostname : NULL, err) < 0)
      return crio_error_prefix(err, "pod %s: pin %s namespace", rec->id,
                               oci_ns_type_name((enum oci_ns_type)type));
    store_string_set(ns_path_field(rec, (enum oci_ns_type)type), path);
    reconcile_step_acquire(step, ns_resource[type], path, NULL, 0);
  }
  if ((owned & OCI_NS_BIT(OCI_NS_IPC)) && shm_mount(step, err) < 0)
    return -1;
  if (apply_sysctls(env, rec, config, err) < 0)
    return crio_error_prefix(err, "pod %s: sysctls", rec->id);
  if (pod_step_write_files(rec, config, NULL, err) < 0)
    return crio_error_prefix(err, "pod %s: resolv.conf, hostname, hosts", rec->id);
  return 0;
}

/* Every pin the pod may have, whatever the record says: a crash inside the
 * pin step leaves pins the record does not know yet. */
static int step_release_namespaces(struct reconcile_step *step, crio_error_t *err) {
  store_record *rec = step->record;
  const struct reconciler_pod_env *env = pod_step_env(step);
  if (pod_step_sandbox_release(step, err) < 0)
    return -1;
  /* The record knows the pause process once pod.mark_ready committed; the
   * pid file also knows one that a failed or interrupted mark_ready
   * started. */
  struct infra_id from_file = {0};
  if (infra_file_read(rec, &from_file, err) < 0)
    return -1;
  struct infra_id known[2] = {{rec->pod->infra_pid, rec->pod->infra_start_time}, from_file};
  for (size_t i = 0; i < 2; i++) {
    if (known[i].pid <= 0 ||
        (i == 1 && known[1].pid == known[0].pid && known[1].start_time == known[0].start_time))
      continue;
    if (oci_infra_stop(known[i].pid, known[i].start_time, 10000, err) < 0)
      return crio_error_prefix(err, "pod %s: stop infra process", rec->id);
    cleanup_free char *proc =
        xasprintf("%d:%llu", (int)known[i].pid, (unsigned long long)known[i].start_time);
    reconcile_step_release(step, POD_RES_PROCESS, proc);
  }
  rec->pod->infra_pid = 0;
  rec->pod->infra_start_time = 0;
  if (infra_file_remove(rec, err) < 0)
    return -1;
  if (shm_unmount(step, err) < 0)
    return -1;
  for (int type = 0; type < OCI_NS_COUNT; type++) {
    cleanup_free char *path = oci_ns_pin_path(env->runroot, (enum oci_ns_type)type, rec->id);
    if (oci_ns_unpin(path, err) < 0)
      return crio_error_prefix(err, "pod %s: unpin %s namespace", rec->id,
                               oci_ns_type_name((enum oci_ns_type)type));
    /* The stats sampler's kept socket answered for this pin. */
    if (type == OCI_NS_NET)
      reconciler_samplers_forget_netns(step->reconciler, path);
    reconcile_step_release(step, ns_resource[type], path);
    store_string_set(ns_path_field(rec, (enum oci_ns_type)type), NULL);
  }
  return 0;
}

/* ---- cgroup ----------------------------------------------------------------------- */

static const char *cgroup_parent(const struct reconciler_pod_env *env, const store_record *rec) {
  return *rec->pod->cgroup_parent ? rec->pod->cgroup_parent : env->default_cgroup_parent;
}

static int step_create_cgroup(struct reconcile_step *step, crio_error_t *err) {
  store_record *rec = step->record;
  const struct reconciler_pod_env *env = pod_step_env(step);
  cleanup_free char *path = NULL;
  if (env->cgroups->create(cgroup_parent(env, rec), rec->id, NULL, &path, err) < 0)
    return crio_error_prefix(err, "pod %s: create cgroup", rec->id);
  store_string_set(&rec->pod->cgroup_path, path);
  reconcile_step_acquire(step, POD_RES_CGROUP, path, NULL, 0);
  return 0;
}

static int step_remove_cgroup(struct reconcile_step *step, crio_error_t *err) {
  store_record *rec = step->record;
  const struct reconciler_pod_env *env = pod_step_env(step);
  cleanup_free char *path = NULL;
  if (*rec->pod->cgroup_path)
    path = xstrdup(rec->pod->cgroup_path);
  else if (env->cgroups->pod_path(cgroup_parent(env, rec), rec->id, &path, err) < 0)
    return crio_error_prefix(err, "pod %s: cgroup path", rec->id);
  /* The stats sampler's kept files of the pod's cgroup (the kubelet's
   * parent, or this one) go with the pod. */
  reconciler_samplers_forget_pod_cgroup(step->reconciler, env->cgroups, rec);
  /* Monitors that just saw their container or sandbox end (conmon, a
   * gVisor waiter) may still be leaving the cgroup: look again for up to
   * 2 s before calling it busy. */
  for (int tries = 0;; tries++) {
    crio_error_t e = NULL;
    if (env->cgroups->remove(path, &e) == 0)
      break;
    if (tries >= 40) {
      *err = e;
      return crio_error_prefix(err, "pod %s: remove cgroup", rec->id);
    }
    crio_error_release(&e);
    usleep(50 * 1000);
  }
  reconcile_step_release(step, POD_RES_CGROUP, path);
  store_string_set(&rec->pod->cgroup_path, NULL);

  /* The pod's own files go with it. */
  if (oci_pod_files_remove(rec->pod->run_dir, err) < 0)
    return crio_error_prefix(err, "pod %s: remove pod files", rec->id);
  cleanup_free char *stash = xasprintf("%s/cni-config.json", rec->pod->run_dir);
  if (unlink(stash) < 0 && errno != ENOENT)
    return crio_error_errno(err, errno, "pod %s: remove %s", rec->id, stash);
  if (rmdir(rec->pod->run_dir) < 0 && errno != ENOENT)
    return crio_error_errno(err, errno, "pod %s: remove %s", rec->id, rec->pod->run_dir);
  reconcile_step_release(step, POD_RES_DIR, rec->pod->run_dir);
  return 0;
}

/* ---- ready, containers ------------------------------------------------------------- */

/* Only a shared PID namespace needs a process to keep it usable: pause
 * becomes its init, and the namespace is pinned from it.  Safe to repeat: a
 * pause that a crashed run of this step started (named by the pid file) is
 * adopted instead of started twice. */
static int step_mark_ready(struct reconcile_step *step, crio_error_t *err) {
  store_record *rec = step->record;
  const struct reconciler_pod_env *env = pod_step_env(step);
  cleanup_pod_step_config Runtime__V1__PodSandboxConfig *config = pod_step_config(rec, err);
  if (config == NULL)
    return -1;
  /* A sandboxed pod's containers share the sandbox's own PID namespace:
   * its infra container is what a host pause would be. */
  if (pod_step_has_sandbox(env, rec)) {
    char from_id[POD_HOSTNAME_FROM_ID_LEN + 1];
    return pod_step_sandbox_start(step, pod_step_hostname(rec, config, from_id), err);
  }
  if ((pod_step_owned_namespaces(config) & OCI_NS_BIT(OCI_NS_PID)) == 0)
    return 0;
  cleanup_free char *pin = oci_ns_pin_path(env->runroot, OCI_NS_PID, rec->id);

  struct infra_id infra_id = {0};
  if (infra_file_read(rec, &infra_id, err) < 0)
    return -1;
  int running = 0;
  if (infra_id.pid > 0 &&
      (running = oci_infra_is_running(infra_id.pid, infra_id.start_time, err)) < 0)
    return crio_error_prefix(err, "pod %s: infra process %d", rec->id, (int)infra_id.pid);
  if (!running) {
    /* A pin left by a pause that is gone names a dead namespace. */
    if (oci_ns_unpin(pin, err) < 0)
      return crio_error_prefix(err, "pod %s: stale PID namespace pin", rec->id);
    struct oci_infra_config infra = {
        .pause_path = env->pause_path,
        .cgroup_manager = env->cgroups,
        .cgroup_parent = cgroup_parent(env, rec),
        .pod_id = rec->id,
    };
    infra.ns.path[OCI_NS_NET] = *rec->pod->netns_path ? rec->pod->netns_path : NULL;
    infra.ns.path[OCI_NS_IPC] = *rec->pod->ipc_ns_path ? rec->pod->ipc_ns_path : NULL;
    infra.ns.path[OCI_NS_UTS] = *rec->pod->uts_ns_path ? rec->pod->uts_ns_path : NULL;
    if (oci_infra_start(&infra, &infra_id.pid, &infra_id.start_time, err) < 0)
      return crio_error_prefix(err, "pod %s: start infra process", rec->id);
    if (infra_file_write(rec, &infra_id, err) < 0) {
      cleanup_error crio_error_t stop_err = NULL;
      if (oci_infra_stop(infra_id.pid, infra_id.start_time, 10000, &stop_err) < 0)
        crio_error_warn(&stop_err, "pod infra process");
      return -1;
    }
  }
  cleanup_free char *source = xasprintf("/proc/%d/ns/pid", (int)infra_id.pid);
  if (oci_ns_pin_existing(OCI_NS_PID, source, pin, err) < 0)
    return crio_error_prefix(err, "pod %s: pin PID namespace", rec->id);
  store_string_set(&rec->pod->pid_ns_path, pin);
  reconcile_step_acquire(step, POD_RES_PIDNS, pin, NULL, 0);
  rec->pod->infra_pid = infra_id.pid;
  rec->pod->infra_start_time = infra_id.start_time;
  cleanup_free char *proc =
      xasprintf("%d:%llu", (int)infra_id.pid, (unsigned long long)infra_id.start_time);
  reconcile_step_acquire(step, POD_RES_PROCESS, proc, NULL, 0);
  return 0;
}

/* pod.stop_containers and pod.remove_containers: each container goes its
 * own way through its own machine, all at once (the reconciler runs them
 * on its workers in parallel); the pod step sets their goals and looks
 * again until every one is there.  Only a goal that must change is
 * written and woken: waking a container whose teardown step is backing
 * off after a failure would retry it at this step's polling rate. */
static bool container_stopped(sm_state_t state) {
  return state == SM_CONTAINER_EXITED || state == SM_CONTAINER_RUNTIME_DELETED ||
         state == SM_CONTAINER_ROOTFS_UNMOUNTED || state == SM_CONTAINER_REMOVED;
}

static int step_containers(struct reconcile_step *step, crio_error_t *err) {
  bool remove = strcmp(step->transition->name, "pod.remove_containers") == 0;
  sm_state_t goal = remove ? SM_CONTAINER_REMOVED : SM_CONTAINER_EXITED;
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(step->store, STORE_TXN_WRITE, &txn, err) < 0)
    return -1;
  cleanup_strv char **ids = NULL;
  size_t n = 0;
  if (store_pod_container_ids(txn, step->record->id, &ids, &n, err) < 0)
    return -1;
  if (n == 0)
    return 0;
  cleanup_free bool *woken = xcalloc(n, sizeof(*woken));
  size_t waiting = 0;
  for (size_t i = 0; i < n; i++) {
    cleanup_store_record store_record *c = NULL;
    cleanup_error crio_error_t get_err = NULL;
    if (store_record_get(txn, STORE_KIND_CONTAINER, ids[i], &c, &get_err) < 0)
      continue; /* the index outlived the record: store_delete drops both */
    if (!remove && container_stopped(c->state))
      continue;
    waiting++;
    /* A container on its way out (goal REMOVED) is not held back to EXITED. */
    if (c->goal == goal || c->goal == SM_CONTAINER_REMOVED)
      continue;
    if (!remove && !sm_reachable(SM_KIND_CONTAINER, c->state, goal))
      continue;
    store_set_goal(txn, c, goal, step->transition->name);
    woken[i] = true;
  }
  if (store_txn_commit(steal_pointer(&txn), err) < 0)
    return crio_error_prefix(err, "pod %s: container goals", step->record->id);
  for (size_t i = 0; i < n; i++)
    if (woken[i])
      reconciler_wake(step->reconciler, SM_KIND_CONTAINER, ids[i]);
  if (waiting == 0)
    return 0;
  log_debug("pod %s: %s waits for %zu container(s)", step->record->id, step->transition->name,
            waiting);
  return RECONCILE_STEP_WAIT;
}

static int step_nothing_on_host(struct reconcile_step *step, crio_error_t *err) {
  return 0;
}

int reconciler_register_pod_steps(struct reconciler *r, const struct reconciler_pod_env *env,
                                  crio_error_t *err) {
  static const struct {
    const char *transition;
    reconcile_step_fn fn;
  } steps[] = {
      {"pod.pin_namespaces", step_pin_namespaces},
      {"pod.create_cgroup", step_create_cgroup},
      {"pod.cni_add", pod_step_cni_add},
      {"pod.mark_ready", step_mark_ready},
      {"pod.stop_containers", step_containers},
      {"pod.cni_del", pod_step_cni_del},
      {"pod.release_namespaces", step_release_namespaces},
      {"pod.remove_containers", step_containers},
      {"pod.remove_cgroup", step_remove_cgroup},
      /* The record's deletion is the transition itself. */
      {"pod.delete_record", step_nothing_on_host},
      {"pod.rollback_partial_namespaces", step_release_namespaces},
      {"pod.rollback_release_namespaces", step_release_namespaces},
      {"pod.rollback_cni_del", pod_step_rollback_cni_del},
      {"pod.rollback_detach_network", pod_step_cni_del},
  };
  for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
    if (reconciler_register_step(r, steps[i].transition, steps[i].fn, (void *)env, err) < 0)
      return -1;
  /* Every pod transition must have a step: a new one in the table without
   * one here fails start-up, not a pod at run time. */
  const struct sm_machine *m = sm_machine(SM_KIND_POD);
  size_t n_steps = 0;
  for (size_t i = 0; i < m->n_transitions; i++)
    n_steps += m->transitions[i].trigger == SM_TRIGGER_STEP;
  if (n_steps != sizeof(steps) / sizeof(steps[0]))
    return crio_error(err, EINVAL, "pod steps: %zu registered for %zu step transitions",
                      sizeof(steps) / sizeof(steps[0]), n_steps);
  r->pod_env = env;
  return 0;
}
