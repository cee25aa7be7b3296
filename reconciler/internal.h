/* Shared between the files of reconciler/ only; the folder's interface is
 * reconciler.h.
 *
 * Locking: one mutex (reconciler.lock) guards the object table, the run
 * queue, the retry list and every field of every reconcile_object.  It is
 * never held while a step runs or while a store txn is open, so it is only
 * ever held for a few pointer operations. */
#ifndef CRIO_RECONCILER_INTERNAL_H
#define CRIO_RECONCILER_INTERNAL_H

#include <pthread.h>
#include <time.h>

#include "reconciler/reconciler.h"

/* The logged operations the reconciler implements (container_ops.c,
 * pod_ops.c): names the crash hook accepts besides transitions. */
#define RECONCILER_OP_CONTAINER_UPDATE_RESOURCES "container.update_resources"
#define RECONCILER_OP_POD_UPDATE_RESOURCES "pod.update_resources"
#define RECONCILER_OP_CONTAINER_REOPEN_LOG "container.reopen_log"

/* States are small integers; per-object bookkeeping is indexed by them.
 * reconciler_new() checks every machine fits. */
#define RECONCILER_MAX_STATES 32
#define RECONCILER_BUCKETS 1024
#define RECONCILER_DEFAULT_WORKERS 4
#define RECONCILER_MAX_WORKERS 256
#define RECONCILER_DEFAULT_RETRY_INITIAL_NS (100 * 1000 * 1000LL)
#define RECONCILER_DEFAULT_RETRY_MAX_NS (30 * 1000 * 1000 * 1000LL)

struct reconcile_event {
  struct reconcile_event *next;
  /* The transition, or NULL for an observation (reconciler_post_observed):
   * the EVENT transition from the state at the time it is applied to
   * `observed`. */
  const struct sm_transition *transition;
  sm_state_t observed;
  reconcile_step_fn apply;
  void *data;
  void (*data_free)(void *data);
};

/* The in-memory side of one object, alive while it is queued, running,
 * backing off, has events pending or is waited on; the record itself is
 * only ever in the store. */
struct reconcile_object {
  struct reconcile_object *next_in_bucket;
  struct reconcile_object *next_queued;
  struct reconcile_object *next_retry;
  enum sm_kind kind;
  char *id;

  bool queued;
  bool running;
  bool rerun;    /* woken while running: run again afterwards */
  bool in_retry; /* on the retry list until retry_at */
  int64_t retry_at;
  int64_t backoff_ns; /* the next retry's delay; 0 after a success */
  struct reconcile_event *events_head, *events_tail;

  /* Operations (op.c).  op_exclusive: an exclusive operation holds the
   * object, so no worker runs it; a worker that pops it meanwhile sets
   * after_op and leaves it, and the operation's end queues it again.
   * shared_ops: the shared operations running, told when the state moves.
   * op_refs: callers claiming or holding it (keeps the entry alive). */
  bool op_exclusive;
  bool after_op;
  struct op_reader *shared_ops;
  unsigned op_refs;

  /* For waiters.  `changes` moves on anything a waiter must look at again
   * (a commit, a failure, a wake); `commits` counts committed transitions
   * and reached_at[s] is the value of `commits` when state s was last
   * entered, so a waiter that arrives late still sees that the object
   * passed through its goal. */
  unsigned waiters;
  uint64_t changes;
  uint64_t commits;
  uint64_t reached_at[RECONCILER_MAX_STATES];
  uint64_t failures;
  int failure_status;
  char *failure_message;
  pthread_cond_t changed; /* CLOCK_MONOTONIC; waits on reconciler.lock */
};

/* A shared operation in progress (op.c). */
struct op_reader {
  struct op_reader *next;
  struct reconcile_op *op;
  sm_state_t state; /* the state it began in */
};

struct step_registration {
  reconcile_step_fn fn;
  void *data;
};

struct reconciler {
  struct store *store;
  unsigned n_workers;
  pthread_t *threads;
  unsigned n_threads; /* started */
  int64_t retry_initial_ns;
  int64_t retry_max_ns;
  /* Crash-point hook, parsed from options->crash_at. */
  const struct sm_transition *crash_transition;
  const char *crash_op; /* or the name of an operation (one of steps.c's) */
  bool crash_after;
  /* Failure-injection hook, parsed from options->fail_at: this step fails
   * with EIO before its side effect, every time. */
  const struct sm_transition *fail_transition;
  bool fail_hang; /* "<transition>:hang": the step blocks until stop instead */
  /* options->heartbeat; last_beat_ns under lock. */
  void (*heartbeat)(void *data);
  void *heartbeat_data;
  int64_t heartbeat_ns;
  int64_t last_beat_ns;
  /* What the operations need, set when the steps are registered. */
  const struct reconciler_pod_env *pod_env;
  struct reconciler_container_env *container_env;
  /* Indexed like sm_transition_at(); read-only once started. */
  struct step_registration *steps;
  size_t n_steps;

  pthread_mutex_t lock;
  pthread_cond_t work; /* CLOCK_MONOTONIC: workers wait for work here */
  struct reconcile_object *buckets[RECONCILER_BUCKETS];
  struct reconcile_object *queue_head, *queue_tail;
  struct reconcile_object *retry_list;
  bool started;
  bool stopping;

  /* The stats samplers' state (stats.c); thread-safe on their own. */
  struct oci_cgroup_sampler *cgroup_sampler;
  struct cni_stats_sampler *netns_sampler;
  struct oci_layer_sampler *layer_sampler;
};

static inline void reconciler_cond_init_monotonic(pthread_cond_t *cond) {
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  /* Deadlines are CLOCK_MONOTONIC so a wall-clock jump (NTP, a VM resume)
   * neither fires nor postpones them. */
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(cond, &attr);
  pthread_condattr_destroy(&attr);
}

static inline void reconciler_timespec_from_ns(int64_t ns, struct timespec *ts) {
  ts->tv_sec = (time_t)(ns / 1000000000LL);
  ts->tv_nsec = (long)(ns % 1000000000LL);
}

/* stats.c: the samplers' state, made with the reconciler (cheap: they read
 * the host at their first sample) and freed with it. */
void reconciler_samplers_init(struct reconciler *r);
void reconciler_samplers_release(struct reconciler *r);
/* A namespace pinned at netns_path is being released: the stats sampler
 * drops what it kept of it (r may be NULL). */
void reconciler_samplers_forget_netns(struct reconciler *r, const char *netns_path);
/* The container's cgroup limits may have changed (a resource update), or
 * the cgroup is gone (the runtime delete): the sampler drops the files it
 * kept of it, and opens them again if asked again. */
void reconciler_samplers_forget_container_cgroup(struct reconciler *r, const store_record *rec);
/* The pod's cgroup (as reconciler_pod_cgroup names it, with the pod's
 * cgroup manager) is being removed: the sampler drops what it kept of it,
 * so that its descriptors go with the pod rather than a minute later. */
void reconciler_samplers_forget_pod_cgroup(struct reconciler *r,
                                           const struct oci_cgroup_manager *cgroups,
                                           const store_record *rec);

/* steps.c */
const struct step_registration *reconciler_step_lookup(const struct reconciler *r,
                                                       const struct sm_transition *t);
/* Whether the heartbeat is due now (and noted as given): the caller
 * calls r->heartbeat once it has let go of the lock. */
bool reconciler_heartbeat_due_locked(struct reconciler *r);
/* Parses options->crash_at and fail_at (reconciler_new). */
int reconciler_hooks_parse(struct reconciler *r, const struct reconciler_options *options,
                           crio_error_t *err);
/* _exit(137) if the crash point is this transition (operation) at this
 * moment. */
void reconciler_crash_point(const struct reconciler *r, const struct sm_transition *t, bool after,
                            const char *object_id);
void reconciler_crash_point_op(const struct reconciler *r, const struct reconcile_op_type *type,
                               bool after, const char *object_id);

/* objects.c — all with reconciler.lock held. */
struct reconcile_object *object_ref_locked(struct reconciler *r, enum sm_kind kind, const char *id);
void object_release_if_idle_locked(struct reconciler *r, struct reconcile_object *e);
void object_enqueue_locked(struct reconciler *r, struct reconcile_object *e);
void object_notify_locked(struct reconcile_object *e);
#define RECONCILER_STEP_WAIT_NS (20LL * 1000000LL)
void object_wait_schedule_locked(struct reconciler *r, struct reconcile_object *e);
void object_retry_schedule_locked(struct reconciler *r, struct reconcile_object *e);
void object_retry_cancel_locked(struct reconciler *r, struct reconcile_object *e);
/* Moves due retries to the queue and returns the earliest retry still
 * pending (0 if none). */
int64_t object_retry_promote_locked(struct reconciler *r, int64_t now);
struct reconcile_object *object_queue_pop_locked(struct reconciler *r);
void object_event_free(struct reconcile_event *ev);
void objects_free_all(struct reconciler *r);
/* After a committed transition to `to`: shared operations that began in
 * another state are told (op.c's cancel). */
void object_ops_state_moved_locked(struct reconcile_object *e, sm_state_t to);
/* Every shared operation is told (reconciler_stop). */
void objects_cancel_all_ops_locked(struct reconciler *r);

/* worker.c */
void *reconciler_worker_main(void *arg);

/* wait.c: reading a record outside the lock, in its own short read txn. */
int reconciler_read_record(struct reconciler *r, enum sm_kind kind, const char *id,
                           store_record **out, crio_error_t *err);

#endif
