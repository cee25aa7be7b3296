/* The resource types the state log names, each with how to tell it still
 * exists on the host and how to release it, safely and more than once.
 * A type added to the log (containers: "runtime", "conmon", ...)
 * needs one entry in `types` below; until it has one, wipe reports its
 * resources and leaves them in the log for a build that knows them.
 *
 * Releasing works from the logged resource alone (its id and detail),
 * never from a record, because wipe runs for objects whose records are
 * long gone.  Each release refuses what does not look like ours, since a
 * damaged log must not become an rm -rf of the wrong thing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cni/cni.h"
#include "images/layers.h"
#include "oci/oci.h"
#include "oci/runtime.h"
#include "recovery/internal.h"

/* The detail a resource was logged with, parsed; NULL if it has none or it
 * is not JSON. */
static cJSON *detail_json(const store_resource *res) {
  if (res->detail.len == 0)
    return NULL;
  cleanup_free char *text = xstrndup((const char *)res->detail.data, res->detail.len);
  return cJSON_Parse(text);
}

/* ---- pinned namespaces: netns, ipcns, utsns, pidns ------------------------------- */

static int ns_type_of(const store_resource *res, enum oci_ns_type *out, crio_error_t *err) {
  static const struct {
    const char *type;
    enum oci_ns_type ns;
  } map[] = {
      {"netns", OCI_NS_NET}, {"ipcns", OCI_NS_IPC}, {"utsns", OCI_NS_UTS}, {"pidns", OCI_NS_PID}};
  for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
    if (strcmp(map[i].type, res->type) == 0) {
      *out = map[i].ns;
      return 0;
    }
  }
  return crio_error(err, EINVAL, "%s is not a namespace type", res->type);
}

static int ns_exists(const struct recovery_env *env, const char *owner, const store_resource *res,
                     crio_error_t *err) {
  enum oci_ns_type ns = OCI_NS_NET; /* ns_type_of sets it or fails */
  if (ns_type_of(res, &ns, err) < 0)
    return -1;
  return oci_ns_is_pinned(ns, res->id, err);
}

/* Only a path that is a pinned namespace of the type, or a leftover file
 * under the run dir, is ours to unmount and unlink. */
static int ns_release(const struct recovery_env *env, const char *owner, const store_resource *res,
                      crio_error_t *err) {
  enum oci_ns_type ns = OCI_NS_NET;
  if (ns_type_of(res, &ns, err) < 0)
    return -1;
  int pinned = oci_ns_is_pinned(ns, res->id, err);
  if (pinned < 0)
    return -1;
  struct stat st;
  if (!pinned && lstat(res->id, &st) < 0 && errno == ENOENT)
    return 0;
  if (!pinned && !recovery_path_below(res->id, env->runroot))
    return crio_error(err, EPERM,
                      "%s is not a pinned %s namespace and not under %s: leaving it alone", res->id,
                      oci_ns_type_name(ns), env->runroot);
  return oci_ns_unpin(res->id, err);
}

/* ---- cgroups ------------------------------------------------------------------------ */

/* The cgroup's directories in every hierarchy that has it; NULL if its
 * path is not one a cgroup of ours could have. */
static char **cgroup_dirs_of(const store_resource *res, crio_error_t *err) {
  const char *path = res->id;
  if (!(path && path[0] == '/' && strcmp(path, "/") != 0 && strstr(path, "/..") == NULL)) {
    crio_error(err, EINVAL, "malformed cgroup path \"%s\"", res->id);
    return NULL;
  }
  return recovery_cgroup_dirs(path);
}

static int cgroup_exists(const struct recovery_env *env, const char *owner,
                         const store_resource *res, crio_error_t *err) {
  cleanup_strv char **dirs = cgroup_dirs_of(res, err);
  if (dirs == NULL)
    return -1;
  return dirs[0] != NULL;
}

/* The driver that made it: the detail may say ({"driver": ...}); else a
 * systemd unit's path says so by its suffix; else cgroupfs. */
static const struct oci_cgroup_manager *cgroup_manager_for(const store_resource *res,
                                                           crio_error_t *err) {
  if (res->detail.len > 0) {
    cJSON *doc = detail_json(res);
    const cJSON *driver = doc ? cJSON_GetObjectItemCaseSensitive(doc, "driver") : NULL;
    const struct oci_cgroup_manager *m =
        cJSON_IsString(driver) ? oci_cgroup_manager_get(driver->valuestring, err) : NULL;
    cJSON_Delete(doc);
    if (m || cJSON_IsString(driver))
      return m;
  }
  size_t n = strlen(res->id);
  if ((n > 6 && strcmp(res->id + n - 6, ".scope") == 0) ||
      (n > 6 && strcmp(res->id + n - 6, ".slice") == 0))
    return &oci_cgroup_manager_systemd;
  return &oci_cgroup_manager_cgroupfs;
}

static int cgroup_release(const struct recovery_env *env, const char *owner,
                          const store_resource *res, crio_error_t *err) {
  cleanup_strv char **dirs = cgroup_dirs_of(res, err);
  if (dirs == NULL)
    return -1;
  if (dirs[0] == NULL)
    return 0; /* gone in every hierarchy; systemd need not even run */
  const struct oci_cgroup_manager *m = cgroup_manager_for(res, err);
  if (m == NULL)
    return -1;
  /* Processes an earlier release just killed (a runtime's delete --force
   * ends a whole gVisor sandbox and its monitors) take a moment to leave
   * the cgroup: look again for up to 2 s before calling it busy. */
  for (int tries = 0;; tries++) {
    crio_error_t e = NULL;
    if (m->remove(res->id, &e) == 0)
      return 0;
    if (tries >= 40) {
      *err = e;
      return -1;
    }
    crio_error_release(&e);
    usleep(50 * 1000);
  }
}

/* ---- the CNI attachment -------------------------------------------------------------- */

/* Everything a DEL needs is in the detail: {conflist, result, netns,
 * ifname} and, when the adder logged it, capabilityArgs (port mappings:
 * portmap removes nothing without them). */
struct cni_detail {
  char *conflist, *result, *netns, *ifname, *caps;
};

static void cni_detail_release(struct cni_detail *d) {
  free(d->conflist);
  free(d->result);
  free(d->netns);
  free(d->ifname);
  free(d->caps);
  memset(d, 0, sizeof(*d));
}

static char *json_text(const cJSON *item) {
  if (item == NULL || cJSON_IsNull(item))
    return NULL;
  if (cJSON_IsString(item))
    return xstrdup(item->valuestring);
  return cJSON_PrintUnformatted(item);
}

static int cni_detail_parse(const store_resource *res, struct cni_detail *d, crio_error_t *err) {
  memset(d, 0, sizeof(*d));
  if (res->detail.len == 0)
    return crio_error(err, EINVAL, "CNI attachment %s: no detail logged to DEL from", res->id);
  cJSON *doc = detail_json(res);
  if (doc == NULL)
    return crio_error(err, EINVAL, "CNI attachment %s: detail is not JSON", res->id);
  d->conflist = json_text(cJSON_GetObjectItemCaseSensitive(doc, "conflist"));
  d->result = json_text(cJSON_GetObjectItemCaseSensitive(doc, "result"));
  d->netns = json_text(cJSON_GetObjectItemCaseSensitive(doc, "netns"));
  d->ifname = json_text(cJSON_GetObjectItemCaseSensitive(doc, "ifname"));
  d->caps = json_text(cJSON_GetObjectItemCaseSensitive(doc, "capabilityArgs"));
  cJSON_Delete(doc);
  /* The caller's cleanup releases what was parsed. */
  if (d->conflist == NULL)
    return crio_error(err, EINVAL, "CNI attachment %s: detail has no conflist", res->id);
  return 0;
}

/* Inside a pinned netns the interface tells; without the netns nothing on
 * the host says whether IPAM still holds the address, so a DEL is due. */
static int cni_exists(const struct recovery_env *env, const char *owner, const store_resource *res,
                      crio_error_t *err) {
  __attribute__((cleanup(cni_detail_release))) struct cni_detail d;
  if (cni_detail_parse(res, &d, err) < 0)
    return -1;
  if (d.netns == NULL || d.netns[0] == '\0')
    return 1;
  cleanup_error crio_error_t pin_err = NULL;
  if (oci_ns_is_pinned(OCI_NS_NET, d.netns, &pin_err) != 1)
    return 1;
  struct cni_if_stats stats;
  cleanup_error crio_error_t stats_err = NULL;
  if (cni_netns_interface_stats(d.netns, d.ifname ? d.ifname : "eth0", &stats, &stats_err) < 0)
    return crio_error_status(&stats_err) == ENOENT ? 0 : 1;
  return 1;
}

static int cni_release(const struct recovery_env *env, const char *owner, const store_resource *res,
                       crio_error_t *err) {
  __attribute__((cleanup(cni_detail_release))) struct cni_detail d;
  if (cni_detail_parse(res, &d, err) < 0)
    return -1;
  /* The log knows the pod's id, netns and capability arguments, not its
   * metadata: CNI_ARGS without it. */
  struct cni_pod_request in = {
      .pod_id = owner,
      .netns_path = d.netns,
      .ifname = d.ifname,
      .capability_args_json = d.caps,
      .no_capability_args = d.caps == NULL,
  };
  cleanup_cni_request struct cni_request req = {0};
  cni_request_build(&in, &req);
  static const char *const default_dirs[] = {"/usr/lib/cni", "/opt/cni/bin", NULL};
  const char *const *dirs = env->cni_plugin_dirs ? env->cni_plugin_dirs : default_dirs;
  if (cni_del(d.conflist, dirs, &req.rt, d.result, err) < 0)
    return crio_error_prefix(err, "CNI DEL of %s", res->id);
  return 0;
}

/* ---- processes: "pid:start_time" ------------------------------------------------------- */

typedef int (*process_fn)(pid_t pid, uint64_t start_time, crio_error_t *err);

/* fn on the process a resource's id names (`what`: "process", "conmon"). */
static int on_process(const store_resource *res, const char *what, process_fn fn,
                      crio_error_t *err) {
  int pid;
  uint64_t start_time;
  if (recovery_parse_process_id(res->id, &pid, &start_time) < 0)
    return crio_error(err, EINVAL, "malformed %s id \"%s\" (want pid:start_time)", what, res->id);
  return fn(pid, start_time, err);
}

static int process_exists(const struct recovery_env *env, const char *owner,
                          const store_resource *res, crio_error_t *err) {
  return on_process(res, "process", oci_infra_is_running, err);
}

static int infra_stop(pid_t pid, uint64_t start_time, crio_error_t *err) {
  return oci_infra_stop(pid, start_time, 10000, err);
}

/* A pid whose start time differs is someone else's now: never signalled. */
static int process_release(const struct recovery_env *env, const char *owner,
                           const store_resource *res, crio_error_t *err) {
  return on_process(res, "process", infra_stop, err);
}

/* What is below neither the run dir nor the state dir is not ours: EPERM,
 * "leaving `it` alone". */
static bool below_run_or_state_dir(const struct recovery_env *env, const char *path) {
  return (env->runroot && recovery_path_below(path, env->runroot)) ||
         (env->root && recovery_path_below(path, env->root));
}

static int outside_error(const struct recovery_env *env, const char *path, const char *it,
                         crio_error_t *err) {
  return crio_error(err, EPERM, "%s is outside %s and %s: leaving %s alone", path,
                    env->runroot ? env->runroot : "(no run dir)",
                    env->root ? env->root : "(no state dir)", it);
}

/* ---- directories ------------------------------------------------------------------------- */

static int dir_exists(const struct recovery_env *env, const char *owner, const store_resource *res,
                      crio_error_t *err) {
  struct stat st;
  if (lstat(res->id, &st) == 0)
    return 1;
  if (errno == ENOENT)
    return 0;
  return crio_error_errno(err, errno, "stat %s", res->id);
}

/* Below the run dir or the state dir only, never either dir itself, and
 * never the database. */
static int dir_release(const struct recovery_env *env, const char *owner, const store_resource *res,
                       crio_error_t *err) {
  if (!below_run_or_state_dir(env, res->id)) {
    struct stat st;
    if (lstat(res->id, &st) < 0 && errno == ENOENT)
      return 0;
    return outside_error(env, res->id, "it", err);
  }
  if (env->root && recovery_path_below(res->id, env->root)) {
    /* The database and the layer store are never one object's dir. */
    cleanup_free char *db = xasprintf("%s/db", env->root);
    cleanup_free char *layers = xasprintf("%s/layers", env->root);
    cleanup_free char *resolved = realpath(res->id, NULL);
    cleanup_free char *db_resolved = realpath(db, NULL);
    cleanup_free char *layers_resolved = realpath(layers, NULL);
    if (recovery_path_below(res->id, db) ||
        (resolved && db_resolved && strcmp(resolved, db_resolved) == 0) ||
        (resolved && layers_resolved && strcmp(resolved, layers_resolved) == 0))
      return crio_error(err, EPERM, "%s is the database or the layer store: leaving it alone",
                        res->id);
  }
  return recovery_remove_tree(res->id, err);
}

/* ---- mounts: the pod's /dev/shm tmpfs, a container's overlay -------------------------- */

/* mountinfo escapes ' ', '\t', '\n' and '\\' as octal. */
static void unescape_octal(char *s) {
  char *out = s;
  for (char *in = s; *in;) {
    if (in[0] == '\\' && in[1] >= '0' && in[1] <= '7' && in[2] >= '0' && in[2] <= '7' &&
        in[3] >= '0' && in[3] <= '7') {
      *out++ = (char)((in[1] - '0') * 64 + (in[2] - '0') * 8 + (in[3] - '0'));
      in += 4;
    } else {
      *out++ = *in++;
    }
  }
  *out = '\0';
}

/* 1 if `path` is a mount point in our mount namespace, 0 if not. */
static int is_mount_point(const char *path, crio_error_t *err) {
  cleanup_free char *resolved = realpath(path, NULL);
  if (resolved == NULL)
    return errno == ENOENT ? 0 : crio_error_errno(err, errno, "resolve %s", path);
  cleanup_free char *text = NULL;
  if (crio_read_file("/proc/self/mountinfo", &text, NULL, err) < 0)
    return -1;
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char *field = recovery_mountinfo_mount_point(line);
    if (field == NULL)
      continue;
    unescape_octal(field);
    if (strcmp(field, resolved) == 0)
      return 1;
  }
  return 0;
}

static int mount_exists(const struct recovery_env *env, const char *owner,
                        const store_resource *res, crio_error_t *err) {
  return is_mount_point(res->id, err);
}

/* Unmounts (lazily, every mount stacked there) what is mounted on a path
 * below the run or state dir; the mount point itself is a dir's to
 * remove. */
static int mount_release(const struct recovery_env *env, const char *owner,
                         const store_resource *res, crio_error_t *err) {
  int mounted = is_mount_point(res->id, err);
  if (mounted <= 0)
    return mounted;
  if (!below_run_or_state_dir(env, res->id))
    return outside_error(env, res->id, "the mount", err);
  for (int i = 0; i < 16; i++) {
    if (umount2(res->id, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
      continue;
    if (errno == EINVAL || errno == ENOENT)
      return 0; /* nothing (more) mounted there */
    return crio_error_errno(err, errno, "unmount %s", res->id);
  }
  return crio_error(err, EBUSY, "%s: still mounted after 16 unmounts", res->id);
}

/* ---- image layers ------------------------------------------------------------------------ */

static int open_layers(const struct recovery_env *env, struct img_layer_store **out,
                       crio_error_t *err) {
  if (env->root == NULL)
    return crio_error(err, EINVAL, "no state dir to find layers in");
  cleanup_free char *dir = xasprintf("%s/layers", env->root);
  struct stat st;
  if (stat(dir, &st) < 0) {
    *out = NULL;
    return 0; /* no layer store: no layer exists */
  }
  struct img_layer_store_options options = {.root = env->root};
  return img_layer_store_open(&options, out, err);
}

static int layer_exists(const struct recovery_env *env, const char *owner,
                        const store_resource *res, crio_error_t *err) {
  struct img_layer_store *layers = NULL;
  if (open_layers(env, &layers, err) < 0)
    return -1;
  if (layers == NULL)
    return 0;
  int found = img_layer_store_exists(layers, res->id, err);
  img_layer_store_close(layers);
  return found;
}

static int layer_release(const struct recovery_env *env, const char *owner,
                         const store_resource *res, crio_error_t *err) {
  struct img_layer_store *layers = NULL;
  if (open_layers(env, &layers, err) < 0)
    return -1;
  if (layers == NULL)
    return 0;
  cleanup_error crio_error_t remove_err = NULL;
  int rc = img_layer_store_remove(layers, res->id, &remove_err);
  img_layer_store_close(layers);
  if (rc < 0 && crio_error_status(&remove_err) != ENOENT)
    return crio_error(err, crio_error_status(&remove_err), "%s", crio_error_message(&remove_err));
  return 0;
}

/* ---- containers: the runtime's container and its conmon ---------------------------------- */

/* The runtime that made it, from the detail the create step logged:
 * {"handler", "runtime_type", "runtime_path", "runtime_root"}. */
struct runtime_detail {
  char *type, *path, *root;
};

static void runtime_detail_clear(struct runtime_detail *d) {
  free(d->type);
  free(d->path);
  free(d->root);
}

static int runtime_detail_parse(const store_resource *res, struct runtime_detail *d,
                                crio_error_t *err) {
  memset(d, 0, sizeof(*d));
  cJSON *doc = detail_json(res);
  if (doc == NULL)
    return crio_error(err, EINVAL, "runtime %s: the logged detail is not JSON", res->id);
  d->type = json_text(cJSON_GetObjectItemCaseSensitive(doc, "runtime_type"));
  d->path = json_text(cJSON_GetObjectItemCaseSensitive(doc, "runtime_path"));
  d->root = json_text(cJSON_GetObjectItemCaseSensitive(doc, "runtime_root"));
  cJSON_Delete(doc);
  if (d->type == NULL || d->root == NULL) {
    runtime_detail_clear(d);
    return crio_error(err, EINVAL, "runtime %s: the logged detail names no runtime", res->id);
  }
  return 0;
}

static int runtime_open(const store_resource *res, struct runtime_detail *d, struct oci_runtime *rt,
                        crio_error_t *err) {
  if (runtime_detail_parse(res, d, err) < 0)
    return -1;
  const struct oci_runtime_ops *ops = oci_runtime_ops_get(d->type, err);
  if (ops == NULL) {
    runtime_detail_clear(d);
    return -1;
  }
  *rt = (struct oci_runtime){.ops = ops, .path = d->path, .root = d->root};
  return 0;
}

static int runtime_exists(const struct recovery_env *env, const char *owner,
                          const store_resource *res, crio_error_t *err) {
  struct runtime_detail d;
  struct oci_runtime rt;
  if (runtime_open(res, &d, &rt, err) < 0)
    return -1;
  struct oci_runtime_state state;
  cleanup_error crio_error_t state_err = NULL;
  int rc = oci_runtime_state(&rt, res->id, &state, &state_err);
  runtime_detail_clear(&d);
  if (rc == 0)
    return 1;
  if (crio_error_status(&state_err) == ENOENT)
    return 0;
  return crio_error(err, crio_error_status(&state_err), "%s", crio_error_message(&state_err));
}

/* delete --force: kills what still runs and removes the runtime's state;
 * an unknown container is success. */
static int runtime_release(const struct recovery_env *env, const char *owner,
                           const store_resource *res, crio_error_t *err) {
  struct runtime_detail d;
  struct oci_runtime rt;
  if (runtime_open(res, &d, &rt, err) < 0)
    return -1;
  int rc = oci_runtime_delete(&rt, res->id, err);
  runtime_detail_clear(&d);
  return rc;
}

static int conmon_exists(const struct recovery_env *env, const char *owner,
                         const store_resource *res, crio_error_t *err) {
  return on_process(res, "conmon", oci_conmon_is_running, err);
}

/* Only if (pid, start time) still names that conmon: a reused pid is never
 * signalled. */
static int conmon_release(const struct recovery_env *env, const char *owner,
                          const store_resource *res, crio_error_t *err) {
  return on_process(res, "conmon", oci_conmon_kill, err);
}

/* ---- the table ----------------------------------------------------------------------------- */

static const struct recovery_resource_type types[] = {
    {"dir", dir_exists, dir_release},
    {"netns", ns_exists, ns_release},
    {"ipcns", ns_exists, ns_release},
    {"utsns", ns_exists, ns_release},
    {"pidns", ns_exists, ns_release},
    {"cgroup", cgroup_exists, cgroup_release},
    {"cni", cni_exists, cni_release},
    {"process", process_exists, process_release},
    {"mount", mount_exists, mount_release},
    {"layer", layer_exists, layer_release},
    {"runtime", runtime_exists, runtime_release},
    {"conmon", conmon_exists, conmon_release},
};

const struct recovery_resource_type *recovery_resource_types(size_t *n) {
  *n = sizeof(types) / sizeof(types[0]);
  return types;
}

const struct recovery_resource_type *
recovery_resource_type_in(const struct recovery_resource_type *table, size_t n, const char *type) {
  for (size_t i = 0; i < n && type; i++)
    if (strcmp(table[i].type, type) == 0)
      return &table[i];
  return NULL;
}

const struct recovery_resource_type *recovery_resource_type_find(const char *type) {
  return recovery_resource_type_in(types, sizeof(types) / sizeof(types[0]), type);
}
