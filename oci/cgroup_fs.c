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

#include "oci/oci.h"

/* One mounted cgroup hierarchy. */
struct cg_hier {
  char *mountpoint;
  char *root; /* the cgroup mounted there ("/" unless in a cgroupns) */
  bool v2;
  char *controllers; /* v1: super options ("rw,cpu"); v2: cgroup.controllers */
};

struct cg_hiers {
  struct cg_hier *h;
  size_t n;
};

static void cg_hiers_release(struct cg_hiers *hs) {
  for (size_t i = 0; i < hs->n; i++) {
    free(hs->h[i].mountpoint);
    free(hs->h[i].root);
    free(hs->h[i].controllers);
  }
  free(hs->h);
  hs->h = NULL;
  hs->n = 0;
}
#define cleanup_cg_hiers __attribute__((cleanup(cg_hiers_release)))

static bool has_token(const char *list, const char *token, const char *seps) {
  size_t len = strlen(token);
  for (const char *p = list; p && *p;) {
    size_t n = strcspn(p, seps);
    if (n == len && strncmp(p, token, len) == 0)
      return true;
    p += n;
    p += strspn(p, seps);
  }
  return false;
}

static bool hier_has(const struct cg_hier *h, const char *controller) {
  return has_token(h->controllers, controller, h->v2 ? " \n" : ",");
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static char *mountinfo_unescape(const char *s) {
  char *out = xstrdup(s), *o = out;
  for (const char *p = s; *p; p++) {
    if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' && p[3] >= '0' &&
        p[3] <= '7') {
      *o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
      p += 3;
    } else {
      *o++ = *p;
    }
  }
  *o = '\0';
  return out;
}

/* Every cgroup hierarchy mounted in our mount namespace, once each (a
 * hierarchy mounted twice has one device number). */
static int cg_hiers_load(struct cg_hiers *hs, crio_error_t *err) {
  cleanup_free char *text = NULL;
  if (crio_read_file("/proc/self/mountinfo", &text, NULL, err) < 0)
    return -1;
  char seen_devs[64][32];
  size_t n_seen = 0;
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    /* id parent major:minor root mountpoint opts [optional...] - fstype
     * source superopts */
    char *f[6] = {0};
    char *p = line;
    for (int i = 0; i < 6 && p; i++) {
      f[i] = p;
      p = strchr(p, ' ');
      if (p)
        *p++ = '\0';
    }
    char *dash = p ? strstr(p, "- ") : NULL;
    if (f[4] == NULL || dash == NULL)
      continue;
    char *fstype = dash + 2;
    char *source = strchr(fstype, ' ');
    if (source == NULL)
      continue;
    *source++ = '\0';
    char *superopts = strchr(source, ' ');
    superopts = superopts ? superopts + 1 : (char *)"";
    bool v2 = strcmp(fstype, "cgroup2") == 0;
    if (!v2 && strcmp(fstype, "cgroup") != 0)
      continue;
    bool dup = false;
    for (size_t i = 0; i < n_seen; i++)
      dup = dup || strcmp(seen_devs[i], f[2]) == 0;
    if (dup)
      continue;
    if (n_seen < sizeof(seen_devs) / sizeof(seen_devs[0]))
      snprintf(seen_devs[n_seen++], sizeof(seen_devs[0]), "%s", f[2]);

    hs->h = xrealloc(hs->h, (hs->n + 1) * sizeof(*hs->h));
    struct cg_hier *h = &hs->h[hs->n++];
    h->mountpoint = mountinfo_unescape(f[4]);
    h->root = mountinfo_unescape(f[3]);
    h->v2 = v2;
    h->controllers = NULL;
    if (v2) {
      cleanup_free char *path = xasprintf("%s/cgroup.controllers", h->mountpoint);
      crio_error_t ignored = NULL;
      if (crio_read_file(path, &h->controllers, NULL, &ignored) < 0) {
        crio_error_release(&ignored);
        h->controllers = xstrdup("");
      }
    } else {
      h->controllers = xstrdup(superopts);
    }
  }
  if (hs->n == 0)
    return crio_error(err, ENOENT, "no cgroup hierarchy is mounted");
  return 0;
}

/* The directory of cgroup `path` in hierarchy h. */
static int hier_dir(const struct cg_hier *h, const char *path, char **dir, crio_error_t *err) {
  if (strcmp(h->root, "/") == 0) {
    *dir = xasprintf("%s%s", h->mountpoint, path);
    return 0;
  }
  size_t rlen = strlen(h->root);
  if (strncmp(path, h->root, rlen) != 0 || (path[rlen] != '/' && path[rlen] != '\0'))
    return crio_error(err, EXDEV,
                      "cgroup %s is outside the part of the hierarchy mounted "
                      "at %s (%s)",
                      path, h->mountpoint, h->root);
  *dir = xasprintf("%s%s", h->mountpoint, path + rlen);
  return 0;
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
    if (has_token(enabled, c, " \n"))
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

/* ---- stats ------------------------------------------------------------------- */

/* Value of `key` in a "key value\n" file (memory.stat, cpu.stat). */
static bool flat_keyed(const char *text, const char *key, uint64_t *out) {
  size_t klen = strlen(key);
  for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p) {
    if (strncmp(p, key, klen) == 0 && p[klen] == ' ') {
      *out = strtoull(p + klen + 1, NULL, 10);
      return true;
    }
  }
  return false;
}

static int read_u64(const char *dir, const char *file, uint64_t *out, crio_error_t *err) {
  cleanup_free char *path = xasprintf("%s/%s", dir, file);
  cleanup_free char *text = NULL;
  if (crio_read_file(path, &text, NULL, err) < 0)
    return -1;
  char *end = NULL;
  errno = 0;
  *out = strtoull(text, &end, 10);
  if (errno || end == text)
    return crio_error(err, EINVAL, "parse %s", path);
  return 0;
}

static int read_text(const char *dir, const char *file, char **out, crio_error_t *err) {
  cleanup_free char *path = xasprintf("%s/%s", dir, file);
  return crio_read_file(path, out, NULL, err);
}

static int stats_v1(const struct cg_hiers *hs, const char *path, struct oci_cgroup_stats *out,
                    crio_error_t *err) {
  bool have_cpu = false, have_memory = false;
  for (size_t i = 0; i < hs->n; i++) {
    const struct cg_hier *h = &hs->h[i];
    if (h->v2)
      continue;
    cleanup_free char *dir = NULL;
    if ((hier_has(h, "cpuacct") || hier_has(h, "memory")) && hier_dir(h, path, &dir, err) < 0)
      return -1;
    if (hier_has(h, "cpuacct")) {
      if (read_u64(dir, "cpuacct.usage", &out->cpu_usage_ns, err) < 0)
        return -1;
      have_cpu = true;
    }
    if (hier_has(h, "memory")) {
      cleanup_free char *stat = NULL;
      if (read_u64(dir, "memory.usage_in_bytes", &out->memory_usage_bytes, err) < 0 ||
          read_text(dir, "memory.stat", &stat, err) < 0)
        return -1;
      uint64_t inactive_file = 0;
      flat_keyed(stat, "total_inactive_file", &inactive_file);
      flat_keyed(stat, "total_rss", &out->memory_rss_bytes);
      flat_keyed(stat, "total_pgfault", &out->memory_page_faults);
      flat_keyed(stat, "total_pgmajfault", &out->memory_major_page_faults);
      out->memory_working_set_bytes =
          out->memory_usage_bytes > inactive_file ? out->memory_usage_bytes - inactive_file : 0;
      have_memory = true;
    }
  }
  if (!have_cpu || !have_memory)
    return crio_error(err, ENOTSUP, "cgroup stats: no %s hierarchy is mounted",
                      have_cpu ? "memory" : "cpuacct");
  return 0;
}

static int stats_v2(const struct cg_hier *h, const char *path, struct oci_cgroup_stats *out,
                    crio_error_t *err) {
  cleanup_free char *dir = NULL;
  cleanup_free char *cpu = NULL, *mem = NULL;
  if (hier_dir(h, path, &dir, err) < 0 || read_text(dir, "cpu.stat", &cpu, err) < 0 ||
      read_u64(dir, "memory.current", &out->memory_usage_bytes, err) < 0 ||
      read_text(dir, "memory.stat", &mem, err) < 0)
    return -1;
  uint64_t usage_usec = 0, inactive_file = 0;
  if (!flat_keyed(cpu, "usage_usec", &usage_usec))
    return crio_error(err, EINVAL, "%s/cpu.stat has no usage_usec", dir);
  out->cpu_usage_ns = usage_usec * 1000;
  flat_keyed(mem, "inactive_file", &inactive_file);
  flat_keyed(mem, "anon", &out->memory_rss_bytes);
  flat_keyed(mem, "pgfault", &out->memory_page_faults);
  flat_keyed(mem, "pgmajfault", &out->memory_major_page_faults);
  out->memory_working_set_bytes =
      out->memory_usage_bytes > inactive_file ? out->memory_usage_bytes - inactive_file : 0;
  return 0;
}

static int cgroupfs_stats(const char *path, struct oci_cgroup_stats *out, crio_error_t *err) {
  cleanup_free char *clean = NULL;
  if (cg_parent_normalize(path, &clean, err) < 0)
    return -1;
  const char *p = clean[0] ? clean : "";
  memset(out, 0, sizeof(*out));
  out->timestamp_ns = crio_now_ns();
  enum oci_cgroup_mode mode;
  cleanup_cg_hiers struct cg_hiers hs = {0};
  if (oci_cgroup_mode_detect(&mode, err) < 0 || cg_hiers_load(&hs, err) < 0)
    return -1;
  int rc;
  if (mode == OCI_CGROUP_UNIFIED) {
    rc = -1;
    for (size_t i = 0; i < hs.n && rc < 0; i++)
      if (hs.h[i].v2)
        rc = stats_v2(&hs.h[i], p, out, err);
    if (rc < 0 && !(err && *err))
      crio_error(err, ENOENT, "no cgroup v2 hierarchy is mounted");
  } else {
    rc = stats_v1(&hs, p, out, err);
  }
  return rc < 0 ? crio_error_prefix(err, "stats of cgroup %s", clean[0] ? clean : "/") : 0;
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
    .stats = cgroupfs_stats,
    .update = cgroupfs_update,
};
