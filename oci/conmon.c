/* Creating a container through conmon 2.1.x.  The protocol, from conmon's
 * source (src/conmon.c, parent_pipe_fd.c) and checked against Debian's
 * 2.1.6:
 *
 *   - _OCI_STARTPIPE=<fd>: conmon's first act is a blocking read of it, so
 *     the daemon can place conmon (move it into a cgroup) before anything
 *     is forked.  Then conmon forks; the parent writes the child's pid to
 *     --conmon-pidfile and exits 0.  The child (setsid, subreaper, stdio on
 *     /dev/null) is the monitor that outlives the daemon.
 *   - The monitor runs `<runtime> <--runtime-arg...> [--systemd-cgroup]
 *     create --bundle B --pid-file P <id>` and, through _OCI_SYNCPIPE=<fd>,
 *     reports one JSON line: {"data": <pid>} on success, or {"data": -1,
 *     "message": "<runtime stderr>"}.  The key is "data" with
 *     --api-version (a flag without value: "--api-version 1" would leave a
 *     stray "1"); "pid" without it.
 *   - If the sync pipe is closed when the monitor writes, the monitor
 *     exits: a daemon that dies mid-create leaves a created container
 *     without a monitor, which the create step must delete and redo. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "common/syscalls.h"
#include "oci/runtime_internal.h"

#define CONMON_DEFAULT_PATH "/usr/bin/conmon"
#define CONMON_MESSAGE_CAP (64u << 10)
/* conmon's first process only reads the start pipe, forks and exits. */
#define CONMON_PARENT_EXIT_MS 10000

struct strv_builder {
  char **v;
  size_t n, cap;
};

static void strv_add(struct strv_builder *b, const char *s) {
  if (b->n + 2 > b->cap) {
    b->cap = b->cap ? 2 * b->cap : 32;
    b->v = xrealloc(b->v, b->cap * sizeof(char *));
  }
  b->v[b->n++] = xstrdup(s);
  b->v[b->n] = NULL;
}

static void strv_add2(struct strv_builder *b, const char *flag, const char *value) {
  strv_add(b, flag);
  strv_add(b, value);
}

static bool conmon_log_level_valid(const char *level) {
  static const char *const levels[] = {"error",   "fatal", "panic", "warn",
                                       "warning", "info",  "debug", "trace"};
  for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
    if (strcmp(level, levels[i]) == 0)
      return true;
  return false;
}

static int check_config(const struct oci_conmon_config *cfg, crio_error_t *err) {
  if (cfg->runtime == NULL)
    return crio_error(err, EINVAL, "conmon: no runtime handler");
  if (oci_check_container_id(cfg->id, err) < 0)
    return -1;
  const struct {
    const char *name, *value;
  } paths[] = {{"bundle", cfg->bundle},
               {"exit_dir", cfg->exit_dir},
               {"socket_dir", cfg->socket_dir},
               {"log_path", cfg->log_path}};
  for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
    if (paths[i].value == NULL || paths[i].value[0] != '/')
      return crio_error(err, EINVAL, "conmon for %s: %s must be an absolute path", cfg->id,
                        paths[i].name);
  if (cfg->persist_dir && cfg->persist_dir[0] != '/')
    return crio_error(err, EINVAL, "conmon for %s: persist_dir must be an absolute path", cfg->id);
  if (cfg->log_level && !conmon_log_level_valid(cfg->log_level))
    return crio_error(err, EINVAL, "conmon for %s: invalid log level \"%s\"", cfg->id,
                      cfg->log_level);
  return 0;
}

/* conmon's argv: the flags CRI-O passes, minus podman's. */
static char **conmon_argv(const struct oci_conmon_config *cfg) {
  const struct oci_runtime *rt = cfg->runtime;
  struct strv_builder b = {0};
  /* The handler's monitor_path wins over the daemon's conmon. */
  strv_add(&b, rt->monitor_path   ? rt->monitor_path
               : cfg->conmon_path ? cfg->conmon_path
                                  : CONMON_DEFAULT_PATH);
  strv_add(&b, "--api-version");
  strv_add2(&b, "-c", cfg->id);
  strv_add2(&b, "-u", cfg->id);
  strv_add2(&b, "-n", cfg->name ? cfg->name : cfg->id);
  /* A sandbox-per-pod runtime runs behind its shim, which conmon must see
   * as the runtime (oci/runsc_shim/runsc_shim.c says why). */
  bool shim = rt->ops->sandbox_per_pod && rt->monitor_shim;
  strv_add2(&b, "-r", shim ? rt->monitor_shim : oci_runtime_path(rt));
  strv_add2(&b, "-b", cfg->bundle);
  cleanup_free char *ctr_pidfile = xasprintf("%s/" OCI_CONMON_CTR_PIDFILE, cfg->bundle);
  cleanup_free char *conmon_pidfile = xasprintf("%s/" OCI_CONMON_PIDFILE, cfg->bundle);
  strv_add2(&b, "-p", ctr_pidfile);
  strv_add2(&b, "-P", conmon_pidfile);
  strv_add2(&b, "--persist-dir", cfg->persist_dir ? cfg->persist_dir : cfg->bundle);
  strv_add2(&b, "--exit-dir", cfg->exit_dir);
  cleanup_free char *log = xasprintf("k8s-file:%s", cfg->log_path);
  strv_add2(&b, "-l", log);
  strv_add2(&b, "--log-level", cfg->log_level ? cfg->log_level : "error");
  strv_add2(&b, "--socket-dir-path", cfg->socket_dir);
  cleanup_free char *shim_runtime =
      shim ? xasprintf("--crio-runtime=%s", oci_runtime_path(rt)) : NULL;
  if (shim)
    strv_add2(&b, "--runtime-arg", shim_runtime);
  cleanup_strv char **global = oci_runtime_global_args(rt);
  for (char **g = global; *g; g++)
    strv_add2(&b, "--runtime-arg", *g);
  /* conmon adds --systemd-cgroup to the runtime's create itself. */
  if (rt->systemd_cgroup)
    strv_add(&b, "-s");
  if (cfg->log_size_max > 0) {
    char size[32];
    snprintf(size, sizeof(size), "%lld", (long long)cfg->log_size_max);
    strv_add2(&b, "--log-size-max", size);
  }
  if (cfg->terminal) {
    strv_add(&b, "-t");
  } else if (cfg->stdin_open) {
    if (!cfg->stdin_once)
      strv_add(&b, "--leave-stdin-open");
    strv_add(&b, "-i");
  }
  if (cfg->syslog)
    strv_add(&b, "--syslog");
  return b.v;
}

static int unlink_if_present(const char *path, crio_error_t *err) {
  if (unlink(path) < 0 && errno != ENOENT)
    return crio_error_errno(err, errno, "remove stale %s", path);
  return 0;
}

/* An earlier attempt's files must not be mistaken for this one's. */
static int remove_stale_files(const struct oci_conmon_config *cfg, crio_error_t *err) {
  const char *persist = cfg->persist_dir ? cfg->persist_dir : cfg->bundle;
  cleanup_free char *exit_file = xasprintf("%s/%s", cfg->exit_dir, cfg->id);
  cleanup_free char *persist_exit = xasprintf("%s/" OCI_CONMON_EXIT, persist);
  cleanup_free char *persist_oom = xasprintf("%s/" OCI_CONMON_OOM, persist);
  cleanup_free char *bundle_oom = xasprintf("%s/" OCI_CONMON_OOM, cfg->bundle);
  cleanup_free char *pidfile = xasprintf("%s/" OCI_CONMON_CTR_PIDFILE, cfg->bundle);
  cleanup_free char *conmon_pidfile = xasprintf("%s/" OCI_CONMON_PIDFILE, cfg->bundle);
  const char *files[] = {exit_file, persist_exit, persist_oom, bundle_oom, pidfile, conmon_pidfile};
  for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
    if (unlink_if_present(files[i], err) < 0)
      return -1;
  return 0;
}

static int make_dirs(const struct oci_conmon_config *cfg, crio_error_t *err) {
  cleanup_free char *log_copy = xstrdup(cfg->log_path);
  if (crio_mkdir_p(cfg->exit_dir, 0700, err) < 0 || crio_mkdir_p(cfg->socket_dir, 0700, err) < 0 ||
      crio_mkdir_p(dirname(log_copy), 0755, err) < 0)
    return crio_error_prefix(err, "conmon for %s", cfg->id);
  return 0;
}

/* Reads one line (conmon's JSON) from fd until '\n', EOF or the deadline.
 * 1: a line; 0: EOF before any; -1 error (ETIMEDOUT on deadline). */
static int read_sync_line(int fd, int64_t deadline, char **line, crio_error_t *err) {
  size_t len = 0, cap = 4096;
  cleanup_free char *buf = xmalloc(cap + 1);
  for (;;) {
    int64_t left = (deadline - crio_monotonic_ns()) / 1000000;
    if (left <= 0)
      return crio_error(err, ETIMEDOUT, "no report from conmon");
    struct pollfd pfd = {fd, POLLIN, 0};
    int r = poll(&pfd, 1, left > 1000 ? 1000 : (int)left);
    if (r < 0 && errno != EINTR)
      return crio_error_errno(err, errno, "poll on conmon's sync pipe");
    if (r <= 0)
      continue;
    if (len == cap) {
      if (cap >= CONMON_MESSAGE_CAP)
        return crio_error(err, EMSGSIZE, "conmon's report exceeds %u bytes", CONMON_MESSAGE_CAP);
      cap *= 2;
      buf = xrealloc(buf, cap + 1);
    }
    ssize_t n = read(fd, buf + len, cap - len);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN)
        continue;
      return crio_error_errno(err, errno, "read conmon's sync pipe");
    }
    if (n == 0) {
      if (len == 0)
        return 0;
      break;
    }
    len += (size_t)n;
    if (memchr(buf, '\n', len))
      break;
  }
  buf[len] = '\0';
  *line = steal_pointer(&buf);
  return 1;
}

/* {"data": N[, "message": "..."]} (or "pid" from a conmon without
 * --api-version).  *message is malloc'd or NULL. */
static int parse_sync(const char *line, int *value, char **message, crio_error_t *err) {
  cJSON *doc = cJSON_Parse(line);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "data");
  if (v == NULL)
    v = cJSON_GetObjectItemCaseSensitive(doc, "pid");
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(doc, "message");
  if (!cJSON_IsNumber(v)) {
    cJSON_Delete(doc);
    return crio_error(err, EINVAL, "unexpected report from conmon: \"%.200s\"", line);
  }
  *value = (int)v->valuedouble;
  *message = cJSON_IsString(m) ? xstrdup(m->valuestring) : NULL;
  cJSON_Delete(doc);
  return 0;
}

int oci_conmon_remove_attach_link(const char *socket_dir, const char *id, crio_error_t *err) {
  if (oci_check_container_id(id, err) < 0)
    return -1;
  cleanup_free char *link = xasprintf("%s/%s", socket_dir, id);
  struct stat st;
  if (lstat(link, &st) < 0)
    return errno == ENOENT ? 0 : crio_error_errno(err, errno, "stat %s", link);
  if (!S_ISLNK(st.st_mode))
    return crio_error(err, EINVAL, "%s is not conmon's link", link);
  if (unlink(link) < 0 && errno != ENOENT)
    return crio_error_errno(err, errno, "remove %s", link);
  return 0;
}

int oci_conmon_read_pidfile(const char *bundle, pid_t *pid, crio_error_t *err) {
  cleanup_free char *path = xasprintf("%s/" OCI_CONMON_PIDFILE, bundle);
  cleanup_free char *text = NULL;
  if (crio_read_file(path, &text, NULL, err) < 0)
    return -1;
  char *end = NULL;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno != 0 || end == text || v <= 1 || v > INT32_MAX)
    return crio_error(err, EINVAL, "%s: not a pid: \"%.40s\"", path, text);
  *pid = (pid_t)v;
  return 0;
}

int oci_conmon_is_running(pid_t pid, uint64_t start_time, crio_error_t *err) {
  if (pid <= 1)
    return crio_error(err, EINVAL, "conmon pid %d", (int)pid);
  return crio_proc_alive(pid, start_time, err);
}

int oci_conmon_kill(pid_t pid, uint64_t start_time, crio_error_t *err) {
  if (pid <= 1)
    return crio_error(err, EINVAL, "conmon pid %d", (int)pid);
  /* The pidfd pins the process; checking the start time after opening it
   * proves it is ours, so the signal cannot reach a reused pid. */
  cleanup_close int pidfd = crio_pidfd_open(pid, 0);
  if (pidfd < 0)
    return errno == ESRCH ? 0 : crio_error_errno(err, errno, "pidfd_open conmon %d", (int)pid);
  int alive = crio_proc_alive(pid, start_time, err);
  if (alive <= 0)
    return alive;
  if (crio_pidfd_send_signal(pidfd, SIGKILL, 0) < 0 && errno != ESRCH)
    return crio_error_errno(err, errno, "kill conmon %d", (int)pid);
  struct pollfd pfd = {pidfd, POLLIN, 0};
  while (poll(&pfd, 1, 5000) < 0 && errno == EINTR)
    ;
  return 0;
}

/* Whatever conmon's first process printed (option errors go to stdout,
 * its own errors to stderr), without waiting for an EOF that the
 * daemonized monitor may delay. */
static char *drain_messages(int fd) {
  size_t len = 0;
  char *buf = xmalloc(CONMON_MESSAGE_CAP + 1);
  for (;;) {
    ssize_t n = read(fd, buf + len, CONMON_MESSAGE_CAP - len);
    if (n <= 0 && !(n < 0 && errno == EINTR))
      break;
    if (n > 0)
      len += (size_t)n;
    if (len == CONMON_MESSAGE_CAP)
      break;
  }
  while (len > 0 && buf[len - 1] == '\n')
    len--;
  buf[len] = '\0';
  return buf;
}

/* Kills and reaps conmon's first process after a failure before it
 * exited on its own. */
static void abandon_parent(pid_t pid) {
  kill(pid, SIGKILL);
  int ignored;
  crio_error_t e = NULL;
  if (crio_reap(pid, &ignored, &e) < 0)
    crio_error_warn(&e, "reap conmon");
}

static int wait_parent(pid_t pid, int pidfd, int msg_fd, crio_error_t *err) {
  struct pollfd pfd = {pidfd, POLLIN, 0};
  int r;
  while ((r = poll(&pfd, 1, CONMON_PARENT_EXIT_MS)) < 0 && errno == EINTR)
    ;
  if (r <= 0) {
    abandon_parent(pid);
    return crio_error(err, ETIMEDOUT, "conmon did not fork within %d ms", CONMON_PARENT_EXIT_MS);
  }
  int code = 0;
  if (crio_reap(pid, &code, err) < 0)
    return -1;
  if (code != 0) {
    cleanup_free char *msg = drain_messages(msg_fd);
    return crio_error(err, EIO, "conmon exited with status %d: %s", code, msg);
  }
  return 0;
}

int oci_conmon_create(const struct oci_conmon_config *cfg, struct oci_conmon_created *out,
                      crio_error_t *err) {
  if (check_config(cfg, err) < 0 || make_dirs(cfg, err) < 0 || remove_stale_files(cfg, err) < 0)
    return -1;
  int sync[2], start[2], msg[2];
  if (pipe2(sync, O_CLOEXEC) < 0)
    return crio_error_errno(err, errno, "conmon for %s: pipe", cfg->id);
  cleanup_close int sync_r = sync[0], sync_w = sync[1];
  /* A socket, not a pipe: if conmon died before reading it, send() with
   * MSG_NOSIGNAL fails with EPIPE instead of raising SIGPIPE here. */
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, start) < 0)
    return crio_error_errno(err, errno, "conmon for %s: socketpair", cfg->id);
  cleanup_close int start_r = start[0], start_w = start[1];
  if (pipe2(msg, O_CLOEXEC | O_NONBLOCK) < 0)
    return crio_error_errno(err, errno, "conmon for %s: pipe", cfg->id);
  cleanup_close int msg_r = msg[0], msg_w = msg[1];

  cleanup_strv char **argv = conmon_argv(cfg);
  /* The pipes become conmon's fds 3 and 4 (crio_spawn's inherit order). */
  /* The handler's monitor_env (CRI-O's key) comes after ours, so it can
   * set PATH but never the pipes. */
  const char *const *extra = cfg->runtime->monitor_env;
  size_t n_extra = 0;
  while (extra && extra[n_extra])
    n_extra++;
  cleanup_free const char **envp = xcalloc(n_extra + 4, sizeof(char *));
  size_t k = 0;
  bool path_set = false;
  for (size_t i = 0; i < n_extra; i++)
    path_set |= strncmp(extra[i], "PATH=", 5) == 0;
  if (!path_set)
    envp[k++] = crio_spawn_clean_env[0];
  envp[k++] = "_OCI_SYNCPIPE=3";
  envp[k++] = "_OCI_STARTPIPE=4";
  for (size_t i = 0; i < n_extra; i++)
    if (strncmp(extra[i], "_OCI_", 5) != 0)
      envp[k++] = extra[i];
  int inherit[] = {sync_w, start_r};
  struct crio_spawn s = {.argv = (const char *const *)argv,
                         .envp = envp,
                         .cwd = cfg->bundle, /* conmon writes "oom" to its cwd */
                         .stdin_fd = -1,
                         .stdout_fd = msg_w,
                         .stderr_fd = msg_w,
                         .inherit = inherit,
                         .n_inherit = 2};
  pid_t pid;
  int pidfd_raw;
  if (crio_spawn(&s, &pid, &pidfd_raw, err) < 0)
    return crio_error_prefix(err, "conmon for %s", cfg->id);
  cleanup_close int pidfd = pidfd_raw;
  /* Our copies closed: EOF on sync_r then means conmon is gone. */
  close(steal_fd(&sync_w));
  close(steal_fd(&start_r));
  close(steal_fd(&msg_w));

  if (cfg->before_start && cfg->before_start(pid, cfg->before_start_arg, err) < 0) {
    abandon_parent(pid);
    return crio_error_prefix(err, "conmon for %s", cfg->id);
  }
  if (send(start_w, "\0", 1, MSG_NOSIGNAL) != 1) {
    /* conmon exited before reading it: its status and message say why. */
    if (wait_parent(pid, pidfd, msg_r, err) < 0)
      return crio_error_prefix(err, "conmon for %s", cfg->id);
    return crio_error(err, EIO, "conmon for %s: exited without reading the start pipe", cfg->id);
  }
  close(steal_fd(&start_w));
  if (wait_parent(pid, pidfd, msg_r, err) < 0)
    return crio_error_prefix(err, "conmon for %s", cfg->id);

  pid_t conmon_pid = 0;
  uint64_t conmon_start = 0;
  if (oci_conmon_read_pidfile(cfg->bundle, &conmon_pid, err) < 0)
    return crio_error_prefix(err, "conmon for %s", cfg->id);
  /* The start time is read before the report: a create that fails makes
   * the monitor exit, and its pid could be reused by the time we look. */
  crio_error_t e = NULL;
  if (crio_proc_start_time(conmon_pid, &conmon_start, &e) < 0)
    crio_error_release(&e); /* already gone: the report says why */

  unsigned timeout = cfg->create_timeout_ms ? cfg->create_timeout_ms : OCI_CONMON_CREATE_TIMEOUT_MS;
  cleanup_free char *line = NULL;
  int got = read_sync_line(sync_r, crio_monotonic_ns() + (int64_t)timeout * 1000000, &line, err);
  if (got <= 0) {
    if (got < 0 && conmon_start && oci_conmon_kill(conmon_pid, conmon_start, &e) < 0)
      crio_error_warn(&e, "kill conmon after a failed create");
    if (got == 0)
      crio_error(err, EIO, "conmon exited before reporting the container's pid");
    return crio_error_prefix(err, "create container %s (%s)", cfg->id, cfg->runtime->ops->name);
  }
  int value = 0;
  cleanup_free char *message = NULL;
  if (parse_sync(line, &value, &message, err) < 0)
    return crio_error_prefix(err, "create container %s", cfg->id);
  if (value <= 0) {
    size_t len = message ? strlen(message) : 0;
    while (len > 0 && message[len - 1] == '\n')
      message[--len] = '\0';
    return crio_error(err, EIO, "create container %s (%s): %s", cfg->id, cfg->runtime->ops->name,
                      len ? message : "the runtime failed without a message");
  }
  if (conmon_start == 0)
    return crio_error(err, EIO, "create container %s: conmon %d vanished after reporting", cfg->id,
                      (int)conmon_pid);
  out->container_pid = value;
  out->conmon_pid = conmon_pid;
  out->conmon_start_time = conmon_start;
  return 0;
}
