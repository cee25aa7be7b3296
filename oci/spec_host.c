/* What the host allows a container, detected once: what the daemon's own
 * process holds is what runc (its grandchild through conmon) starts with. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/spec_internal.h"

int spec_parse_cap_bounding(const char *status, uint64_t *caps, crio_error_t *err) {
  const char *line = strstr(status, "\nCapBnd:");
  if (line == NULL && strncmp(status, "CapBnd:", 7) == 0)
    line = status - 1;
  if (line == NULL)
    return crio_error(err, EINVAL, "no CapBnd line in /proc/self/status");
  const char *p = line + 1 + strlen("CapBnd:");
  while (*p == ' ' || *p == '\t')
    p++;
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(p, &end, 16);
  if (errno != 0 || end == p || (*end != '\n' && *end != '\0'))
    return crio_error(err, EINVAL, "malformed CapBnd line in /proc/self/status");
  *caps = v;
  return 0;
}

bool oci_spec_host_has_cap(const struct oci_spec_host *host, int cap) {
  return cap >= 0 && cap < 64 && (host->cap_bounding & (1ULL << cap)) != 0;
}

static bool path_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

static bool file_starts_with(const char *path, const char *prefix) {
  char buf[16] = "";
  FILE *f = fopen(path, "re");
  if (f == NULL)
    return false;
  bool yes = fgets(buf, sizeof(buf), f) != NULL && strncmp(buf, prefix, strlen(prefix)) == 0;
  fclose(f);
  return yes;
}

/* The root cgroup has no memory.swap.max; any child shows whether swap
 * accounting is on. */
static bool v2_has_swap(void) {
  cleanup_dir DIR *d = opendir("/sys/fs/cgroup");
  if (d == NULL)
    return false;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.' || de->d_type != DT_DIR)
      continue;
    cleanup_free char *p = xasprintf("/sys/fs/cgroup/%s/memory.swap.max", de->d_name);
    if (path_exists(p))
      return true;
  }
  return false;
}

int oci_spec_host_detect(struct oci_spec_host *host, crio_error_t *err) {
  memset(host, 0, sizeof(*host));
  cleanup_free char *status = NULL;
  if (crio_read_file("/proc/self/status", &status, NULL, err) < 0 ||
      spec_parse_cap_bounding(status, &host->cap_bounding, err) < 0)
    return crio_error_prefix(err, "detect capabilities");

  cleanup_free char *adj = NULL;
  if (crio_read_file("/proc/self/oom_score_adj", &adj, NULL, err) < 0)
    return crio_error_prefix(err, "detect oom_score_adj");
  host->oom_score_adj = atoi(adj);

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
    return crio_error_errno(err, errno, "getrlimit RLIMIT_NOFILE");
  host->nofile_hard = rl.rlim_max == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_max;

  /* cgroup v2 only: the root of /sys/fs/cgroup is itself a cgroup2 mount
   * (it has cgroup.controllers); on hybrid hosts that file is only under
   * /sys/fs/cgroup/unified. */
  host->cgroup_unified = path_exists("/sys/fs/cgroup/cgroup.controllers");
  host->memory_swap = host->cgroup_unified
                          ? v2_has_swap()
                          : path_exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes");

  if (host->cgroup_unified) {
    cleanup_free char *controllers = NULL;
    crio_error_t ignored = NULL;
    if (crio_read_file("/sys/fs/cgroup/cgroup.controllers", &controllers, NULL, &ignored) == 0)
      host->hugetlb = strstr(controllers, "hugetlb") != NULL;
    crio_error_release(&ignored);
  } else {
    host->hugetlb = path_exists("/sys/fs/cgroup/hugetlb");
  }

  /* SELinux is on when selinuxfs is mounted (what libselinux's
   * is_selinux_enabled checks first); AppArmor when the module says so. */
  host->selinux_enabled = path_exists("/sys/fs/selinux/enforce");
  host->apparmor_enabled = path_exists("/sys/kernel/security/apparmor") &&
                           file_starts_with("/sys/module/apparmor/parameters/enabled", "Y");

  if (gethostname(host->hostname, sizeof(host->hostname) - 1) < 0)
    return crio_error_errno(err, errno, "gethostname");
  host->hostname[sizeof(host->hostname) - 1] = '\0';
  return 0;
}
