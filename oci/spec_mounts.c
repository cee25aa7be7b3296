/* mounts: the defaults every container has (/proc, /dev, /sys, cgroup,
 * the pod's /dev/shm and files, the termination-message file), then the
 * request's volumes; plus the masked and read-only /proc and /sys paths.
 * A request mount on a default's destination replaces the default (the
 * kubelet mounts its own /etc/hosts that way). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "oci/spec_internal.h"

#define TERMINATION_MESSAGE_ANNOTATION "io.kubernetes.container.terminationMessagePath"
#define DEFAULT_TERMINATION_MESSAGE_PATH "/dev/termination-log"

/* The kubelet's defaults (pkg/securitycontext), which it sends itself for
 * the Default procMount; used when a request names none. */
static const char *const default_masked[] = {"/proc/asound",
                                             "/proc/acpi",
                                             "/proc/kcore",
                                             "/proc/keys",
                                             "/proc/latency_stats",
                                             "/proc/timer_list",
                                             "/proc/timer_stats",
                                             "/proc/sched_debug",
                                             "/proc/scsi",
                                             "/sys/firmware",
                                             "/sys/devices/virtual/powercap"};
static const char *const default_readonly[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                               "/proc/sysrq-trigger"};

/* Flags a request may add to a bind mount (CRI Mount.mount_options). */
static const char *const allowed_mount_options[] = {
    "noexec", "exec",     "nodev",      "dev",         "nosuid",        "suid",       "noatime",
    "atime",  "relatime", "norelatime", "strictatime", "nostrictatime", "nodiratime", "diratime"};

static cJSON *mount_obj(const char *dest, const char *type, const char *source,
                        const char *const *options) {
  cJSON *m = cJSON_CreateObject();
  cJSON_AddStringToObject(m, "destination", dest);
  cJSON_AddStringToObject(m, "type", type);
  cJSON_AddStringToObject(m, "source", source);
  cJSON *opts = cJSON_AddArrayToObject(m, "options");
  for (; *options; options++)
    cJSON_AddItemToArray(opts, cJSON_CreateString(*options));
  return m;
}

static const char *mount_dest(const cJSON *m) {
  return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "destination"));
}

static size_t path_depth(const char *path) {
  size_t n = 0;
  for (const char *p = path; *p; p++)
    n += *p == '/';
  return strcmp(path, "/") == 0 ? 0 : n;
}

/* ---- propagation ------------------------------------------------------------- */
/* Undoes mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s) {
  char *o = s;
  for (char *p = s; *p; p++) {
    if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' && p[3] >= '0' &&
        p[3] <= '7') {
      *o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
      p += 3;
    } else {
      *o++ = *p;
    }
  }
  *o = '\0';
}

/* The mount holding `path` (the longest mount point above it; for one
 * point the last, i.e. topmost, entry) and whether it is shared or a
 * slave. */
static int mount_propagation(const char *mountinfo, const char *path, char **point, bool *shared,
                             bool *slave, crio_error_t *err) {
  cleanup_file FILE *f = fopen(mountinfo, "re");
  if (f == NULL)
    return crio_error_errno(err, errno, "open %s", mountinfo);
  cleanup_free char *line = NULL;
  size_t cap = 0, best = 0;
  *point = NULL;
  while (getline(&line, &cap, f) > 0) {
    /* id parent major:minor root mountpoint options [optional...] - ... */
    char *fields[64];
    size_t n = 0;
    char *save = NULL;
    for (char *t = strtok_r(line, " \n", &save); t && n < 64; t = strtok_r(NULL, " \n", &save))
      fields[n++] = t;
    if (n < 7)
      continue;
    unescape(fields[4]);
    size_t len = strlen(fields[4]);
    if (!spec_path_is_within(path, fields[4]) || len < best)
      continue;
    best = len;
    free(*point);
    *point = xstrdup(fields[4]);
    *shared = *slave = false;
    for (size_t i = 6; i < n && strcmp(fields[i], "-") != 0; i++) {
      *shared = *shared || strncmp(fields[i], "shared:", 7) == 0;
      *slave = *slave || strncmp(fields[i], "master:", 7) == 0;
    }
  }
  if (*point == NULL)
    return crio_error(err, ENOENT, "%s: no mount holds %s", mountinfo, path);
  return 0;
}

/* CRI-O's checks: propagation into the container needs a host mount that
 * receives events (shared or slave), propagation out needs a shared one;
 * otherwise the volume silently would not propagate. */
static int check_propagation(const struct spec_ctx *c, size_t i, const char *source,
                             Runtime__V1__MountPropagation prop, crio_error_t *err) {
  if (prop == RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE)
    return 0;
  const char *mountinfo =
      c->in->host->mountinfo_path ? c->in->host->mountinfo_path : "/proc/self/mountinfo";
  cleanup_free char *point = NULL;
  bool shared = false, slave = false;
  if (mount_propagation(mountinfo, source, &point, &shared, &slave, err) < 0)
    return crio_error_prefix(err, "config.mounts[%zu].propagation", i);
  if (prop == RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL && !shared)
    return crio_error(err, EINVAL,
                      "config.mounts[%zu].propagation: BIDIRECTIONAL needs %s to be on a shared "
                      "mount, but %s is not shared",
                      i, source, point);
  if (prop == RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_HOST_TO_CONTAINER && !shared && !slave)
    return crio_error(err, EINVAL,
                      "config.mounts[%zu].propagation: HOST_TO_CONTAINER needs %s to be on a "
                      "shared or slave mount, but %s is private",
                      i, source, point);
  return 0;
}

/* ---- the request's mounts -------------------------------------------------------- */
static int request_mount(struct spec_ctx *c, size_t i, cJSON *list, int *propagation,
                         crio_error_t *err) {
  const Runtime__V1__Mount *m = c->cfg->mounts[i];
  cleanup_free char *dest = spec_clean_abs_path(m->container_path);
  if (dest == NULL)
    return crio_error(err, EINVAL,
                      "config.mounts[%zu].container_path: \"%s\" must be an absolute path "
                      "without \"..\"",
                      i, m->container_path ? m->container_path : "");
  if (strcmp(dest, "/") == 0)
    return crio_error(err, EINVAL, "config.mounts[%zu].container_path: cannot mount over /", i);
  const cJSON *other;
  cJSON_ArrayForEach(other, list) {
    if (strcmp(mount_dest(other), dest) == 0)
      return crio_error(err, EINVAL, "config.mounts[%zu].container_path: %s is mounted twice", i,
                        dest);
  }
  if (m->image && m->image->image && m->image->image[0])
    return crio_error(err, ENOSYS, "config.mounts[%zu].image: image volumes are not supported", i);
  if (m->n_uidmappings > 0 || m->n_gidmappings > 0)
    return crio_error(err, ENOSYS,
                      "config.mounts[%zu]: idmapped mounts (uidMappings/gidMappings) are not "
                      "supported",
                      i);
  /* rro needs mount_setattr in the runtime: runc >= 1.2, which this
   * host's runc 1.1 is not; the kubelet asks only when Status advertises
   * it. */
  if (m->recursive_read_only)
    return crio_error(err, ENOSYS,
                      "config.mounts[%zu].recursive_read_only: not supported by the runtimes", i);
  if (m->host_path == NULL || m->host_path[0] != '/')
    return crio_error(err, EINVAL, "config.mounts[%zu].host_path: \"%s\" must be absolute", i,
                      m->host_path ? m->host_path : "");
  /* CRI: follow symlinks, fail if it does not exist. */
  cleanup_free char *source = realpath(m->host_path, NULL);
  if (source == NULL)
    return crio_error(err, EINVAL, "config.mounts[%zu].host_path: %s: %s", i, m->host_path,
                      strerror(errno));

  const char *prop;
  switch (m->propagation) {
  case RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE:
    prop = "rprivate";
    break;
  case RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_HOST_TO_CONTAINER:
    prop = "rslave";
    break;
  case RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL:
    prop = "rshared";
    break;
  default:
    return crio_error(err, EINVAL, "config.mounts[%zu].propagation: unknown value %d", i,
                      m->propagation);
  }
  if (check_propagation(c, i, source, m->propagation, err) < 0)
    return -1;
  if ((int)m->propagation > *propagation)
    *propagation = (int)m->propagation;

  const char *base[] = {"rbind", prop, m->readonly ? "ro" : "rw", NULL};
  cJSON *obj = mount_obj(dest, "bind", source, base);
  cJSON *opts = cJSON_GetObjectItemCaseSensitive(obj, "options");
  for (size_t j = 0; j < m->n_mount_options; j++) {
    bool ok = false;
    for (size_t k = 0; k < sizeof(allowed_mount_options) / sizeof(char *) && !ok; k++)
      ok = strcmp(m->mount_options[j], allowed_mount_options[k]) == 0;
    if (!ok) {
      cJSON_Delete(obj);
      return crio_error(err, EINVAL, "config.mounts[%zu].mount_options[%zu]: \"%s\" not allowed", i,
                        j, m->mount_options[j]);
    }
    cJSON_AddItemToArray(opts, cJSON_CreateString(m->mount_options[j]));
  }
  /* selinux_relabel: nothing to do without SELinux (oci_spec_build
   * refuses to run where SELinux is enabled). */
  cJSON_AddItemToArray(list, obj);
  return 0;
}

/* ---- defaults ---------------------------------------------------------------------- */
static bool requested(const cJSON *requests, const char *dest) {
  const cJSON *m;
  cJSON_ArrayForEach(m, requests) {
    if (strcmp(mount_dest(m), dest) == 0)
      return true;
  }
  return false;
}

static void add_default(cJSON *list, const cJSON *requests, cJSON *m) {
  if (requested(requests, mount_dest(m)))
    cJSON_Delete(m);
  else
    cJSON_AddItemToArray(list, m);
}

static const char *termination_message_dest(const struct spec_ctx *c) {
  for (size_t i = 0; i < c->cfg->n_annotations; i++)
    if (strcmp(c->cfg->annotations[i]->key, TERMINATION_MESSAGE_ANNOTATION) == 0 &&
        c->cfg->annotations[i]->value[0])
      return c->cfg->annotations[i]->value;
  return DEFAULT_TERMINATION_MESSAGE_PATH;
}

static int default_mounts(struct spec_ctx *c, cJSON *list, const cJSON *requests,
                          crio_error_t *err) {
  const struct oci_spec_input *in = c->in;
  bool ro_rootfs = c->sc && c->sc->readonly_rootfs;
  const char *sys_access = c->privileged ? "rw" : "ro";
  add_default(
      list, requests,
      mount_obj("/proc", "proc", "proc", (const char *[]){"nosuid", "noexec", "nodev", NULL}));
  add_default(
      list, requests,
      mount_obj("/dev", "tmpfs", "tmpfs",
                (const char *[]){"nosuid", "strictatime", "mode=755", "size=65536k", NULL}));
  add_default(list, requests,
              mount_obj("/dev/pts", "devpts", "devpts",
                        (const char *[]){"nosuid", "noexec", "newinstance", "ptmxmode=0666",
                                         "mode=0620", "gid=5", NULL}));
  add_default(list, requests,
              mount_obj("/dev/mqueue", "mqueue", "mqueue",
                        (const char *[]){"nosuid", "noexec", "nodev", NULL}));
  add_default(list, requests,
              mount_obj("/sys", "sysfs", "sysfs",
                        (const char *[]){"nosuid", "noexec", "nodev", sys_access, NULL}));
  add_default(
      list, requests,
      mount_obj("/sys/fs/cgroup", "cgroup", "cgroup",
                (const char *[]){"nosuid", "noexec", "nodev", "relatime", sys_access, NULL}));
  if (in->shm_path)
    add_default(
        list, requests,
        mount_obj("/dev/shm", "bind", in->shm_path,
                  (const char *[]){"rbind", "rprivate", "nosuid", "noexec", "nodev", "rw", NULL}));
  else
    add_default(
        list, requests,
        mount_obj("/dev/shm", "tmpfs", "shm",
                  (const char *[]){"nosuid", "noexec", "nodev", "mode=1777", "size=65536k", NULL}));
  /* The pod's files; read-only with a read-only rootfs, as CRI-O does. */
  const char *file_opts[] = {
      "rbind", "rprivate", "nosuid", "nodev", "noexec", ro_rootfs ? "ro" : "rw", NULL};
  const struct {
    const char *dest, *source, *field;
  } files[] = {
      {"/etc/hosts", in->hosts_path, "hosts_path"},
      {"/etc/hostname", in->hostname_path, "hostname_path"},
      {"/etc/resolv.conf", in->resolv_conf_path, "resolv_conf_path"},
      {termination_message_dest(c), in->termination_message_path, "termination_message_path"}};
  for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
    if (files[i].source == NULL)
      continue;
    if (files[i].source[0] != '/')
      return crio_error(err, EINVAL, "%s: \"%s\" must be absolute", files[i].field,
                        files[i].source);
    cleanup_free char *dest = spec_clean_abs_path(files[i].dest);
    if (dest == NULL)
      return crio_error(err, EINVAL,
                        "config.annotations[" TERMINATION_MESSAGE_ANNOTATION
                        "]: \"%s\" must be an absolute path without \"..\"",
                        files[i].dest);
    /* The termination message is written by the container, so rw. */
    const char *term_opts[] = {"rbind", "rprivate", "nosuid", "nodev", "noexec", "rw", NULL};
    add_default(list, requests,
                mount_obj(dest, "bind", files[i].source, i == 3 ? term_opts : file_opts));
  }
  return 0;
}

/* Stable sort by depth, so a mount never hides one on a deeper path (the
 * kubelet's and CRI-O's order: /dev before /dev/shm before /dev/shm/x). */
static void sort_by_depth(cJSON *spec, cJSON *list) {
  size_t n = (size_t)cJSON_GetArraySize(list);
  cJSON **items = xcalloc(n ? n : 1, sizeof(cJSON *));
  for (size_t i = 0; i < n; i++)
    items[i] = cJSON_DetachItemFromArray(list, 0);
  for (size_t i = 1; i < n; i++) {
    cJSON *x = items[i];
    size_t d = path_depth(mount_dest(x)), j = i;
    while (j > 0 && path_depth(mount_dest(items[j - 1])) > d) {
      items[j] = items[j - 1];
      j--;
    }
    items[j] = x;
  }
  cJSON *mounts = cJSON_AddArrayToObject(spec, "mounts");
  for (size_t i = 0; i < n; i++)
    cJSON_AddItemToArray(mounts, items[i]);
  free(items);
  cJSON_Delete(list);
}

static int paths_from_request(const char *field, char **paths, size_t n, cJSON *linux_obj,
                              const char *key, crio_error_t *err) {
  cJSON *arr = cJSON_AddArrayToObject(linux_obj, key);
  for (size_t i = 0; i < n; i++) {
    cleanup_free char *p = spec_clean_abs_path(paths[i]);
    if (p == NULL)
      return crio_error(err, EINVAL, "%s[%zu]: \"%s\" must be an absolute path without \"..\"",
                        field, i, paths[i]);
    cJSON_AddItemToArray(arr, cJSON_CreateString(p));
  }
  return 0;
}

int spec_mounts(struct spec_ctx *c, cJSON *spec, crio_error_t *err) {
  cleanup_cjson cJSON *requests = cJSON_CreateArray();
  cleanup_cjson cJSON *list = cJSON_CreateArray();
  int propagation = RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE;
  for (size_t i = 0; i < c->cfg->n_mounts; i++)
    if (request_mount(c, i, requests, &propagation, err) < 0)
      return -1;
  if (default_mounts(c, list, requests, err) < 0)
    return -1;
  while (cJSON_GetArraySize(requests) > 0)
    cJSON_AddItemToArray(list, cJSON_DetachItemFromArray(requests, 0));
  sort_by_depth(spec, steal_pointer(&list));

  cJSON *linux_obj = cJSON_GetObjectItemCaseSensitive(spec, "linux");
  /* The container's root must pass events on for its mounts to. */
  if (propagation == RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL)
    cJSON_AddStringToObject(linux_obj, "rootfsPropagation", "rshared");
  else if (propagation == RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_HOST_TO_CONTAINER)
    cJSON_AddStringToObject(linux_obj, "rootfsPropagation", "rslave");

  /* Privileged: nothing masked.  A request's lists replace the defaults
   * (proto3 cannot tell an empty list from none, so "Unmasked" procMount
   * gets the defaults too; it matters only with user namespaces). */
  if (c->privileged)
    return 0;
  const Runtime__V1__LinuxContainerSecurityContext *sc = c->sc;
  if (sc && (sc->n_masked_paths > 0 || sc->n_readonly_paths > 0))
    return paths_from_request("config.linux.security_context.masked_paths", sc->masked_paths,
                              sc->n_masked_paths, linux_obj, "maskedPaths", err) < 0 ||
                   paths_from_request("config.linux.security_context.readonly_paths",
                                      sc->readonly_paths, sc->n_readonly_paths, linux_obj,
                                      "readonlyPaths", err) < 0
               ? -1
               : 0;
  cJSON_AddItemToObject(linux_obj, "maskedPaths",
                        spec_json_strv(default_masked, sizeof(default_masked) / sizeof(char *)));
  cJSON_AddItemToObject(
      linux_obj, "readonlyPaths",
      spec_json_strv(default_readonly, sizeof(default_readonly) / sizeof(char *)));
  return 0;
}
