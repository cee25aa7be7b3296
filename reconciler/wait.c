/* Waiting for an object to reach a goal, and the request that sets the
 * goal first.  A waiter holds a reference on the object's in-memory entry,
 * whose counters say what happened since the wait began; the record itself
 * is read in short read txns, never while blocked. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "reconciler/internal.h"

int reconciler_read_record(struct reconciler *r, enum sm_kind kind, const char *id,
                           store_record **out, crio_error_t *err) {
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(r->store, STORE_TXN_READ, &txn, err) < 0)
    return -1;
  return store_record_get(txn, (enum store_kind)kind, id, out, err);
}

/* Whether the way from `state` to `target` (the record's goal) passes
 * through `goal`, so a waiter for `goal` may keep waiting. */
static bool goal_on_way(enum sm_kind kind, sm_state_t state, sm_state_t target, sm_state_t goal) {
  sm_state_t s = state;
  for (unsigned hops = 0; hops < RECONCILER_MAX_STATES && s != target; hops++) {
    const struct sm_transition *t = sm_next_step(kind, s, target);
    if (t == NULL)
      return false;
    s = t->to;
    if (s == goal)
      return true;
  }
  return false;
}

struct waiter {
  struct reconcile_object *object;
  uint64_t failures; /* object->failures when the wait began */
  uint64_t commits;  /* object->commits when the wait began */
};

static void waiter_begin(struct reconciler *r, enum sm_kind kind, const char *id,
                         struct waiter *w) {
  pthread_mutex_lock(&r->lock);
  w->object = object_ref_locked(r, kind, id);
  w->object->waiters++;
  w->failures = w->object->failures;
  w->commits = w->object->commits;
  pthread_mutex_unlock(&r->lock);
}

static void waiter_end(struct reconciler *r, struct waiter *w) {
  pthread_mutex_lock(&r->lock);
  w->object->waiters--;
  object_release_if_idle_locked(r, w->object);
  w->object = NULL;
  pthread_mutex_unlock(&r->lock);
}

/* Looks at the record: 0 goal reached, 1 keep waiting, -1 never. */
static int evaluate(struct reconciler *r, enum sm_kind kind, const char *id, sm_state_t goal,
                    crio_error_t *err) {
  const struct sm_machine *m = sm_machine(kind);
  cleanup_store_record store_record *rec = NULL;
  if (reconciler_read_record(r, kind, id, &rec, err) < 0) {
    if (crio_error_status(err) != ENOENT)
      return -1;
    crio_error_release(err);
    if (goal == m->terminal)
      return 0;
    return crio_error(err, ENOENT, "not found");
  }
  if (rec->state == goal)
    return 0;
  if (rec->goal == goal) {
    if (sm_next_step(kind, rec->state, goal) != NULL)
      return 1;
    return crio_error(err, EBUSY, "it is %s, from where %s cannot be reached",
                      sm_state_name(kind, rec->state), sm_state_name(kind, goal));
  }
  if (goal_on_way(kind, rec->state, rec->goal, goal))
    return 1;
  /* The goal moved away from ours.  If a failed step moved it (before
   * this wait began, or the failure would have been reported already),
   * that failure is the answer. */
  if (rec->error_status != 0)
    return crio_error(err, rec->error_status, "%s", rec->error_message);
  return crio_error(err, EBUSY, "its goal changed to %s (it is %s)", sm_state_name(kind, rec->goal),
                    sm_state_name(kind, rec->state));
}

static int waiter_wait(struct reconciler *r, struct waiter *w, enum sm_kind kind, const char *id,
                       sm_state_t goal, int64_t deadline_ns, crio_error_t *err) {
  struct reconcile_object *e = w->object;
  for (;;) {
    pthread_mutex_lock(&r->lock);
    if (e->failures != w->failures) {
      int status = e->failure_status;
      cleanup_free char *message = xstrdup(e->failure_message);
      pthread_mutex_unlock(&r->lock);
      return crio_error(err, status, "%s", message);
    }
    if (r->stopping) {
      pthread_mutex_unlock(&r->lock);
      return crio_error(err, ECANCELED, "the reconciler is stopping");
    }
    uint64_t seen = e->changes;
    bool passed = e->reached_at[goal] > w->commits;
    pthread_mutex_unlock(&r->lock);
    if (passed)
      return 0;

    int rc = evaluate(r, kind, id, goal, err);
    if (rc <= 0)
      return rc;

    if (deadline_ns > 0 && crio_monotonic_ns() >= deadline_ns)
      return crio_error(err, ETIMEDOUT, "deadline exceeded");

    pthread_mutex_lock(&r->lock);
    while (e->changes == seen && !r->stopping) {
      if (deadline_ns <= 0) {
        pthread_cond_wait(&e->changed, &r->lock);
        continue;
      }
      if (crio_monotonic_ns() >= deadline_ns)
        break; /* reported at the top of the loop, after a last look */
      struct timespec ts;
      reconciler_timespec_from_ns(deadline_ns, &ts);
      pthread_cond_timedwait(&e->changed, &r->lock, &ts);
    }
    pthread_mutex_unlock(&r->lock);
  }
}

int reconciler_wait(struct reconciler *r, enum sm_kind kind, const char *id, sm_state_t goal,
                    int64_t deadline_ns, crio_error_t *err) {
  if (sm_machine(kind) == NULL || !sm_state_valid(kind, goal))
    return crio_error(err, EINVAL, "wait: %u is not a state of kind %d", goal, (int)kind);
  struct waiter w;
  waiter_begin(r, kind, id, &w);
  int rc = waiter_wait(r, &w, kind, id, goal, deadline_ns, err);
  waiter_end(r, &w);
  if (rc < 0)
    crio_error_prefix(err, "%s %s to %s", sm_kind_name(kind), id, sm_state_name(kind, goal));
  return rc;
}

/* 0 the goal is set (or need not be), 1 the record is absent and the goal
 * is terminal (done), -1 error (nothing written). */
static int set_goal(struct reconciler *r, enum sm_kind kind, const char *id, sm_state_t goal,
                    crio_error_t *err) {
  const struct sm_machine *m = sm_machine(kind);
  cleanup_store_txn struct store_txn *txn = NULL;
  cleanup_store_record store_record *rec = NULL;
  if (store_txn_begin(r->store, STORE_TXN_WRITE, &txn, err) < 0)
    return -1;
  if (store_record_get(txn, (enum store_kind)kind, id, &rec, err) < 0) {
    if (crio_error_status(err) != ENOENT)
      return -1;
    crio_error_release(err);
    if (goal == m->terminal)
      return 1;
    return crio_error(err, ENOENT, "not found");
  }
  if (rec->state != goal && sm_next_step(kind, rec->state, goal) == NULL)
    return crio_error(err, EBUSY, "it is %s, from where %s cannot be reached",
                      sm_state_name(kind, rec->state), sm_state_name(kind, goal));
  /* A goal already on the current goal's way (stop while a removal is in
   * flight) needs no write: the object passes through it. */
  if (rec->goal == goal || goal_on_way(kind, rec->state, rec->goal, goal))
    return 0;
  cleanup_free char *why = xasprintf("goal %s requested", sm_state_name(kind, goal));
  store_set_goal(txn, rec, goal, why);
  return store_txn_commit(steal_pointer(&txn), err);
}

int reconciler_request(struct reconciler *r, enum sm_kind kind, const char *id, sm_state_t goal,
                       int64_t deadline_ns, crio_error_t *err) {
  const struct sm_machine *m = sm_machine(kind);
  if (m == NULL || !sm_state_valid(kind, goal))
    return crio_error(err, EINVAL, "request: %u is not a state of kind %d", goal, (int)kind);
  /* The waiter is registered before the goal is written, so a step that
   * fails right after the write is reported to this request. */
  struct waiter w;
  waiter_begin(r, kind, id, &w);
  int rc = set_goal(r, kind, id, goal, err);
  if (rc == 0) {
    reconciler_wake(r, kind, id);
    rc = waiter_wait(r, &w, kind, id, goal, deadline_ns, err);
  } else if (rc == 1) {
    rc = 0;
  }
  waiter_end(r, &w);
  if (rc < 0)
    crio_error_prefix(err, "%s %s to %s", m->name, id, sm_state_name(kind, goal));
  return rc;
}
