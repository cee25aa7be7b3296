/* Private to oci/'s runtime part: running helper processes (the runtime,
 * conmon, exec) and the command-line code runc and crun share. */
#ifndef CRIO_OCI_RUNTIME_INTERNAL_H
#define CRIO_OCI_RUNTIME_INTERNAL_H

#include "oci/runtime.h"

/* ---- spawning (runtime_proc.c) --------------------------------------------- */

/* The environment of every helper: PATH only, nothing of the daemon's. */
extern const char *const oci_proc_clean_env[];

struct oci_spawn {
  const char *const *argv;            /* argv[0] is the path; no PATH lookup, no shell */
  const char *const *envp;            /* NULL: oci_proc_clean_env */
  const char *cwd;                    /* NULL: the daemon's */
  int stdin_fd, stdout_fd, stderr_fd; /* -1: /dev/null */
  /* Descriptors the child gets as 3, 4, ... (conmon's sync and start
   * pipes); every other one is closed in the child. */
  const int *inherit;
  size_t n_inherit;
};

/* posix_spawn in a process group of its own, with default signal
 * dispositions and an empty mask.  Returns the pid and a pidfd (to poll
 * for its exit, and to signal it safely). */
int oci_spawn(const struct oci_spawn *s, pid_t *pid, int *pidfd, crio_error_t *err);

/* waitpid on exactly this child; *exit_code is the status, or 128+signal.
 * EIO if the status was taken by someone else. */
int oci_reap(pid_t pid, int *exit_code, crio_error_t *err);

/* Spawn, feed stdin, capture stdout and stderr up to their caps (the rest
 * is read and discarded, so the child never blocks), wait until the child
 * has exited or the deadline passed.  After the exit, output still in the
 * pipes is drained without waiting for EOF: a background process the
 * command left may hold them open.  On timeout, on_timeout (if set) runs
 * first, then the child's process group gets SIGKILL; the result says
 * timed_out and the call succeeds. */
struct oci_proc {
  struct oci_spawn spawn; /* stdio fds are ignored */
  const void *input;
  size_t input_len;
  size_t out_cap, err_cap; /* 0: 4 MiB and 64 KiB */
  int64_t timeout_ms;      /* 0: none */
  void (*on_timeout)(pid_t pid, void *arg);
  void *timeout_arg;
};
struct oci_proc_result {
  int exit_code;
  bool timed_out;
  char *out, *errout; /* NUL-terminated */
  size_t out_len, err_len;
  bool out_truncated, err_truncated;
};
int oci_proc_run(const struct oci_proc *p, struct oci_proc_result *r, crio_error_t *err);
void oci_proc_result_release(struct oci_proc_result *r);

/* Output read from a nonblocking pipe into a buffer that grows with what
 * arrives, up to the cap (16 MiB for exec), rather than being allocated
 * at the cap up front.  Beyond the cap, output is read and dropped. */
struct oci_capture {
  int fd;
  char *buf;
  size_t len, alloc, cap;
  bool truncated;
};
void oci_capture_init(struct oci_capture *c, int fd, size_t cap);
/* Reads what is there; false at EOF or on error. */
bool oci_capture_read(struct oci_capture *c);
/* Hands the NUL-terminated buffer over. */
void oci_capture_finish(struct oci_capture *c, char **out, size_t *len, bool *truncated);

/* 1: (pid, start_time) is a live process (not a zombie); 0: gone or
 * another process. */
int oci_proc_alive(pid_t pid, uint64_t start_time, crio_error_t *err);

/* ---- the shared runc/crun command line (runtime_cli.c) ---------------------- */

typedef enum oci_cli_failure (*oci_cli_classify_fn)(const struct oci_runtime *rt, const char *id,
                                                    const char *errout);

/* Runs `<path> <global args> <args...>` with the handler's deadline and
 * stdin input (may be NULL).  On a non-zero exit the error carries the
 * runtime's message and the status the classifier gives (ENOENT,
 * ESRCH, ENOSYS, EIO); *failure (may be NULL) says which.  *out
 * (may be NULL) gets stdout. */
int oci_cli_run(const struct oci_runtime *rt, oci_cli_classify_fn classify, const char *id,
                const char *const *args, const char *input, char **out,
                enum oci_cli_failure *failure, crio_error_t *err);

/* The operations, the same code for runc and crun: what differs between
 * them is data in their ops table (name, paths, and the classifier of
 * their error messages, rt->ops->classify) and the host check. */
int oci_cli_version(const struct oci_runtime *rt, char **version, crio_error_t *err);
int oci_cli_features(const struct oci_runtime *rt, char **json, crio_error_t *err);
int oci_cli_state(const struct oci_runtime *rt, const char *id, struct oci_runtime_state *out,
                  crio_error_t *err);
int oci_cli_start(const struct oci_runtime *rt, const char *id, crio_error_t *err);
int oci_cli_kill(const struct oci_runtime *rt, const char *id, int signal, bool all,
                 crio_error_t *err);
int oci_cli_delete(const struct oci_runtime *rt, const char *id, crio_error_t *err);
int oci_cli_update(const struct oci_runtime *rt, const char *id, const char *resources_json,
                   crio_error_t *err);
int oci_cli_pause(const struct oci_runtime *rt, const char *id, crio_error_t *err);
int oci_cli_resume(const struct oci_runtime *rt, const char *id, crio_error_t *err);
char **oci_cli_global_args(const struct oci_runtime *rt);
char **oci_cli_exec_argv(const struct oci_runtime *rt, const char *id, const char *process_file,
                         const char *pid_file, const char *console_socket);

/* ---- the exec helper (exec_sync.c), shared with exec_session.c --------------
 * A process forked from the daemon that makes itself a child subreaper and
 * runs `runtime exec --detach`: the command, orphaned when the runtime
 * exits, becomes its child; it reaps it and reports the status on
 * report_r. */
struct oci_exec_helper {
  pid_t pid;
  int pidfd; /* readable once the helper exited */
  uint64_t start_time;
  int report_r;
};
int oci_exec_helper_start(char *const *argv, const char *pid_file, int in, int out_w, int err_w,
                          struct oci_exec_helper *h, crio_error_t *err);
/* After the helper exited (or to wait for it): reaps it and reads its
 * report.  *exit_code: the command's code, or the runtime's when it could
 * not start the command (no such binary); errors for a container the
 * runtime no longer runs and for a lost helper. */
int oci_exec_helper_finish(struct oci_exec_helper *h, const struct oci_runtime *rt, const char *id,
                           int *exit_code, crio_error_t *err);
/* SIGKILL to the command: through the runtime where it is not a host
 * process (ops->exec_kill), and to the host process named by pid_file and
 * its process group, if it started after the helper did. */
void oci_exec_kill_command(const struct oci_runtime *rt, const char *id, const char *pid_file,
                           uint64_t helper_start);
/* Removes an exec's files: the process file, the pid file and the
 * runtime's own pid file beside it (OCI_EXEC_INTERNAL_PID_SUFFIX). */
void oci_exec_remove_files(const char *process_file, const char *pid_file);
/* pid_file + this: where a runtime whose commands are not host processes
 * writes the command's pid as its kernel numbers it (runsc
 * --internal-pid-file). */
#define OCI_EXEC_INTERNAL_PID_SUFFIX ".internal"
int oci_exec_check_container_runs(const struct oci_runtime *rt, const char *id, crio_error_t *err);
/* <work_dir>/exec-XXXXXX.json holding process_json, and the matching
 * .pid path. */
int oci_exec_write_process_file(const char *work_dir, const char *process_json, char **process_file,
                                char **pid_file, crio_error_t *err);
bool oci_exec_wait_pidfd(int pidfd, int ms);

/* Container ids reach argv and paths: [A-Za-z0-9][A-Za-z0-9_.-]*, at most
 * 256 characters (a superset of what runc accepts would fail later and
 * less clearly). */
int oci_check_container_id(const char *id, crio_error_t *err);

#endif
