/* reconciler/: the worker loop that drives every record from its state to
 * its goal.  This header is the folder's interface; cri/ and recovery/
 * call it, the step implementations (oci/, cni/, images/) register here.
 *
 * The contract (docs/architecture.md, "The state contract"):
 *   - A CRI handler writes an object's goal (and, for a new object, the
 *     record) in one write txn, calls reconciler_wake() and then
 *     reconciler_wait() with the request's deadline; reconciler_request()
 *     does the three in one call.
 *   - A worker picks an object whose state differs from its goal, asks the
 *     state machine for the next transition (sm_next_step) and runs the
 *     step registered for it.  A step performs one idempotent side effect
 *     (check first, then act) on a private copy of the record; no store
 *     txn is open while it runs.  The reconciler then commits, in one write
 *     txn, the next state, the step's changes to the record and the log
 *     entry naming the resources acquired and released.
 *   - Work on one object is serialised (steps and events alike); different
 *     objects run in parallel on a fixed pool of workers.
 *   - While an object lives, only the reconciler writes its state and body;
 *     CRI handlers change only its goal (a step's commit keeps a goal
 *     changed meanwhile).  What a handler needs done on the host now (an
 *     update, a log reopen, an exec) is an operation the reconciler runs,
 *     serialised with the object's steps (reconciler_run_op below).
 *
 * Failure policy, when a step fails (its error is recorded on the record
 * and in the log as STEP_FAILED, and handed to every waiter of the object):
 *   - teardown: the failed step is the one the object would take toward the
 *     machine's rollback goal anyway (stop, remove, a rollback): it is
 *     retried with exponential backoff, since giving up would leak what the
 *     log says may exist;
 *   - half-made: the object is in a state from which the way back is a
 *     rollback transition (a pod whose CNI ADD failed): the goal becomes the
 *     machine's rollback goal, so the half-made object is undone;
 *   - otherwise the object is complete and a further step failed (a
 *     container whose start failed): the goal falls back to the current
 *     state; the object stays as it is, with the error stored for status.
 */
#ifndef CRIO_RECONCILER_H
#define CRIO_RECONCILER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "statemachine/statemachine.h"
#include "store/store.h"

struct reconciler;

struct reconciler_options {
  unsigned workers; /* worker threads; 0: default (4) */
  /* Crash-point hook for crash tests, the value of CRIO_CRASH_AT as the
   * daemon read it (NULL or "" for none): "<transition>[:before|:after]",
   * default before.  "before" _exit(137)s right before the step's side
   * effect, "after" right after its commit.  An unknown transition name or
   * suffix fails reconciler_new() with EINVAL, so a typo fails loudly. */
  const char *crash_at;
  /* Failure-injection hook for tests, the value of CRIO_FAIL_AT: the step
   * of the named transition fails with EIO (before its side effect) every
   * time it runs, so tests can drive objects down their rollback paths.
   * "<transition>:hang": the step blocks until the reconciler stops, as a
   * wedged step would (the heartbeat test). */
  const char *fail_at;
  /* Liveness (systemd's watchdog): heartbeat(heartbeat_data) is called at
   * most once per heartbeat_ns, by a worker in its dispatch loop (idle
   * workers wake for it) or by a long step that asks
   * reconcile_step_should_stop, so it stops when every worker is stuck,
   * in a step that makes no progress or on the reconciler's lock.  NULL:
   * none. */
  void (*heartbeat)(void *data);
  void *heartbeat_data;
  int64_t heartbeat_ns;
  /* Backoff of a failing teardown step; 0: defaults (100 ms, 30 s). */
  int64_t retry_initial_ns;
  int64_t retry_max_ns;
};

/* ---- steps -------------------------------------------------------------- */

/* What a step (or an event's apply function) works on.  Only `record`
 * and the resource lists may be changed, the latter through
 * reconcile_step_acquire/release. */
struct reconcile_step {
  struct reconciler *reconciler;
  /* For short read txns on other records (e.g. a pod's containers); never
   * held across blocking I/O. */
  struct store *store;
  const struct sm_transition *transition;
  /* A private copy of the record, read when the step began.  Changes to
   * the body (netns path, CNI result, pid) are committed with the
   * transition; kind, id, state and goal are not taken from it. */
  store_record *record;
  /* The data given at registration, or the event's data. */
  void *data;
  /* Collected for the commit; owned by the reconciler. */
  store_resource **acquired;
  size_t n_acquired;
  store_resource **released;
  size_t n_released;
};

/* A step: performs the transition's side effect, idempotently.  Returns 0,
 * or -1 with *err set; the object then follows the failure policy above.
 * Runs on a worker thread, outside any store txn. */
/* A step returns 0 when its side effect is done (the transition is then
 * committed), -1 with err when it failed (the failure policy applies), or
 * RECONCILE_STEP_WAIT when it cannot act yet because it waits for other
 * objects (e.g. pod.stop_containers after asking the pod's containers to
 * stop) or for the host (container.stop during the grace period): nothing
 * is committed or counted as a failure, and the step runs again shortly. */
#define RECONCILE_STEP_WAIT 2
typedef int (*reconcile_step_fn)(struct reconcile_step *step, crio_error_t *err);

/* Names a host resource the step acquired or released, so the log says
 * what may exist (wipe replays it).  Copies its arguments. */
void reconcile_step_acquire(struct reconcile_step *step, const char *type, const char *id,
                            const void *detail, size_t detail_len);
void reconcile_step_release(struct reconcile_step *step, const char *type, const char *id);
/* True once reconciler_stop() began: a long step (a pull) may give up
 * early; it is then run again after the restart. */
bool reconcile_step_should_stop(const struct reconcile_step *step);

/* The step of a transition whose side effect is, truly, nothing (e.g.
 * pod.mark_ready).  Register it explicitly; an unregistered transition
 * fails with ENOSYS instead of pretending to succeed. */
int reconcile_step_noop(struct reconcile_step *step, crio_error_t *err);

/* Registers the step of a STEP transition, by its table name
 * ("pod.cni_add").  Before reconciler_start() only: the table is read
 * without a lock afterwards.  EINVAL for an unknown name or an EVENT
 * transition, EEXIST if the transition already has a step, EBUSY once
 * started. */
int reconciler_register_step(struct reconciler *r, const char *transition, reconcile_step_fn fn,
                             void *data, crio_error_t *err);
static inline int reconciler_register_noop(struct reconciler *r, const char *transition,
                                           crio_error_t *err) {
  return reconciler_register_step(r, transition, reconcile_step_noop, NULL, err);
}

/* ---- lifecycle ------------------------------------------------------------ */

/* The store must outlive the reconciler. */
int reconciler_new(struct store *store, const struct reconciler_options *options,
                   struct reconciler **out, crio_error_t *err);
/* Starts the workers.  Objects woken before are run now. */
int reconciler_start(struct reconciler *r, crio_error_t *err);
/* Stops the workers: a step in progress finishes and commits, nothing new
 * starts, every waiter returns ECANCELED, and later waits do too.  Events
 * not yet applied are dropped (recovery observes the host again at the
 * next start).  Idempotent. */
void reconciler_stop(struct reconciler *r);
/* Stops if needed and frees.  No other thread may be inside a reconciler
 * call.  NULL is fine. */
void reconciler_free(struct reconciler *r);
void reconciler_freep(struct reconciler **r);
#define cleanup_reconciler __attribute__((cleanup(reconciler_freep)))

/* ---- scheduling ----------------------------------------------------------- */

/* Queues the object to be brought to its goal.  An object queued or
 * running is not queued twice; a wake while it runs makes it run again
 * afterwards; a wake cancels a pending retry backoff (run now).  The
 * record need not exist. */
void reconciler_wake(struct reconciler *r, enum sm_kind kind, const char *id);
/* Wakes every record, of every kind, whose state differs from its goal
 * (start-up, after recovery looked at the host). */
int reconciler_enqueue_all(struct reconciler *r, crio_error_t *err);

/* ---- waiting ---------------------------------------------------------------- */

/* Waits until the object reaches `goal`: 0 when its state is `goal` (or
 * passed through it since the wait began), or, for the terminal state,
 * when the record no longer exists.  deadline_ns is CLOCK_MONOTONIC, 0 for
 * none.  -1 with:
 *   - the step's status and message when a step of this object failed
 *     after the wait began;
 *   - EBUSY when `goal` cannot be reached from the state (sm_next_step has
 *     no way), or the object's goal changed to one whose way does not pass
 *     `goal` (the record's stored error, if any, is returned instead: it is
 *     why the goal changed);
 *   - ENOENT when the record does not exist and `goal` is not terminal;
 *   - ETIMEDOUT when the deadline passes (the object carries on);
 *   - ECANCELED when the reconciler stops.
 * Never holds a store txn while blocked. */
int reconciler_wait(struct reconciler *r, enum sm_kind kind, const char *id, sm_state_t goal,
                    int64_t deadline_ns, crio_error_t *err);

/* Sets the goal (store_set_goal, only if it differs and the current goal's
 * way does not already pass through `goal`), wakes the object and waits as
 * reconciler_wait() does, with failures since this call began.  A missing
 * record is success for the terminal goal and ENOENT otherwise; a goal
 * unreachable from the state is EBUSY and changes nothing. */
int reconciler_request(struct reconciler *r, enum sm_kind kind, const char *id, sm_state_t goal,
                       int64_t deadline_ns, crio_error_t *err);

/* ---- events ------------------------------------------------------------------ */

/* Posts an observed transition (SM_TRIGGER_EVENT, e.g. "container.exit"
 * when conmon's exit file appears).  It is applied on a worker, serialised
 * with the object's steps: if the record's state is then the transition's
 * `from`, `apply` (may be NULL) updates the record (exit code, finish time)
 * and the transition is committed like a step's; otherwise the event is
 * ignored with a debug log.  `data_free` (may be NULL) is called on `data`
 * once the event is applied, ignored or dropped.  An `apply` that returns
 * RECONCILE_STEP_WAIT leaves the event uncommitted without a warning (a
 * step under way will commit the state itself).  EINVAL (and data freed)
 * for an unknown name, a STEP transition or a transition of another kind. */
int reconciler_post_event(struct reconciler *r, enum sm_kind kind, const char *id,
                          const char *transition, reconcile_step_fn apply, void *data,
                          void (*data_free)(void *data), crio_error_t *err);

/* Posts an observation: the object was seen to reach state `observed` on
 * its own (a container's exit).  One observation is one event: when it is
 * applied, the EVENT transition from the record's state at that moment to
 * `observed` (sm_find_trigger) is the one committed, as
 * reconciler_post_event() commits its transition; with no such transition
 * (the object is there already, or was never started) it is ignored with a
 * debug log.  EINVAL (and data freed) when no event of the kind leads to
 * `observed`. */
int reconciler_post_observed(struct reconciler *r, enum sm_kind kind, const char *id,
                             sm_state_t observed, reconcile_step_fn apply, void *data,
                             void (*data_free)(void *data), crio_error_t *err);

/* ---- operations ------------------------------------------------------------------ */

/* An operation is work on the host for a live object that is not a
 * transition of its lifecycle: UpdateContainerResources and
 * UpdatePodSandboxResources (a cgroup, `runtime update`),
 * ReopenContainerLog (conmon), ExecSync and the streaming server's exec,
 * attach and port-forward (the runtime, conmon's attach socket, the pod's
 * netns).  Only the reconciler touches the host on behalf of a record, so
 * a CRI handler (or the streaming server) validates its request and asks
 * the reconciler to run the operation with reconciler_run_op(): on the
 * caller's thread, with the caller's deadline, but serialised with the
 * object's steps and events by the same per-object ownership the workers
 * use.  The operations the reconciler implements itself (below, and
 * reconciler_container_* / reconciler_pod_*) are built on it; a new
 * folder (streaming/) defines its own reconcile_op_type and calls it.
 *
 * The order, for one call:
 *   1. the object is claimed (waiting, up to the deadline, for a step or
 *      event of it that is under way, or an exclusive operation);
 *   2. its record is read (ENOENT if it does not exist) and the type's
 *      check runs on it (e.g. EBUSY "container X is not running"): no side
 *      effect has happened, nothing is logged;
 *   3. fn runs: the side effect, on a private copy of the record (for a
 *      logged operation the crash hook's "<op>:before" fires right before);
 *   4. a logged operation that fn did commits its outcome in one write
 *      txn: the intent fn left on its copy of the record (resources_update,
 *      see store_set_resources_update: a GOAL entry) or else an OPERATION
 *      entry, with op->outcome (else `message`) as the entry's message (the
 *      crash hook's "<op>:after" fires right after).  A failed operation
 *      writes nothing: it is answered to the caller, and the record keeps
 *      what was last applied;
 *   5. the object is released: steps and events that arrived meanwhile
 *      run now.
 * The outcome is written after the side effect, never an intent before it:
 * a record must not claim what the host did not get (a limit the kernel
 * refused), and nothing an operation does is a resource the log must
 * track for wipe.  A daemon killed between 3 and 4 leaves the host ahead
 * of the record until the caller (the kubelet) asks again; every
 * operation is safe to repeat.
 *
 * Modes:
 *   - RECONCILE_OP_EXCLUSIVE: nothing else of the object runs meanwhile
 *     (no step, no event, no other exclusive operation); for operations
 *     that change what the host holds for the object.
 *   - RECONCILE_OP_SHARED: for lookup and lifetime (ExecSync, a stream).
 *     The operation starts only between two steps of the object, never
 *     during one nor during an exclusive operation, so the record it reads
 *     is the committed truth; then it runs beside other shared operations
 *     of the object (concurrent execs are not serialised) and beside its
 *     later steps (a StopContainer is not held up by an exec: it ends the
 *     exec's processes with the container's).  When a transition moves the
 *     object out of the state the operation began in, the operation is
 *     told: reconcile_op_cancelled() turns true and the type's cancel
 *     function (if any) is called, so a stream into a container being
 *     stopped or removed ends cleanly.  Shared operations are not logged:
 *     they change nothing the log tracks. */
enum reconcile_op_mode {
  RECONCILE_OP_EXCLUSIVE = 0,
  RECONCILE_OP_SHARED,
};

struct reconcile_op;
typedef int (*reconcile_op_fn)(struct reconcile_op *op, crio_error_t *err);

struct reconcile_op_type {
  /* "<kind>.<verb>", e.g. "container.update_resources": the log's name of
   * the operation, and for the reconciler's own logged operations a name
   * the crash hook (reconciler_options.crash_at) accepts. */
  const char *name;
  enum sm_kind kind;
  enum reconcile_op_mode mode;
  bool logged; /* exclusive operations only: the outcome in the state log */
  /* Step 2: may refuse the record as it is, or fill op->data with what fn
   * needs of it (no side effect); NULL: any record will do. */
  int (*check)(struct reconcile_op *op, crio_error_t *err);
  /* Shared operations: called when the object leaves the state the
   * operation began in (and when the reconciler stops), with the
   * reconciler's lock held: it must only signal (write an eventfd, kill a
   * process) and never call the reconciler.  NULL: none. */
  void (*cancel)(void *data);
};

/* What fn works on. */
struct reconcile_op {
  struct reconciler *reconciler;
  const struct reconcile_op_type *type;
  /* A private copy of the record, read once the object was claimed.  An
   * exclusive logged operation may change its resources_update (intent):
   * that change is committed as the outcome; nothing else is. */
  store_record *record;
  void *data;
  /* The outcome's message, malloc'd (freed by the reconciler); NULL: the
   * `message` reconciler_run_op was given. */
  char *outcome;
  /* Set by the reconciler (shared operations); see RECONCILE_OP_SHARED. */
  bool cancelled;
};

/* Runs fn(op) for object `id` of type->kind as described above; `message`
 * says what it does, for the log.  Returns fn's result, or -1 with: ENOENT
 * (no record), the check's error, ETIMEDOUT (the deadline,
 * CLOCK_MONOTONIC, 0: none, passed while waiting for the object),
 * ECANCELED (the reconciler stops), or the store's error (the outcome not
 * recorded).  fn's errors are returned as they are. */
int reconciler_run_op(struct reconciler *r, const struct reconcile_op_type *type, const char *id,
                      const char *message, reconcile_op_fn fn, void *data, int64_t deadline_ns,
                      crio_error_t *err);
static inline bool reconcile_op_cancelled(const struct reconcile_op *op) {
  return __atomic_load_n(&op->cancelled, __ATOMIC_ACQUIRE);
}

/* ---- the operations and readings the reconciler implements -------------------------
 * (container_ops.c, pod_ops.c).  Each needs the steps of its kind to be
 * registered (ENOSYS otherwise).  Errors are the operation's own, not
 * prefixed. */

struct Runtime__V1__LinuxContainerResources;

/* UpdateContainerResources: `resources` checked as a container config's
 * are (EINVAL naming the field as "config.linux.resources.<field>"), then,
 * serialised with the container's steps and logged, applied by its
 * runtime (EBUSY unless it is CREATED or RUNNING), and the effective
 * resources kept as its resources_update. */
int reconciler_container_update_resources(
    struct reconciler *r, const char *id,
    const struct Runtime__V1__LinuxContainerResources *resources, int64_t deadline_ns,
    crio_error_t *err);

/* The container's resources as they are now: the last update's
 * (resources_update), else its creation config's; NULL if it has none.
 * Unpacked with `allocator` (NULL: malloc; free with
 * runtime__v1__linux_container_resources__free_unpacked). */
struct Runtime__V1__LinuxContainerResources *
reconciler_container_resources(const store_record *rec, ProtobufCAllocator *allocator);

/* ReopenContainerLog: conmon opens a fresh file at the container's log
 * path.  Serialised and logged; EBUSY unless the container is RUNNING (or
 * when its monitor has just exited). */
int reconciler_container_reopen_log(struct reconciler *r, const char *id, int64_t deadline_ns,
                                    crio_error_t *err);

/* ExecSync: argv (NULL-terminated) in RUNNING container `id` (EBUSY
 * otherwise), as a shared operation: concurrent execs run side by side.
 * The command is killed after the tighter of timeout_s (0: none) and the
 * deadline, and the call fails with ETIMEDOUT (the output dropped). */
struct reconciler_exec_result {
  int exit_code; /* the command's, 128+signal if killed */
  char *out;     /* may hold NULs within out_len */
  size_t out_len;
  bool out_truncated; /* over the runtime's cap per stream; the rest discarded */
  char *err_out;
  size_t err_len;
  bool err_truncated;
};
int reconciler_container_exec_sync(struct reconciler *r, const char *id, const char *const *argv,
                                   int64_t timeout_s, int64_t deadline_ns,
                                   struct reconciler_exec_result *out, crio_error_t *err);
void reconciler_exec_result_release(struct reconciler_exec_result *res);

/* UpdatePodSandboxResources, in two halves so a bad request is refused
 * before the pod is looked up: the check (EINVAL naming "resources.<field>"
 * or "overhead.<field>"), and the update of the pod's cgroup (the one
 * PodSandboxStats reads), serialised with the pod's steps and logged.
 * EBUSY unless the pod is READY and meant to stay so, or has no cgroup. */
int reconciler_pod_resources_check(const struct Runtime__V1__LinuxContainerResources *resources,
                                   const struct Runtime__V1__LinuxContainerResources *overhead,
                                   crio_error_t *err);
int reconciler_pod_update_resources(struct reconciler *r, const char *id,
                                    const struct Runtime__V1__LinuxContainerResources *resources,
                                    const struct Runtime__V1__LinuxContainerResources *overhead,
                                    int64_t deadline_ns, crio_error_t *err);

/* Status' NetworkReady, a reading: 0 when a usable CNI network
 * configuration is in the configured dir (its plugins present), else -1
 * with why. */
int reconciler_network_ready(struct reconciler *r, crio_error_t *err);

/* ---- the pod sandbox steps (pod_steps*.c) ---------------------------------------- */

struct oci_cgroup_manager;

/* What the pod steps need of the daemon's configuration; must outlive the
 * reconciler. */
struct oci_runtime;

/* A configured runtime handler (crio.conf's [crio.runtime.runtimes.<name>]). */
struct reconciler_runtime_handler {
  const char *name;
  const struct oci_runtime *runtime;
};

struct reconciler_pod_env {
  const char *runroot; /* pins under <runroot>/<type>ns/, pod dirs */
  const char *cni_config_dir;
  const char *const *cni_plugin_dirs; /* NULL-terminated */
  const struct oci_cgroup_manager *cgroups;
  const char *default_cgroup_parent; /* when the pod names none */
  const char *pause_path;            /* crio-pause, for shared PID namespaces */
  /* The handlers, for pods whose handler runs a sandbox per pod (gVisor):
   * pod.mark_ready starts the sandbox through conmon. */
  const struct reconciler_runtime_handler *runtimes;
  size_t n_runtimes;
  const char *conmon_path; /* NULL: /usr/bin/conmon */
  /* CRI-O's default_sysctls, "KEY=VALUE", NULL-terminated (may be NULL):
   * set in every pod before its own, which win; one the pod may not set
   * (not namespaced, or a namespace shared with the host) is skipped. */
  const char *const *default_sysctls;
};

/* Registers a step for every transition of the pod machine. */
int reconciler_register_pod_steps(struct reconciler *r, const struct reconciler_pod_env *env,
                                  crio_error_t *err);

/* ---- the image steps (image_steps.c) ----------------------------------------------- */

struct img_service;

/* Registers a step for every transition of the image machine; the service
 * must outlive the reconciler. */
int reconciler_register_image_steps(struct reconciler *r, struct img_service *images,
                                    crio_error_t *err);

/* ---- the container steps (container_*.c) -------------------------------------------- */

struct oci_runtime;
struct oci_spec_host;
struct oci_exit_watch;
struct container_env_state;

/* What the container steps need of the daemon; must outlive the reconciler.
 * Every path of a container derives from its id (docs/containers.md):
 *   <root>/containers/<id>/      upper/, work/, merged/ (the overlay), l/
 *                                (links to the layers), conmon's persist
 *                                files (exit, oom), termination-log, and
 *                                the log when the pod has no log directory
 *   <runroot>/containers/<id>/   the bundle: config.json, conmon's pid
 *                                files, ctl FIFO
 *   <runroot>/exits/<id>         conmon's exit file
 *   <runroot>/attach/<id>        conmon's attach link */
struct reconciler_container_env {
  const char *root;
  const char *runroot;
  const char *conmon_path; /* NULL: /usr/bin/conmon */
  const struct reconciler_runtime_handler *runtimes;
  size_t n_runtimes;
  const struct oci_cgroup_manager *cgroups;
  const char *default_cgroup_parent; /* for pods that name none */
  struct img_service *images;
  const struct oci_spec_host *host;
  /* StopContainer's timeout when no call gave one (the pod is stopped, or
   * the daemon restarted mid-stop); 0: 10 s. */
  int64_t default_stop_timeout_s;
  /* Set by reconciler_register_container_steps; freed by
   * reconciler_container_env_release. */
  struct container_env_state *state;
};

/* A read-only sampler for stats: a running container's usage as its
 * runtime counts it, for a handler whose runtime keeps its own (gVisor's
 * `runsc events --stats`: the host cgroup holds the sandbox, not the
 * container).  ENOSYS when the handler's runtime keeps none: read the
 * cgroup.  Touches nothing. */
struct reconciler_runtime_usage {
  uint64_t cpu_usage_ns;       /* cumulative */
  uint64_t memory_usage_bytes; /* gVisor: the sandbox's */
};
int reconciler_container_runtime_stats(const struct reconciler_container_env *env,
                                       const char *handler, const char *id,
                                       struct reconciler_runtime_usage *out, crio_error_t *err);

/* Registers a step for every STEP transition of the container machine. */
int reconciler_register_container_steps(struct reconciler *r, struct reconciler_container_env *env,
                                        crio_error_t *err);
/* After the reconciler is freed. */
void reconciler_container_env_release(struct reconciler_container_env *env);

/* The log file of a container whose pod has no log directory (conmon
 * needs one): <root>/containers/<id>/container.log, removed with the
 * container.  malloc'd. */
char *reconciler_container_default_log_path(const struct reconciler_container_env *env,
                                            const char *id);

/* StopContainer's timeout (seconds; <= 0 kills at once) for the next
 * container.stop of `id`, which consumes it. */
void reconciler_container_stop_timeout(struct reconciler_container_env *env, const char *id,
                                       int64_t timeout_s);

/* Watches <runroot>/exits on a thread of its own and posts every exit
 * file, including those already there, as container.exit /
 * container.exit_before_start events (whichever matches the record's
 * state applies; the other is ignored).  Stop with oci_exit_watch_stop()
 * before the reconciler is freed. */
int reconciler_container_watch_exits(struct reconciler *r, struct reconciler_container_env *env,
                                     struct oci_exit_watch **out, crio_error_t *err);

/* Start-up, after recovery and the exit watch: every CREATED or RUNNING
 * container whose conmon (pid + start time) is gone and which left no exit
 * file in the exit dir is looked at once more: its persist dir's exit file
 * (conmon writes both; the run dir's is gone after a reboot) or, failing
 * that, the runtime's state; an ended container gets its exit event (with
 * reason ContainerStatusUnknown when no exit status survived).  A container
 * whose conmon lives is adopted as it is. */
int reconciler_containers_adopt(struct reconciler *r, struct reconciler_container_env *env,
                                crio_error_t *err);

/* ---- what the pod steps accept (pod_checks.c) ------------------------------------
 * Checks RunPodSandbox makes before anything is persisted, by the rules the
 * pod steps later apply on the host; EINVAL naming what is wrong (the
 * caller names the field). */
struct Runtime__V1__DNSConfig;
struct Runtime__V1__PodSandboxConfig;
/* An RFC 1123 name of at most 64 characters. */
int reconciler_pod_check_hostname(const char *hostname, crio_error_t *err);
/* Servers (IP literals), search domains and options within the limits
 * glibc and the kubelet set. */
int reconciler_pod_check_dns(const struct Runtime__V1__DNSConfig *dns, crio_error_t *err);
/* Every sysctl namespaced, in a namespace the pod does not share with the
 * node (net unless host network, ipc unless host IPC). */
int reconciler_pod_check_sysctls(const struct Runtime__V1__PodSandboxConfig *config,
                                 crio_error_t *err);

/* ---- read-only samplers (stats.c) -----------------------------------------------
 * What the stats calls read of the host, passed through from the folders that
 * own each part (oci/: cgroups and the writable layer; cni/: the pod's
 * interface counters).  They never change the host and never wait for an
 * object's steps: a reading, not an operation.  The reconciler owns the
 * samplers' state (hierarchy snapshot, kept cgroup files and netlink
 * sockets) for the daemon's life. */
struct reconciler_cgroup_usage {
  int64_t timestamp_ns; /* CLOCK_REALTIME when read */
  uint64_t cpu_usage_ns;
  uint64_t memory_usage_bytes;
  uint64_t memory_working_set_bytes;
  uint64_t memory_rss_bytes;
  uint64_t memory_page_faults;
  uint64_t memory_major_page_faults;
  uint64_t memory_limit_bytes; /* the cgroup's own limit; 0: none */
  bool has_process_count;
  uint64_t process_count;
};
struct reconciler_if_usage {
  uint64_t rx_bytes, rx_errors, tx_bytes, tx_errors;
};
struct reconciler_layer_usage {
  int64_t timestamp_ns; /* when the walk reported ran (CLOCK_REALTIME) */
  uint64_t bytes, inodes;
  unsigned entries;
  bool partial; /* the walk's budget ran out: a lower bound */
};

/* The cgroup to read for a container: the one its runtime made from the
 * cgroupsPath the record keeps (cgroupfs path, or systemd
 * "<slice>:<prefix>:<name>").  NULL if in neither form.  malloc'd. */
char *reconciler_container_cgroup(const store_record *rec);
/* The cgroup holding the whole pod: the kubelet's cgroup_parent (the
 * pod-level cgroup, in which the containers are siblings of the sandbox's
 * cgroup) as the configured cgroup manager names it; without a parent, the
 * sandbox's own cgroup.  *path NULL when the pod has no cgroup (none made
 * yet, or removed). */
int reconciler_pod_cgroup(const struct reconciler_container_env *env, const store_record *rec,
                          char **path, crio_error_t *err);
/* CPU and memory of a cgroup: a pod's with its process count; a
 * container's with its memory limit read once and kept (only the
 * reconciler's resource update changes it, and that update makes the
 * sampler read it again). */
enum reconciler_cgroup_kind { RECONCILER_CGROUP_POD, RECONCILER_CGROUP_CONTAINER };
int reconciler_sample_cgroup(struct reconciler *r, const char *cgroup,
                             enum reconciler_cgroup_kind kind, struct reconciler_cgroup_usage *out,
                             crio_error_t *err);
/* Counters of `ifname` in the network namespace pinned at netns_path. */
int reconciler_sample_interface(struct reconciler *r, const char *netns_path, const char *ifname,
                                struct reconciler_if_usage *out, crio_error_t *err);
/* Bytes and inodes of a container's writable layer (its upper dir), from a
 * walk at most OCI_LAYER_SAMPLE_MAX_AGE_S (10) seconds old: walking costs a
 * few syscalls per file the container wrote, and disk usage moves slowly. */
int reconciler_sample_layer(struct reconciler *r, const char *upper_dir,
                            struct reconciler_layer_usage *out, crio_error_t *err);

#endif
