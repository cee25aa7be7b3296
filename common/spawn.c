/* The one spawner: every program the daemon runs (OCI runtimes, conmon,
 * CNI plugins) starts here.  What a caller may not choose: no shell, no
 * PATH lookup, no descriptor of the daemon's beyond those named, default
 * signal dispositions and an empty mask whatever the calling thread's
 * are, a process group of its own (so a timeout kills what the child
 * started too).  fork() remains only where the child must run our own code
 * before any exec (oci/exec_sync.c's subreaper helper, oci/ns_infra.c's
 * namespace pinning). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "common/syscalls.h"

#define RUN_OUT_CAP_DEFAULT (4u << 20)
#define RUN_ERR_CAP_DEFAULT (64u << 10)
/* Descriptors handed to the child are first moved at or above this, so
 * that no dup2() onto 0..2+n_inherit clobbers a source not yet placed (a
 * caller whose own stdio is closed may hold a pipe as fd 0..2). */
#define SPAWN_FD_FLOOR 16

const char *const crio_spawn_clean_env[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL};

int crio_spawn(const struct crio_spawn *s, pid_t *pid_out, int *pidfd_out, crio_error_t *err) {
  cleanup_close int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0)
    return crio_error_errno(err, errno, "open /dev/null");
  int std[3] = {s->stdin_fd, s->stdout_fd, s->stderr_fd};
  size_t n = 3 + s->n_inherit;
  int *src = xcalloc(n, sizeof(int));
  for (size_t i = 0; i < n; i++) {
    int fd = i < 3 ? (std[i] >= 0 ? std[i] : devnull) : s->inherit[i - 3];
    src[i] = fcntl(fd, F_DUPFD_CLOEXEC, SPAWN_FD_FLOOR);
    if (src[i] < 0) {
      int saved = errno;
      for (size_t j = 0; j < i; j++)
        close(src[j]);
      free(src);
      return crio_error_errno(err, saved, "dup descriptor for %s", s->argv[0]);
    }
  }
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  for (size_t i = 0; i < n; i++)
    posix_spawn_file_actions_adddup2(&fa, src[i], (int)i); /* dup2 clears CLOEXEC */
  /* Whatever the daemon holds without O_CLOEXEC (LMDB's fd before the
   * store set it, a library's) stays out of the child. */
  posix_spawn_file_actions_addclosefrom_np(&fa, (int)n);
  if (s->cwd)
    posix_spawn_file_actions_addchdir_np(&fa, s->cwd);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid;
  int rc = posix_spawn(&pid, s->argv[0], &fa, &attr, (char *const *)s->argv,
                       (char *const *)(s->envp ? s->envp : crio_spawn_clean_env));
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  for (size_t i = 0; i < n; i++)
    close(src[i]);
  free(src);
  if (rc != 0)
    return crio_error_errno(err, rc, "execute %s", s->argv[0]);
  int pidfd = crio_pidfd_open(pid, 0);
  if (pidfd < 0) {
    int saved = errno;
    kill(-pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return crio_error_errno(err, saved, "pidfd_open for %s", s->argv[0]);
  }
  *pid_out = pid;
  *pidfd_out = pidfd;
  return 0;
}

int crio_reap(pid_t pid, int *exit_code, crio_error_t *err) {
  int status = 0;
  pid_t rc;
  while ((rc = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
    ;
  if (rc < 0)
    return crio_error_errno(err, errno, "wait for pid %d: exit status lost", (int)pid);
  if (WIFEXITED(status))
    *exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    *exit_code = 128 + WTERMSIG(status);
  else
    *exit_code = 255;
  return 0;
}

void crio_capture_init(struct crio_capture *c, int fd, size_t cap) {
  *c = (struct crio_capture){.fd = fd, .alloc = cap < 4096 ? cap : 4096, .cap = cap};
  c->buf = xmalloc(c->alloc + 1);
}

bool crio_capture_read(struct crio_capture *c) {
  char chunk[65536];
  for (;;) {
    ssize_t n = read(c->fd, chunk, sizeof(chunk));
    if (n < 0)
      return errno == EINTR || errno == EAGAIN;
    if (n == 0)
      return false;
    size_t take = (size_t)n;
    if (take > c->cap - c->len) {
      c->truncated = true;
      take = c->cap - c->len;
    }
    if (c->len + take > c->alloc) {
      while (c->len + take > c->alloc)
        c->alloc *= 2;
      if (c->alloc > c->cap)
        c->alloc = c->cap;
      c->buf = xrealloc(c->buf, c->alloc + 1);
    }
    memcpy(c->buf + c->len, chunk, take);
    c->len += take;
  }
}

void crio_capture_finish(struct crio_capture *c, char **out, size_t *len, bool *truncated) {
  c->buf[c->len] = '\0';
  *out = xrealloc(steal_pointer(&c->buf), c->len + 1);
  *len = c->len;
  *truncated = c->truncated;
}

void crio_run_result_release(struct crio_run_result *r) {
  free(r->out);
  free(r->errout);
  memset(r, 0, sizeof(*r));
}

/* Writing to a pipe whose reader has gone raises SIGPIPE, which would
 * end a daemon that did not ignore it: block it on this thread while
 * feeding stdin, and take back the one our write raised (if it was not
 * pending already). */
struct sigpipe_guard {
  sigset_t old;
  bool was_pending, raised;
};

static void sigpipe_block(struct sigpipe_guard *g) {
  sigset_t pipe_only, pending;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  sigpending(&pending);
  g->was_pending = sigismember(&pending, SIGPIPE);
  g->raised = false;
  pthread_sigmask(SIG_BLOCK, &pipe_only, &g->old);
}

static void sigpipe_restore(struct sigpipe_guard *g) {
  if (g->raised && !g->was_pending) {
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    struct timespec zero = {0, 0};
    while (sigtimedwait(&pipe_only, NULL, &zero) < 0 && errno == EINTR)
      ;
  }
  pthread_sigmask(SIG_SETMASK, &g->old, NULL);
  g->raised = false;
}

static int make_pipe(int fds[2], const char *what, crio_error_t *err) {
  if (pipe2(fds, O_CLOEXEC) < 0)
    return crio_error_errno(err, errno, "pipe for %s", what);
  fcntl(fds[0], F_SETFL, O_NONBLOCK);
  return 0;
}

int crio_run(const struct crio_run *p, struct crio_run_result *r, crio_error_t *err) {
  memset(r, 0, sizeof(*r));
  const char *what = p->spawn.argv[0];
  /* stdin is a pipe, not a socket: crun reads "-" by opening /dev/stdin,
   * which fails with ENXIO on a socket. */
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) < 0)
    return crio_error_errno(err, errno, "pipe for %s", what);
  cleanup_close int in_ours = in_pipe[1], in_theirs = in_pipe[0];
  if (make_pipe(out_pipe, what, err) < 0)
    return -1;
  cleanup_close int out_ours = out_pipe[0], out_theirs = out_pipe[1];
  if (make_pipe(err_pipe, what, err) < 0)
    return -1;
  cleanup_close int err_ours = err_pipe[0], err_theirs = err_pipe[1];

  struct crio_spawn s = p->spawn;
  s.stdin_fd = in_theirs;
  s.stdout_fd = out_theirs;
  s.stderr_fd = err_theirs;
  pid_t pid;
  int pidfd_raw;
  if (crio_spawn(&s, &pid, &pidfd_raw, err) < 0)
    return -1;
  cleanup_close int pidfd = pidfd_raw;
  close(steal_fd(&in_theirs));
  close(steal_fd(&out_theirs));
  close(steal_fd(&err_theirs));
  fcntl(in_ours, F_SETFL, O_NONBLOCK);

  struct crio_capture out, errc;
  crio_capture_init(&out, out_ours, p->out_cap ? p->out_cap : RUN_OUT_CAP_DEFAULT);
  crio_capture_init(&errc, err_ours, p->err_cap ? p->err_cap : RUN_ERR_CAP_DEFAULT);
  size_t written = 0;
  if (p->input_len == 0)
    close(steal_fd(&in_ours));
  struct sigpipe_guard guard;
  sigpipe_block(&guard);
  int64_t deadline = p->timeout_ms > 0 ? crio_monotonic_ns() + p->timeout_ms * 1000000 : 0;
  bool out_open = true, err_open = true, exited = false;

  while (!exited || (p->wait_output_eof && (out_open || err_open))) {
    int timeout = -1;
    if (deadline) {
      int64_t left_ms = (deadline - crio_monotonic_ns()) / 1000000;
      if (left_ms <= 0) {
        if (p->on_timeout && !exited)
          p->on_timeout(pid, p->timeout_arg);
        /* Also after the exit: what holds the output open is in its group. */
        kill(-pid, SIGKILL);
        r->timed_out = true;
        break;
      }
      timeout = left_ms > 1000 ? 1000 : (int)left_ms;
    }
    struct pollfd fds[4];
    int n = 0, i_in = -1, i_out = -1, i_err = -1, i_pid = -1;
    if (written < p->input_len)
      fds[i_in = n++] = (struct pollfd){in_ours, POLLOUT, 0};
    if (out_open)
      fds[i_out = n++] = (struct pollfd){out.fd, POLLIN, 0};
    if (err_open)
      fds[i_err = n++] = (struct pollfd){errc.fd, POLLIN, 0};
    if (!exited)
      fds[i_pid = n++] = (struct pollfd){pidfd, POLLIN, 0};
    int rc = poll(fds, (nfds_t)n, timeout);
    if (rc < 0 && errno != EINTR) {
      int saved = errno;
      sigpipe_restore(&guard);
      kill(-pid, SIGKILL);
      int ignored;
      crio_error_t e = NULL;
      crio_reap(pid, &ignored, &e);
      crio_error_release(&e);
      free(out.buf);
      free(errc.buf);
      return crio_error_errno(err, saved, "poll on %s", what);
    }
    if (rc <= 0)
      continue;
    if (i_in >= 0 && fds[i_in].revents) {
      ssize_t w = write(in_ours, (const char *)p->input + written, p->input_len - written);
      if (w > 0)
        written += (size_t)w;
      if (w < 0 && errno == EPIPE)
        guard.raised = true;
      /* A child that stops reading reports its own error. */
      if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == p->input_len) {
        close(steal_fd(&in_ours));
        written = p->input_len;
      }
    }
    if (i_out >= 0 && fds[i_out].revents)
      out_open = crio_capture_read(&out);
    if (i_err >= 0 && fds[i_err].revents)
      err_open = crio_capture_read(&errc);
    if (i_pid >= 0 && fds[i_pid].revents)
      exited = true;
  }
  sigpipe_restore(&guard);
  /* The child has exited (or was killed): take what it left in the pipes,
   * without waiting for an EOF a leftover background process may hold. */
  if (out_open)
    crio_capture_read(&out);
  if (err_open)
    crio_capture_read(&errc);
  int rc = crio_reap(pid, &r->exit_code, err);
  crio_capture_finish(&out, &r->out, &r->out_len, &r->out_truncated);
  crio_capture_finish(&errc, &r->errout, &r->err_len, &r->err_truncated);
  if (rc < 0) {
    crio_run_result_release(r);
    return crio_error_prefix(err, "%s", what);
  }
  return 0;
}
