/* Internal to oci/: the mounted cgroup hierarchies as cgroup_fs.c reads
 * them from mountinfo (cgroup_hiers.c), shared by the cgroupfs manager and
 * the stats sampler (cgroup_sampler.c), which keeps one such snapshot for
 * the daemon's life. */
#ifndef CRIO_OCI_CGROUP_INTERNAL_H
#define CRIO_OCI_CGROUP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "common/common.h"

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

void cg_hiers_release(struct cg_hiers *hs);
#define cleanup_cg_hiers __attribute__((cleanup(cg_hiers_release)))

/* Every cgroup hierarchy mounted in the mount namespace `mountinfo_path`
 * describes (NULL: /proc/self/mountinfo), once each (a hierarchy mounted
 * twice has one device number).  A v2 hierarchy's controllers are read
 * from <mountpoint>/cgroup.controllers.  ENOENT if there is none. */
int cg_hiers_load_from(const char *mountinfo_path, struct cg_hiers *hs, crio_error_t *err);

/* Whether `token` is one of the `seps`-separated words of `list`. */
bool cg_has_token(const char *list, const char *token, const char *seps);
/* Whether the hierarchy carries `controller`. */
bool hier_has(const struct cg_hier *h, const char *controller);

/* The directory of cgroup `path` (absolute, "" or "/" for the root) in
 * hierarchy h; EXDEV if a cgroup namespace hides it.  malloc'd. */
int hier_dir(const struct cg_hier *h, const char *path, char **dir, crio_error_t *err);

#endif
