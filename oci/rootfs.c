/* The overlay root filesystem of a container (rootfs.h). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/rootfs.h"

/* One page of mount data is all the kernel copies. */
#define MOUNT_DATA_MAX 4096

int oci_rootfs_is_mounted(const char *path, crio_error_t *err) {
  struct statx stx;
  if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) < 0)
    return errno == ENOENT ? 0 : crio_error_errno(err, errno, "stat %s", path);
  if (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
    return (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
  /* Kernels before 5.8: a mount point's device differs from its parent's
   * (true of overlay, whose st_dev is its own). */
  cleanup_free char *parent = xasprintf("%s/..", path);
  struct stat a, b;
  if (lstat(path, &a) < 0 || stat(parent, &b) < 0)
    return crio_error_errno(err, errno, "stat %s", path);
  return a.st_dev != b.st_dev;
}

int oci_rootfs_unmount(const char *path, crio_error_t *err) {
  int mounted = oci_rootfs_is_mounted(path, err);
  if (mounted <= 0)
    return mounted;
  if (umount2(path, UMOUNT_NOFOLLOW) == 0)
    return 0;
  if (errno == EINVAL || errno == ENOENT)
    return 0; /* unmounted meanwhile */
  if (errno != EBUSY)
    return crio_error_errno(err, errno, "unmount %s", path);
  log_warning("%s is busy: detaching it lazily", path);
  if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL && errno != ENOENT)
    return crio_error_errno(err, errno, "unmount (detach) %s", path);
  return 0;
}

static int mkdir_if_missing(const char *path, mode_t mode, crio_error_t *err) {
  if (mkdir(path, mode) < 0 && errno != EEXIST)
    return crio_error_errno(err, errno, "mkdir %s", path);
  return 0;
}

/* l/<n> -> lower dir n, replacing what an earlier attempt left. */
static int make_links(const struct oci_rootfs *fs, crio_error_t *err) {
  cleanup_free char *dir = xasprintf("%s/l", fs->container_dir);
  if (mkdir_if_missing(dir, 0700, err) < 0)
    return -1;
  for (size_t i = 0; i < fs->n_lower; i++) {
    if (fs->lower_dirs[i][0] != '/')
      return crio_error(err, EINVAL, "lower dir %s is not absolute", fs->lower_dirs[i]);
    cleanup_free char *link = xasprintf("%s/%zu", dir, i);
    if (unlink(link) < 0 && errno != ENOENT)
      return crio_error_errno(err, errno, "remove %s", link);
    if (symlink(fs->lower_dirs[i], link) < 0)
      return crio_error_errno(err, errno, "symlink %s -> %s", link, fs->lower_dirs[i]);
  }
  if (fs->n_lower == 0) {
    cleanup_free char *empty = xasprintf("%s/empty", dir);
    if (mkdir_if_missing(empty, 0755, err) < 0)
      return -1;
  }
  return 0;
}

/* "lowerdir=l/<n-1>:...:l/0,upperdir=upper,workdir=work": top first. */
static int mount_data(const struct oci_rootfs *fs, char **out, crio_error_t *err) {
  size_t cap = 64 + fs->n_lower * 24;
  cleanup_free char *s = xmalloc(cap);
  size_t len = (size_t)snprintf(s, cap, "lowerdir=");
  if (fs->n_lower == 0)
    len += (size_t)snprintf(s + len, cap - len, "l/empty");
  for (size_t i = fs->n_lower; i-- > 0;)
    len += (size_t)snprintf(s + len, cap - len, "l/%zu%s", i, i > 0 ? ":" : "");
  len += (size_t)snprintf(s + len, cap - len, ",upperdir=upper,workdir=work");
  if (len >= MOUNT_DATA_MAX)
    return crio_error(err, E2BIG, "an overlay of %zu layers does not fit in one mount call",
                      fs->n_lower);
  *out = steal_pointer(&s);
  return 0;
}

struct mount_job {
  const struct oci_rootfs *fs;
  const char *data;
  int status;
  const char *what;
};

/* On a thread of its own: the working directory it changes is its own
 * after unshare(CLONE_FS), never the daemon's. */
static void *mount_thread(void *arg) {
  struct mount_job *job = arg;
  if (unshare(CLONE_FS) < 0) {
    job->status = errno;
    job->what = "unshare(CLONE_FS)";
  } else if (chdir(job->fs->container_dir) < 0) {
    job->status = errno;
    job->what = "chdir";
  } else if (mount("overlay", job->fs->merged, "overlay", 0, job->data) < 0) {
    job->status = errno;
    job->what = "mount";
  }
  return NULL;
}

int oci_rootfs_mount(const struct oci_rootfs *fs, crio_error_t *err) {
  if (fs->container_dir == NULL || fs->container_dir[0] != '/' || fs->merged == NULL ||
      fs->merged[0] != '/')
    return crio_error(err, EINVAL, "rootfs: container dir and mount point must be absolute");
  if (crio_mkdir_p(fs->container_dir, 0700, err) < 0)
    return crio_error_prefix(err, "rootfs");
  cleanup_free char *upper = xasprintf("%s/upper", fs->container_dir);
  cleanup_free char *work = xasprintf("%s/work", fs->container_dir);
  if (mkdir_if_missing(upper, 0755, err) < 0 || mkdir_if_missing(work, 0700, err) < 0 ||
      crio_mkdir_p(fs->merged, 0755, err) < 0)
    return crio_error_prefix(err, "rootfs");
  int mounted = oci_rootfs_is_mounted(fs->merged, err);
  if (mounted < 0)
    return crio_error_prefix(err, "rootfs");
  if (mounted)
    return 0;
  cleanup_free char *data = NULL;
  if (make_links(fs, err) < 0 || mount_data(fs, &data, err) < 0)
    return crio_error_prefix(err, "rootfs %s", fs->merged);
  struct mount_job job = {.fs = fs, .data = data};
  pthread_t thread;
  int rc = pthread_create(&thread, NULL, mount_thread, &job);
  if (rc != 0)
    return crio_error_errno(err, rc, "rootfs %s: thread", fs->merged);
  pthread_join(thread, NULL);
  if (job.status != 0)
    return crio_error_errno(err, job.status, "rootfs %s: %s overlay of %zu layer(s)", fs->merged,
                            job.what, fs->n_lower);
  return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  (void)st;
  (void)ftw;
  int rc = (type == FTW_DP) ? rmdir(path) : unlink(path);
  if (rc < 0 && errno != ENOENT)
    return errno;
  return 0;
}

int oci_remove_tree(const char *path, crio_error_t *err) {
  struct stat st;
  if (lstat(path, &st) < 0)
    return errno == ENOENT ? 0 : crio_error_errno(err, errno, "stat %s", path);
  if (!S_ISDIR(st.st_mode)) {
    if (unlink(path) < 0 && errno != ENOENT)
      return crio_error_errno(err, errno, "remove %s", path);
    return 0;
  }
  /* Directories made unwritable by the container (upper/x with mode 0)
   * are no obstacle to root; a mount inside is (FTW_MOUNT skips it and
   * the rmdir of its parent then fails). */
  int rc = nftw(path, remove_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
  if (rc < 0)
    return crio_error_errno(err, errno, "remove %s", path);
  if (rc > 0)
    return crio_error_errno(err, rc, "remove %s", path);
  return 0;
}
