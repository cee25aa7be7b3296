/* ExecSync: a command in a running container, its stdout and stderr
 * captured separately with a cap, its exit code, a deadline.
 *
 * How, and why not the obvious ways:
 *  - `runtime exec` in the foreground copies the command's stdio through
 *    pipes of its own and exits only at their EOF: a command that leaves a
 *    background process holding stdout ("sleep 30 & echo hi") would block
 *    ExecSync for as long as that process lives.
 *  - conmon's exec mode (-e --exec-process-spec, CRI-O's choice) solves it
 *    by being a subreaper, but writes the output to a k8s-format log file
 *    that must be parsed back, and adds a monitor process and a file per
 *    probe.
 *  - So: `runtime exec --detach` hands our pipes straight to the command and
 *    exits once it runs; its parent is a small helper forked here that
 *    made itself a child subreaper, so the command, orphaned when the
 *    runtime exits, becomes the helper's child; the helper reaps it and
 *    reports the status on a pipe.  The output is read here, and once the
 *    command has exited, what is in the pipes is drained without waiting
 *    for an EOF that a background process may hold.
 * The helper cannot be the daemon itself: a subreaper daemon would adopt
 * every conmon when conmon daemonizes.  A daemon that dies mid-exec leaves
 * the command to finish on its own. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "common/syscalls.h"
#include "oci/runtime_internal.h"

int oci_exec_process_json(const char *config_json_path, const char *const *argv, char **json,
                          crio_error_t *err) {
  return oci_exec_process_json_terminal(config_json_path, argv, false, json, err);
}

int oci_exec_process_json_terminal(const char *config_json_path, const char *const *argv,
                                   bool terminal, char **json, crio_error_t *err) {
  if (argv == NULL || argv[0] == NULL || argv[0][0] == '\0')
    return crio_error(err, EINVAL, "exec: empty command");
  cleanup_free char *text = NULL;
  if (crio_read_file(config_json_path, &text, NULL, err) < 0)
    return crio_error_prefix(err, "exec");
  cJSON *config = cJSON_Parse(text);
  cJSON *process = cJSON_DetachItemFromObjectCaseSensitive(config, "process");
  cJSON_Delete(config);
  if (!cJSON_IsObject(process)) {
    cJSON_Delete(process);
    return crio_error(err, EINVAL, "exec: %s has no \"process\" object", config_json_path);
  }
  cJSON *args = cJSON_CreateArray();
  for (const char *const *a = argv; *a; a++)
    cJSON_AddItemToArray(args, cJSON_CreateString(*a));
  cJSON_DeleteItemFromObjectCaseSensitive(process, "args");
  cJSON_AddItemToObject(process, "args", args);
  /* The exec's own terminal choice, whatever the container has. */
  cJSON_DeleteItemFromObjectCaseSensitive(process, "terminal");
  cJSON_DeleteItemFromObjectCaseSensitive(process, "consoleSize");
  cJSON_AddBoolToObject(process, "terminal", terminal);
  char *out = cJSON_PrintUnformatted(process);
  cJSON_Delete(process);
  if (out == NULL)
    return crio_error(err, ENOMEM, "exec: print process JSON");
  *json = xstrdup(out);
  cJSON_free(out);
  return 0;
}

void oci_exec_result_release(struct oci_exec_result *r) {
  free(r->out);
  free(r->errout);
  memset(r, 0, sizeof(*r));
}

/* What the helper reports: one write of this struct. */
enum helper_report_kind {
  REPORT_EXITED = 1,     /* code: the command's status (or 128+signal) */
  REPORT_RUNTIME_FAILED, /* code: the runtime's status; its message is on stderr */
  REPORT_NO_PID,         /* the runtime succeeded without a usable pid file */
  REPORT_LOST,           /* code: errno of waitpid on the command */
  REPORT_FORK_FAILED,    /* code: errno */
};
struct helper_report {
  int32_t kind;
  int32_t code;
};

/* Everything the helper needs, prepared before fork(): in a multithreaded
 * daemon the child may only make async-signal-safe calls (no malloc, no
 * locks).  Its descriptors are moved to fixed numbers first. */
#define HELPER_FD_IN 3
#define HELPER_FD_OUT 4
#define HELPER_FD_ERR 5
#define HELPER_FD_REPORT 6
struct helper_task {
  char *const *argv;
  char *const *envp;
  const char *pid_file;
  int fds[4]; /* in, out, err, report: all above HELPER_FD_REPORT */
};

static int status_code(int st) {
  if (WIFEXITED(st))
    return WEXITSTATUS(st);
  if (WIFSIGNALED(st))
    return 128 + WTERMSIG(st);
  return 255;
}

static void helper_report(int kind, int code) {
  struct helper_report r = {kind, code};
  ssize_t n;
  do
    n = write(HELPER_FD_REPORT, &r, sizeof(r));
  while (n < 0 && errno == EINTR);
}

/* The pid in the runtime's pid file, parsed without libc's allocating
 * helpers; 0 if absent or malformed. */
static pid_t helper_read_pid(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  char buf[32];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0)
    return 0;
  long v = 0;
  for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
    v = v * 10 + (buf[i] - '0');
  return v > 1 && v < (1L << 30) ? (pid_t)v : 0;
}

static void default_signals(void) {
  struct sigaction dfl = {.sa_handler = SIG_DFL};
  for (int sig = 1; sig < NSIG; sig++)
    sigaction(sig, &dfl, NULL); /* SIGKILL/SIGSTOP fail harmlessly */
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
}

static _Noreturn void helper_main(const struct helper_task *t) {
  /* Ignored signals would survive exec into the runtime and the command;
   * an ignored SIGCHLD would make waitpid below fail. */
  default_signals();
  setpgid(0, 0); /* a timeout kills the helper's group: it and the runtime */
  for (int i = 0; i < 4; i++)
    dup2(t->fds[i], HELPER_FD_IN + i);
  /* None of the daemon's descriptors lives on in the helper (a lock file's
   * descriptor held here would outlive a daemon restart). */
  crio_close_range(HELPER_FD_REPORT + 1, ~0U, 0);
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  /* vfork, not fork: the helper is a copy of the daemon's whole address
   * space, and copying its page tables once more for a child that execs at
   * once cost milliseconds per exec (a measured share of ExecSync's time
   * over `runc exec`, issue 12).  The child only makes system calls on its
   * own stack frame's values until execve or _exit. */
  pid_t runtime = vfork();
  if (runtime < 0) {
    helper_report(REPORT_FORK_FAILED, errno);
    _exit(1);
  }
  if (runtime == 0) {
    dup2(HELPER_FD_IN, 0);
    dup2(HELPER_FD_OUT, 1);
    dup2(HELPER_FD_ERR, 2);
    crio_close_range(3U, ~0U, 0);
    execve(t->argv[0], t->argv, t->envp);
    _exit(127);
  }
  close(HELPER_FD_OUT);
  close(HELPER_FD_ERR);
  int st = 0;
  while (waitpid(runtime, &st, 0) < 0)
    if (errno != EINTR) {
      helper_report(REPORT_LOST, errno);
      _exit(1);
    }
  if (status_code(st) != 0) {
    helper_report(REPORT_RUNTIME_FAILED, status_code(st));
    _exit(0);
  }
  /* The runtime has exited: the command, orphaned, is our child now. */
  pid_t command = helper_read_pid(t->pid_file);
  if (command == 0) {
    helper_report(REPORT_NO_PID, 0);
    _exit(1);
  }
  while (waitpid(command, &st, 0) < 0)
    if (errno != EINTR) {
      helper_report(REPORT_LOST, errno);
      _exit(1);
    }
  helper_report(REPORT_EXITED, status_code(st));
  _exit(0);
}

/* On timeout: the command runs in a session of its own inside the
 * container (the runtime's init calls setsid), so it and what it started
 * are killed through its process group.  Its host pid is in the pid file
 * once it runs; it is trusted only if it started after the helper did (a
 * reused pid of an older process cannot qualify; the pidfd then pins what
 * was checked).  Without a pid yet, killing the helper's group (helper and
 * runtime) is enough. */
void oci_exec_kill_command(const struct oci_runtime *rt, const char *id, const char *pid_file,
                           uint64_t helper_start) {
  if (rt->ops->exec_kill)
    rt->ops->exec_kill(rt, id, pid_file);
  cleanup_free char *text = NULL;
  crio_error_t e = NULL;
  if (crio_read_file(pid_file, &text, NULL, &e) < 0) {
    crio_error_release(&e);
    return;
  }
  long pid = strtol(text, NULL, 10);
  if (pid <= 1)
    return;
  cleanup_close int pidfd = crio_pidfd_open((pid_t)pid, 0);
  if (pidfd < 0)
    return;
  uint64_t command_start = 0;
  if (crio_proc_start_time((pid_t)pid, &command_start, &e) < 0) {
    crio_error_release(&e);
    return;
  }
  if (command_start < helper_start)
    return;
  crio_pidfd_send_signal(pidfd, SIGKILL, 0);
  kill(-(pid_t)pid, SIGKILL);
}

/* A failed exec may be the runtime's failure, not the command's: tell
 * "no such container" and "not running" apart from an exit code. */
int oci_exec_check_container_runs(const struct oci_runtime *rt, const char *id, crio_error_t *err) {
  struct oci_runtime_state st;
  crio_error_t e = NULL;
  if (oci_runtime_state(rt, id, &st, &e) < 0) {
    if (crio_error_status(&e) == ENOENT) {
      *err = steal_pointer(&e);
      return -1;
    }
    crio_error_release(&e);
    return 0; /* cannot tell: the exit code stands */
  }
  if (st.status != OCI_STATUS_RUNNING)
    return crio_error(err, EBUSY, "container %s is %s, not running", id,
                      oci_container_status_name(st.status));
  return 0;
}

/* A descriptor moved above the helper's fixed numbers. */
static int fd_above_helper(int fd, crio_error_t *err) {
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, HELPER_FD_REPORT + 1);
  if (moved < 0)
    return crio_error_errno(err, errno, "dup");
  return moved;
}

void oci_exec_remove_files(const char *process_file, const char *pid_file) {
  if (process_file)
    unlink(process_file);
  if (pid_file) {
    unlink(pid_file);
    cleanup_free char *internal = xasprintf("%s" OCI_EXEC_INTERNAL_PID_SUFFIX, pid_file);
    unlink(internal);
  }
}

/* Writes the process file in work_dir; its name (minus ".json") also
 * names the pid file. */
int oci_exec_write_process_file(const char *work_dir, const char *process_json, char **process_file,
                                char **pid_file, crio_error_t *err) {
  cleanup_free char *path = xasprintf("%s/exec-XXXXXX.json", work_dir);
  cleanup_close int fd = mkostemps(path, 5, O_CLOEXEC);
  if (fd < 0)
    return crio_error_errno(err, errno, "create %s", path);
  size_t len = strlen(process_json);
  if (write(fd, process_json, len) != (ssize_t)len) {
    int saved = errno ? errno : EIO;
    unlink(path);
    return crio_error_errno(err, saved, "write %s", path);
  }
  *pid_file = xstrdup(path);
  strcpy(*pid_file + strlen(*pid_file) - 5, ".pid");
  *process_file = steal_pointer(&path);
  return 0;
}

/* Forks the helper with `in` as the runtime's stdin and out_w/err_w as
 * its stdout and stderr (the command inherits them); the caller keeps its
 * own copies.  h->report_r is where the helper's report arrives. */
int oci_exec_helper_start(char *const *argv, const char *pid_file, int in, int out_w, int err_w,
                          struct oci_exec_helper *h, crio_error_t *err) {
  h->pid = -1;
  h->pidfd = -1;
  h->report_r = -1;
  int report[2];
  if (pipe2(report, O_CLOEXEC) < 0)
    return crio_error_errno(err, errno, "pipe");
  h->report_r = report[0];
  cleanup_close int report_w = report[1];
  struct helper_task t = {.argv = argv,
                          .envp = (char *const *)crio_spawn_clean_env,
                          .pid_file = pid_file,
                          .fds = {-1, -1, -1, -1}};
  int src[4] = {in, out_w, err_w, report_w};
  for (int i = 0; i < 4; i++)
    if ((t.fds[i] = fd_above_helper(src[i], err)) < 0) {
      for (int j = 0; j < i; j++)
        close(t.fds[j]);
      return -1;
    }
  pid_t pid = fork();
  if (pid == 0)
    helper_main(&t);
  int saved = errno;
  for (int i = 0; i < 4; i++)
    close(t.fds[i]);
  if (pid < 0)
    return crio_error_errno(err, saved, "fork");
  /* Also here, so a timeout at once cannot miss the group. */
  setpgid(pid, pid);
  h->pid = pid;
  h->pidfd = crio_pidfd_open(pid, 0);
  /* Our unreaped child: its pid cannot be reused while we read this. */
  crio_error_t e = NULL;
  if (h->pidfd < 0 || crio_proc_start_time(pid, &h->start_time, &e) < 0) {
    crio_error_release(&e);
    kill(-pid, SIGKILL);
    int ignored;
    crio_reap(pid, &ignored, &e);
    crio_error_release(&e);
    h->pid = -1;
    return crio_error_errno(err, EIO, "watch the exec helper");
  }
  return 0;
}

int oci_exec_helper_finish(struct oci_exec_helper *h, const struct oci_runtime *rt, const char *id,
                           int *exit_code, crio_error_t *err) {
  int helper_code = 0;
  crio_error_t reap_err = NULL;
  if (h->pid > 0 && crio_reap(h->pid, &helper_code, &reap_err) < 0)
    crio_error_warn(&reap_err, "exec helper");
  h->pid = -1;
  struct helper_report report = {0, 0};
  ssize_t got = read(h->report_r, &report, sizeof(report));
  if (got != (ssize_t)sizeof(report))
    return crio_error(err, EIO, "the exec helper died without a report");
  switch (report.kind) {
  case REPORT_EXITED:
    *exit_code = report.code;
    return 0;
  case REPORT_RUNTIME_FAILED:
    /* The runtime's message is on stderr; an unknown or stopped container
     * is an error, anything else (no such binary) a failed command. */
    *exit_code = report.code;
    if (oci_exec_check_container_runs(rt, id, err) < 0)
      return -1;
    return 0;
  case REPORT_LOST:
  case REPORT_FORK_FAILED:
    return crio_error_errno(err, report.code, "exec helper");
  default:
    return crio_error(err, EIO, "%s gave no pid of the command", rt->ops->name);
  }
}

struct exec_run {
  int out_r, err_r;
};

/* The pipes of an ExecSync and the helper writing into them. */
static int start_helper(char *const *argv, const char *pid_file, struct exec_run *run,
                        struct oci_exec_helper *h, crio_error_t *err) {
  int out[2], errp[2];
  if (pipe2(out, O_CLOEXEC) < 0)
    return crio_error_errno(err, errno, "pipe");
  run->out_r = out[0];
  cleanup_close int out_w = out[1];
  if (pipe2(errp, O_CLOEXEC) < 0)
    return crio_error_errno(err, errno, "pipe");
  run->err_r = errp[0];
  cleanup_close int err_w = errp[1];
  cleanup_close int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0)
    return crio_error_errno(err, errno, "open /dev/null");
  if (oci_exec_helper_start(argv, pid_file, devnull, out_w, err_w, h, err) < 0)
    return -1;
  fcntl(run->out_r, F_SETFL, O_NONBLOCK);
  fcntl(run->err_r, F_SETFL, O_NONBLOCK);
  return 0;
}

bool oci_exec_wait_pidfd(int pidfd, int ms) {
  struct pollfd pfd = {pidfd, POLLIN, 0};
  int r;
  while ((r = poll(&pfd, 1, ms)) < 0 && errno == EINTR)
    ;
  return r > 0;
}

int oci_exec_sync(const struct oci_runtime *rt, const char *id, const char *process_json,
                  const char *work_dir, int64_t timeout_ms, size_t output_cap,
                  struct oci_exec_result *result, crio_error_t *err) {
  memset(result, 0, sizeof(*result));
  if (oci_check_container_id(id, err) < 0)
    return -1;
  if (process_json == NULL)
    return crio_error(err, EINVAL, "exec in container %s: no process", id);
  cleanup_free char *process_file = NULL;
  cleanup_free char *pid_file = NULL;
  if (oci_exec_write_process_file(work_dir, process_json, &process_file, &pid_file, err) < 0)
    return crio_error_prefix(err, "exec in container %s", id);
  cleanup_strv char **argv = oci_runtime_exec_argv(rt, id, process_file, pid_file, NULL);
  struct exec_run run = {.out_r = -1, .err_r = -1};
  struct oci_exec_helper h = {.pid = -1, .pidfd = -1, .report_r = -1};
  int rc = start_helper(argv, pid_file, &run, &h, err);
  cleanup_close int out_r = run.out_r, err_r = run.err_r;
  /* Owns the fd oci_exec_helper_finish reads through h: closed on return. */
  cleanup_close int report_r __attribute__((unused)) = h.report_r;
  cleanup_close int helper_pidfd = h.pidfd;
  if (rc < 0) {
    unlink(process_file);
    return crio_error_prefix(err, "exec in container %s", id);
  }

  size_t cap = output_cap ? output_cap : OCI_EXEC_OUTPUT_CAP;
  struct crio_capture out, errc;
  crio_capture_init(&out, out_r, cap);
  crio_capture_init(&errc, err_r, cap);
  bool out_open = true, err_open = true, timed_out = false;
  int64_t deadline = timeout_ms > 0 ? crio_monotonic_ns() + timeout_ms * 1000000 : 0;
  for (;;) {
    int wait_ms = -1;
    if (deadline) {
      int64_t left = (deadline - crio_monotonic_ns()) / 1000000;
      if (left <= 0) {
        timed_out = true;
        oci_exec_kill_command(rt, id, pid_file, h.start_time);
        /* The helper reaps the killed command and reports; if it does not
         * (no pid yet, a stuck runtime), its group goes too. */
        if (!oci_exec_wait_pidfd(helper_pidfd, 2000))
          kill(-h.pid, SIGKILL);
        break;
      }
      wait_ms = left > 1000 ? 1000 : (int)left;
    }
    struct pollfd fds[3];
    int n = 0, i_out = -1, i_err = -1;
    if (out_open)
      fds[i_out = n++] = (struct pollfd){out_r, POLLIN, 0};
    if (err_open)
      fds[i_err = n++] = (struct pollfd){err_r, POLLIN, 0};
    int i_pid = n;
    fds[n++] = (struct pollfd){helper_pidfd, POLLIN, 0};
    int r = poll(fds, (nfds_t)n, wait_ms);
    if (r < 0 && errno != EINTR) {
      kill(-h.pid, SIGKILL);
      break;
    }
    if (r <= 0)
      continue;
    if (i_out >= 0 && fds[i_out].revents)
      out_open = crio_capture_read(&out);
    if (i_err >= 0 && fds[i_err].revents)
      err_open = crio_capture_read(&errc);
    if (fds[i_pid].revents)
      break; /* the helper exits right after the command */
  }
  /* What the command wrote before it exited is in the pipes now. */
  if (out_open)
    crio_capture_read(&out);
  if (err_open)
    crio_capture_read(&errc);
  int exit_code = 0;
  crio_error_t finish_err = NULL;
  rc = oci_exec_helper_finish(&h, rt, id, &exit_code, &finish_err);
  oci_exec_remove_files(process_file, pid_file);
  crio_capture_finish(&out, &result->out, &result->out_len, &result->out_truncated);
  crio_capture_finish(&errc, &result->errout, &result->err_len, &result->err_truncated);

  if (timed_out) {
    crio_error_release(&finish_err);
    return crio_error(err, ETIMEDOUT, "exec in container %s: timed out after %lld ms; killed", id,
                      (long long)timeout_ms);
  }
  if (rc < 0) {
    oci_exec_result_release(result);
    *err = steal_pointer(&finish_err);
    return crio_error_prefix(err, "exec in container %s", id);
  }
  result->exit_code = exit_code;
  return 0;
}
