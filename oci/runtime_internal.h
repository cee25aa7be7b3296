/* Private to oci/'s runtime part: the command-line code runc, crun and
 * runsc share, and the exec helper. */
#ifndef CRIO_OCI_RUNTIME_INTERNAL_H
#define CRIO_OCI_RUNTIME_INTERNAL_H

#include "oci/runtime.h"

/* The runtime, conmon and exec are run through common/'s spawner
 * (crio_spawn, crio_run: a clean environment, only the descriptors named,
 * a process group of their own, output caps, a deadline). */

/* ---- the shared command line (runtime_cli.c) -------------------------------- */

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

/* The shared start, kill and exec argv, which a runtime's own (runsc's)
 * falls back on or builds on; every other operation is the shared one (oci_runtime_* in runtime.h).
 */
int oci_cli_start(const struct oci_runtime *rt, const char *id, crio_error_t *err);
int oci_cli_kill(const struct oci_runtime *rt, const char *id, int signal, bool all,
                 crio_error_t *err);
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
