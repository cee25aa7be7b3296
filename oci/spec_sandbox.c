/* The spec of a sandbox-per-pod runtime's infra container (gVisor): the
 * container named by the pod id whose start boots the pod's sandbox, which
 * every other container of the pod then joins (oci/runtime_runsc.c).  It
 * runs crio-pause, bind-mounted read-only into an empty rootfs, so it
 * needs no image; it lives as long as the pod, which keeps the sandbox up
 * while app containers come and go (the sandbox ends with its first
 * container). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/spec_internal.h"

/* The annotations gVisor reads (runsc/specutils): containerd's, which our
 * app containers carry too (spec_build.c), and CRI-O's. */
static void sandbox_annotations(cJSON *spec, const char *pod_id) {
  cJSON *a = cJSON_AddObjectToObject(spec, "annotations");
  cJSON_AddStringToObject(a, "io.kubernetes.cri.container-type", "sandbox");
  cJSON_AddStringToObject(a, "io.kubernetes.cri.sandbox-id", pod_id);
  cJSON_AddStringToObject(a, "io.kubernetes.cri-o.ContainerType", "sandbox");
  cJSON_AddStringToObject(a, "io.kubernetes.cri-o.SandboxID", pod_id);
}

static void add_mount(cJSON *mounts, const char *dest, const char *type, const char *source,
                      const char *const *options) {
  cJSON *m = cJSON_CreateObject();
  cJSON_AddStringToObject(m, "destination", dest);
  cJSON_AddStringToObject(m, "type", type);
  cJSON_AddStringToObject(m, "source", source);
  cJSON *o = cJSON_AddArrayToObject(m, "options");
  for (; options && *options; options++)
    cJSON_AddItemToArray(o, cJSON_CreateString(*options));
  cJSON_AddItemToArray(mounts, m);
}

static void add_ns(cJSON *list, const char *type, const char *path) {
  cJSON *ns = cJSON_CreateObject();
  cJSON_AddStringToObject(ns, "type", type);
  if (path)
    cJSON_AddStringToObject(ns, "path", path);
  cJSON_AddItemToArray(list, ns);
}

static int cgroups_path(const struct oci_sandbox_spec *in, char **out, crio_error_t *err) {
  const char *parent = in->cgroup_parent ? in->cgroup_parent : "";
  if (in->cgroup_driver == OCI_CGROUP_DRIVER_SYSTEMD) {
    const char *slash = strrchr(parent, '/');
    const char *slice = slash ? slash + 1 : parent;
    if (slice[0] == '\0')
      slice = "system.slice";
    *out = xasprintf("%s:crio:%s", slice, in->pod_id);
    return 0;
  }
  cleanup_free char *clean = spec_clean_abs_path(parent[0] ? parent : "/");
  if (clean == NULL)
    return crio_error(err, EINVAL, "cgroup parent \"%s\" must be an absolute path", parent);
  *out = xasprintf("%s/crio-%s", strcmp(clean, "/") == 0 ? "" : clean, in->pod_id);
  return 0;
}

int oci_sandbox_spec_write(const struct oci_sandbox_spec *in, crio_error_t *err) {
  cleanup_free char *rootfs = xasprintf("%s/rootfs", in->bundle);
  cleanup_free char *mountpoint = xasprintf("%s/rootfs/pause", in->bundle);
  if (crio_mkdir_p(rootfs, 0755, err) < 0)
    return crio_error_prefix(err, "sandbox rootfs");
  cleanup_close int fd = open(mountpoint, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0755);
  if (fd < 0)
    return crio_error_errno(err, errno, "create %s", mountpoint);
  cleanup_free char *cgroups = NULL;
  if (cgroups_path(in, &cgroups, err) < 0)
    return -1;

  cJSON *spec = cJSON_CreateObject();
  cJSON_AddStringToObject(spec, "ociVersion", "1.0.2");
  cJSON *process = cJSON_AddObjectToObject(spec, "process");
  cJSON_AddFalseToObject(process, "terminal");
  cJSON *user = cJSON_AddObjectToObject(process, "user");
  cJSON_AddNumberToObject(user, "uid", 0);
  cJSON_AddNumberToObject(user, "gid", 0);
  cJSON *args = cJSON_AddArrayToObject(process, "args");
  cJSON_AddItemToArray(args, cJSON_CreateString("/pause"));
  cJSON *env = cJSON_AddArrayToObject(process, "env");
  cJSON_AddItemToArray(env, cJSON_CreateString("PATH=/"));
  cJSON_AddStringToObject(process, "cwd", "/");
  cJSON_AddTrueToObject(process, "noNewPrivileges");
  cJSON *root = cJSON_AddObjectToObject(spec, "root");
  cJSON_AddStringToObject(root, "path", rootfs);
  cJSON_AddTrueToObject(root, "readonly");
  if (in->hostname)
    cJSON_AddStringToObject(spec, "hostname", in->hostname);
  cJSON *mounts = cJSON_AddArrayToObject(spec, "mounts");
  add_mount(mounts, "/proc", "proc", "proc", NULL);
  const char *dev_opts[] = {"nosuid", "strictatime", "mode=755", "size=65536k", NULL};
  add_mount(mounts, "/dev", "tmpfs", "tmpfs", dev_opts);
  const char *bind_opts[] = {"rbind", "ro", NULL};
  add_mount(mounts, "/pause", "bind", in->pause_path, bind_opts);
  sandbox_annotations(spec, in->pod_id);
  cJSON *linux_obj = cJSON_AddObjectToObject(spec, "linux");
  cJSON *ns = cJSON_AddArrayToObject(linux_obj, "namespaces");
  add_ns(ns, "pid", NULL);
  /* Without a path (a host-network pod) the sandbox stays in the
   * daemon's network namespace, the host's. */
  if (in->netns_path)
    add_ns(ns, "network", in->netns_path);
  add_ns(ns, "ipc", NULL);
  add_ns(ns, "uts", NULL);
  add_ns(ns, "mount", NULL);
  cJSON_AddStringToObject(linux_obj, "cgroupsPath", cgroups);
  int rc = oci_spec_write(in->bundle, spec, err);
  cJSON_Delete(spec);
  return rc < 0 ? crio_error_prefix(err, "sandbox spec") : 0;
}
