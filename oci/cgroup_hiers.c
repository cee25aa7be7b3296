/* The host's cgroup layout: which mode (oci_cgroup_mode_detect) and which
 * hierarchies are mounted where (mountinfo), shared by the cgroupfs manager,
 * the systemd manager and the stats sampler (cgroup_internal.h). */
#include <errno.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>

#include "oci/cgroup_internal.h"
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

void cg_hiers_release(struct cg_hiers *hs) {
  for (size_t i = 0; i < hs->n; i++) {
    free(hs->h[i].mountpoint);
    free(hs->h[i].root);
    free(hs->h[i].controllers);
  }
  free(hs->h);
  hs->h = NULL;
  hs->n = 0;
}

bool cg_has_token(const char *list, const char *token, const char *seps) {
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

bool hier_has(const struct cg_hier *h, const char *controller) {
  return cg_has_token(h->controllers, controller, h->v2 ? " \n" : ",");
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

int cg_hiers_load_from(const char *mountinfo_path, struct cg_hiers *hs, crio_error_t *err) {
  cleanup_free char *text = NULL;
  if (crio_read_file(mountinfo_path ? mountinfo_path : "/proc/self/mountinfo", &text, NULL, err) <
      0)
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

int hier_dir(const struct cg_hier *h, const char *path, char **dir, crio_error_t *err) {
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
