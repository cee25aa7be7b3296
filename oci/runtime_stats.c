/* Where a container's usage is accounted: the cgroup of its init, read
 * from /proc/<pid>/cgroup, so stats need not know how the cgroup manager
 * named it (a cgroupfs path or a systemd scope). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci/runtime_internal.h"

int oci_process_cgroup_path(pid_t pid, char **path, crio_error_t *err) {
  if (pid <= 0)
    return crio_error(err, EINVAL, "cgroup of pid %d", (int)pid);
  cleanup_free char *file = xasprintf("/proc/%d/cgroup", (int)pid);
  cleanup_free char *text = NULL;
  if (crio_read_file(file, &text, NULL, err) < 0)
    return -1;
  /* Lines are "<id>:<controllers>:<path>".  On v1 the memory controller's
   * path is the container's (runc puts it in the same path everywhere);
   * "0::<path>" is the v2 hierarchy, the only one on a unified host (on a
   * hybrid one it is the unified mount, which runc leaves alone). */
  char *unified = NULL, *memory = NULL;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    char *c1 = strchr(line, ':');
    char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (c2 == NULL)
      continue;
    *c2 = '\0';
    const char *controllers = c1 + 1;
    char *p = c2 + 1;
    if (controllers[0] == '\0') {
      unified = p;
      continue;
    }
    for (const char *c = controllers; c;) {
      size_t n = strcspn(c, ",");
      if (n == 6 && strncmp(c, "memory", 6) == 0)
        memory = p;
      c = c[n] ? c + n + 1 : NULL;
    }
  }
  const char *found = memory ? memory : unified;
  if (found == NULL || found[0] != '/')
    return crio_error(err, ENOENT, "%s: no memory or unified cgroup", file);
  *path = xstrdup(found);
  return 0;
}
