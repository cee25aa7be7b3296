/* container.runtime_create: the OCI spec from the request, the pod and the
 * image, written to the bundle; conmon started, which runs `runtime
 * create`.  Creating is not idempotent by itself (conmon and the runtime's
 * container are new each time), so a rerun — after a crash or a failure
 * before the commit — first removes what an earlier run may have left. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "oci/rootfs.h"
#include "oci/spec.h"
#include "reconciler/container_steps.h"
#include "reconciler/pod_steps.h"

#define ANN_TERMINATION_MESSAGE_PATH "io.kubernetes.container.terminationMessagePath"
#define DEFAULT_TERMINATION_MESSAGE_PATH "/dev/termination-log"

struct create_inputs {
  store_record *pod;
  Runtime__V1__PodSandboxConfig *pod_config;
  cJSON *image_config;
  char *target_pidns;
};

static void create_inputs_release(struct create_inputs *in) {
  store_record_free(in->pod);
  if (in->pod_config)
    runtime__v1__pod_sandbox_config__free_unpacked(in->pod_config, NULL);
  cJSON_Delete(in->image_config);
  free(in->target_pidns);
  memset(in, 0, sizeof(*in));
}

/* The target container's PID namespace for pid mode TARGET. */
static int target_pidns(struct store_txn *txn, const Runtime__V1__ContainerConfig *config,
                        char **out, crio_error_t *err) {
  const Runtime__V1__LinuxContainerSecurityContext *sc =
      config->linux ? config->linux->security_context : NULL;
  const Runtime__V1__NamespaceOption *ns = sc ? sc->namespace_options : NULL;
  if (ns == NULL || ns->pid != RUNTIME__V1__NAMESPACE_MODE__TARGET)
    return 0;
  cleanup_free char *id = NULL;
  cleanup_store_record store_record *target = NULL;
  if (store_record_resolve_prefix(txn, STORE_KIND_CONTAINER, ns->target_id, &id, err) < 0 ||
      store_record_get(txn, STORE_KIND_CONTAINER, id, &target, err) < 0)
    return crio_error_prefix(err, "pid namespace target %s", ns->target_id);
  if (target->container->pid <= 0)
    return crio_error(err, EINVAL, "pid namespace target %s has no process", id);
  *out = xasprintf("/proc/%d/ns/pid", (int)target->container->pid);
  return 0;
}

/* The pod and image records as they are now, in one short read txn. */
static int read_inputs(struct reconcile_step *step, const Runtime__V1__ContainerConfig *config,
                       struct create_inputs *in, crio_error_t *err) {
  const store_record *rec = step->record;
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(step->store, STORE_TXN_READ, &txn, err) < 0)
    return -1;
  if (store_record_get(txn, STORE_KIND_POD, rec->parent_id, &in->pod, err) < 0)
    return crio_error_prefix(err, "container %s: pod %s", rec->id, rec->parent_id);
  cleanup_store_record store_record *image = NULL;
  if (store_record_get(txn, STORE_KIND_IMAGE, rec->container->image_id, &image, err) < 0)
    return crio_error_prefix(err, "container %s: image %s", rec->id, rec->container->image_id);
  if (target_pidns(txn, config, &in->target_pidns, err) < 0)
    return crio_error_prefix(err, "container %s", rec->id);
  store_txn_abort(steal_pointer(&txn));

  in->pod_config = pod_step_config(in->pod, err);
  if (in->pod_config == NULL)
    return -1;
  if (image->image && image->image->config.len) {
    cleanup_free char *text =
        xstrndup((const char *)image->image->config.data, image->image->config.len);
    in->image_config = cJSON_Parse(text);
    if (in->image_config == NULL)
      return crio_error(err, EINVAL, "container %s: image %s: config is not JSON", rec->id,
                        image->id);
  }
  return 0;
}

static void cjson_deletep(cJSON **json) {
  cJSON_Delete(*json);
  *json = NULL;
}
#define cleanup_cjson __attribute__((cleanup(cjson_deletep)))

static const char *nonempty(const char *s) {
  return s && *s ? s : NULL;
}

static char *pod_file(const store_record *pod, const char *name) {
  cleanup_free char *path = xasprintf("%s/%s", pod->pod->run_dir, name);
  return access(path, F_OK) == 0 ? steal_pointer(&path) : NULL;
}

/* The termination-message file: the request's own mount at its path (the
 * kubelet's), else a file of the container's own, mounted there. */
static const char *termination_dest(const Runtime__V1__ContainerConfig *config) {
  for (size_t i = 0; i < config->n_annotations; i++)
    if (strcmp(config->annotations[i]->key, ANN_TERMINATION_MESSAGE_PATH) == 0 &&
        config->annotations[i]->value[0])
      return config->annotations[i]->value;
  return DEFAULT_TERMINATION_MESSAGE_PATH;
}

static const char *requested_termination_file(const Runtime__V1__ContainerConfig *config) {
  const char *dest = termination_dest(config);
  for (size_t i = 0; i < config->n_mounts; i++)
    if (strcmp(config->mounts[i]->container_path, dest) == 0 &&
        config->mounts[i]->host_path[0] == '/')
      return config->mounts[i]->host_path;
  return NULL;
}

static int own_termination_file(const char *path, crio_error_t *err) {
  cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
  if (fd < 0)
    return crio_error_errno(err, errno, "create %s", path);
  /* Any container user may write its message (the kubelet's mode). */
  if (fchmod(fd, 0666) < 0)
    return crio_error_errno(err, errno, "chmod %s", path);
  return 0;
}

/* What the record keeps of the spec, for status and for later calls. */
static void record_spec_facts(store_record *rec, const cJSON *spec) {
  Crio__Store__ContainerBody *c = rec->container;
  const cJSON *user =
      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(spec, "process"), "user");
  int64_t v = 0;
  c->run_as_uid = oci_spec_get_int(user, "uid", &v) ? v : 0;
  c->run_as_gid = oci_spec_get_int(user, "gid", &v) ? v : 0;
  const cJSON *gids = cJSON_GetObjectItemCaseSensitive(user, "additionalGids");
  free(c->supplemental_groups);
  c->supplemental_groups = NULL;
  c->n_supplemental_groups = 0;
  int n = cJSON_GetArraySize(gids);
  if (n > 0) {
    c->supplemental_groups = xcalloc((size_t)n, sizeof(*c->supplemental_groups));
    const cJSON *g;
    cJSON_ArrayForEach(g, gids) {
      if (cJSON_IsNumber(g))
        c->supplemental_groups[c->n_supplemental_groups++] = (int64_t)g->valuedouble;
    }
  }
  const cJSON *cg = cJSON_GetObjectItemCaseSensitive(
      cJSON_GetObjectItemCaseSensitive(spec, "linux"), "cgroupsPath");
  store_string_set(&c->cgroup_path, cJSON_IsString(cg) ? cg->valuestring : NULL);
}

static int build_spec(struct reconcile_step *step, const Runtime__V1__ContainerConfig *config,
                      const struct create_inputs *in, const struct container_paths *p,
                      bool rt_sandboxed, cJSON **spec, crio_error_t *err) {
  store_record *rec = step->record;
  struct reconciler_container_env *env = container_env_of(step);
  const Crio__Store__PodSandboxBody *pod = in->pod->pod;
  cleanup_free char *hosts = pod_file(in->pod, OCI_POD_HOSTS);
  cleanup_free char *hostname = pod_file(in->pod, OCI_POD_HOSTNAME);
  cleanup_free char *resolv = pod_file(in->pod, OCI_POD_RESOLV_CONF);
  /* The pod's /dev/shm (pod.pin_namespaces mounts it), the host's for a
   * host-IPC pod; a pod made before pods had one gets a private tmpfs. */
  cleanup_free char *shm = xasprintf("%s/shm", pod->run_dir);
  const char *shm_path = NULL;
  if ((pod_step_owned_namespaces(in->pod_config) & OCI_NS_BIT(OCI_NS_IPC)) == 0) {
    shm_path = "/dev/shm";
  } else {
    cleanup_error crio_error_t e = NULL;
    if (oci_rootfs_is_mounted(shm, &e) == 1)
      shm_path = shm;
  }
  const char *termination = NULL;
  if (requested_termination_file(config) == NULL) {
    if (own_termination_file(p->termination_log, err) < 0)
      return crio_error_prefix(err, "container %s", rec->id);
    termination = p->termination_log;
  }
  const char *parent = *pod->cgroup_parent ? pod->cgroup_parent : env->default_cgroup_parent;
  char hostname_from_id[POD_HOSTNAME_FROM_ID_LEN + 1];
  struct oci_spec_input input = {
      .container_id = rec->id,
      .sandbox_id = in->pod->id,
      .config = config,
      .sandbox_config = in->pod_config,
      .image_config = in->image_config,
      .image_name = rec->container->image_ref,
      .rootfs = p->merged,
      .netns_path = nonempty(pod->netns_path),
      .ipcns_path = nonempty(pod->ipc_ns_path),
      .utsns_path = nonempty(pod->uts_ns_path),
      .pidns_path = nonempty(pod->pid_ns_path),
      .target_pidns_path = in->target_pidns,
      .sandboxed = rt_sandboxed,
      .hosts_path = hosts,
      .hostname_path = hostname,
      .resolv_conf_path = resolv,
      .pod_hostname = pod_step_hostname(in->pod, in->pod_config, hostname_from_id),
      .shm_path = shm_path,
      .termination_message_path = termination,
      .cgroup_parent = parent,
      .cgroup_driver = strcmp(env->cgroups->name, "systemd") == 0 ? OCI_CGROUP_DRIVER_SYSTEMD
                                                                  : OCI_CGROUP_DRIVER_CGROUPFS,
      .host = env->host,
  };
  cleanup_oci_spec_warnings struct oci_spec_warnings warnings = {0};
  if (oci_spec_build(&input, spec, &warnings, err) < 0)
    return crio_error_prefix(err, "container %s: OCI spec", rec->id);
  for (size_t i = 0; i < warnings.n; i++)
    log_warning("container %s: %s", rec->id, warnings.items[i]);
  store_string_set(&rec->container->termination_message_path,
                   termination ? termination : requested_termination_file(config));
  return 0;
}

int container_step_runtime_create(struct reconcile_step *step, crio_error_t *err) {
  store_record *rec = step->record;
  struct reconciler_container_env *env = container_env_of(step);
  Crio__Store__ContainerBody *c = rec->container;
  cleanup_container_paths struct container_paths p;
  container_paths_init(&p, env, rec->id);
  const struct oci_runtime *rt = container_runtime(env, rec, err);
  if (rt == NULL)
    return -1;
  cleanup_container_config Runtime__V1__ContainerConfig *config = container_config(rec, err);
  if (config == NULL)
    return -1;
  __attribute__((cleanup(create_inputs_release))) struct create_inputs in = {0};
  if (read_inputs(step, config, &in, err) < 0)
    return -1;

  /* An earlier run may have left a conmon (its sync pipe died with the
   * daemon, so it reports to nobody) and a runtime container. */
  if (container_conmon_kill_all(rec, &p, err) < 0)
    return -1;
  if (oci_runtime_delete(rt, rec->id, err) < 0)
    return crio_error_prefix(err, "container %s: remove an earlier attempt", rec->id);

  cleanup_cjson cJSON *spec = NULL;
  if (build_spec(step, config, &in, &p, rt->ops->sandbox_per_pod, &spec, err) < 0)
    return -1;
  if (rt->ops->spec_fixup)
    rt->ops->spec_fixup(spec);
  if (oci_spec_prepare_rootfs(p.merged, spec, in.image_config, err) < 0)
    return crio_error_prefix(err, "container %s: prepare rootfs", rec->id);
  if (crio_mkdir_p(p.bundle, 0700, err) < 0)
    return crio_error_prefix(err, "container %s: bundle", rec->id);
  reconcile_step_acquire(step, CTR_RES_DIR, p.bundle, NULL, 0);
  if (oci_spec_write(p.bundle, spec, err) < 0)
    return crio_error_prefix(err, "container %s: write config.json", rec->id);
  record_spec_facts(rec, spec);
  int signo = SIGTERM;
  if (oci_spec_stop_signal(config, in.image_config, &signo, err) < 0)
    return crio_error_prefix(err, "container %s", rec->id);
  c->stop_signal = signo;

  const Crio__Store__PodSandboxBody *pod = in.pod->pod;
  struct conmon_placement placement = {
      .cgroups = env->cgroups,
      .parent = *pod->cgroup_parent ? pod->cgroup_parent : env->default_cgroup_parent,
      .pod_id = in.pod->id,
  };
  struct oci_conmon_config cfg = {
      .conmon_path = env->conmon_path,
      .runtime = rt,
      .id = rec->id,
      .name = rec->name,
      .bundle = p.bundle,
      .persist_dir = p.dir,
      .exit_dir = p.exits,
      .socket_dir = p.attach,
      .log_path = c->log_path,
      .terminal = config->tty,
      .stdin_open = config->stdin,
      .stdin_once = config->stdin_once,
      .before_start = container_place_conmon,
      .before_start_arg = &placement,
  };
  struct oci_conmon_created created;
  if (oci_conmon_create(&cfg, &created, err) < 0)
    return -1;
  c->pid = created.container_pid;
  uint64_t start = 0;
  cleanup_error crio_error_t e = NULL;
  c->pid_start_time = crio_proc_start_time(created.container_pid, &start, &e) == 0 ? start : 0;
  c->conmon_pid = created.conmon_pid;
  c->conmon_start_time = created.conmon_start_time;
  /* The runtime made the container's cgroup (its delete removes it): named
   * in the log as the kernel shows it, whichever manager named it. */
  cleanup_free char *cgroup = NULL;
  cleanup_error crio_error_t cg_err = NULL;
  if (rt->ops->sandbox_per_pod) {
    /* The "container pid" is the shim's waiter, in the pod's cgroup with
     * conmon; runsc makes the container's own cgroup from the spec's
     * cgroupsPath (a cgroupfs path names it directly). */
    if (c->cgroup_path[0] == '/')
      reconcile_step_acquire(step, CTR_RES_CGROUP, c->cgroup_path, NULL, 0);
  } else if (oci_process_cgroup_path(created.container_pid, &cgroup, &cg_err) == 0) {
    reconcile_step_acquire(step, CTR_RES_CGROUP, cgroup, NULL, 0);
  } else {
    crio_error_warn(&cg_err, "container cgroup");
  }
  cleanup_free char *detail = container_runtime_detail(c->runtime_handler, rt);
  reconcile_step_acquire(step, CTR_RES_RUNTIME, rec->id, detail, strlen(detail));
  cleanup_free char *conmon =
      xasprintf("%d:%llu", (int)created.conmon_pid, (unsigned long long)created.conmon_start_time);
  reconcile_step_acquire(step, CTR_RES_CONMON, conmon, p.bundle, strlen(p.bundle));
  return 0;
}
