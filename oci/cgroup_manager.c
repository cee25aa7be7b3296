/* Choosing a cgroup manager and telling which cgroup layout the host has. */
#include <errno.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/statfs.h>

#include "oci/oci.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

int oci_cgroup_mode_detect(enum oci_cgroup_mode *mode, crio_error_t *err) {
  struct statfs sfs;
  if (statfs("/sys/fs/cgroup", &sfs) < 0)
    return crio_error_errno(err, errno, "statfs /sys/fs/cgroup");
  if (sfs.f_type == CGROUP2_SUPER_MAGIC) {
    *mode = OCI_CGROUP_UNIFIED;
    return 0;
  }
  if (sfs.f_type != TMPFS_MAGIC)
    return crio_error(err, ENOTSUP,
                      "/sys/fs/cgroup is neither cgroup2 nor a tmpfs of v1 "
                      "hierarchies (f_type 0x%lx)",
                      (unsigned long)sfs.f_type);
  /* systemd's hybrid layout keeps a v2 hierarchy next to the v1 ones. */
  if (statfs("/sys/fs/cgroup/unified", &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC)
    *mode = OCI_CGROUP_HYBRID;
  else
    *mode = OCI_CGROUP_LEGACY;
  return 0;
}

const struct oci_cgroup_manager *oci_cgroup_manager_get(const char *driver, crio_error_t *err) {
  if (driver && strcmp(driver, "cgroupfs") == 0)
    return &oci_cgroup_manager_cgroupfs;
  if (driver && strcmp(driver, "systemd") == 0)
    return &oci_cgroup_manager_systemd;
  crio_error(err, EINVAL, "cgroup manager \"%s\": must be \"cgroupfs\" or \"systemd\"",
             driver ? driver : "");
  return NULL;
}
