/* Choosing a cgroup manager. */
#include <errno.h>
#include <string.h>

#include "oci/oci.h"

const struct oci_cgroup_manager *oci_cgroup_manager_get(const char *driver, crio_error_t *err) {
  if (driver && strcmp(driver, "cgroupfs") == 0)
    return &oci_cgroup_manager_cgroupfs;
  if (driver && strcmp(driver, "systemd") == 0)
    return &oci_cgroup_manager_systemd;
  crio_error(err, EINVAL, "cgroup manager \"%s\": must be \"cgroupfs\" or \"systemd\"",
             driver ? driver : "");
  return NULL;
}
