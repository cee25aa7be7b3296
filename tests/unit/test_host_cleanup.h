/* What the unit-test fixtures use to undo what a test made on the host:
 * removing a directory tree and a cgroup in every hierarchy.  Static, so a
 * fixture includes it without another source in its CMake target. */
#ifndef CRIO_TEST_HOST_CLEANUP_H
#define CRIO_TEST_HOST_CLEANUP_H

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static inline int test_remove_entry(const char *path, const struct stat *st, int flag,
                                    struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  remove(path);
  return 0;
}

/* rm -rf of path; extra_flags adds nftw flags (FTW_MOUNT to stay on its
 * file system). */
static inline void test_rm_tree(const char *path, int extra_flags) {
  nftw(path, test_remove_entry, 16, FTW_DEPTH | FTW_PHYS | extra_flags);
}

/* rmdir of a cgroup in every hierarchy under /sys/fs/cgroup (v1 dirs and
 * unified), retried briefly while a killed process is still leaving. */
static inline void test_cgroup_rmdir_everywhere(const char *path) {
  DIR *d = opendir("/sys/fs/cgroup");
  if (d == NULL)
    return;
  struct dirent *de;
  char dir[4096];
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.')
      continue;
    snprintf(dir, sizeof(dir), "/sys/fs/cgroup/%s%s", de->d_name, path);
    for (int i = 0; i < 100 && rmdir(dir) < 0 && errno == EBUSY; i++)
      nanosleep(&(struct timespec){.tv_nsec = 20000000}, NULL);
  }
  closedir(d);
  /* A unified-only host has the cgroup directly under /sys/fs/cgroup. */
  snprintf(dir, sizeof(dir), "/sys/fs/cgroup%s", path);
  rmdir(dir);
}

#endif
