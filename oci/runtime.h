/* oci/ runtime part: running containers through an OCI runtime (runc,
 * crun) watched by conmon.  A sub-interface of oci/ (oci/oci.h includes it):
 *
 *   runtime handlers — the runtime's command line (state, start, kill,
 *                      delete, update, pause/resume, version, features),
 *                      shared by runc, crun and runsc, with a table of each
 *                      one's differences; the stop helper (signal, wait,
 *                      SIGKILL)
 *   conmon           — one monitor per container, spawned with its
 *                      documented flags and sync-pipe protocol; its control
 *                      FIFO (log reopen, window resize)
 *   exits            — conmon's exit files turned into callbacks (inotify
 *                      on the exit dir; a scan at start-up)
 *   exec             — ExecSync: a command in a running container with a
 *                      deadline and an output cap
 *   stats            — the cgroup of a container's process
 *
 * Every function follows common/'s error convention.  Processes are spawned
 * without a shell, with a clean environment and only the descriptors they
 * need; each is reaped by its own pid, never by waitpid(-1). */
#ifndef CRIO_OCI_RUNTIME_H
#define CRIO_OCI_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/common.h"

/* ==== runtime handlers ===================================================== */

/* The "status" of `runtime state` (OCI runtime spec, "state"). */
enum oci_container_status {
  OCI_STATUS_UNKNOWN = 0,
  OCI_STATUS_CREATING,
  OCI_STATUS_CREATED,
  OCI_STATUS_RUNNING,
  OCI_STATUS_PAUSED,
  OCI_STATUS_STOPPED,
};
/* "creating", "created", "running", "paused", "stopped", "unknown". */
const char *oci_container_status_name(enum oci_container_status status);

struct oci_runtime_state {
  enum oci_container_status status;
  pid_t pid; /* host pid of the container's init; 0 once stopped */
};

struct oci_runtime;
struct cJSON;

/* A container's usage as its runtime reports it. */
struct oci_runtime_stats {
  uint64_t cpu_usage_ns;       /* cumulative */
  uint64_t memory_usage_bytes; /* the sandbox's: gVisor counts memory per sandbox */
  uint64_t pids;
};

/* One runtime's command line.  runc, crun and runsc share it (the code
 * lives in runtime_cli.c); a runtime's table below holds only what differs:
 * how each says "no such container" and "not running", which subcommands
 * it lacks, which hosts it refuses, and the few operations one runtime
 * does its own way (runsc's start and kill).  Every operation runs the
 * binary once with the handler's deadline.
 *
 * Idempotence, for reconciler steps that may run again:
 *   state   ENOENT when the runtime does not know the container
 *   start   ENOENT unknown; success if already running or paused; EALREADY
 *           if it has stopped (it was started before, or killed)
 *   kill    ENOENT unknown; ESRCH if it is not running (already exited)
 *   delete  always --force (kills what still runs); unknown is success
 *   update  resources as OCI LinuxResources JSON, fed on stdin
 *   pause, resume: ENOENT unknown */
/* What a failed command's stderr means, per runtime. */
enum oci_cli_failure {
  OCI_CLI_FAILED = 0,    /* anything else */
  OCI_CLI_NOT_FOUND,     /* no such container */
  OCI_CLI_NOT_RUNNING,   /* the container's process is gone */
  OCI_CLI_NO_SUBCOMMAND, /* the runtime lacks the subcommand */
};

/* Subcommands a runtime does not have (ENOSYS without running it). */
enum {
  OCI_LACKS_FEATURES = 1 << 0, /* runsc (crun 1.8 too, found from its answer) */
  OCI_LACKS_UPDATE = 1 << 1,   /* runsc */
};

/* A runtime as data: the table of its differences from the shared
 * command line. */
struct oci_runtime_ops {
  const char *name;         /* "runc", "crun", "runsc": a handler's runtime_type */
  const char *default_path; /* Debian's binary */
  const char *default_root; /* the runtime's own default --root */
  /* What a failed command's stderr means (the runtime's wording). */
  enum oci_cli_failure (*classify)(const struct oci_runtime *rt, const char *id,
                                   const char *errout);
  unsigned lacks; /* OCI_LACKS_* */
  /* 0 if the runtime can run containers on this host; ENOTSUP with the
   * reason otherwise (crun 1.8 refuses a hybrid cgroup layout whose v2
   * hierarchy has controllers: this machine's).  NULL: every host. */
  int (*check_host)(const struct oci_runtime *rt, crio_error_t *err);
  /* Operations done otherwise than by the shared command line; NULL: the
   * shared one (oci_runtime_start, oci_runtime_kill). */
  int (*start)(const struct oci_runtime *rt, const char *id, crio_error_t *err);
  int (*kill)(const struct oci_runtime *rt, const char *id, int signal, bool all,
              crio_error_t *err);
  /* The argv of an exec (oci_runtime_exec_argv); NULL: the shared one.
   * runsc adds --internal-pid-file. */
  char **(*exec_argv)(const struct oci_runtime *rt, const char *id, const char *process_file,
                      const char *pid_file, const char *console_socket);
  /* Kills an exec'd command that is not the host process pid_file names
   * (gVisor: that process is `runsc exec`, the command lives in the
   * sandbox's kernel and outlives it).  NULL: the host process is the
   * command, and killing its group is enough. */
  void (*exec_kill)(const struct oci_runtime *rt, const char *id, const char *pid_file);
  /* A sandbox per pod (gVisor): the pod's first container, its infra,
   * starts a sandbox that every other container of the pod joins; no
   * container process is a host process, so an exit is known from
   * `<runtime> wait` (conmon runs the runtime through the handler's
   * monitor shim, crio-runsc-shim) and a stop waits on `state`, not on a
   * pid.  The pod's infra container is named by the pod id. */
  bool sandbox_per_pod;
  /* Usage of a container as the runtime counts it (`runsc events
   * --stats`): for a sandbox-per-pod runtime the host cgroup holds the
   * sandbox, not the container.  NULL: the cgroup of the init is the
   * truth. */
  int (*stats)(const struct oci_runtime *rt, const char *id, struct oci_runtime_stats *out,
               crio_error_t *err);
  /* What a container's spec (cJSON) must lose or gain for this runtime
   * (runsc: capabilities it does not know).  NULL: nothing. */
  void (*spec_fixup)(struct cJSON *spec);
};

extern const struct oci_runtime_ops oci_runtime_runc;
extern const struct oci_runtime_ops oci_runtime_crun;
extern const struct oci_runtime_ops oci_runtime_runsc;

/* "runc", "crun" or "runsc" (runtime_registry.c); EINVAL naming the
 * handler for another. */
const struct oci_runtime_ops *oci_runtime_ops_get(const char *name, crio_error_t *err);

/* A configured handler (crio.conf's [crio.runtime.runtimes.<name>]).
 * Strings are borrowed: they must outlive the struct. */
struct oci_runtime {
  const struct oci_runtime_ops *ops;
  const char *path;    /* NULL: ops->default_path */
  const char *root;    /* --root, the runtime's state dir; NULL: ops->default_root */
  bool systemd_cgroup; /* --systemd-cgroup (cgroupsPath is "slice:prefix:name") */
  unsigned timeout_ms; /* deadline of each command; 0: OCI_RUNTIME_TIMEOUT_MS */
  /* The handler's runtime_args (NULL-terminated, may be NULL): global
   * options after --root, such as runsc's --platform=ptrace. */
  const char *const *runtime_args;
  /* sandbox_per_pod runtimes: what conmon runs as the runtime
   * (crio-runsc-shim, which runs this runtime's create and waits). */
  const char *monitor_shim;
  const char *monitor_path;               /* conmon for this handler; NULL: the daemon's */
  const char *const *monitor_env;         /* conmon's extra environment; may be NULL */
  const char *const *allowed_annotations; /* reported; none is acted on yet */
  bool privileged_without_host_devices;
};
#define OCI_RUNTIME_TIMEOUT_MS 60000u

const char *oci_runtime_path(const struct oci_runtime *rt);
const char *oci_runtime_root(const struct oci_runtime *rt);

/* The operations (runtime_cli.c; start and kill through the table's
 * override, if any). */
int oci_runtime_check_host(const struct oci_runtime *rt, crio_error_t *err);
/* "1.1.5+ds1" (malloc'd) from `<runtime> --version`. */
int oci_runtime_version(const struct oci_runtime *rt, char **version, crio_error_t *err);
/* `<runtime> features` JSON (malloc'd); ENOSYS if the runtime has no such
 * subcommand (crun 1.8, runsc). */
int oci_runtime_features(const struct oci_runtime *rt, char **json, crio_error_t *err);
int oci_runtime_state(const struct oci_runtime *rt, const char *id, struct oci_runtime_state *out,
                      crio_error_t *err);
int oci_runtime_start(const struct oci_runtime *rt, const char *id, crio_error_t *err);
/* `all`: every process of the container's cgroup (kill --all), for a
 * container whose init is not its PID namespace's init. */
int oci_runtime_kill(const struct oci_runtime *rt, const char *id, int signal, bool all,
                     crio_error_t *err);
int oci_runtime_delete(const struct oci_runtime *rt, const char *id, crio_error_t *err);
int oci_runtime_update(const struct oci_runtime *rt, const char *id, const char *resources_json,
                       crio_error_t *err);
int oci_runtime_pause(const struct oci_runtime *rt, const char *id, crio_error_t *err);
int oci_runtime_resume(const struct oci_runtime *rt, const char *id, crio_error_t *err);
/* The runtime's own count of a container's usage; ENOSYS when the runtime
 * has none (read the cgroup instead). */
int oci_runtime_stats(const struct oci_runtime *rt, const char *id, struct oci_runtime_stats *out,
                      crio_error_t *err);
/* The argv (malloc'd, NULL-terminated; free with cleanup_strv) that starts
 * `process_file` (an OCI "process" object) in container `id` detached,
 * with the runtime's own stdio, writes its host pid to pid_file and exits
 * once it runs.  Used by oci_exec_sync and oci_exec_session_start, whose
 * subreaper helper then reaps the command.  console_socket (may be NULL):
 * the unix socket the runtime sends the terminal's master to (a process
 * with "terminal": true). */
char **oci_runtime_exec_argv(const struct oci_runtime *rt, const char *id, const char *process_file,
                             const char *pid_file, const char *console_socket);
/* The runtime's global options (--root=..., then the handler's
 * runtime_args) as separate words (malloc'd strv): conmon passes each
 * with --runtime-arg. */
char **oci_runtime_global_args(const struct oci_runtime *rt);

/* Stops container `id`: `stop_signal` (SIGTERM, or the image's) to its
 * init, a wait of up to timeout_ms for it to exit, then SIGKILL to every
 * process of the container (kill --all) and a wait of up to
 * OCI_STOP_KILL_WAIT_MS.  timeout_ms 0 sends SIGKILL at once.  A paused
 * container is resumed first (a frozen process cannot act on a signal).
 * The exit is watched through a pidfd on the init pid that `state`
 * reported (re-checked after opening, so a reused pid is never watched).
 * Success when the init has exited, was already stopped, or the container
 * is unknown; ETIMEDOUT if it survives SIGKILL (uninterruptible sleep). */
#define OCI_STOP_KILL_WAIT_MS 10000
int oci_runtime_stop(const struct oci_runtime *rt, const char *id, int stop_signal,
                     int64_t timeout_ms, crio_error_t *err);

/* ==== conmon =============================================================== */

/* conmon (2.1.x, unmodified) monitors one container: it runs
 * `runtime create`, holds the container's stdio (logs in the CRI format),
 * reaps its init and writes the exit code to <exit_dir>/<id>.  It
 * double-forks, so it outlives the daemon.  Files it uses in the bundle
 * dir (which is also its working dir): */
#define OCI_CONMON_PIDFILE "conmon-pidfile" /* conmon's own pid (-P) */
#define OCI_CONMON_CTR_PIDFILE "pidfile"    /* the container's init (-p) */
#define OCI_CONMON_CTL "ctl"                /* control FIFO: "<type> <h> <w>\n" */
#define OCI_CONMON_WINSZ "winsz"
/* ... and in the persist dir: "exit" (the exit code, like the exit dir's
 * file) and "oom" (empty; created when the cgroup saw an OOM kill, before
 * conmon writes the exit files).  conmon also creates "oom" in its working
 * dir (the bundle). */
#define OCI_CONMON_EXIT "exit"
#define OCI_CONMON_OOM "oom"

struct oci_conmon_config {
  const char *conmon_path;           /* NULL: "/usr/bin/conmon" */
  const struct oci_runtime *runtime; /* -r, --runtime-arg, -s */
  const char *id;                    /* -c and -u */
  const char *name;                  /* -n; NULL: id */
  const char *bundle;                /* -b, and conmon's working dir */
  const char *persist_dir;           /* --persist-dir; NULL: bundle */
  const char *exit_dir;              /* --exit-dir (created if missing) */
  const char *socket_dir;            /* --socket-dir-path: <socket_dir>/<id> -> bundle */
  const char *log_path;              /* -l k8s-file:<log_path> (dir created) */
  int64_t log_size_max;              /* --log-size-max; <= 0: unlimited */
  const char *log_level;             /* error|warn|info|debug|trace; NULL: "error" */
  bool terminal;                     /* -t */
  bool stdin_open;                   /* -i (ignored with terminal) */
  bool stdin_once;                   /* without it: --leave-stdin-open */
  bool syslog;                       /* --syslog: conmon's own messages */
  unsigned create_timeout_ms;        /* runtime create; 0: OCI_CONMON_CREATE_TIMEOUT_MS */
  /* Called with conmon's pid while conmon still waits for the start pipe,
   * before it forks anything (move it into a cgroup).  May be NULL. */
  int (*before_start)(pid_t conmon_pid, void *arg, crio_error_t *err);
  void *before_start_arg;
};
#define OCI_CONMON_CREATE_TIMEOUT_MS 240000u

/* What a create leaves on the host: record all three. */
struct oci_conmon_created {
  pid_t container_pid;        /* the container's init (state "created") */
  pid_t conmon_pid;           /* the daemonized conmon */
  uint64_t conmon_start_time; /* crio_proc_start_time of conmon_pid */
};

/* Spawns conmon, which runs `runtime create` and reports the container's
 * pid on the sync pipe ({"data": pid} or {"data": -1, "message": ...}).
 * Removes a stale exit file and pid files of an earlier attempt first (a
 * fresh create must not inherit its exit).  Not idempotent by itself: a
 * step that may run again checks `state` first, and deletes a container the
 * runtime knows but no live conmon watches before creating it again.
 * EIO with the runtime's message when create fails; ETIMEDOUT (conmon
 * killed) when it does not finish in time. */
int oci_conmon_create(const struct oci_conmon_config *cfg, struct oci_conmon_created *out,
                      crio_error_t *err);

/* The pid in <bundle>/conmon-pidfile (ENOENT if there is none). */
int oci_conmon_read_pidfile(const char *bundle, pid_t *pid, crio_error_t *err);

/* 1 if (pid, start_time) is a live conmon we started, 0 if it is gone, a
 * zombie, or another process reusing the pid. */
int oci_conmon_is_running(pid_t pid, uint64_t start_time, crio_error_t *err);

/* SIGKILL to conmon if (pid, start_time) still names it (through a pidfd,
 * so a reused pid is never signalled); gone is success.  The container
 * keeps running without its monitor: for cleanup of failed creates. */
int oci_conmon_kill(pid_t pid, uint64_t start_time, crio_error_t *err);

/* Removes <socket_dir>/<id>, the link conmon made to the bundle for its
 * attach socket.  conmon removes the socket when it exits but never the
 * link (it unlinks "<link>/attach", which resolves into the bundle), so
 * RemoveContainer does.  Absent is success. */
int oci_conmon_remove_attach_link(const char *socket_dir, const char *id, crio_error_t *err);

/* ReopenContainerLog: asks conmon (message 2 on <bundle>/ctl) to reopen
 * log_path, and waits up to timeout_ms until a new file is at log_path
 * (conmon creates <log_path>.tmp and renames it over log_path).  EBUSY when
 * no conmon reads the FIFO (the container has exited). */
int oci_conmon_reopen_log(const char *bundle, const char *log_path, unsigned timeout_ms,
                          crio_error_t *err);

/* Terminal resize (message 1 on <bundle>/ctl); conmon applies it to the
 * container's pty.  EBUSY when no conmon reads the FIFO. */
int oci_conmon_resize(const char *bundle, unsigned height, unsigned width, crio_error_t *err);

/* Attach (conmon_attach.c): a connection to conmon's attach socket,
 * <bundle>/attach (SOCK_SEQPACKET).  Packets from conmon start with a
 * byte naming the pipe; bytes written go to the container's stdin;
 * shutdown(SHUT_WR) closes it unless conmon leaves stdin open.  EBUSY
 * when no conmon listens. */
#define OCI_CONMON_ATTACH "attach"
#define OCI_CONMON_ATTACH_STDOUT 2
#define OCI_CONMON_ATTACH_STDERR 3
#define OCI_CONMON_ATTACH_PACKET 8193 /* conmon's STDIO_BUF_SIZE + the pipe byte */
int oci_conmon_attach_connect(const char *bundle, int *fd, crio_error_t *err);

/* ==== exits ================================================================ */

/* A container's end as conmon recorded it. */
struct oci_exit_status {
  const char *id;
  int exit_code;          /* the code, 128+signal if killed, as conmon wrote it */
  bool oom_killed;        /* "oom" was in the persist dir */
  int64_t finished_at_ns; /* mtime of the exit file (conmon writes it on exit) */
};

/* CRI's termination reasons. */
enum oci_exit_reason {
  OCI_EXIT_COMPLETED = 0, /* exit code 0 */
  OCI_EXIT_ERROR,         /* non-zero */
  OCI_EXIT_OOM_KILLED,    /* the cgroup OOM-killed it (whatever the code) */
};
enum oci_exit_reason oci_exit_reason_of(const struct oci_exit_status *st);
/* "Completed", "Error", "OOMKilled". */
const char *oci_exit_reason_name(enum oci_exit_reason reason);

/* Reads <exit_dir>/<id> and, if persist_dir is not NULL, <persist_dir>/oom.
 * ENOENT while there is no exit file (the container has not exited, or
 * conmon died first); EINVAL for content that is not an integer.  out->id
 * points at `id`. */
int oci_exit_file_read(const char *exit_dir, const char *id, const char *persist_dir,
                       struct oci_exit_status *out, crio_error_t *err);

/* Waits up to timeout_ms for <exit_dir>/<id> (conmon writes it shortly
 * after the init died, once the output is drained).  ETIMEDOUT if it does
 * not appear. */
int oci_exit_file_wait(const char *exit_dir, const char *id, unsigned timeout_ms,
                       crio_error_t *err);

/* Removes <exit_dir>/<id>; absent is success.  For RemoveContainer: exit
 * files stay until then, so a restart can read them again. */
int oci_exit_file_remove(const char *exit_dir, const char *id, crio_error_t *err);

typedef void (*oci_exit_fn)(const struct oci_exit_status *st, void *arg);

/* Reports every exit file already in exit_dir (start-up: containers that
 * exited while the daemon was down).  `persist_root` (may be NULL) is where
 * persist dirs are, as <persist_root>/<id>: where "oom" is looked for.
 * Files that do not parse are skipped with a warning. */
int oci_exit_scan(const char *exit_dir, const char *persist_root, oci_exit_fn fn, void *arg,
                  crio_error_t *err);

/* Watches exit_dir (inotify) on a thread of its own and calls fn there for
 * each exit file that appears.  The watch is in place before the initial
 * scan, so an exit is reported at least once: possibly twice, when it
 * lands during the scan, or again after an inotify queue overflow (which
 * rescans).  fn must be quick and must not stop the watch. */
struct oci_exit_watch;
int oci_exit_watch_start(const char *exit_dir, const char *persist_root, oci_exit_fn fn, void *arg,
                         struct oci_exit_watch **out, crio_error_t *err);
/* Stops the thread (waits for a running callback) and frees; NULL is fine. */
void oci_exit_watch_stop(struct oci_exit_watch *w);

/* ==== exec ================================================================= */

/* The process of an ExecSync: the container's own "process" from its
 * bundle's config.json (user, env, cwd, capabilities, LSM labels,
 * rlimits...) with `argv` as args and no terminal.  JSON, malloc'd. */
int oci_exec_process_json(const char *config_json_path, const char *const *argv, char **json,
                          crio_error_t *err);

struct oci_exec_result {
  int exit_code; /* the command's code, 128+signal if killed */
  char *out;     /* NUL-terminated; may hold NULs within out_len */
  size_t out_len;
  bool out_truncated; /* more was written than the cap; the rest discarded */
  char *errout;
  size_t err_len;
  bool err_truncated;
};
void oci_exec_result_release(struct oci_exec_result *r);

#define OCI_EXEC_OUTPUT_CAP (16u << 20) /* per stream, like CRI-O's total */

/* Runs `process_json` in running container `id` and captures stdout and
 * stderr (each up to output_cap bytes, 0: OCI_EXEC_OUTPUT_CAP).  The
 * process file and pid file are made in work_dir (the bundle) and removed.
 * timeout_ms 0 means no deadline.  On timeout the command's process group
 * (it is a session leader in the container) is killed and ETIMEDOUT is
 * returned, with what it wrote so far in *result.  A command that cannot
 * start (no such binary) is a result with the runtime's exit code and its
 * message on stderr, not an error. */
int oci_exec_sync(const struct oci_runtime *rt, const char *id, const char *process_json,
                  const char *work_dir, int64_t timeout_ms, size_t output_cap,
                  struct oci_exec_result *result, crio_error_t *err);

/* ---- interactive exec (exec_session.c): the CRI's streaming Exec ---------
 * `process_json` must carry "terminal": true exactly when options->tty
 * (oci_exec_process_json_terminal).  The command starts before this
 * returns; its stdio is the caller's through oci_exec_session_fd (-1 for
 * what was not asked for): pipes, or with a terminal the pty's master for
 * both input and output.  All descriptors are nonblocking. */
int oci_exec_process_json_terminal(const char *config_json_path, const char *const *argv,
                                   bool terminal, char **json, crio_error_t *err);
struct oci_exec_session_options {
  bool tty, stdin, stdout, stderr;
  unsigned rows, cols; /* initial terminal size; 0: the runtime's */
};
struct oci_exec_session;
int oci_exec_session_start(const struct oci_runtime *rt, const char *id, const char *process_json,
                           const char *work_dir, const struct oci_exec_session_options *options,
                           struct oci_exec_session **out, crio_error_t *err);
enum oci_exec_fd {
  OCI_EXEC_FD_STDIN,
  OCI_EXEC_FD_STDOUT,
  OCI_EXEC_FD_STDERR,
  OCI_EXEC_FD_EXIT, /* readable once the command has exited and been reaped */
};
int oci_exec_session_fd(const struct oci_exec_session *s, enum oci_exec_fd which);
/* End of input: closes the stdin pipe (a terminal stays open). */
void oci_exec_session_close_stdin(struct oci_exec_session *s);
int oci_exec_session_resize(struct oci_exec_session *s, unsigned rows, unsigned cols);
/* Kills the command and its process group now (its exit is reported as
 * usual through OCI_EXEC_FD_EXIT). */
void oci_exec_session_kill(struct oci_exec_session *s);
/* Once OCI_EXEC_FD_EXIT is readable: the command's exit code (128+signal
 * if killed), or the runtime's when it could not start the command. */
int oci_exec_session_finish(struct oci_exec_session *s, int *exit_code, crio_error_t *err);
/* Kills the command (and its process group) if it still runs, reaps, closes
 * every descriptor and removes the process and pid files.  NULL is fine. */
void oci_exec_session_free(struct oci_exec_session *s);

/* ==== stats ================================================================ */

/* The cgroup path (relative to the hierarchy roots, starting with '/') of
 * a process: on cgroup v1 its memory controller's, on a unified host its
 * v2 path.  With the container's init pid this is the container's cgroup,
 * whichever cgroup manager named it; oci's cgroup managers read its stats.
 * ENOENT when the process is gone. */
int oci_process_cgroup_path(pid_t pid, char **path, crio_error_t *err);

#endif
