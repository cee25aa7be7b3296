/* crun (Debian's 1.8.1): how its failures read, and the hosts it refuses.
 * Errors come on stderr as plain text; an unknown container shows as its
 * missing state file: "error opening file `<root>/<id>/status`: No such
 * file or directory". */
#include <errno.h>
#include <string.h>
#include <sys/statfs.h>

#include "oci/runtime_internal.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

static enum oci_cli_failure crun_classify(const struct oci_runtime *rt, const char *id,
                                          const char *errout) {
  /* Only a missing file inside this container's state dir means "no such
   * container": a missing mount source also says "No such file". */
  if (id && strstr(errout, "No such file or directory")) {
    cleanup_free char *state_dir = xasprintf("%s/%s", oci_runtime_root(rt), id);
    const char *p = strstr(errout, state_dir);
    if (p && (p[strlen(state_dir)] == '/' || p[strlen(state_dir)] == '\'' ||
              p[strlen(state_dir)] == '`'))
      return OCI_CLI_NOT_FOUND;
  }
  if (strstr(errout, "No such process") || strstr(errout, "is not running"))
    return OCI_CLI_NOT_RUNNING;
  if (strstr(errout, "unknown command"))
    return OCI_CLI_NO_SUBCOMMAND;
  return OCI_CLI_FAILED;
}

/* crun 1.8 enters cgroups itself and refuses a hybrid layout (v1
 * controllers plus /sys/fs/cgroup/unified) when any controller is enabled
 * on the v2 side: "cgroups in hybrid mode not supported, drop all
 * controllers from cgroupv2" (libcrun_cgroup_enter).  Mirror that check so
 * the daemon can choose a working default instead of failing every pod. */
static int crun_check_host(const struct oci_runtime *rt, crio_error_t *err) {
  (void)rt;
  struct statfs root, unified;
  if (statfs("/sys/fs/cgroup", &root) < 0)
    return crio_error_errno(err, errno, "crun: statfs /sys/fs/cgroup");
  if (root.f_type == CGROUP2_SUPER_MAGIC)
    return 0; /* unified */
  if (statfs("/sys/fs/cgroup/unified", &unified) < 0 || unified.f_type != CGROUP2_SUPER_MAGIC)
    return 0; /* legacy */
  cleanup_free char *controllers = NULL;
  size_t len = 0;
  if (crio_read_file("/sys/fs/cgroup/unified/cgroup.controllers", &controllers, &len, err) < 0)
    return crio_error_prefix(err, "crun");
  while (len > 0 && (controllers[len - 1] == '\n' || controllers[len - 1] == ' '))
    controllers[--len] = '\0';
  if (len > 0)
    return crio_error(err, ENOTSUP,
                      "crun refuses this host's hybrid cgroup layout: cgroup v2 has "
                      "controllers (%s)",
                      controllers);
  return 0;
}

const struct oci_runtime_ops oci_runtime_crun = {
    .name = "crun",
    .default_path = "/usr/bin/crun",
    .default_root = "/run/crun",
    .classify = crun_classify,
    .check_host = crun_check_host,
};
