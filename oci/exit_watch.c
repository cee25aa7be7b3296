/* conmon's exit files become callbacks.  conmon writes <exit_dir>/<id>
 * with g_file_set_contents: a temporary "<id>.XXXXXX" in the same
 * directory, renamed over "<id>".  So the watch takes IN_MOVED_TO (and
 * IN_CLOSE_WRITE for writers that write in place) and ignores names that
 * are not container ids (the temporaries have a dot and six characters
 * after the id; ids here never have a dot in that place, see is_temp). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "oci/runtime_internal.h"

enum oci_exit_reason oci_exit_reason_of(const struct oci_exit_status *st) {
  if (st->oom_killed)
    return OCI_EXIT_OOM_KILLED;
  return st->exit_code == 0 ? OCI_EXIT_COMPLETED : OCI_EXIT_ERROR;
}

const char *oci_exit_reason_name(enum oci_exit_reason reason) {
  switch (reason) {
  case OCI_EXIT_COMPLETED:
    return "Completed";
  case OCI_EXIT_OOM_KILLED:
    return "OOMKilled";
  default:
    return "Error";
  }
}

/* glib's temporary: "<name>.XXXXXX" (six characters from [A-Za-z0-9]). */
static bool is_temp(const char *name) {
  const char *dot = strrchr(name, '.');
  return dot && strlen(dot + 1) == 6 && dot != name;
}

int oci_exit_file_read(const char *exit_dir, const char *id, const char *persist_dir,
                       struct oci_exit_status *out, crio_error_t *err) {
  if (oci_check_container_id(id, err) < 0)
    return -1;
  cleanup_free char *path = xasprintf("%s/%s", exit_dir, id);
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return crio_error_errno(err, errno, "exit file %s", path);
  struct stat st;
  if (fstat(fd, &st) < 0)
    return crio_error_errno(err, errno, "stat %s", path);
  char buf[32];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf) - 1)) < 0 && errno == EINTR)
    ;
  if (n < 0)
    return crio_error_errno(err, errno, "read %s", path);
  buf[n] = '\0';
  char *end = NULL;
  errno = 0;
  long code = strtol(buf, &end, 10);
  while (end && (*end == '\n' || *end == ' '))
    end++;
  if (n == 0 || errno != 0 || end == buf || *end != '\0' || code < -1 || code > 255)
    return crio_error(err, EINVAL, "exit file %s: not an exit code: \"%s\"", path, buf);
  out->id = id;
  out->exit_code = (int)code;
  out->finished_at_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
  out->oom_killed = false;
  if (persist_dir) {
    cleanup_free char *oom = xasprintf("%s/" OCI_CONMON_OOM, persist_dir);
    out->oom_killed = access(oom, F_OK) == 0;
  }
  return 0;
}

int oci_exit_file_wait(const char *exit_dir, const char *id, unsigned timeout_ms,
                       crio_error_t *err) {
  if (oci_check_container_id(id, err) < 0)
    return -1;
  cleanup_free char *path = xasprintf("%s/%s", exit_dir, id);
  int64_t deadline = crio_monotonic_ns() + (int64_t)timeout_ms * 1000000;
  /* conmon writes it within milliseconds of the exit: a short poll is
   * simpler than a watch and as prompt. */
  while (access(path, F_OK) < 0) {
    if (errno != ENOENT)
      return crio_error_errno(err, errno, "exit file %s", path);
    if (crio_monotonic_ns() >= deadline)
      return crio_error(err, ETIMEDOUT, "no exit file %s within %u ms", path, timeout_ms);
    nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
  }
  return 0;
}

int oci_exit_file_remove(const char *exit_dir, const char *id, crio_error_t *err) {
  if (oci_check_container_id(id, err) < 0)
    return -1;
  cleanup_free char *path = xasprintf("%s/%s", exit_dir, id);
  if (unlink(path) < 0 && errno != ENOENT)
    return crio_error_errno(err, errno, "remove exit file %s", path);
  return 0;
}

/* Reads and reports one exit file; a bad one is a warning, not a stop. */
static void report(const char *exit_dir, const char *persist_root, const char *name, oci_exit_fn fn,
                   void *arg) {
  if (name[0] == '.' || is_temp(name))
    return;
  crio_error_t e = NULL;
  if (oci_check_container_id(name, &e) < 0) {
    crio_error_warn(&e, "exit dir: ignoring a file");
    return;
  }
  cleanup_free char *persist = persist_root ? xasprintf("%s/%s", persist_root, name) : NULL;
  struct oci_exit_status st;
  if (oci_exit_file_read(exit_dir, name, persist, &st, &e) < 0) {
    if (crio_error_status(&e) == ENOENT)
      crio_error_release(&e); /* removed meanwhile */
    else
      crio_error_warn(&e, "exit dir");
    return;
  }
  fn(&st, arg);
}

int oci_exit_scan(const char *exit_dir, const char *persist_root, oci_exit_fn fn, void *arg,
                  crio_error_t *err) {
  cleanup_dir DIR *d = opendir(exit_dir);
  if (d == NULL)
    return crio_error_errno(err, errno, "scan exit dir %s", exit_dir);
  struct dirent *de;
  while ((errno = 0, de = readdir(d)) != NULL)
    if (de->d_type == DT_REG || de->d_type == DT_UNKNOWN)
      report(exit_dir, persist_root, de->d_name, fn, arg);
  if (errno != 0)
    return crio_error_errno(err, errno, "scan exit dir %s", exit_dir);
  return 0;
}

struct oci_exit_watch {
  char *exit_dir;
  char *persist_root;
  oci_exit_fn fn;
  void *arg;
  int ino_fd;
  int stop_fd; /* eventfd: written by oci_exit_watch_stop */
  pthread_t thread;
};

static void rescan(struct oci_exit_watch *w) {
  crio_error_t e = NULL;
  if (oci_exit_scan(w->exit_dir, w->persist_root, w->fn, w->arg, &e) < 0)
    crio_error_warn(&e, "exit watch");
}

/* Returns false when the watch is gone (the directory was removed). */
static bool handle_events(struct oci_exit_watch *w) {
  char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
  for (;;) {
    ssize_t n = read(w->ino_fd, buf, sizeof(buf));
    if (n <= 0)
      return true; /* EAGAIN: all read */
    for (char *p = buf; p < buf + n;) {
      const struct inotify_event *ev = (const struct inotify_event *)p;
      p += sizeof(*ev) + ev->len;
      if (ev->mask & IN_Q_OVERFLOW) {
        log_warning("exit watch on %s: inotify queue overflowed; rescanning", w->exit_dir);
        rescan(w);
      } else if (ev->mask & IN_IGNORED) {
        log_error("exit watch on %s: the directory is gone; no more exits are seen", w->exit_dir);
        return false;
      } else if (ev->len > 0 && !(ev->mask & IN_ISDIR)) {
        report(w->exit_dir, w->persist_root, ev->name, w->fn, w->arg);
      }
    }
  }
}

static void *watch_thread(void *arg) {
  struct oci_exit_watch *w = arg;
  /* The watch was added before this first scan: nothing falls between. */
  rescan(w);
  for (;;) {
    struct pollfd fds[2] = {{w->stop_fd, POLLIN, 0}, {w->ino_fd, POLLIN, 0}};
    int r = poll(fds, 2, -1);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      log_error("exit watch on %s: poll: %m", w->exit_dir);
      break;
    }
    if (fds[0].revents)
      break;
    if (fds[1].revents && !handle_events(w))
      break;
  }
  return NULL;
}

int oci_exit_watch_start(const char *exit_dir, const char *persist_root, oci_exit_fn fn, void *arg,
                         struct oci_exit_watch **out, crio_error_t *err) {
  if (crio_mkdir_p(exit_dir, 0700, err) < 0)
    return crio_error_prefix(err, "exit watch");
  struct oci_exit_watch *w = xzalloc(sizeof(*w));
  w->exit_dir = xstrdup(exit_dir);
  w->persist_root = persist_root ? xstrdup(persist_root) : NULL;
  w->fn = fn;
  w->arg = arg;
  w->stop_fd = -1;
  w->ino_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  int rc = 0;
  if (w->ino_fd < 0)
    rc = crio_error_errno(err, errno, "exit watch: inotify_init");
  else if (inotify_add_watch(w->ino_fd, exit_dir, IN_MOVED_TO | IN_CLOSE_WRITE | IN_ONLYDIR) < 0)
    rc = crio_error_errno(err, errno, "exit watch: watch %s", exit_dir);
  else if ((w->stop_fd = eventfd(0, EFD_CLOEXEC)) < 0)
    rc = crio_error_errno(err, errno, "exit watch: eventfd");
  else if ((errno = pthread_create(&w->thread, NULL, watch_thread, w)) != 0)
    rc = crio_error_errno(err, errno, "exit watch: thread");
  if (rc < 0) {
    if (w->ino_fd >= 0)
      close(w->ino_fd);
    if (w->stop_fd >= 0)
      close(w->stop_fd);
    free(w->exit_dir);
    free(w->persist_root);
    free(w);
    return -1;
  }
  *out = w;
  return 0;
}

void oci_exit_watch_stop(struct oci_exit_watch *w) {
  if (w == NULL)
    return;
  uint64_t one = 1;
  if (write(w->stop_fd, &one, sizeof(one)) != sizeof(one))
    log_error("exit watch: cannot wake the thread: %m");
  pthread_join(w->thread, NULL);
  close(w->ino_fd);
  close(w->stop_fd);
  free(w->exit_dir);
  free(w->persist_root);
  free(w);
}
