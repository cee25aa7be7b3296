/* Paths inside a container's root filesystem, resolved as the container
 * will resolve them: an absolute symlink means the rootfs's root, ".." stops
 * at it.  The image's files are untrusted, so a link must never lead the
 * daemon to a file of the host (an /etc/passwd -> /etc/shadow, or
 * ../../../../etc/shadow).  openat2(RESOLVE_IN_ROOT) does this in the
 * kernel; without it (kernels before 5.6, or a seccomp filter that refuses
 * it) the same walk is done here, one component at a time. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/syscalls.h"
#include "oci/spec_internal.h"

#define WALK_MAX_DEPTH 256
#define WALK_MAX_LINKS 40 /* the kernel's MAXSYMLINKS */

static int sys_openat2(int dirfd, const char *path, int flags) {
  return crio_openat2(dirfd, path, (uint64_t)(flags | O_CLOEXEC),
                      RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}

int spec_open_in_root(int rootfd, const char *path, int flags) {
  for (int attempt = 0; attempt < 16; attempt++) {
    int fd = sys_openat2(rootfd, path, flags);
    if (fd >= 0)
      return fd;
    /* EAGAIN: a concurrent rename made the kernel unsure the walk stayed
     * inside the root; trying again is what the man page asks. */
    if (errno == EAGAIN)
      continue;
    /* ENOSYS: kernel without openat2; EPERM: a seccomp filter that does
     * not know it (as old container profiles answer). */
    if (errno == ENOSYS || errno == EPERM)
      return spec_open_in_root_walk(rootfd, path, flags);
    return -1;
  }
  return spec_open_in_root_walk(rootfd, path, flags);
}

struct walk {
  int fds[WALK_MAX_DEPTH]; /* fds[0] is the root (not ours) */
  size_t depth;
};

static int walk_cur(const struct walk *w) {
  return w->fds[w->depth];
}

static void walk_pop_to(struct walk *w, size_t depth) {
  while (w->depth > depth)
    close(w->fds[w->depth--]);
}

/* create: make missing directories on the way (mode), as mkdir -p would
 * inside the container, a dangling link's target included. */
static int walk_path(int rootfd, const char *path, int flags, bool create, mode_t mode) {
  struct walk w = {.fds = {rootfd}, .depth = 0};
  char *todo = xstrdup(path);
  size_t pos = 0;
  int links = 0, result = -1, saved = 0;

  for (;;) {
    while (todo[pos] == '/')
      pos++;
    if (todo[pos] == '\0') {
      /* The path named a directory already reached ("/", "a/.."). */
      result = openat(walk_cur(&w), ".", flags | O_CLOEXEC);
      saved = errno;
      break;
    }
    size_t end = pos;
    while (todo[end] != '\0' && todo[end] != '/')
      end++;
    char comp[NAME_MAX + 1];
    if (end - pos > NAME_MAX) {
      saved = ENAMETOOLONG;
      break;
    }
    memcpy(comp, todo + pos, end - pos);
    comp[end - pos] = '\0';
    size_t after = end;
    while (todo[after] == '/')
      after++;
    bool last = todo[after] == '\0';
    bool trailing_slash = last && after > end;
    pos = end;

    if (strcmp(comp, ".") == 0)
      continue;
    if (strcmp(comp, "..") == 0) {
      if (w.depth > 0)
        walk_pop_to(&w, w.depth - 1);
      continue;
    }
    int fd = openat(walk_cur(&w), comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
      if (mkdirat(walk_cur(&w), comp, mode) < 0 && errno != EEXIST) {
        saved = errno;
        break;
      }
      fd = openat(walk_cur(&w), comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) {
      saved = errno;
      break;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
      saved = errno;
      close(fd);
      break;
    }
    if (S_ISLNK(st.st_mode)) {
      char target[PATH_MAX];
      ssize_t n = readlinkat(fd, "", target, sizeof(target) - 1);
      saved = errno;
      close(fd);
      if (n < 0)
        break;
      if (++links > WALK_MAX_LINKS) {
        saved = ELOOP;
        break;
      }
      target[n] = '\0';
      /* Continue with the link's target followed by what was left. */
      char *next = todo[pos] ? xasprintf("%s%s", target, todo + pos) : xstrdup(target);
      free(todo);
      todo = next;
      pos = 0;
      if (target[0] == '/')
        walk_pop_to(&w, 0);
      continue;
    }
    if (last) {
      close(fd);
      /* O_NOFOLLOW: if the entry became a link since it was checked, fail
       * (ELOOP) rather than follow it. */
      result = openat(walk_cur(&w), comp,
                      flags | O_NOFOLLOW | O_CLOEXEC | (trailing_slash ? O_DIRECTORY : 0));
      saved = errno;
      break;
    }
    if (!S_ISDIR(st.st_mode)) {
      close(fd);
      saved = ENOTDIR;
      break;
    }
    if (w.depth + 1 >= WALK_MAX_DEPTH) {
      close(fd);
      saved = ENAMETOOLONG;
      break;
    }
    w.fds[++w.depth] = fd;
  }
  walk_pop_to(&w, 0);
  free(todo);
  if (result < 0)
    errno = saved;
  return result;
}

int spec_open_in_root_walk(int rootfd, const char *path, int flags) {
  return walk_path(rootfd, path, flags, false, 0);
}

int spec_mkdir_in_root(int rootfd, const char *path, mode_t mode, crio_error_t *err) {
  cleanup_free char *clean = spec_clean_abs_path(path);
  if (clean == NULL)
    return crio_error(err, EINVAL, "%s: not a clean absolute path", path);
  /* The walk, not openat2: it can create what is missing as it goes. */
  int fd = walk_path(rootfd, clean, O_PATH | O_DIRECTORY, true, mode);
  if (fd < 0)
    return crio_error_errno(err, errno, "mkdir %s in the rootfs", clean);
  close(fd);
  return 0;
}
