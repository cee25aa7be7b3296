/* common/: the conventions every folder shares — the error type, the
 * allocator family that aborts on exhaustion, cleanup attributes for plain
 * libc resources, logging, and small process helpers.  This header is the
 * folder's whole interface. */
#ifndef CRIO_COMMON_H
#define CRIO_COMMON_H

#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* ---- errors -------------------------------------------------------------
 * One convention everywhere (crun's): a function that can fail takes
 * `crio_error_t *err` last, returns a negative value on failure and fills
 * *err.  The status is an errno value; cri/ maps it to a gRPC code
 * (EINVAL -> INVALID_ARGUMENT, ENOENT -> NOT_FOUND, EEXIST -> ALREADY_EXISTS,
 * EBUSY -> FAILED_PRECONDITION, ETIMEDOUT -> DEADLINE_EXCEEDED,
 * ENOSYS -> UNIMPLEMENTED, ...).  Callers add context on the way up with
 * crio_error_prefix() instead of logging at every level. */
struct crio_error_s {
  int status; /* errno-like, > 0 */
  char *msg;  /* full message, context first */
};
typedef struct crio_error_s *crio_error_t;

/* Sets *err (if err is non-NULL and empty) and returns -1.  A failure is one
 * line:  return crio_error(err, errno, "open %s", path);  */
int crio_error(crio_error_t *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Like crio_error() but appends ": strerror(status)". */
int crio_error_errno(crio_error_t *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prepends "context: " to an existing error; returns -1. */
int crio_error_prefix(crio_error_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void crio_error_release(crio_error_t *err);
/* Best-effort cleanup: turn an error into a logged warning, explicitly. */
void crio_error_warn(crio_error_t *err, const char *what);
static inline int crio_error_status(const crio_error_t *err) {
  return (err && *err) ? (*err)->status : 0;
}
static inline const char *crio_error_message(const crio_error_t *err) {
  return (err && *err && (*err)->msg) ? (*err)->msg : "";
}
/* Re-classifies an error (e.g. a step's internal EINVAL, which must not
 * reach the kubelet as INVALID_ARGUMENT of its request). */
static inline void crio_error_set_status(crio_error_t *err, int status) {
  if (err && *err)
    (*err)->status = status;
}
#define cleanup_error __attribute__((cleanup(crio_error_release)))

/* ---- allocation: abort with a message on exhaustion ---------------------- */
void *xmalloc(size_t size);
void *xzalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap);

/* ---- cleanup attributes for libc resources ------------------------------- */
void cleanup_freep(void *p);
void cleanup_closep(int *fd);
void cleanup_fclosep(FILE **f);
void cleanup_closedirp(DIR **d);
void cleanup_strvp(char ***v);
#define cleanup_free __attribute__((cleanup(cleanup_freep)))
#define cleanup_close __attribute__((cleanup(cleanup_closep)))
#define cleanup_file __attribute__((cleanup(cleanup_fclosep)))
#define cleanup_dir __attribute__((cleanup(cleanup_closedirp)))
#define cleanup_strv __attribute__((cleanup(cleanup_strvp)))

/* Hand ownership on: returns the value and resets the variable. */
#define steal_pointer(pp)                                                                          \
  ({                                                                                               \
    __typeof__(*(pp)) steal_tmp__ = *(pp);                                                         \
    *(pp) = NULL;                                                                                  \
    steal_tmp__;                                                                                   \
  })
#define steal_fd(fdp)                                                                              \
  ({                                                                                               \
    int steal_fd_tmp__ = *(fdp);                                                                   \
    *(fdp) = -1;                                                                                   \
    steal_fd_tmp__;                                                                                \
  })

/* ---- logging --------------------------------------------------------------
 * The log sink is process-wide like stderr itself: configured once by
 * crio_log_init() before any thread starts, read-only afterwards.  Under
 * systemd (JOURNAL_STREAM set) records go to journald with their priority. */
enum crio_log_level {
  CRIO_LOG_ERROR = 0,
  CRIO_LOG_WARNING,
  CRIO_LOG_INFO,
  CRIO_LOG_DEBUG,
  CRIO_LOG_TRACE,
};
int crio_log_level_parse(const char *name, enum crio_log_level *out);
const char *crio_log_level_name(enum crio_log_level level);
void crio_log_init(enum crio_log_level level, bool use_journal);
/* The one change allowed while threads run (a SIGHUP reload). */
void crio_log_set_level(enum crio_log_level level);
bool crio_log_enabled(enum crio_log_level level);
void crio_log(enum crio_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#define log_error(...) crio_log(CRIO_LOG_ERROR, __VA_ARGS__)
#define log_warning(...) crio_log(CRIO_LOG_WARNING, __VA_ARGS__)
#define log_info(...) crio_log(CRIO_LOG_INFO, __VA_ARGS__)
#define log_debug(...) crio_log(CRIO_LOG_DEBUG, __VA_ARGS__)

/* ---- time ---------------------------------------------------------------- */
int64_t crio_now_ns(void);       /* CLOCK_REALTIME, nanoseconds */
int64_t crio_monotonic_ns(void); /* CLOCK_MONOTONIC, nanoseconds */

/* ---- files ---------------------------------------------------------------- */
/* mkdir -p with mode for each created component. */
int crio_mkdir_p(const char *path, mode_t mode, crio_error_t *err);
/* Write a file that must survive a crash: temp name, fsync, rename, fsync dir. */
int crio_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                           crio_error_t *err);
/* The same without syncing: for files under the run dir, which a reboot
 * empties anyway and a daemon crash cannot lose (the page cache outlives
 * the process), so an fsync would buy nothing but latency. */
int crio_write_file_replace(const char *path, const void *data, size_t len, mode_t mode,
                            crio_error_t *err);
/* An exclusive flock(2) on `path`, a lock file created (0600) if missing:
 * *fd_out holds it (close to release).  EBUSY at once when another
 * process holds it; callers say who that is. */
int crio_lock_file_try(const char *path, int *fd_out, crio_error_t *err);
/* Read a whole (small) file; *out is NUL-terminated. */
int crio_read_file(const char *path, char **out, size_t *len, crio_error_t *err);
/* The same for a path a client names: only a regular file (a FIFO or a
 * device is EINVAL, without blocking on it) of at most `max` bytes
 * (EFBIG beyond). */
int crio_read_regular_file(const char *path, size_t max, char **out, size_t *len,
                           crio_error_t *err);

/* ---- processes ------------------------------------------------------------ */
/* Start time of a process (field 22 of /proc/PID/stat, clock ticks since
 * boot): together with the pid it names a process unambiguously. */
int crio_proc_start_time(pid_t pid, uint64_t *start_time, crio_error_t *err);
/* 1: (pid, start_time) is a live process (not a zombie); 0: gone, or the
 * pid now names another process. */
int crio_proc_alive(pid_t pid, uint64_t start_time, crio_error_t *err);

/* ---- spawning helper processes (spawn.c) ------------------------------------ */
/* The one way the daemon runs another program (an OCI runtime, conmon, a
 * CNI plugin): posix_spawn without a shell or PATH lookup, an environment
 * given whole, only the descriptors named here, in a process group of its
 * own with default signal dispositions and an empty mask; reaped by pid,
 * never with waitpid(-1) (other code relies on reaping only its own
 * children). */

/* PATH only, nothing of the daemon's environment. */
extern const char *const crio_spawn_clean_env[];

struct crio_spawn {
  const char *const *argv;            /* argv[0] is the path; no PATH lookup, no shell */
  const char *const *envp;            /* the child's whole environment; NULL: clean_env */
  const char *cwd;                    /* NULL: the daemon's */
  int stdin_fd, stdout_fd, stderr_fd; /* -1: /dev/null */
  /* Descriptors the child gets as 3, 4, ... (conmon's sync and start
   * pipes); every other one is closed in the child. */
  const int *inherit;
  size_t n_inherit;
};
/* Returns the pid and a pidfd (to poll for its exit, to signal it safely). */
int crio_spawn(const struct crio_spawn *s, pid_t *pid, int *pidfd, crio_error_t *err);
/* waitpid on exactly this child; *exit_code is the status, or 128+signal.
 * An error if the status was taken by someone else (SIGCHLD ignored, a
 * waitpid(-1) elsewhere): an unknown outcome must not pass for success. */
int crio_reap(pid_t pid, int *exit_code, crio_error_t *err);

/* Output read from a nonblocking pipe into a buffer that grows with what
 * arrives, up to the cap, rather than being allocated at the cap up front.
 * Beyond the cap, output is read and dropped (the writer never blocks). */
struct crio_capture {
  int fd;
  char *buf;
  size_t len, alloc, cap;
  bool truncated;
};
void crio_capture_init(struct crio_capture *c, int fd, size_t cap);
/* Reads what is there; false at EOF or on error. */
bool crio_capture_read(struct crio_capture *c);
/* Hands the NUL-terminated buffer over. */
void crio_capture_finish(struct crio_capture *c, char **out, size_t *len, bool *truncated);

/* Spawn, feed stdin from a pipe (a SIGPIPE our write raises is taken back),
 * capture stdout and stderr up to their caps, wait for the child to exit or
 * the deadline to pass.  After the exit, output still in the pipes is
 * drained without waiting for EOF (a background process the command left
 * may hold them open), unless wait_output_eof asks for the EOF too (CNI
 * plugins, as Go's exec.Cmd waits for its copiers; the deadline still
 * holds).  On timeout, on_timeout (if set) runs first, then the child's
 * process group gets SIGKILL and is reaped; the result says timed_out and
 * the call succeeds.  A failure to spawn, poll or reap is an error. */
struct crio_run {
  struct crio_spawn spawn; /* its stdio fds are ignored */
  const void *input;
  size_t input_len;
  size_t out_cap, err_cap; /* 0: 4 MiB and 64 KiB */
  int64_t timeout_ms;      /* 0: none */
  bool wait_output_eof;
  void (*on_timeout)(pid_t pid, void *arg);
  void *timeout_arg;
};
struct crio_run_result {
  int exit_code;
  bool timed_out;
  char *out, *errout; /* NUL-terminated */
  size_t out_len, err_len;
  bool out_truncated, err_truncated;
};
int crio_run(const struct crio_run *r, struct crio_run_result *res, crio_error_t *err);
void crio_run_result_release(struct crio_run_result *res);

/* ---- ids ------------------------------------------------------------------- */
/* n bytes from the kernel's random source; aborts if it fails (it does
 * not after boot). */
void crio_random_bytes(void *buf, size_t n);

/* pthread_create with a stack of stack_size bytes instead of the default
 * (RLIMIT_STACK, 8 MiB on most hosts; ASan builds get four times
 * stack_size, for its redzones): the daemon's threads are listed with
 * their stacks in docs/operations.md.  Returns 0 or an errno value, as
 * pthread_create does.
 *
 * CRIO_THREAD_STACK_SMALL is for threads that run steps, handlers and
 * the pull path: they touch 10-30 KiB of stack (measured), and the
 * deepest recursion they can meet, cJSON parsing or printing a document
 * at its nesting limit (1000), needs between 128 and 256 KiB. */
#define CRIO_THREAD_STACK_SMALL (512 * 1024)
int crio_thread_start(pthread_t *thread, size_t stack_size, void *(*fn)(void *), void *arg);
/* fn(data, i, worker) for every i in [0, n), each once, on the calling
 * thread (worker 0) and on workers - 1 threads started for the call
 * (workers 1 to workers - 1), all joined before it returns; items are
 * handed out a few at a time, in no set order.  fn must be safe to run on
 * several threads at once.  If a thread cannot be started, the others
 * (at least the caller) do its share.  crio_parallel_workers() is how many
 * workers n items are worth: one per CPU the daemon may run on (its
 * affinity mask), at most CRIO_PARALLEL_MAX, and at least min_per_worker
 * items each (1 when n is smaller). */
#define CRIO_PARALLEL_MAX 4
typedef void (*crio_parallel_fn)(void *data, size_t i, unsigned worker);
unsigned crio_parallel_workers(size_t n, size_t min_per_worker);
void crio_parallel_for(size_t n, unsigned workers, crio_parallel_fn fn, void *data);
/* ---- systemd's protocols, without libsystemd (sd_proto.c) ---------------------
 * crio_sd_notify: sd_notify(0, state) to $NOTIFY_SOCKET (a path or, with a
 * leading '@', an abstract socket): 1 sent, 0 no socket, -errno.
 * crio_sd_listen_fds: sd_listen_fds(1): the count of fds passed from
 * CRIO_SD_LISTEN_FDS_START for this pid (made close-on-exec; the
 * LISTEN_* variables are unset), 0 none.
 * crio_sd_is_listening_unix_stream: sd_is_socket_unix(fd, SOCK_STREAM, 1).
 * crio_sd_watchdog_usec: WATCHDOG_USEC when meant for this process, else 0.
 * crio_sd_booted: sd_booted(): /run/systemd/system/ is a directory.
 * crio_journal_send: one record over journald's native protocol
 * (MESSAGE, PRIORITY, SYSLOG_IDENTIFIER); 0 or -errno.  _to: to another
 * socket than /run/systemd/journal/socket (tests). */
#define CRIO_SD_LISTEN_FDS_START 3
int crio_sd_notify(const char *state);
int crio_sd_listen_fds(void);
bool crio_sd_is_listening_unix_stream(int fd);
uint64_t crio_sd_watchdog_usec(void);
bool crio_sd_booted(void);
int crio_journal_send(const char *message, int priority, const char *identifier);
int crio_journal_send_to(const char *socket_path, const char *message, int priority,
                         const char *identifier);

/* 64 lowercase hex characters from the kernel's random source (+ NUL). */
void crio_random_id(char out[65]);
bool crio_is_hex_id(const char *s, size_t len);

#endif
