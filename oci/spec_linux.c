/* linux: namespaces (the pod's, joined by path), cgroup path and
 * resources, devices, and the seccomp filter. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "oci/spec_internal.h"

#define RES_FIELD "config.linux.resources"
#define NS_FIELD "config.linux.security_context.namespace_options"

/* ---- namespaces ------------------------------------------------------------ */
static void add_ns(cJSON *list, const char *type, const char *path) {
  cJSON *ns = cJSON_CreateObject();
  cJSON_AddStringToObject(ns, "type", type);
  if (path)
    cJSON_AddStringToObject(ns, "path", path);
  cJSON_AddItemToArray(list, ns);
}

static int linux_namespaces(struct spec_ctx *c, cJSON *linux_obj, crio_error_t *err) {
  const struct oci_spec_input *in = c->in;
  const Runtime__V1__NamespaceOption *opts = c->sc ? c->sc->namespace_options : NULL;
  if (opts && opts->userns_options &&
      (opts->userns_options->n_uids > 0 || opts->userns_options->n_gids > 0))
    return crio_error(err, ENOSYS, NS_FIELD ".userns_options: user namespaces are not supported");
  cJSON *list = cJSON_AddArrayToObject(linux_obj, "namespaces");

  /* Without namespace options the container gets its own PID namespace
   * (the kubelet's default); POD and TARGET need the namespace given. */
  Runtime__V1__NamespaceMode pid = opts ? opts->pid : RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
  switch (pid) {
  case RUNTIME__V1__NAMESPACE_MODE__CONTAINER:
    add_ns(list, "pid", NULL);
    break;
  case RUNTIME__V1__NAMESPACE_MODE__POD:
    /* A sandbox-per-pod runtime (gVisor) keeps the pod's processes in its
     * own kernel, whose root PID namespace holds the infra as PID 1.  runsc
     * runs a container whose spec has no PID namespace in that root one,
     * and one with a PID namespace in a new child (a path is only a name
     * there, matched against the other containers' paths).  containerd
     * names /proc/<sandbox pid>/ns/pid, which gVisor since 2023-05 turns
     * into "no PID namespace"; releases before (Debian's 20221219) gave it a
     * new one.  So no entry: the sandbox's namespace on every release. */
    if (in->sandboxed)
      break;
    if (in->pidns_path == NULL)
      return crio_error(err, EINVAL, NS_FIELD ".pid: POD, but the pod has no shared PID namespace");
    add_ns(list, "pid", in->pidns_path);
    break;
  case RUNTIME__V1__NAMESPACE_MODE__NODE:
    break;
  case RUNTIME__V1__NAMESPACE_MODE__TARGET:
    /* In a gVisor sandbox a container's own PID namespace has no name
     * another could join by.  containerd names the target's task pid,
     * which under gVisor is the sandbox's, and gVisor since 2023-05 puts
     * such a container in the sandbox's root namespace: the target's
     * processes are visible there, under the root namespace's numbers.
     * The same here, on every release (docs/containers.md). */
    if (in->sandboxed)
      break;
    if (in->target_pidns_path == NULL)
      return crio_error(err, EINVAL, NS_FIELD ".pid: TARGET \"%s\" has no PID namespace to join",
                        opts->target_id ? opts->target_id : "");
    add_ns(list, "pid", in->target_pidns_path);
    break;
  default:
    return crio_error(err, EINVAL, NS_FIELD ".pid: unknown mode %d", pid);
  }
  /* Absent from the list = the host's. */
  if (!c->host_network)
    add_ns(list, "network", in->netns_path);
  if (!c->host_ipc)
    add_ns(list, "ipc", in->ipcns_path);
  if (!c->host_uts)
    add_ns(list, "uts", in->utsns_path);
  add_ns(list, "mount", NULL);
  /* On cgroup v2 a container sees its own cgroup as the root (what the
   * kubelet and CRI-O do there); on v1 runc would still show the host's
   * paths, and tools in containers expect that. */
  if (in->host->cgroup_unified && !c->privileged)
    add_ns(list, "cgroup", NULL);
  return 0;
}

/* ---- cgroups ----------------------------------------------------------------- */
static int linux_cgroups_path(struct spec_ctx *c, cJSON *linux_obj, crio_error_t *err) {
  const struct oci_spec_input *in = c->in;
  const char *parent = in->cgroup_parent;
  const char *field = "cgroup_parent";
  if (parent == NULL) {
    const Runtime__V1__LinuxPodSandboxConfig *pl = in->sandbox_config->linux;
    parent = pl && pl->cgroup_parent ? pl->cgroup_parent : "";
    field = "sandbox_config.linux.cgroup_parent";
  }
  cleanup_free char *path = NULL;
  if (in->cgroup_driver == OCI_CGROUP_DRIVER_SYSTEMD) {
    /* runc's systemd form: slice:prefix:name -> <slice>/crio-<id>.scope.
     * A parent given as a path names its last slice. */
    const char *slash = strrchr(parent, '/');
    const char *slice = slash ? slash + 1 : parent;
    if (slice[0] == '\0')
      slice = "system.slice";
    size_t n = strlen(slice);
    if (n < 7 || strcmp(slice + n - 6, ".slice") != 0)
      return crio_error(err, EINVAL, "%s: \"%s\" is not a systemd slice", field, parent);
    path = xasprintf("%s:crio:%s", slice, in->container_id);
  } else {
    cleanup_free char *clean = spec_clean_abs_path(parent[0] ? parent : "/");
    if (clean == NULL)
      return crio_error(err, EINVAL, "%s: \"%s\" must be an absolute path without \"..\"", field,
                        parent);
    path = xasprintf("%s/crio-%s", strcmp(clean, "/") == 0 ? "" : clean, in->container_id);
  }
  cJSON_AddStringToObject(linux_obj, "cgroupsPath", path);
  return 0;
}

/* "0-3,7,9-10" */
static bool valid_cpuset(const char *s) {
  if (s[0] == '\0')
    return false;
  while (*s) {
    char *end;
    unsigned long a = strtoul(s, &end, 10);
    if (end == s || *s < '0' || *s > '9')
      return false;
    s = end;
    if (*s == '-') {
      s++;
      if (*s < '0' || *s > '9')
        return false;
      unsigned long b = strtoul(s, &end, 10);
      if (b < a)
        return false;
      s = end;
    }
    if (*s == ',') {
      s++;
      if (*s == '\0')
        return false;
    } else if (*s) {
      return false;
    }
  }
  return true;
}

/* "2MB", "1GB": a number and a binary unit, as in hugetlb.<size>.* */
static bool valid_page_size(const char *s) {
  size_t digits = strspn(s, "0123456789");
  static const char *const units[] = {"KB", "MB", "GB", "TB", "PB"};
  if (digits == 0 || s[0] == '0')
    return false;
  for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
    if (strcmp(s + digits, units[i]) == 0)
      return true;
  return false;
}

static int linux_resources(struct spec_ctx *c, cJSON *resources, crio_error_t *err) {
  const struct oci_spec_host *host = c->in->host;
  const Runtime__V1__LinuxContainerResources *r = c->res;
  if (c->in->pids_limit > 0)
    spec_add_int(cJSON_AddObjectToObject(resources, "pids"), "limit", c->in->pids_limit);
  if (r == NULL)
    return 0;

  if (r->memory_limit_in_bytes < 0)
    return crio_error(err, EINVAL, RES_FIELD ".memory_limit_in_bytes: %lld is negative",
                      (long long)r->memory_limit_in_bytes);
  if (r->memory_swap_limit_in_bytes < -1)
    return crio_error(err, EINVAL, RES_FIELD ".memory_swap_limit_in_bytes: %lld is below -1",
                      (long long)r->memory_swap_limit_in_bytes);
  if (r->memory_swap_limit_in_bytes != 0 && r->memory_limit_in_bytes == 0)
    return crio_error(err, EINVAL,
                      RES_FIELD ".memory_swap_limit_in_bytes: needs memory_limit_in_bytes");
  if (r->memory_swap_limit_in_bytes > 0 && r->memory_swap_limit_in_bytes < r->memory_limit_in_bytes)
    return crio_error(err, EINVAL,
                      RES_FIELD ".memory_swap_limit_in_bytes: %lld is below the memory limit %lld "
                                "(it counts memory plus swap)",
                      (long long)r->memory_swap_limit_in_bytes,
                      (long long)r->memory_limit_in_bytes);
  if (r->memory_limit_in_bytes > 0) {
    cJSON *mem = cJSON_AddObjectToObject(resources, "memory");
    spec_add_int(mem, "limit", r->memory_limit_in_bytes);
    /* CRI-O: with swap accounting, no swap unless asked (swap = limit). */
    if (host->memory_swap)
      spec_add_int(mem, "swap",
                   r->memory_swap_limit_in_bytes ? r->memory_swap_limit_in_bytes
                                                 : r->memory_limit_in_bytes);
    else if (r->memory_swap_limit_in_bytes != 0)
      spec_warn(c, "memory_swap_limit_in_bytes ignored: the host has no swap accounting");
  }

  if (r->cpu_shares < 0 || r->cpu_period < 0)
    return crio_error(err, EINVAL, RES_FIELD ".cpu_%s: negative",
                      r->cpu_shares < 0 ? "shares" : "period");
  const char *cpus = r->cpuset_cpus ? r->cpuset_cpus : "";
  const char *mems = r->cpuset_mems ? r->cpuset_mems : "";
  if (cpus[0] && !valid_cpuset(cpus))
    return crio_error(err, EINVAL, RES_FIELD ".cpuset_cpus: \"%s\" is not a CPU list", cpus);
  if (mems[0] && !valid_cpuset(mems))
    return crio_error(err, EINVAL, RES_FIELD ".cpuset_mems: \"%s\" is not a node list", mems);
  if (r->cpu_shares || r->cpu_quota || r->cpu_period || cpus[0] || mems[0]) {
    cJSON *cpu = cJSON_AddObjectToObject(resources, "cpu");
    if (r->cpu_shares)
      spec_add_uint(cpu, "shares", (uint64_t)r->cpu_shares);
    if (r->cpu_quota)
      spec_add_int(cpu, "quota", r->cpu_quota);
    if (r->cpu_period)
      spec_add_uint(cpu, "period", (uint64_t)r->cpu_period);
    if (cpus[0])
      cJSON_AddStringToObject(cpu, "cpus", cpus);
    if (mems[0])
      cJSON_AddStringToObject(cpu, "mems", mems);
  }

  if (r->n_hugepage_limits > 0) {
    for (size_t i = 0; i < r->n_hugepage_limits; i++)
      if (r->hugepage_limits[i]->page_size == NULL ||
          !valid_page_size(r->hugepage_limits[i]->page_size))
        return crio_error(err, EINVAL,
                          RES_FIELD ".hugepage_limits[%zu].page_size: \"%s\" is not like 2MB", i,
                          r->hugepage_limits[i]->page_size ? r->hugepage_limits[i]->page_size : "");
    if (!host->hugetlb) {
      spec_warn(c, "hugepage_limits ignored: no hugetlb cgroup controller runc can use");
    } else {
      cJSON *arr = cJSON_AddArrayToObject(resources, "hugepageLimits");
      for (size_t i = 0; i < r->n_hugepage_limits; i++) {
        cJSON *h = cJSON_CreateObject();
        cJSON_AddStringToObject(h, "pageSize", r->hugepage_limits[i]->page_size);
        spec_add_uint(h, "limit", r->hugepage_limits[i]->limit);
        cJSON_AddItemToArray(arr, h);
      }
    }
  }

  if (r->n_unified > 0) {
    for (size_t i = 0; i < r->n_unified; i++) {
      const char *k = r->unified[i]->key;
      if (k == NULL || !strchr(k, '.') || strchr(k, '/') || k[0] == '.')
        return crio_error(err, EINVAL, RES_FIELD ".unified: \"%s\" is not a cgroup file name",
                          k ? k : "");
    }
    /* runc refuses unified resources on v1 hosts; the kubelet sends them
     * only where it sees cgroup v2. */
    if (!host->cgroup_unified) {
      spec_warn(c, "unified cgroup resources ignored: the host is not cgroup v2 only");
    } else {
      cJSON *u = cJSON_AddObjectToObject(resources, "unified");
      for (size_t i = 0; i < r->n_unified; i++)
        cJSON_AddStringToObject(u, r->unified[i]->key, r->unified[i]->value);
    }
  }
  return 0;
}

/* ---- devices ------------------------------------------------------------------- */
static cJSON *device_rule(bool allow, const char *type, int64_t major, int64_t minor,
                          const char *access) {
  cJSON *r = cJSON_CreateObject();
  cJSON_AddBoolToObject(r, "allow", allow);
  if (type)
    cJSON_AddStringToObject(r, "type", type);
  if (major >= 0)
    spec_add_int(r, "major", major);
  if (minor >= 0)
    spec_add_int(r, "minor", minor);
  cJSON_AddStringToObject(r, "access", access);
  return r;
}

/* What runc itself creates in /dev (null, zero, full, random, urandom,
 * tty, ptmx and the pts of the new devpts) and lets every container mknod,
 * after denying everything, as the Docker/CRI-O default device cgroup. */
static void default_device_rules(cJSON *rules) {
  static const struct {
    const char *type;
    int major, minor;
    const char *access;
  } allowed[] = {
      {"c", -1, -1, "m"}, {"b", -1, -1, "m"}, {"c", 1, 3, "rwm"},    {"c", 1, 5, "rwm"},
      {"c", 1, 7, "rwm"}, {"c", 1, 8, "rwm"}, {"c", 1, 9, "rwm"},    {"c", 5, 0, "rwm"},
      {"c", 5, 1, "rwm"}, {"c", 5, 2, "rwm"}, {"c", 136, -1, "rwm"},
  };
  cJSON_AddItemToArray(rules, device_rule(false, NULL, -1, -1, "rwm"));
  for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
    cJSON_AddItemToArray(rules, device_rule(true, allowed[i].type, allowed[i].major,
                                            allowed[i].minor, allowed[i].access));
}

static bool has_device(const cJSON *devices, const char *path) {
  const cJSON *d;
  cJSON_ArrayForEach(d, devices) {
    if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "path")), path) == 0)
      return true;
  }
  return false;
}

static void add_device(cJSON *devices, cJSON *rules, const char *path, const struct stat *st,
                       const char *access) {
  if (has_device(devices, path))
    return;
  const char *type = S_ISBLK(st->st_mode) ? "b" : "c";
  cJSON *d = cJSON_CreateObject();
  cJSON_AddStringToObject(d, "path", path);
  cJSON_AddStringToObject(d, "type", type);
  spec_add_int(d, "major", major(st->st_rdev));
  spec_add_int(d, "minor", minor(st->st_rdev));
  spec_add_int(d, "fileMode", st->st_mode & 07777);
  spec_add_uint(d, "uid", st->st_uid);
  spec_add_uint(d, "gid", st->st_gid);
  cJSON_AddItemToArray(devices, d);
  if (rules)
    cJSON_AddItemToArray(rules,
                         device_rule(true, type, major(st->st_rdev), minor(st->st_rdev), access));
}

/* Every device node under host_dir, as container_dir/<relative path>.
 * Links are not followed (a /dev walk would otherwise loop or leave /dev).
 * For the host's whole /dev, what runc mounts itself (pts, shm, mqueue)
 * and the console are skipped. */
static int add_device_dir(cJSON *devices, cJSON *rules, const char *host_dir,
                          const char *container_dir, const char *access, bool whole_dev, int depth,
                          crio_error_t *err) {
  static const char *const skip[] = {"pts", "shm", "mqueue", "fd", "console", ".lxc", ".udev"};
  if (depth > 16)
    return 0;
  cleanup_dir DIR *d = opendir(host_dir);
  if (d == NULL)
    return crio_error_errno(err, errno, "open %s", host_dir);
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    bool skipped = false;
    for (size_t i = 0; whole_dev && depth == 0 && i < sizeof(skip) / sizeof(skip[0]); i++)
      skipped = skipped || strcmp(de->d_name, skip[i]) == 0;
    if (skipped)
      continue;
    cleanup_free char *hp = xasprintf("%s/%s", host_dir, de->d_name);
    cleanup_free char *cp =
        xasprintf("%s/%s", strcmp(container_dir, "/") == 0 ? "" : container_dir, de->d_name);
    struct stat st;
    if (lstat(hp, &st) < 0)
      continue; /* gone meanwhile */
    if (S_ISDIR(st.st_mode)) {
      if (add_device_dir(devices, rules, hp, cp, access, whole_dev, depth + 1, err) < 0)
        return -1;
    } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
      add_device(devices, rules, cp, &st, access);
    }
  }
  return 0;
}

static bool valid_access(const char *a) {
  if (a[0] == '\0' || strlen(a) > 3)
    return false;
  for (const char *p = a; *p; p++)
    if (!strchr("rwm", *p) || strchr(p + 1, *p))
      return false;
  return true;
}

static int linux_devices(struct spec_ctx *c, cJSON *linux_obj, cJSON *resources,
                         crio_error_t *err) {
  cJSON *devices = cJSON_AddArrayToObject(linux_obj, "devices");
  cJSON *rules = cJSON_AddArrayToObject(resources, "devices");
  if (c->privileged)
    cJSON_AddItemToArray(rules, device_rule(true, NULL, -1, -1, "rwm"));
  else
    default_device_rules(rules);

  for (size_t i = 0; i < c->cfg->n_devices; i++) {
    const Runtime__V1__Device *dev = c->cfg->devices[i];
    cleanup_free char *cpath = spec_clean_abs_path(dev->container_path);
    if (cpath == NULL || strcmp(cpath, "/") == 0)
      return crio_error(err, EINVAL,
                        "config.devices[%zu].container_path: \"%s\" must be an absolute path "
                        "without \"..\"",
                        i, dev->container_path ? dev->container_path : "");
    if (dev->host_path == NULL || dev->host_path[0] != '/')
      return crio_error(err, EINVAL, "config.devices[%zu].host_path: \"%s\" must be absolute", i,
                        dev->host_path ? dev->host_path : "");
    const char *access = dev->permissions && dev->permissions[0] ? dev->permissions : "rwm";
    if (!valid_access(access))
      return crio_error(err, EINVAL,
                        "config.devices[%zu].permissions: \"%s\" is not a combination of r, w, m",
                        i, access);
    struct stat st;
    if (stat(dev->host_path, &st) < 0)
      return crio_error(err, EINVAL, "config.devices[%zu].host_path: %s: %s", i, dev->host_path,
                        strerror(errno));
    /* A directory (such as /dev/snd) brings every device under it. */
    if (S_ISDIR(st.st_mode)) {
      if (add_device_dir(devices, c->privileged ? NULL : rules, dev->host_path, cpath, access,
                         false, 0, err) < 0)
        return crio_error_prefix(err, "config.devices[%zu]", i);
    } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
      add_device(devices, c->privileged ? NULL : rules, cpath, &st, access);
    } else {
      return crio_error(err, EINVAL, "config.devices[%zu].host_path: %s is not a device node", i,
                        dev->host_path);
    }
  }
  /* Privileged: every device of the host, as Docker and CRI-O give. */
  if (c->privileged) {
    const char *dev_dir = c->in->host->dev_dir ? c->in->host->dev_dir : "/dev";
    if (add_device_dir(devices, NULL, dev_dir, "/dev", "rwm", true, 0, err) < 0)
      return crio_error_prefix(err, "host devices for a privileged container");
  }
  return 0;
}

int oci_spec_update_resources(const char *container_id,
                              const Runtime__V1__LinuxContainerResources *res,
                              const struct oci_spec_host *host, cJSON **out,
                              struct oci_spec_warnings *w, crio_error_t *err) {
  *out = NULL;
  /* pids_limit 0: the daemon's pids limit is not the kubelet's to change,
   * so "pids" stays out and the runtime leaves it as created. */
  struct oci_spec_input in = {.container_id = container_id, .host = host};
  struct spec_ctx c = {.in = &in, .res = res, .w = w, .rootfd = -1};
  cleanup_cjson cJSON *resources = cJSON_CreateObject();
  if (linux_resources(&c, resources, err) < 0)
    return -1;
  *out = steal_pointer(&resources);
  return 0;
}

int spec_linux(struct spec_ctx *c, cJSON *spec, crio_error_t *err) {
  cJSON *linux_obj = cJSON_GetObjectItemCaseSensitive(spec, "linux");
  cJSON *resources = cJSON_AddObjectToObject(linux_obj, "resources");
  if (linux_namespaces(c, linux_obj, err) < 0 || linux_cgroups_path(c, linux_obj, err) < 0 ||
      linux_resources(c, resources, err) < 0 || linux_devices(c, linux_obj, resources, err) < 0 ||
      spec_seccomp(c, linux_obj, err) < 0)
    return -1;
  return 0;
}
