/* Extraction of a layer tar into its diff/ directory.  Every entry is
 * created relative to the directory fd of its parent, which is resolved
 * inside the layer root (layer_open_dir_in_root); the entry's own name is
 * never followed: whatever the layer put there before is replaced.  Paths
 * are cleaned lexically first and ".." climbing above the root is refused.
 * Directory times are set last, once nothing more is created inside. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/syscalls.h"
#include "images/layer_internal.h"
#include "images/pull_libs.h"

struct dir_times {
  char *rel;
  struct timespec times[2];
};

struct extractor {
  struct layer_tar *t;
  int rootfd;
  bool allow_openat2;
  struct dir_times *dirs;
  size_t n_dirs, cap_dirs;
};

static void extractor_release(struct extractor *x) {
  for (size_t i = 0; i < x->n_dirs; i++)
    free(x->dirs[i].rel);
  free(x->dirs);
}

/* Linux names are bytes.  libarchive converts names to the locale's
 * charset and fails on UTF-8 pax names under the C locale; the UTF-8 form
 * is then the bytes we want. */
static const char *name_of(const char *mbs, const char *utf8) {
  return mbs ? mbs : utf8;
}

static void entry_times(struct archive_entry *e, struct timespec times[2]) {
  if (img_archive_entry_mtime_is_set(e)) {
    times[1].tv_sec = img_archive_entry_mtime(e);
    times[1].tv_nsec = img_archive_entry_mtime_nsec(e);
  } else {
    times[1].tv_sec = 0;
    times[1].tv_nsec = UTIME_OMIT;
  }
  if (img_archive_entry_atime_is_set(e)) {
    times[0].tv_sec = img_archive_entry_atime(e);
    times[0].tv_nsec = img_archive_entry_atime_nsec(e);
  } else {
    times[0] = times[1];
  }
}

static int entry_owner(struct archive_entry *e, uid_t *uid, gid_t *gid, crio_error_t *err) {
  la_int64_t u = img_archive_entry_uid(e), g = img_archive_entry_gid(e);
  if (u < 0 || u >= (la_int64_t)UINT32_MAX || g < 0 || g >= (la_int64_t)UINT32_MAX)
    return crio_error(err, EINVAL, "owner %lld:%lld out of range", (long long)u, (long long)g);
  *uid = (uid_t)u;
  *gid = (gid_t)g;
  return 0;
}

/* xattrs: security.capability must land (a binary without its file
 * capabilities breaks); the others (user.*, trusted.*, ACLs as
 * system.posix_acl_*) where the filesystem permits, with a warning
 * otherwise.  trusted.overlay.* is overlayfs' own metadata
 * and security.selinux the runtime's business: a layer does not set them. */
static int apply_xattrs(struct archive_entry *e, int fd, bool opath, const char *rel,
                        crio_error_t *err) {
  const char *name;
  const void *value;
  size_t size;
  img_archive_entry_xattr_reset(e);
  while (img_archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
    if (name == NULL)
      continue;
    if (strncmp(name, "trusted.overlay.", 16) == 0 || strcmp(name, "security.selinux") == 0) {
      log_warning("layer entry /%s: xattr %s ignored", rel, name);
      continue;
    }
    int r =
        opath ? layer_setxattr_opath(fd, name, value, size) : fsetxattr(fd, name, value, size, 0);
    if (r == 0)
      continue;
    if (strcmp(name, "security.capability") == 0)
      return crio_error_errno(err, errno, "set xattr %s", name);
    log_warning("layer entry /%s: xattr %s not set: %s", rel, name, strerror(errno));
  }
  return 0;
}

/* Owner, then mode (chown clears setuid/setgid), then xattrs (chown
 * clears security.capability), on an fd open for the entry. */
static int apply_fd_metadata(struct archive_entry *e, int fd, const char *rel, crio_error_t *err) {
  uid_t uid = 0; /* entry_owner sets both or fails; -O3 cannot tell */
  gid_t gid = 0;
  if (entry_owner(e, &uid, &gid, err) < 0)
    return -1;
  if (fchown(fd, uid, gid) < 0)
    return crio_error_errno(err, errno, "chown");
  if (fchmod(fd, img_archive_entry_perm(e) & 07777) < 0)
    return crio_error_errno(err, errno, "chmod");
  return apply_xattrs(e, fd, false, rel, err);
}

/* The same for entries that cannot be opened for writing (symlinks,
 * devices, fifos): by name in parentfd, never following. */
static int apply_name_metadata(struct archive_entry *e, int parentfd, const char *base,
                               const char *rel, bool chmod, crio_error_t *err) {
  uid_t uid = 0;
  gid_t gid = 0;
  struct timespec times[2];
  if (entry_owner(e, &uid, &gid, err) < 0)
    return -1;
  if (fchownat(parentfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
    return crio_error_errno(err, errno, "chown");
  /* Not a symlink (we just made the node), so following is harmless. */
  if (chmod && fchmodat(parentfd, base, img_archive_entry_perm(e) & 07777, 0) < 0)
    return crio_error_errno(err, errno, "chmod");
  img_archive_entry_xattr_reset(e);
  if (img_archive_entry_xattr_count(e) > 0) {
    cleanup_close int fd = openat(parentfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
      return crio_error_errno(err, errno, "open");
    if (apply_xattrs(e, fd, true, rel, err) < 0)
      return -1;
  }
  entry_times(e, times);
  if (utimensat(parentfd, base, times, AT_SYMLINK_NOFOLLOW) < 0)
    return crio_error_errno(err, errno, "set times");
  return 0;
}

static int write_all_at(int fd, const char *buf, size_t size, off_t off) {
  while (size > 0) {
    ssize_t n = pwrite(fd, buf, size, off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -1;
    buf += n;
    size -= (size_t)n;
    off += n;
  }
  return 0;
}

static int extract_file(struct extractor *x, struct archive_entry *e, int parentfd,
                        const char *base, const char *rel, crio_error_t *err) {
  la_int64_t size = img_archive_entry_size(e);
  struct timespec times[2];
  if (size < 0 || (uint64_t)size > x->t->limits.max_uncompressed_bytes)
    return crio_error(err, EINVAL, "size %lld beyond the layer size limit", (long long)size);
  if (layer_replace_existing(parentfd, base, false, err) < 0)
    return -1;
  cleanup_close int fd =
      openat(parentfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return crio_error_errno(err, errno, "create");
  for (;;) {
    const void *buf;
    size_t n;
    la_int64_t off;
    int r = img_archive_read_data_block(x->t->tar, &buf, &n, &off);
    if (r == ARCHIVE_EOF)
      break;
    if (r != ARCHIVE_OK)
      return layer_tar_fail(x->t, "read data", err);
    /* Sparse entries come as blocks at offsets; the holes stay holes. */
    if (off < 0 || off + (la_int64_t)n > size)
      return crio_error(err, EINVAL, "data block beyond the entry's size");
    if (write_all_at(fd, buf, n, (off_t)off) < 0)
      return crio_error_errno(err, errno, "write");
  }
  if (ftruncate(fd, (off_t)size) < 0)
    return crio_error_errno(err, errno, "truncate");
  if (apply_fd_metadata(e, fd, rel, err) < 0)
    return -1;
  entry_times(e, times);
  if (futimens(fd, times) < 0)
    return crio_error_errno(err, errno, "set times");
  return 0;
}

static int extract_dir(struct extractor *x, struct archive_entry *e, int parentfd, const char *base,
                       const char *rel, crio_error_t *err) {
  cleanup_close int fd = -1;
  if (rel[0] == '\0') {
    fd = openat(x->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  } else {
    if (layer_replace_existing(parentfd, base, true, err) < 0)
      return -1;
    if (mkdirat(parentfd, base, 0700) < 0 && errno != EEXIST)
      return crio_error_errno(err, errno, "mkdir");
    fd = openat(parentfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  }
  if (fd < 0)
    return crio_error_errno(err, errno, "open directory");
  if (apply_fd_metadata(e, fd, rel, err) < 0)
    return -1;
  if (x->n_dirs == x->cap_dirs) {
    x->cap_dirs = x->cap_dirs ? 2 * x->cap_dirs : 64;
    x->dirs = xrealloc(x->dirs, x->cap_dirs * sizeof *x->dirs);
  }
  struct dir_times *d = &x->dirs[x->n_dirs++];
  d->rel = xstrdup(rel);
  entry_times(e, d->times);
  return 0;
}

static int extract_symlink(struct archive_entry *e, int parentfd, const char *base, const char *rel,
                           crio_error_t *err) {
  /* The target is stored as written: it is only ever resolved inside a
   * root (this one with RESOLVE_IN_ROOT, a container's at run time). */
  const char *target = name_of(img_archive_entry_symlink(e), img_archive_entry_symlink_utf8(e));
  if (target == NULL || target[0] == '\0')
    return crio_error(err, EINVAL, "symlink without a target");
  if (layer_replace_existing(parentfd, base, false, err) < 0)
    return -1;
  if (symlinkat(target, parentfd, base) < 0)
    return crio_error_errno(err, errno, "symlink");
  return apply_name_metadata(e, parentfd, base, rel, false, err);
}

static int extract_node(struct archive_entry *e, int parentfd, const char *base, const char *rel,
                        crio_error_t *err) {
  mode_t type = img_archive_entry_filetype(e);
  if (layer_replace_existing(parentfd, base, false, err) < 0)
    return -1;
  if (mknodat(parentfd, base, type | 0600, type == AE_IFIFO ? 0 : img_archive_entry_rdev(e)) < 0)
    return crio_error_errno(err, errno, "mknod");
  return apply_name_metadata(e, parentfd, base, rel, true, err);
}

/* A hard link's target must be a non-directory this layer already holds,
 * found inside the root; the link is made to the target itself, never
 * through it (linkat without AT_SYMLINK_FOLLOW), so a symlink target is
 * linked as the symlink. */
static int extract_hardlink(struct extractor *x, const char *target_name, int parentfd,
                            const char *base, const char *rel, crio_error_t *err) {
  cleanup_free char *trel = NULL;
  struct stat tst, st;
  if (layer_clean_path(target_name, &trel, err) < 0)
    return crio_error_prefix(err, "hard link target");
  if (trel[0] == '\0' || strcmp(trel, rel) == 0)
    return crio_error(err, EINVAL, "hard link to \"%s\"", target_name);
  char *slash = strrchr(trel, '/');
  const char *tbase = slash ? slash + 1 : trel;
  if (slash)
    *slash = '\0';
  cleanup_close int tparent =
      layer_open_dir_in_root(x->rootfd, slash ? trel : "", false, false, x->allow_openat2, err);
  if (tparent < 0)
    return crio_error_prefix(err, "hard link target %s", target_name);
  if (fstatat(tparent, tbase, &tst, AT_SYMLINK_NOFOLLOW) < 0)
    return crio_error_errno(err, errno, "hard link target %s", target_name);
  if (S_ISDIR(tst.st_mode))
    return crio_error(err, EINVAL, "hard link target %s is a directory", target_name);
  if (fstatat(parentfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == tst.st_dev &&
      st.st_ino == tst.st_ino)
    return 0;
  if (layer_replace_existing(parentfd, base, false, err) < 0)
    return -1;
  if (linkat(tparent, tbase, parentfd, base, 0) < 0)
    return crio_error_errno(err, errno, "link to %s", target_name);
  return 0;
}

static int extract_whiteout(struct extractor *x, enum layer_whiteout_kind kind,
                            const char *parent_rel, const char *target, crio_error_t *err) {
  if (kind == LAYER_WHITEOUT_META)
    return 0;
  cleanup_close int dirfd = layer_open_dir_in_root(
      x->rootfd, parent_rel, true, kind == LAYER_WHITEOUT_OPAQUE, x->allow_openat2, err);
  if (dirfd < 0)
    return -1;
  if (kind == LAYER_WHITEOUT_OPAQUE)
    return layer_whiteout_mark_opaque(dirfd, err);
  return layer_whiteout_create(dirfd, target, err);
}

static int extract_entry(struct extractor *x, struct archive_entry *e, const char *rel,
                         crio_error_t *err) {
  mode_t type = img_archive_entry_filetype(e);
  const char *hardlink = name_of(img_archive_entry_hardlink(e), img_archive_entry_hardlink_utf8(e));
  if (rel[0] == '\0') {
    if (type != AE_IFDIR || hardlink)
      return crio_error(err, EINVAL, "the layer root is not a directory");
    return extract_dir(x, e, -1, "", rel, err);
  }
  cleanup_free char *parent_rel = xstrdup(rel);
  char *slash = strrchr(parent_rel, '/');
  const char *base = slash ? rel + (slash - parent_rel) + 1 : rel;
  if (slash)
    *slash = '\0';
  else
    parent_rel[0] = '\0';
  const char *target = NULL;
  enum layer_whiteout_kind kind = layer_whiteout_classify(base, &target);
  if (kind != LAYER_NOT_WHITEOUT)
    return extract_whiteout(x, kind, parent_rel, target, err);
  cleanup_close int parentfd =
      layer_open_dir_in_root(x->rootfd, parent_rel, true, false, x->allow_openat2, err);
  if (parentfd < 0)
    return -1;
  if (hardlink)
    return extract_hardlink(x, hardlink, parentfd, base, rel, err);
  switch (type) {
  case AE_IFREG:
    return extract_file(x, e, parentfd, base, rel, err);
  case AE_IFDIR:
    return extract_dir(x, e, parentfd, base, rel, err);
  case AE_IFLNK:
    return extract_symlink(e, parentfd, base, rel, err);
  case AE_IFCHR:
  case AE_IFBLK:
  case AE_IFIFO:
    return extract_node(e, parentfd, base, rel, err);
  case AE_IFSOCK:
    /* A socket is only meaningful while its server runs; tar cannot
     * recreate one (GNU tar skips them too). */
    log_warning("layer entry /%s: socket skipped", rel);
    return 0;
  default:
    return crio_error(err, EINVAL, "unknown entry type 0%o", (unsigned)type);
  }
}

static void fix_dir_times(struct extractor *x) {
  for (size_t i = x->n_dirs; i-- > 0;) {
    cleanup_error crio_error_t err = NULL;
    cleanup_close int fd =
        layer_open_dir_in_root(x->rootfd, x->dirs[i].rel, false, true, x->allow_openat2, &err);
    /* Gone or replaced by a later entry: its times went with it. */
    if (fd >= 0)
      futimens(fd, x->dirs[i].times);
  }
}

int layer_extract(struct layer_tar *t, int rootfd, crio_error_t *err) {
  __attribute__((cleanup(extractor_release))) struct extractor x = {.t = t, .rootfd = rootfd};
  int probe = crio_openat2(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  x.allow_openat2 = probe >= 0 || errno != ENOSYS;
  if (probe >= 0)
    close(probe);
  if (!x.allow_openat2)
    log_warning("openat2 missing: layers with symlinked parent directories "
                "will be refused");
  for (;;) {
    struct archive_entry *e = NULL;
    int r = img_archive_read_next_header(t->tar, &e);
    if (r == ARCHIVE_EOF)
      break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
      return layer_tar_fail(t, "read layer tar", err);
    const char *name = name_of(img_archive_entry_pathname(e), img_archive_entry_pathname_utf8(e));
    if (name == NULL)
      return crio_error(err, EINVAL, "layer entry without a name");
    cleanup_free char *rel = NULL;
    if (layer_clean_path(name, &rel, err) < 0 || extract_entry(&x, e, rel, err) < 0)
      return crio_error_prefix(err, "layer entry %s", name);
  }
  fix_dir_times(&x);
  return 0;
}
