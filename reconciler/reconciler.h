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
 *     other writers (CRI handlers) change only its intent: the goal, and
 *     the resources UpdateContainerResources applied
 *     (store_set_resources_update).  A step's commit keeps both as they
 *     were changed meanwhile.
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
   * time it runs, so tests can drive objects down their rollback paths. */
  const char *fail_at;
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

/* ---- the pod sandbox steps (pod_steps*.c) ---------------------------------------- */

struct oci_cgroup_manager;

/* What the pod steps need of the daemon's configuration; must outlive the
 * reconciler. */
struct reconciler_pod_env {
  const char *runroot; /* pins under <runroot>/<type>ns/, pod dirs */
  const char *cni_config_dir;
  const char *const *cni_plugin_dirs; /* NULL-terminated */
  const struct oci_cgroup_manager *cgroups;
  const char *default_cgroup_parent; /* when the pod names none */
  const char *pause_path;            /* crio-pause, for shared PID namespaces */
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

/* A configured runtime handler (crio.conf's [crio.runtime.runtimes.<name>]). */
struct reconciler_runtime_handler {
  const char *name;
  const struct oci_runtime *runtime;
};

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

#endif
