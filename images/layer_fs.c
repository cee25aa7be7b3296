/* Filesystem primitives of the layer store: lexical
 * cleaning of tar names, directory resolution confined to a layer root,
 * and tree walks (removal, usage) that never follow symlinks and hold a
 * bounded number of fds however deep a hostile layer nests. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/syscalls.h"
#include "images/layer_internal.h"

int layer_clean_path(const char *name, char **out, crio_error_t *err) {
  size_t n = strlen(name), len = 0;
  cleanup_free char *res = xmalloc(n + 1);
  const char *p = name;
  for (;;) {
    while (*p == '/')
      p++;
    const char *start = p;
    while (*p != '\0' && *p != '/')
      p++;
    size_t clen = (size_t)(p - start);
    if (clen == 0)
      break;
    if (clen == 1 && start[0] == '.')
      continue;
    if (clen == 2 && start[0] == '.' && start[1] == '.') {
      if (len == 0)
        return crio_error(err, EINVAL, "\"%s\" climbs out of the layer root", name);
      while (len > 0 && res[len - 1] != '/')
        len--;
      if (len > 0)
        len--;
      continue;
    }
    if (len > 0)
      res[len++] = '/';
    memcpy(res + len, start, clen);
    len += clen;
  }
  res[len] = '\0';
  *out = steal_pointer(&res);
  return 0;
}

#define DIR_OPEN_FLAGS (O_RDONLY | O_DIRECTORY | O_CLOEXEC)
#define IN_ROOT_RESOLVE (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)

/* Makes component `name` in parentfd (if missing) and opens it without
 * following a symlink there. */
static int mkdir_open(int parentfd, const char *name, const char *rel, crio_error_t *err) {
  bool made = mkdirat(parentfd, name, 0755) == 0;
  if (!made && errno != EEXIST)
    return crio_error_errno(err, errno, "create directory %s", rel);
  cleanup_close int fd = openat(parentfd, name, DIR_OPEN_FLAGS | O_NOFOLLOW);
  if (fd < 0)
    return crio_error_errno(err, errno, "open directory %s", rel);
  /* 0755 whatever the daemon's umask: containers' users traverse it. */
  if (made && fchmod(fd, 0755) < 0)
    return crio_error_errno(err, errno, "chmod directory %s", rel);
  return steal_fd(&fd);
}

/* The walk used when some prefix of rel is missing: each prefix is
 * resolved from the root again (so symlinks stay confined), and a
 * missing one is made inside the directory its parent resolved to. */
static int open_in_root_creating(int rootfd, const char *rel, bool nofollow_last,
                                 crio_error_t *err) {
  cleanup_free char *prefix = xstrdup(rel);
  cleanup_close int cur = openat(rootfd, ".", DIR_OPEN_FLAGS);
  if (cur < 0)
    return crio_error_errno(err, errno, "open layer root");
  size_t end = 0, len = strlen(rel);
  while (end < len) {
    size_t start = end;
    while (end < len && rel[end] != '/')
      end++;
    bool last = end == len;
    prefix[end] = '\0';
    int fd = crio_openat2(rootfd, prefix, DIR_OPEN_FLAGS | (last && nofollow_last ? O_NOFOLLOW : 0),
                          IN_ROOT_RESOLVE);
    if (fd < 0 && errno == ENOENT)
      fd = mkdir_open(cur, prefix + start, prefix, err);
    else if (fd < 0)
      return crio_error_errno(err, errno, "open directory %s", prefix);
    if (fd < 0)
      return -1;
    close(cur);
    cur = fd;
    prefix[end] = '/';
    end++;
  }
  return steal_fd(&cur);
}

/* Without openat2 there is no kernel-confined resolution: walk component
 * by component with O_NOFOLLOW and refuse any symlink on the way. */
static int open_walking(int rootfd, const char *rel, bool create, crio_error_t *err) {
  cleanup_free char *copy = xstrdup(rel);
  cleanup_close int cur = openat(rootfd, ".", DIR_OPEN_FLAGS);
  if (cur < 0)
    return crio_error_errno(err, errno, "open layer root");
  char *save = NULL;
  for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
    int fd = openat(cur, c, DIR_OPEN_FLAGS | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT && create)
      fd = mkdir_open(cur, c, rel, err);
    else if (fd < 0 && (errno == ELOOP || errno == ENOTDIR))
      return crio_error(err, EINVAL,
                        "open directory %s: component \"%s\" is a symlink or "
                        "not a directory (refused without openat2)",
                        rel, c);
    else if (fd < 0)
      return crio_error_errno(err, errno, "open directory %s", rel);
    if (fd < 0)
      return -1;
    close(cur);
    cur = fd;
  }
  return steal_fd(&cur);
}

int layer_open_dir_in_root(int rootfd, const char *rel, bool create, bool nofollow_last,
                           bool allow_openat2, crio_error_t *err) {
  if (rel[0] == '\0') {
    int fd = openat(rootfd, ".", DIR_OPEN_FLAGS);
    if (fd < 0)
      return crio_error_errno(err, errno, "open layer root");
    return fd;
  }
  if (allow_openat2) {
    int fd = crio_openat2(rootfd, rel, DIR_OPEN_FLAGS | (nofollow_last ? O_NOFOLLOW : 0),
                          IN_ROOT_RESOLVE);
    if (fd >= 0)
      return fd;
    if (errno == ENOENT && create)
      return open_in_root_creating(rootfd, rel, nofollow_last, err);
    if (errno != ENOSYS)
      return crio_error_errno(err, errno, "open directory %s", rel);
  }
  return open_walking(rootfd, rel, create, err);
}

int layer_setxattr_opath(int opath_fd, const char *name, const void *value, size_t size) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", opath_fd);
  return setxattr(path, name, value, size, 0);
}

/* ---- tree walks ------------------------------------------------------------
 * Depth first, one DIR per level, but only the deepest WALK_OPEN_LEVELS
 * levels keep theirs open: a layer may nest a couple of thousand
 * directories inside PATH_MAX, more than a process's fd limit.  An evicted
 * level is reopened through ".." of its child on the way back up (the
 * tree is ours and still, so ".." is where we came from). */
#define WALK_OPEN_LEVELS 32

struct walk_ops {
  /* -1 error, 0 done with this entry, 1 descend into it (a directory). */
  int (*visit)(int parentfd, const char *name, unsigned char d_type, void *opaque,
               crio_error_t *err);
  /* After a directory's entries. */
  int (*leave)(int parentfd, const char *name, void *opaque, crio_error_t *err);
  /* Reopened levels restart from their first entry (removal: what was
   * removed is gone) instead of seeking back to where they were. */
  bool rescan_on_reopen;
};

struct walk_level {
  DIR *dir;
  char *name; /* in the parent level */
  long pos;   /* telldir() after the entry being descended into */
};

struct walk_stack {
  struct walk_level *lv;
  size_t cap;
};

static void walk_stack_release(struct walk_stack *st) {
  for (size_t i = 0; i < st->cap; i++) {
    if (st->lv[i].dir)
      closedir(st->lv[i].dir);
    free(st->lv[i].name);
  }
  free(st->lv);
}

static DIR *open_dir_stream(int fd) {
  DIR *d = fdopendir(fd);
  if (d == NULL)
    close(fd);
  return d;
}

/* Goes back up from lv[depth] (finished) to its parent, reopening the
 * parent if it was evicted. */
static int walk_ascend(struct walk_level *lv, size_t depth, const struct walk_ops *ops,
                       void *opaque, crio_error_t *err) {
  struct walk_level *up = &lv[depth - 1], *cur = &lv[depth];
  if (up->dir == NULL) {
    int pfd = openat(dirfd(cur->dir), "..", DIR_OPEN_FLAGS);
    if (pfd < 0 || (up->dir = open_dir_stream(pfd)) == NULL)
      return crio_error_errno(err, errno, "reopen directory %s", up->name);
    if (!ops->rescan_on_reopen)
      seekdir(up->dir, up->pos);
  }
  closedir(cur->dir);
  cur->dir = NULL;
  if (ops->leave && ops->leave(dirfd(up->dir), cur->name, opaque, err) < 0)
    return -1;
  free(cur->name);
  cur->name = NULL;
  return 0;
}

static int walk_at(int topfd, const char *name, const struct walk_ops *ops, void *opaque,
                   crio_error_t *err) {
  int r = ops->visit(topfd, name, DT_UNKNOWN, opaque, err);
  if (r <= 0)
    return r;
  __attribute__((cleanup(walk_stack_release))) struct walk_stack st = {
      .lv = xcalloc(16, sizeof(struct walk_level)), .cap = 16};
  size_t depth = 0;
  int fd = openat(topfd, name, DIR_OPEN_FLAGS | O_NOFOLLOW);
  st.lv[0].name = xstrdup(name);
  if (fd < 0 || (st.lv[0].dir = open_dir_stream(fd)) == NULL)
    return crio_error_errno(err, errno, "open directory %s", name);
  for (;;) {
    DIR *d = st.lv[depth].dir;
    errno = 0;
    struct dirent *de = readdir(d);
    if (de == NULL && errno != 0)
      return crio_error_errno(err, errno, "read directory %s", st.lv[depth].name);
    if (de == NULL && depth == 0) {
      closedir(d);
      st.lv[0].dir = NULL;
      return ops->leave ? ops->leave(topfd, name, opaque, err) : 0;
    }
    if (de == NULL) {
      if (walk_ascend(st.lv, depth, ops, opaque, err) < 0)
        return -1;
      depth--;
      continue;
    }
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    r = ops->visit(dirfd(d), de->d_name, de->d_type, opaque, err);
    if (r < 0)
      return -1;
    if (r == 0)
      continue;
    int cfd = openat(dirfd(d), de->d_name, DIR_OPEN_FLAGS | O_NOFOLLOW);
    if (cfd < 0)
      return crio_error_errno(err, errno, "open directory %s", de->d_name);
    st.lv[depth].pos = telldir(d);
    if (depth + 1 == st.cap) {
      st.lv = xrealloc(st.lv, 2 * st.cap * sizeof *st.lv);
      memset(st.lv + st.cap, 0, st.cap * sizeof *st.lv);
      st.cap *= 2;
    }
    depth++;
    st.lv[depth].name = xstrdup(de->d_name);
    if ((st.lv[depth].dir = open_dir_stream(cfd)) == NULL)
      return crio_error_errno(err, errno, "open directory %s", st.lv[depth].name);
    if (depth >= WALK_OPEN_LEVELS && st.lv[depth - WALK_OPEN_LEVELS].dir) {
      closedir(st.lv[depth - WALK_OPEN_LEVELS].dir);
      st.lv[depth - WALK_OPEN_LEVELS].dir = NULL;
    }
  }
}

/* ---- removal ------------------------------------------------------------ */
static int rm_visit(int parentfd, const char *name, unsigned char d_type, void *opaque,
                    crio_error_t *err) {
  if (d_type != DT_DIR) {
    if (unlinkat(parentfd, name, 0) == 0 || errno == ENOENT)
      return 0;
    /* Linux says EISDIR for a directory; POSIX allows EPERM. */
    if (errno != EISDIR && errno != EPERM)
      return crio_error_errno(err, errno, "remove %s", name);
  }
  struct stat st;
  if (fstatat(parentfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? 0 : crio_error_errno(err, errno, "stat %s", name);
  if (!S_ISDIR(st.st_mode))
    return crio_error(err, EPERM, "remove %s: not permitted", name);
  return 1;
}

static int rm_leave(int parentfd, const char *name, void *opaque, crio_error_t *err) {
  if (unlinkat(parentfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
    return crio_error_errno(err, errno, "remove directory %s", name);
  return 0;
}

int layer_rm_rf_at(int dirfd, const char *name, crio_error_t *err) {
  static const struct walk_ops ops = {
      .visit = rm_visit, .leave = rm_leave, .rescan_on_reopen = true};
  return walk_at(dirfd, name, &ops, NULL, err);
}

/* ---- usage -------------------------------------------------------------- */
struct usage {
  uint64_t bytes, inodes;
  struct linked {
    dev_t dev;
    ino_t ino;
    uint64_t bytes;
  } * linked;
  size_t n_linked, cap_linked;
};

static int usage_visit(int parentfd, const char *name, unsigned char d_type, void *opaque,
                       crio_error_t *err) {
  struct usage *u = opaque;
  struct stat st;
  if (fstatat(parentfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? 0 : crio_error_errno(err, errno, "stat %s", name);
  uint64_t bytes = (uint64_t)st.st_blocks * 512;
  if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
    if (u->n_linked == u->cap_linked) {
      u->cap_linked = u->cap_linked ? 2 * u->cap_linked : 64;
      u->linked = xrealloc(u->linked, u->cap_linked * sizeof *u->linked);
    }
    u->linked[u->n_linked++] = (struct linked){.dev = st.st_dev, .ino = st.st_ino, .bytes = bytes};
  } else {
    u->bytes += bytes;
    u->inodes++;
  }
  return S_ISDIR(st.st_mode) ? 1 : 0;
}

static int linked_cmp(const void *a, const void *b) {
  const struct linked *x = a, *y = b;
  if (x->dev != y->dev)
    return x->dev < y->dev ? -1 : 1;
  if (x->ino != y->ino)
    return x->ino < y->ino ? -1 : 1;
  return 0;
}

int layer_usage_at(int dirfd, const char *name, uint64_t *bytes, uint64_t *inodes,
                   crio_error_t *err) {
  static const struct walk_ops ops = {.visit = usage_visit};
  struct usage u = {0};
  int r = walk_at(dirfd, name, &ops, &u, err);
  if (r == 0) {
    if (u.n_linked > 0)
      qsort(u.linked, u.n_linked, sizeof *u.linked, linked_cmp);
    for (size_t i = 0; i < u.n_linked; i++) {
      if (i > 0 && linked_cmp(&u.linked[i - 1], &u.linked[i]) == 0)
        continue;
      u.bytes += u.linked[i].bytes;
      u.inodes++;
    }
    *bytes = u.bytes;
    *inodes = u.inodes;
  }
  free(u.linked);
  return r < 0 ? -1 : 0;
}
