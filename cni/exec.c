/* Running one CNI plugin binary: no shell, a given environment, stdin fed
 * from a socket, stdout/stderr captured with caps, a deadline. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/syscalls.h"
#include "cni/internal.h"

/* A plugin's result is small; anything near these sizes is a runaway. */
#define CNI_STDOUT_CAP (4u << 20)
#define CNI_STDERR_CAP (64u << 10)

const char *cni_json_string(const cJSON *obj, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

int cni_find_plugin(const char *type, const char *const *plugin_dirs, char **path,
                    crio_error_t *err) {
  if (type == NULL || *type == '\0' || strchr(type, '/') != NULL || strcmp(type, ".") == 0 ||
      strcmp(type, "..") == 0)
    return crio_error(err, EINVAL, "invalid CNI plugin type \"%s\"", type ? type : "");
  for (const char *const *dir = plugin_dirs; dir && *dir; dir++) {
    cleanup_free char *candidate = xasprintf("%s/%s", *dir, type);
    struct stat st;
    if (stat(candidate, &st) == 0 && S_ISREG(st.st_mode) && access(candidate, X_OK) == 0) {
      *path = steal_pointer(&candidate);
      return 0;
    }
  }
  return crio_error(err, ENOENT,
                    "CNI plugin \"%s\" not found in the plugin "
                    "dirs",
                    type);
}

void cni_exec_output_release(struct cni_exec_output *o) {
  free(o->out);
  free(o->errout);
  memset(o, 0, sizeof(*o));
}

/* fds 0-2 of the child are dup2()ed from these; an fd that already is 0-2
 * (our own stdio closed) would be clobbered by an earlier dup2, so keep
 * every one of them at 3 or above. */
static int move_above_stdio(int fd, crio_error_t *err) {
  if (fd > 2)
    return fd;
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  int saved = errno;
  close(fd);
  if (moved < 0)
    return crio_error_errno(err, saved, "dup plugin pipe");
  return moved;
}

struct capture {
  int fd;
  char *buf;
  size_t len, cap;
  bool overflow;
};

/* Reads what is there; returns false at EOF. */
static bool capture_read(struct capture *c) {
  char chunk[16384];
  ssize_t n = read(c->fd, chunk, sizeof(chunk));
  if (n < 0)
    return errno == EINTR || errno == EAGAIN;
  if (n == 0)
    return false;
  size_t take = (size_t)n;
  if (c->len + take > c->cap) {
    c->overflow = true;
    take = c->cap - c->len;
  }
  memcpy(c->buf + c->len, chunk, take);
  c->len += take;
  return true;
}

struct child {
  pid_t pid;
  int pidfd;
};

static int spawn_child(const char *path, char *const *envp, int in_fd, int out_fd, int err_fd,
                       struct child *child, crio_error_t *err) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
  posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
  posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
  /* Whatever the daemon holds without O_CLOEXEC stays out of the plugin. */
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  /* A process group of its own, so a timeout kills what it spawned too;
   * default signal dispositions and an empty mask, whatever ours are. */
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  char *const argv[] = {(char *)path, NULL};
  pid_t pid;
  int rc = posix_spawn(&pid, path, &fa, &attr, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0)
    return crio_error_errno(err, rc, "execute CNI plugin %s", path);
  child->pid = pid;
  child->pidfd = crio_pidfd_open(pid, 0);
  if (child->pidfd < 0) {
    int saved = errno;
    kill(-pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return crio_error_errno(err, saved, "pidfd_open for CNI plugin %s", path);
  }
  return 0;
}

static int reap(pid_t pid) {
  int status = 0;
  pid_t rc;
  while ((rc = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
    ;
  /* Someone else reaped it (SIGCHLD ignored, waitpid(-1) elsewhere): the
   * outcome is unknown, which must not pass for success. */
  if (rc < 0) {
    log_warning("CNI plugin pid %d: exit status lost: %m", (int)pid);
    return 255;
  }
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  if (WIFSIGNALED(status))
    return 128 + WTERMSIG(status);
  return 255;
}

int cni_exec(const char *path, char *const *envp, const char *input, size_t input_len,
             unsigned timeout_sec, struct cni_exec_output *result, crio_error_t *err) {
  memset(result, 0, sizeof(*result));
  /* stdin is a socket so that a plugin exiting without reading it gives
   * us EPIPE from send(MSG_NOSIGNAL), never a process-wide SIGPIPE. */
  int in_pair[2] = {-1, -1}, out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_pair) < 0)
    return crio_error_errno(err, errno, "socketpair for CNI plugin stdin");
  cleanup_close int in_ours = in_pair[0], in_theirs = in_pair[1];
  if (pipe2(out_pipe, O_CLOEXEC) < 0)
    return crio_error_errno(err, errno, "pipe for CNI plugin stdout");
  cleanup_close int out_ours = out_pipe[0], out_theirs = out_pipe[1];
  if (pipe2(err_pipe, O_CLOEXEC) < 0)
    return crio_error_errno(err, errno, "pipe for CNI plugin stderr");
  cleanup_close int err_ours = err_pipe[0], err_theirs = err_pipe[1];
  if ((in_theirs = move_above_stdio(in_theirs, err)) < 0 ||
      (out_theirs = move_above_stdio(out_theirs, err)) < 0 ||
      (err_theirs = move_above_stdio(err_theirs, err)) < 0)
    return -1;

  struct child child = {-1, -1};
  if (spawn_child(path, envp, in_theirs, out_theirs, err_theirs, &child, err) < 0)
    return -1;
  cleanup_close int pidfd = child.pidfd;
  close(steal_fd(&in_theirs));
  close(steal_fd(&out_theirs));
  close(steal_fd(&err_theirs));
  fcntl(in_ours, F_SETFL, O_NONBLOCK);

  cleanup_free char *out_buf = xmalloc(CNI_STDOUT_CAP + 1);
  cleanup_free char *err_buf = xmalloc(CNI_STDERR_CAP + 1);
  struct capture out = {out_ours, out_buf, 0, CNI_STDOUT_CAP, false};
  struct capture errc = {err_ours, err_buf, 0, CNI_STDERR_CAP, false};
  bool out_open = true, err_open = true, exited = false;
  size_t written = 0;
  if (input_len == 0)
    shutdown(in_ours, SHUT_WR);
  int64_t deadline = crio_monotonic_ns() + (int64_t)timeout_sec * 1000000000LL;

  /* Done when the plugin has exited and closed its output (a helper it
   * spawned may still hold the pipes, as with Go's exec: we wait for it). */
  while (!exited || out_open || err_open) {
    int64_t left_ms = (deadline - crio_monotonic_ns()) / 1000000;
    if (left_ms <= 0) {
      kill(-child.pid, SIGKILL);
      reap(child.pid);
      return crio_error(err, ETIMEDOUT,
                        "CNI plugin %s did not finish within "
                        "%u s; killed",
                        path, timeout_sec);
    }
    struct pollfd fds[4];
    int n = 0, i_in = -1, i_out = -1, i_err = -1, i_pid = -1;
    if (in_ours >= 0 && written < input_len)
      fds[i_in = n++] = (struct pollfd){in_ours, POLLOUT, 0};
    if (out_open)
      fds[i_out = n++] = (struct pollfd){out.fd, POLLIN, 0};
    if (err_open)
      fds[i_err = n++] = (struct pollfd){errc.fd, POLLIN, 0};
    if (!exited)
      fds[i_pid = n++] = (struct pollfd){pidfd, POLLIN, 0};
    int rc = poll(fds, (nfds_t)n, left_ms > 1000 ? 1000 : (int)left_ms);
    if (rc < 0 && errno != EINTR) {
      int saved = errno;
      kill(-child.pid, SIGKILL);
      reap(child.pid);
      return crio_error_errno(err, saved, "poll on CNI plugin %s", path);
    }
    if (rc <= 0)
      continue;
    if (i_in >= 0 && fds[i_in].revents) {
      ssize_t w = send(in_ours, input + written, input_len - written, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w > 0)
        written += (size_t)w;
      /* A plugin that stops reading (EPIPE) reports its own error. */
      if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == input_len) {
        shutdown(in_ours, SHUT_WR);
        written = input_len;
      }
    }
    if (i_out >= 0 && fds[i_out].revents)
      out_open = capture_read(&out);
    if (i_err >= 0 && fds[i_err].revents)
      err_open = capture_read(&errc);
    if (i_pid >= 0 && fds[i_pid].revents) {
      exited = true;
      result->exit_code = reap(child.pid);
    }
  }
  if (out.overflow)
    return crio_error(err, EMSGSIZE, "CNI plugin %s printed more than %u bytes", path,
                      CNI_STDOUT_CAP);
  out_buf[out.len] = '\0';
  err_buf[errc.len] = '\0';
  result->out = xrealloc(steal_pointer(&out_buf), out.len + 1);
  result->out_len = out.len;
  result->errout = xrealloc(steal_pointer(&err_buf), errc.len + 1);
  return 0;
}

int cni_version_compare(const char *a, const char *b) {
  for (int part = 0; part < 3; part++) {
    long x = 0, y = 0;
    if (a && *a) {
      char *end;
      x = strtol(a, &end, 10);
      a = (*end == '.') ? end + 1 : end;
    }
    if (b && *b) {
      char *end;
      y = strtol(b, &end, 10);
      b = (*end == '.') ? end + 1 : end;
    }
    if (x != y)
      return x < y ? -1 : 1;
  }
  return 0;
}
