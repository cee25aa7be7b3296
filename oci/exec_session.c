/* An interactive exec (the CRI's streaming Exec): the command runs like an
 * ExecSync's (`runtime exec --detach` under the subreaper helper of
 * exec_sync.c, which reaps it and reports its status), but its stdio is
 * handed to the caller instead of being captured:
 *   - without a terminal, pipes: the caller writes stdin and reads stdout
 *     and stderr;
 *   - with a terminal, the runtime makes the pty inside the container and
 *     sends its master over a console socket (--console-socket) before it
 *     exits; the caller reads and writes the master and resizes it.
 * The console socket lives in the work dir (the bundle), which may be too
 * deep for a sockaddr_un: it is bound through /proc/self/fd/<dir fd>/ and
 * the runtime is given /proc/<daemon pid>/fd/<dir fd>/<name>, conmon's
 * trick for its attach socket. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "oci/runtime_internal.h"

/* How long the runtime may take to hand over the terminal. */
#define CONSOLE_WAIT_MS 30000

struct oci_exec_session {
  const struct oci_runtime *rt;
  char *id;
  char *process_file, *pid_file;
  struct oci_exec_helper h;
  int stdin_w, stdout_r, stderr_r, pty;
  bool finished;
};

static void set_nonblock(int fd) {
  if (fd >= 0)
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* A pipe whose one end (`keep`: 0 read, 1 write) stays with us. */
static int make_pipe(int *mine, int *theirs, int keep, crio_error_t *err) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0)
    return crio_error_errno(err, errno, "pipe");
  *mine = p[keep];
  *theirs = p[1 - keep];
  set_nonblock(*mine);
  return 0;
}

/* The console socket: listening, bound as `name` in the dir of dir_fd. */
static int console_listen(int dir_fd, const char *name, crio_error_t *err) {
  cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return crio_error_errno(err, errno, "console socket");
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  snprintf(addr.sun_path, sizeof(addr.sun_path), "/proc/self/fd/%d/%s", dir_fd, name);
  unlinkat(dir_fd, name, 0);
  if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 1) < 0)
    return crio_error_errno(err, errno, "bind console socket %s", name);
  return steal_fd(&fd);
}

/* The master the runtime sends (one SCM_RIGHTS fd), or -1. */
static int console_receive(int conn, crio_error_t *err) {
  char name[256];
  struct iovec iov = {name, sizeof(name)};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  struct msghdr msg = {.msg_iov = &iov,
                       .msg_iovlen = 1,
                       .msg_control = control.buf,
                       .msg_controllen = sizeof(control)};
  ssize_t n;
  do
    n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return crio_error_errno(err, errno, "receive the terminal");
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (c == NULL || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
      c->cmsg_len != CMSG_LEN(sizeof(int)))
    return crio_error(err, EPROTO, "the runtime sent no terminal");
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof(fd));
  return fd;
}

/* Waits for the runtime to connect to the console socket and send the
 * master, or for the helper to end first (the runtime failed). */
static int console_await(struct oci_exec_session *s, int listen_fd, crio_error_t *err) {
  int64_t deadline = crio_monotonic_ns() + (int64_t)CONSOLE_WAIT_MS * 1000000;
  for (;;) {
    int64_t left = (deadline - crio_monotonic_ns()) / 1000000;
    if (left <= 0)
      return crio_error(err, ETIMEDOUT, "the runtime sent no terminal within %d ms",
                        CONSOLE_WAIT_MS);
    struct pollfd fds[2] = {{listen_fd, POLLIN, 0}, {s->h.pidfd, POLLIN, 0}};
    int r = poll(fds, 2, left > 1000 ? 1000 : (int)left);
    if (r < 0 && errno != EINTR)
      return crio_error_errno(err, errno, "poll the console socket");
    if (r <= 0)
      continue;
    if (fds[0].revents) {
      cleanup_close int conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
      if (conn < 0)
        return crio_error_errno(err, errno, "accept on the console socket");
      return console_receive(conn, err);
    }
    if (fds[1].revents)
      return 0; /* no terminal: the helper's report says why */
  }
}

static int start_tty(struct oci_exec_session *s, const char *work_dir, crio_error_t *err) {
  cleanup_close int dir_fd = open(work_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0)
    return crio_error_errno(err, errno, "open %s", work_dir);
  /* exec-XXXXXX.json -> exec-XXXXXX.sock */
  const char *base = strrchr(s->process_file, '/');
  base = base ? base + 1 : s->process_file;
  cleanup_free char *name = xstrdup(base);
  strcpy(name + strlen(name) - 5, ".sock");
  cleanup_close int listen_fd = console_listen(dir_fd, name, err);
  if (listen_fd < 0)
    return -1;
  cleanup_free char *path = xasprintf("/proc/%d/fd/%d/%s", (int)getpid(), dir_fd, name);
  cleanup_strv char **argv =
      oci_runtime_exec_argv(s->rt, s->id, s->process_file, s->pid_file, path);
  cleanup_close int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) {
    unlinkat(dir_fd, name, 0);
    return crio_error_errno(err, errno, "open /dev/null");
  }
  int rc = oci_exec_helper_start(argv, s->pid_file, devnull, devnull, devnull, &s->h, err);
  if (rc == 0) {
    int pty = console_await(s, listen_fd, err);
    if (pty < 0)
      rc = -1;
    else if (pty > 0)
      s->pty = pty;
  }
  unlinkat(dir_fd, name, 0);
  if (rc == 0)
    set_nonblock(s->pty);
  return rc;
}

static int start_pipes(struct oci_exec_session *s, const struct oci_exec_session_options *o,
                       crio_error_t *err) {
  cleanup_close int in = -1, out = -1, errw = -1;
  cleanup_close int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0)
    return crio_error_errno(err, errno, "open /dev/null");
  if (o->stdin && make_pipe(&s->stdin_w, &in, 1, err) < 0)
    return -1;
  if (o->stdout && make_pipe(&s->stdout_r, &out, 0, err) < 0)
    return -1;
  if (o->stderr && make_pipe(&s->stderr_r, &errw, 0, err) < 0)
    return -1;
  cleanup_strv char **argv =
      oci_runtime_exec_argv(s->rt, s->id, s->process_file, s->pid_file, NULL);
  return oci_exec_helper_start(argv, s->pid_file, in >= 0 ? in : devnull, out >= 0 ? out : devnull,
                               errw >= 0 ? errw : devnull, &s->h, err);
}

int oci_exec_session_start(const struct oci_runtime *rt, const char *id, const char *process_json,
                           const char *work_dir, const struct oci_exec_session_options *o,
                           struct oci_exec_session **out, crio_error_t *err) {
  if (oci_check_container_id(id, err) < 0)
    return -1;
  struct oci_exec_session *s = xzalloc(sizeof(*s));
  *s = (struct oci_exec_session){.rt = rt,
                                 .id = xstrdup(id),
                                 .h = {.pid = -1, .pidfd = -1, .report_r = -1},
                                 .stdin_w = -1,
                                 .stdout_r = -1,
                                 .stderr_r = -1,
                                 .pty = -1};
  int rc = oci_exec_write_process_file(work_dir, process_json, &s->process_file, &s->pid_file, err);
  if (rc == 0)
    rc = o->tty ? start_tty(s, work_dir, err) : start_pipes(s, o, err);
  if (rc < 0) {
    oci_exec_session_free(s);
    return crio_error_prefix(err, "exec in container %s", id);
  }
  if (s->pty >= 0 && o->rows && o->cols)
    oci_exec_session_resize(s, o->rows, o->cols);
  *out = s;
  return 0;
}

int oci_exec_session_fd(const struct oci_exec_session *s, enum oci_exec_fd which) {
  switch (which) {
  case OCI_EXEC_FD_STDIN:
    return s->pty >= 0 ? s->pty : s->stdin_w;
  case OCI_EXEC_FD_STDOUT:
    return s->pty >= 0 ? s->pty : s->stdout_r;
  case OCI_EXEC_FD_STDERR:
    return s->stderr_r;
  case OCI_EXEC_FD_EXIT:
    return s->h.pidfd;
  }
  return -1;
}

void oci_exec_session_close_stdin(struct oci_exec_session *s) {
  /* A terminal has no end of input to give but ^D, which the command may
   * read as anything: it stays open, as with CRI-O. */
  if (s->stdin_w >= 0) {
    close(s->stdin_w);
    s->stdin_w = -1;
  }
}

int oci_exec_session_resize(struct oci_exec_session *s, unsigned rows, unsigned cols) {
  if (s->pty < 0)
    return 0;
  struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
  return ioctl(s->pty, TIOCSWINSZ, &ws);
}

void oci_exec_session_kill(struct oci_exec_session *s) {
  if (s->h.pid > 0)
    oci_exec_kill_command(s->rt, s->id, s->pid_file, s->h.start_time);
}

int oci_exec_session_finish(struct oci_exec_session *s, int *exit_code, crio_error_t *err) {
  s->finished = true;
  if (oci_exec_helper_finish(&s->h, s->rt, s->id, exit_code, err) < 0)
    return crio_error_prefix(err, "exec in container %s", s->id);
  return 0;
}

void oci_exec_session_free(struct oci_exec_session *s) {
  if (s == NULL)
    return;
  if (s->h.pid > 0) {
    /* Ended before the command: the command and its group go, then the
     * helper, which reaps it. */
    oci_exec_kill_command(s->rt, s->id, s->pid_file, s->h.start_time);
    if (!oci_exec_wait_pidfd(s->h.pidfd, 2000))
      kill(-s->h.pid, SIGKILL);
    int code;
    crio_error_t e = NULL;
    if (oci_exec_helper_finish(&s->h, s->rt, s->id, &code, &e) < 0)
      crio_error_release(&e);
  }
  int fds[] = {s->h.pidfd, s->h.report_r, s->stdin_w, s->stdout_r, s->stderr_r, s->pty};
  for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
    if (fds[i] >= 0)
      close(fds[i]);
  oci_exec_remove_files(s->process_file, s->pid_file);
  free(s->process_file);
  free(s->pid_file);
  free(s->id);
  free(s);
}
