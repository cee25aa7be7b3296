/* The cgroupfs manager: the pod's cgroup is a directory we make ourselves in
 * every mounted hierarchy — each v1 controller hierarchy (and the named
 * name=systemd one) plus, on a hybrid host, the v2 one next to them — or in
 * the single v2 hierarchy on a unified host. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "oci/cgroup_internal.h"
#include "oci/oci.h"

static int cg_hiers_load(struct cg_hiers *hs, crio_error_t *err) {
  return cg_hiers_load_from(NULL, hs, err);
}

static int write_string(const char *path, const char *value, crio_error_t *err) {
  cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return crio_error_errno(err, errno, "open %s", path);
  size_t len = strlen(value);
  ssize_t w = write(fd, value, len);
  if (w < 0)
    return crio_error_errno(err, errno, "write \"%s\" to %s", value, path);
  if ((size_t)w != len)
    return crio_error(err, EIO, "short write to %s", path);
  return 0;
}

static int read_trimmed(const char *path, char **out, crio_error_t *err) {
  size_t len = 0;
  if (crio_read_file(path, out, &len, err) < 0)
    return -1;
  while (len > 0 && ((*out)[len - 1] == '\n' || (*out)[len - 1] == ' '))
    (*out)[--len] = '\0';
  return 0;
}

/* ---- paths --------------------------------------------------------------- */

static bool cg_name_char_ok(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         strchr("_-.:@=+", c) != NULL;
}

/* A kubelet cgroup parent as a clean absolute path: leading '/' added,
 * trailing '/' dropped, no empty, "." or ".." components. */
static int cg_parent_normalize(const char *parent, char **out, crio_error_t *err) {
  if (parent == NULL || parent[0] == '\0' || strcmp(parent, "/") == 0) {
    *out = xstrdup("");
    return 0;
  }
  if (strlen(parent) > 2048)
    return crio_error(err, EINVAL, "cgroup_parent is too long");
  const char *p = parent[0] == '/' ? parent + 1 : parent;
  size_t len = strlen(p);
  while (len > 0 && p[len - 1] == '/')
    len--;
  cleanup_free char *clean = xasprintf("/%.*s", (int)len, p);
  for (const char *c = clean + 1;;) {
    size_t n = strcspn(c, "/");
    if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
      return crio_error(err, EINVAL,
                        "cgroup_parent \"%s\": empty, \".\" or \"..\" "
                        "component",
                        parent);
    for (size_t i = 0; i < n; i++)
      if (!cg_name_char_ok(c[i]))
        return crio_error(err, EINVAL, "cgroup_parent \"%s\": invalid character", parent);
    if (c[n] == '\0')
      break;
    c += n + 1;
  }
  *out = steal_pointer(&clean);
  return 0;
}

static int cg_pod_id_check(const char *pod_id, crio_error_t *err) {
  size_t len = pod_id ? strlen(pod_id) : 0;
  if (len == 0 || len > 128)
    return crio_error(err, EINVAL, "pod id: bad length %zu", len);
  for (size_t i = 0; i < len; i++)
    if (!cg_name_char_ok(pod_id[i]) || pod_id[i] == '.')
      return crio_error(err, EINVAL, "pod id \"%s\": invalid character", pod_id);
  return 0;
}

static int cgroupfs_pod_path(const char *parent, const char *pod_id, char **path,
                             crio_error_t *err) {
  cleanup_free char *clean = NULL;
  if (cg_parent_normalize(parent, &clean, err) < 0 || cg_pod_id_check(pod_id, err) < 0)
    return -1;
  *path = xasprintf("%s/crio-%s", clean, pod_id);
  return 0;
}

static int cgroupfs_parent_path(const char *parent, char **path, crio_error_t *err) {
  cleanup_free char *clean = NULL;
  if (cg_parent_normalize(parent, &clean, err) < 0)
    return -1;
  *path = clean[0] ? steal_pointer(&clean) : xstrdup("/");
  return 0;
}

/* ---- create ---------------------------------------------------------------- */

/* A new v1 cpuset cgroup starts with empty cpus and mems, and a process
 * cannot join it until both are set: copy them from the parent (as runc
 * does), at every level we make. */
static int cpuset_inherit(const char *dir, crio_error_t *err) {
  static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
  for (size_t i = 0; i < 2; i++) {
    cleanup_free char *mine_path = xasprintf("%s/%s", dir, files[i]);
    cleanup_free char *mine = NULL;
    if (read_trimmed(mine_path, &mine, err) < 0)
      return -1;
    if (mine[0] != '\0')
      continue;
    cleanup_free char *parent_path = xasprintf("%s/../%s", dir, files[i]);
    cleanup_free char *parents = NULL;
    if (read_trimmed(parent_path, &parents, err) < 0 || write_string(mine_path, parents, err) < 0)
      return -1;
  }
  return 0;
}

/* On a unified host, a child gets a controller only if every ancestor
 * enabled it in cgroup.subtree_control.  Enable what the level offers;
 * a controller the kernel refuses (e.g. a threaded subtree) is a warning,
 * not a failure: the cgroup still groups processes. */
static void v2_enable_controllers(const char *dir) {
  cleanup_free char *offered_path = xasprintf("%s/cgroup.controllers", dir);
  cleanup_free char *enabled_path = xasprintf("%s/cgroup.subtree_control", dir);
  cleanup_free char *offered = NULL, *enabled = NULL;
  crio_error_t e = NULL;
  if (crio_read_file(offered_path, &offered, NULL, &e) < 0 ||
      crio_read_file(enabled_path, &enabled, NULL, &e) < 0) {
    crio_error_warn(&e, "cgroup v2 controllers");
    return;
  }
  char *save = NULL;
  for (char *c = strtok_r(offered, " \n", &save); c; c = strtok_r(NULL, " \n", &save)) {
    if (cg_has_token(enabled, c, " \n"))
      continue;
    cleanup_free char *plus = xasprintf("+%s", c);
    if (write_string(enabled_path, plus, &e) < 0)
      crio_error_warn(&e, "enable cgroup controller");
  }
}

/* mkdir -p of `path` inside one hierarchy, initialising each level made. */
static int hier_mkdir(const struct cg_hier *h, const char *path, bool enable_v2,
                      crio_error_t *err) {
  cleanup_free char *dir = NULL;
  if (hier_dir(h, path, &dir, err) < 0)
    return -1;
  size_t base = strlen(dir) - strlen(path);
  bool cpuset = !h->v2 && hier_has(h, "cpuset");
  for (char *p = dir + base + 1;; p++) {
    bool last = *p == '\0';
    if (*p != '/' && !last)
      continue;
    *p = '\0';
    if (enable_v2) {
      /* Enable in the level above before making this one. */
      char *slash = strrchr(dir, '/');
      *slash = '\0';
      v2_enable_controllers(dir);
      *slash = '/';
    }
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
      return crio_error_errno(err, errno, "mkdir %s", dir);
    if (cpuset && cpuset_inherit(dir, err) < 0)
      return -1;
    if (last)
      break;
    *p = '/';
  }
  return 0;
}

/* cpu.weight from cpu.shares, the conversion runc and the kubelet use. */
static uint64_t shares_to_weight(uint64_t shares) {
  if (shares < 2)
    shares = 2;
  if (shares > 262144)
    shares = 262144;
  return 1 + ((shares - 2) * 9999) / 262142;
}

static int hier_write(const struct cg_hier *h, const char *path, const char *file,
                      const char *value, crio_error_t *err) {
  cleanup_free char *dir = NULL;
  if (hier_dir(h, path, &dir, err) < 0)
    return -1;
  cleanup_free char *full = xasprintf("%s/%s", dir, file);
  return write_string(full, value, err);
}

static int apply_resources(const struct cg_hiers *hs, enum oci_cgroup_mode mode, const char *path,
                           const struct oci_cgroup_resources *res, crio_error_t *err) {
  char v[64];
  for (size_t i = 0; i < hs->n; i++) {
    const struct cg_hier *h = &hs->h[i];
    if (!h->v2 && hier_has(h, "cpu")) {
      if (res->cpu_shares) {
        snprintf(v, sizeof(v), "%" PRIu64, res->cpu_shares);
        if (hier_write(h, path, "cpu.shares", v, err) < 0)
          return -1;
      }
      /* Period first: a quota is checked against the current period. */
      if (res->cpu_period_us) {
        snprintf(v, sizeof(v), "%" PRIu64, res->cpu_period_us);
        if (hier_write(h, path, "cpu.cfs_period_us", v, err) < 0)
          return -1;
      }
      if (res->cpu_quota_us) {
        snprintf(v, sizeof(v), "%" PRId64, res->cpu_quota_us);
        if (hier_write(h, path, "cpu.cfs_quota_us", v, err) < 0)
          return -1;
      }
    }
    if (!h->v2 && hier_has(h, "memory") && res->memory_limit_bytes) {
      snprintf(v, sizeof(v), "%" PRId64, res->memory_limit_bytes);
      if (hier_write(h, path, "memory.limit_in_bytes", v, err) < 0)
        return -1;
    }
    /* On a hybrid host the v2 hierarchy carries no cpu or memory. */
    if (h->v2 && mode == OCI_CGROUP_UNIFIED) {
      if (res->cpu_shares) {
        snprintf(v, sizeof(v), "%" PRIu64, shares_to_weight(res->cpu_shares));
        if (hier_write(h, path, "cpu.weight", v, err) < 0)
          return -1;
      }
      if (res->cpu_quota_us || res->cpu_period_us) {
        uint64_t period = res->cpu_period_us ? res->cpu_period_us : 100000;
        if (res->cpu_quota_us > 0)
          snprintf(v, sizeof(v), "%" PRId64 " %" PRIu64, res->cpu_quota_us, period);
        else
          snprintf(v, sizeof(v), "max %" PRIu64, period);
        if (hier_write(h, path, "cpu.max", v, err) < 0)
          return -1;
      }
      if (res->memory_limit_bytes) {
        snprintf(v, sizeof(v), "%" PRId64, res->memory_limit_bytes);
        if (hier_write(h, path, "memory.max", v, err) < 0)
          return -1;
      }
    }
  }
  return 0;
}

static int cgroupfs_create(const char *parent, const char *pod_id,
                           const struct oci_cgroup_resources *res, char **path, crio_error_t *err) {
  cleanup_free char *pod_path = NULL;
  if (cgroupfs_pod_path(parent, pod_id, &pod_path, err) < 0)
    return -1;
  enum oci_cgroup_mode mode;
  cleanup_cg_hiers struct cg_hiers hs = {0};
  if (oci_cgroup_mode_detect(&mode, err) < 0 || cg_hiers_load(&hs, err) < 0)
    return crio_error_prefix(err, "create cgroup %s", pod_path);
  for (size_t i = 0; i < hs.n; i++) {
    bool enable = hs.h[i].v2 && mode == OCI_CGROUP_UNIFIED;
    if (hier_mkdir(&hs.h[i], pod_path, enable, err) < 0)
      return crio_error_prefix(err, "create cgroup %s", pod_path);
  }
  if (res && apply_resources(&hs, mode, pod_path, res, err) < 0)
    return crio_error_prefix(err, "cgroup %s resources", pod_path);
  *path = steal_pointer(&pod_path);
  return 0;
}

static int cgroupfs_enter(const char *parent, const char *pod_id, pid_t pid, crio_error_t *err) {
  cleanup_free char *pod_path = NULL;
  if (cgroupfs_pod_path(parent, pod_id, &pod_path, err) < 0)
    return -1;
  cleanup_cg_hiers struct cg_hiers hs = {0};
  if (cg_hiers_load(&hs, err) < 0)
    return -1;
  char v[32];
  snprintf(v, sizeof(v), "%d", (int)pid);
  for (size_t i = 0; i < hs.n; i++)
    if (hier_write(&hs.h[i], pod_path, "cgroup.procs", v, err) < 0)
      return crio_error_prefix(err, "move %d into cgroup %s", (int)pid, pod_path);
  return 0;
}

/* ---- remove ------------------------------------------------------------------ */

static int cgroupfs_remove(const char *path, crio_error_t *err) {
  cleanup_free char *clean = NULL;
  if (cg_parent_normalize(path, &clean, err) < 0)
    return -1;
  if (clean[0] == '\0')
    return crio_error(err, EINVAL, "refusing to remove the root cgroup");
  cleanup_cg_hiers struct cg_hiers hs = {0};
  if (cg_hiers_load(&hs, err) < 0)
    return -1;
  cleanup_strv char **dirs = xcalloc(hs.n + 1, sizeof(char *));
  /* Look everywhere before removing anything: a cgroup with a process left
   * is the caller's bug to see, not ours to kill. */
  for (size_t i = 0; i < hs.n; i++) {
    if (hier_dir(&hs.h[i], clean, &dirs[i], err) < 0)
      return -1;
    cleanup_free char *procs_path = xasprintf("%s/cgroup.procs", dirs[i]);
    cleanup_free char *procs = NULL;
    crio_error_t e = NULL;
    if (crio_read_file(procs_path, &procs, NULL, &e) < 0) {
      int status = crio_error_status(&e);
      crio_error_release(&e);
      if (status == ENOENT)
        continue;
      return crio_error_errno(err, status, "read %s", procs_path);
    }
    if (procs[strspn(procs, " \n")] != '\0')
      return crio_error(err, EBUSY, "cgroup %s still has processes (%s)", clean, dirs[i]);
  }
  for (size_t i = 0; i < hs.n; i++) {
    /* EBUSY right after the last process left: the kernel may still be
     * tearing down an exiting task or a dying child cgroup. */
    for (int attempt = 0;; attempt++) {
      if (rmdir(dirs[i]) == 0 || errno == ENOENT)
        break;
      if (errno != EBUSY || attempt >= 50)
        return crio_error_errno(err, errno, "remove cgroup %s", dirs[i]);
      nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
    }
  }
  return 0;
}

/* ---- update ------------------------------------------------------------------ */

static int cgroupfs_update(const char *path, const struct oci_cgroup_resources *res,
                           crio_error_t *err) {
  cleanup_free char *clean = NULL;
  if (cg_parent_normalize(path, &clean, err) < 0)
    return -1;
  if (clean[0] == '\0')
    return crio_error(err, EINVAL, "refusing to change the root cgroup's resources");
  enum oci_cgroup_mode mode;
  cleanup_cg_hiers struct cg_hiers hs = {0};
  if (oci_cgroup_mode_detect(&mode, err) < 0 || cg_hiers_load(&hs, err) < 0)
    return crio_error_prefix(err, "update cgroup %s", clean);
  /* Look in every hierarchy apply_resources writes to before writing
   * anything: a missing cgroup is not ours to make, and a half-applied
   * update would be worse than none. */
  for (size_t i = 0; i < hs.n; i++) {
    const struct cg_hier *h = &hs.h[i];
    bool written = h->v2 ? mode == OCI_CGROUP_UNIFIED : hier_has(h, "cpu") || hier_has(h, "memory");
    cleanup_free char *dir = NULL;
    struct stat st;
    if (!written)
      continue;
    if (hier_dir(h, clean, &dir, err) < 0)
      return crio_error_prefix(err, "update cgroup %s", clean);
    if (stat(dir, &st) < 0)
      return crio_error_errno(err, errno, "update cgroup %s: %s", clean, dir);
  }
  if (apply_resources(&hs, mode, clean, res, err) < 0)
    return crio_error_prefix(err, "update cgroup %s", clean);
  return 0;
}

const struct oci_cgroup_manager oci_cgroup_manager_cgroupfs = {
    .name = "cgroupfs",
    .pod_path = cgroupfs_pod_path,
    .parent_path = cgroupfs_parent_path,
    .create = cgroupfs_create,
    .enter = cgroupfs_enter,
    .remove = cgroupfs_remove,
    .update = cgroupfs_update,
};
