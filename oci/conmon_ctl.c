/* conmon's control FIFO, <bundle>/ctl: lines "<type> <height> <width>\n"
 * with type 1 = resize the terminal, 2 = reopen the log files (conmon's
 * config.h and ctrl.c).  conmon keeps a writer of its own open, so the
 * FIFO never reports EOF to it; while no conmon reads it, opening it for
 * writing without blocking fails with ENXIO. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/runtime_internal.h"

#define CTL_RESIZE 1
#define CTL_REOPEN_LOGS 2

static int ctl_send(const char *bundle, int type, unsigned a, unsigned b, crio_error_t *err) {
  cleanup_free char *path = xasprintf("%s/" OCI_CONMON_CTL, bundle);
  cleanup_close int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENXIO || errno == ENOENT)
      return crio_error(err, EBUSY, "conmon is not running (no reader on %s)", path);
    return crio_error_errno(err, errno, "open %s", path);
  }
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode))
    return crio_error(err, EINVAL, "%s is not a FIFO", path);
  char line[64];
  int len = snprintf(line, sizeof(line), "%d %u %u\n", type, a, b);
  /* Shorter than PIPE_BUF: written whole or not at all. */
  ssize_t n;
  while ((n = write(fd, line, (size_t)len)) < 0 && errno == EINTR)
    ;
  if (n != len)
    return crio_error_errno(err, n < 0 ? errno : EIO, "write %s", path);
  return 0;
}

int oci_conmon_resize(const char *bundle, unsigned height, unsigned width, crio_error_t *err) {
  if (height > 65535 || width > 65535)
    return crio_error(err, EINVAL, "terminal size %ux%u", height, width);
  return ctl_send(bundle, CTL_RESIZE, height, width, err);
}

/* The file at path is not the one identified by (dev, ino) (or there was
 * none before: have_before false). */
static bool replaced(const char *path, bool have_before, dev_t dev, ino_t ino) {
  struct stat st;
  if (stat(path, &st) < 0)
    return false;
  return !have_before || st.st_dev != dev || st.st_ino != ino;
}

int oci_conmon_reopen_log(const char *bundle, const char *log_path, unsigned timeout_ms,
                          crio_error_t *err) {
  if (log_path == NULL || log_path[0] != '/')
    return crio_error(err, EINVAL, "reopen log: log path must be absolute");
  struct stat before;
  bool have_before = stat(log_path, &before) == 0;
  /* conmon opens <log>.tmp and renames it over <log>: the watch on the
   * directory is only a wake-up; the test is "a different file is at
   * log_path than before" (the kubelet has usually renamed the old one
   * away already, then anything there is new). */
  cleanup_free char *dir_copy = xstrdup(log_path);
  const char *dir = dirname(dir_copy);
  cleanup_close int ino_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (ino_fd < 0)
    return crio_error_errno(err, errno, "reopen log: inotify_init");
  if (inotify_add_watch(ino_fd, dir, IN_MOVED_TO | IN_CREATE) < 0)
    return crio_error_errno(err, errno, "reopen log: watch %s", dir);
  if (ctl_send(bundle, CTL_REOPEN_LOGS, 0, 0, err) < 0)
    return crio_error_prefix(err, "reopen log %s", log_path);
  int64_t deadline = crio_monotonic_ns() + (int64_t)timeout_ms * 1000000;
  while (!replaced(log_path, have_before, before.st_dev, before.st_ino)) {
    int64_t left = (deadline - crio_monotonic_ns()) / 1000000;
    if (left <= 0)
      return crio_error(err, ETIMEDOUT, "reopen log %s: conmon did not reopen it within %u ms",
                        log_path, timeout_ms);
    struct pollfd pfd = {ino_fd, POLLIN, 0};
    /* Capped wait: a rename can land between the check and the poll. */
    if (poll(&pfd, 1, left > 100 ? 100 : (int)left) > 0) {
      char buf[4096];
      while (read(ino_fd, buf, sizeof(buf)) > 0)
        ;
    }
  }
  return 0;
}
