/* The infra process of a pod with a shared PID namespace: crio-pause as
 * PID 1 of that namespace, started detached from the daemon and stopped
 * only if its (pid, start time) still names it. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/syscalls.h"
#include "oci/oci.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* Everything the forked children need, prepared before fork: after fork()
 * in a multithreaded daemon a child may only make async-signal-safe calls
 * (no malloc, no locks) until it execs. */
struct infra_task {
  const char *pause_path;
  char *const *argv;
  int devnull;
  int report_w; /* child pid (int, or -errno) from the intermediate; an
                   errno from pause if exec fails */
  int go_r;     /* pause waits for one byte here before exec */
  int go_w;     /* the daemon's end: closed in the children, or pause would
                   never see EOF when the daemon gives up */
};

static void report_int(int fd, int v) {
  ssize_t w;
  do
    w = write(fd, &v, sizeof(v));
  while (w < 0 && errno == EINTR);
}

static _Noreturn void infra_exec_pause(const struct infra_task *t) {
  setsid();
  dup2(t->devnull, 0);
  dup2(t->devnull, 1);
  dup2(t->devnull, 2);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  close(t->go_w);
  char go;
  ssize_t n;
  do
    n = read(t->go_r, &go, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1)
    _exit(1); /* the daemon gave up (cgroup failed): never run */
  /* Every descriptor goes at exec; report_w stays usable until then. */
  crio_close_range(3U, ~0U, CLOSE_RANGE_CLOEXEC);
  char *const envp[] = {NULL};
  execve(t->pause_path, t->argv, envp);
  report_int(t->report_w, errno);
  _exit(127);
}

/* The intermediate child: creates the PID namespace, whose first child
 * becomes its init, reports that child's pid and exits, so pause is
 * reparented to init (or the nearest subreaper) and never becomes the
 * daemon's zombie. */
static _Noreturn void infra_intermediate(const struct infra_task *t) {
  if (unshare(CLONE_NEWPID) < 0) {
    report_int(t->report_w, -errno);
    _exit(1);
  }
  pid_t child = fork();
  if (child < 0) {
    report_int(t->report_w, -errno);
    _exit(1);
  }
  if (child == 0)
    infra_exec_pause(t);
  report_int(t->report_w, child);
  _exit(0);
}

static int infra_fork_task(void *arg, crio_error_t *err) {
  struct infra_task *t = arg;
  pid_t mid = fork();
  if (mid < 0)
    return crio_error_errno(err, errno, "fork");
  if (mid == 0)
    infra_intermediate(t);
  int status;
  while (waitpid(mid, &status, 0) < 0)
    if (errno != EINTR)
      return crio_error_errno(err, errno, "wait for intermediate %d", mid);
  return 0;
}

static int read_int(int fd, int *v, bool *eof) {
  ssize_t n;
  do
    n = read(fd, v, sizeof(*v));
  while (n < 0 && errno == EINTR);
  *eof = n == 0;
  return n == (ssize_t)sizeof(*v) || n == 0 ? 0 : -1;
}

int oci_infra_start(const struct oci_infra_config *cfg, pid_t *pid_out, uint64_t *start_time_out,
                    crio_error_t *err) {
  if (cfg->pause_path == NULL || access(cfg->pause_path, X_OK) < 0)
    return crio_error_errno(err, cfg->pause_path ? errno : EINVAL, "pause binary %s",
                            cfg->pause_path ? cfg->pause_path : "(none)");
  cleanup_close int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0)
    return crio_error_errno(err, errno, "open /dev/null");
  if (cfg->ns.path[OCI_NS_PID])
    return crio_error(err, EINVAL,
                      "start pause: it makes its own PID namespace, it cannot "
                      "join %s",
                      cfg->ns.path[OCI_NS_PID]);
  int report[2], go[2];
  if (pipe2(report, O_CLOEXEC) < 0)
    return crio_error_errno(err, errno, "pipe");
  cleanup_close int report_r = report[0];
  cleanup_close int report_w = report[1];
  if (pipe2(go, O_CLOEXEC) < 0)
    return crio_error_errno(err, errno, "pipe");
  cleanup_close int go_r = go[0];
  cleanup_close int go_w = go[1];

  char *const argv[] = {(char *)"crio-pause", NULL};
  struct infra_task task = {.pause_path = cfg->pause_path,
                            .argv = argv,
                            .devnull = devnull,
                            .report_w = report_w,
                            .go_r = go_r,
                            .go_w = go_w};
  /* net, ipc and uts are joined by the forking thread; the PID namespace is
   * made by the intermediate (made on the thread, the intermediate would be
   * its init). */
  if (oci_ns_run_in(&cfg->ns, infra_fork_task, &task, err) < 0)
    return crio_error_prefix(err, "start pause");
  close(steal_fd(&report_w));
  close(steal_fd(&go_r));

  int msg = 0;
  bool eof = false;
  if (read_int(report_r, &msg, &eof) < 0 || eof)
    return crio_error(err, EIO, "start pause: no report from the launcher");
  if (msg <= 0)
    return crio_error_errno(err, -msg, "start pause: new PID namespace");
  pid_t pid = msg;

  /* pause is blocked before exec until we write to go_w: if anything fails
   * now, closing go_w makes it exit without running. */
  if (cfg->cgroup_manager &&
      cfg->cgroup_manager->enter(cfg->cgroup_parent, cfg->pod_id, pid, err) < 0)
    return crio_error_prefix(err, "start pause");
  uint64_t start_time = 0;
  if (crio_proc_start_time(pid, &start_time, err) < 0)
    return crio_error_prefix(err, "start pause");
  if (write(go_w, "g", 1) != 1)
    return crio_error_errno(err, errno, "start pause: release %d", pid);
  close(steal_fd(&go_w));

  /* EOF: exec closed pause's copy of the pipe, so it runs. */
  if (read_int(report_r, &msg, &eof) < 0)
    return crio_error(err, EIO, "start pause: short report");
  if (!eof)
    return crio_error_errno(err, msg, "start pause: exec %s", cfg->pause_path);
  *pid_out = pid;
  *start_time_out = start_time;
  return 0;
}

/* State (field 3) and start time (field 22) of /proc/PID/stat; ENOENT when
 * there is no such process. */
static int proc_state(pid_t pid, char *state, uint64_t *start_time, crio_error_t *err) {
  cleanup_free char *path = xasprintf("/proc/%d/stat", (int)pid);
  cleanup_free char *stat = NULL;
  if (crio_read_file(path, &stat, NULL, err) < 0)
    return -1;
  /* comm (field 2) may hold spaces and parentheses: start after the last
   * ')'. */
  char *p = strrchr(stat, ')');
  if (p == NULL || p[1] != ' ' || p[2] == '\0')
    return crio_error(err, EINVAL, "parse %s", path);
  *state = p[2];
  return crio_proc_start_time(pid, start_time, err);
}

/* 1: (pid, start_time) is a live process; 0: gone, a zombie, or another
 * process with that pid. */
static int infra_alive(pid_t pid, uint64_t start_time, crio_error_t *err) {
  char state = 0;
  uint64_t seen = 0;
  crio_error_t e = NULL;
  if (proc_state(pid, &state, &seen, &e) < 0) {
    int status = crio_error_status(&e);
    if (status == ENOENT || status == ESRCH) {
      crio_error_release(&e);
      return 0;
    }
    if (err && *err == NULL)
      *err = steal_pointer(&e);
    crio_error_release(&e);
    return -1;
  }
  return seen == start_time && state != 'Z' && state != 'X';
}

int oci_infra_is_running(pid_t pid, uint64_t start_time, crio_error_t *err) {
  if (pid <= 0)
    return crio_error(err, EINVAL, "pause pid %d", (int)pid);
  return infra_alive(pid, start_time, err);
}

/* Waits until the process behind pidfd has exited (a zombie counts). */
static bool pidfd_wait(int pidfd, unsigned timeout_ms) {
  int64_t deadline = crio_monotonic_ns() + (int64_t)timeout_ms * 1000000;
  for (;;) {
    int64_t left = (deadline - crio_monotonic_ns()) / 1000000;
    struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
    int r = poll(&pfd, 1, left > 0 ? (int)left : 0);
    if (r > 0)
      return true;
    if (r == 0 || (r < 0 && errno != EINTR))
      return false;
  }
}

int oci_infra_stop(pid_t pid, uint64_t start_time, unsigned timeout_ms, crio_error_t *err) {
  if (pid <= 0)
    return crio_error(err, EINVAL, "stop pause: pid %d", (int)pid);
  /* The pidfd pins the process it names; checking the start time AFTER
   * opening it proves that process is ours, so the signals below cannot
   * reach a process that reused the pid. */
  cleanup_close int pidfd = crio_pidfd_open(pid, 0);
  if (pidfd < 0) {
    if (errno == ESRCH)
      return 0;
    return crio_error_errno(err, errno, "stop pause: pidfd_open %d", pid);
  }
  int alive = infra_alive(pid, start_time, err);
  if (alive < 0)
    return crio_error_prefix(err, "stop pause %d", pid);
  if (alive == 0) {
    log_debug("pause %d: already gone (or the pid was reused)", (int)pid);
    return 0;
  }
  if (crio_pidfd_send_signal(pidfd, SIGTERM, 0) < 0) {
    if (errno == ESRCH)
      return 0;
    return crio_error_errno(err, errno, "stop pause: SIGTERM %d", pid);
  }
  if (pidfd_wait(pidfd, timeout_ms))
    return 0;
  log_warning("pause %d did not exit on SIGTERM within %u ms: SIGKILL", (int)pid, timeout_ms);
  if (crio_pidfd_send_signal(pidfd, SIGKILL, 0) < 0 && errno != ESRCH)
    return crio_error_errno(err, errno, "stop pause: SIGKILL %d", pid);
  if (!pidfd_wait(pidfd, 5000))
    return crio_error(err, ETIMEDOUT, "stop pause: %d survived SIGKILL", pid);
  return 0;
}
