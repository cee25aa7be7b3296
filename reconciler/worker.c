/* The worker loop: take an object off the queue, apply its pending
 * events, run the step of its next transition, commit, and put the object
 * back if it has further to go.  One worker owns an object at a time
 * (reconcile_object.running), which is what serialises work on it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "reconciler/internal.h"

enum run_outcome {
  RUN_IDLE,  /* nothing more to do until someone wakes the object */
  RUN_AGAIN, /* further to go: back on the queue */
  RUN_RETRY, /* a teardown step failed: back on the queue after a backoff */
  RUN_WAIT,  /* a step waits for other objects: back on the queue shortly */
};

enum failure_policy {
  FAILURE_RETRY,    /* teardown: retry with backoff */
  FAILURE_ROLLBACK, /* half made: goal := the machine's rollback goal */
  FAILURE_GIVE_UP,  /* complete: goal := the current state */
};

static void step_resources_free(struct reconcile_step *step) {
  for (size_t i = 0; i < step->n_acquired; i++)
    store_resource_free(step->acquired[i]);
  for (size_t i = 0; i < step->n_released; i++)
    store_resource_free(step->released[i]);
  free(step->acquired);
  free(step->released);
  step->acquired = step->released = NULL;
  step->n_acquired = step->n_released = 0;
}

/* See reconciler.h, "Failure policy".  The test is on the table alone: the
 * way from the failed transition's state back to the rollback goal says
 * whether the object is being torn down already (the failed step IS that
 * way), is half made (that way starts with a rollback edge), or is a
 * complete object that failed to go further. */
static enum failure_policy failure_policy(const struct sm_transition *t) {
  const struct sm_machine *m = sm_machine(t->kind);
  const struct sm_transition *back = sm_next_step(t->kind, t->from, m->rollback_goal);
  if (back == NULL || back == t || t->rollback)
    return FAILURE_RETRY;
  if (back->rollback)
    return FAILURE_ROLLBACK;
  return FAILURE_GIVE_UP;
}

/* Commits a step's (or event's) result: 0 committed, 1 the record moved
 * or vanished meanwhile (nothing written; the caller re-reads), -1 error. */
static int commit_transition(struct reconciler *r, const char *id, const struct sm_transition *t,
                             struct reconcile_step *step, crio_error_t *err) {
  const struct sm_machine *m = sm_machine(t->kind);
  bool terminal = t->to == m->terminal;
  if (terminal && step->n_acquired > 0)
    return crio_error(err, EINVAL, "%s acquired resources on the terminal transition", t->name);

  cleanup_store_txn struct store_txn *txn = NULL;
  cleanup_store_record store_record *fresh = NULL;
  if (store_txn_begin(r->store, STORE_TXN_WRITE, &txn, err) < 0)
    return -1;
  if (store_record_get(txn, (enum store_kind)t->kind, id, &fresh, err) < 0) {
    if (crio_error_status(err) != ENOENT)
      return -1;
    crio_error_release(err);
    log_warning("%s %s: record deleted while %s ran; not committed", m->name, id, t->name);
    return 1;
  }
  if (fresh->state != t->from) {
    /* Only this worker moves the state while it owns the object, so this
     * is another process writing the database (or a bug): re-read. */
    log_warning("%s %s: state changed to %s while %s ran; not committed", m->name, id,
                sm_state_name(t->kind, fresh->state), t->name);
    return 1;
  }

  /* The step worked on a copy read before it ran.  What others may have
   * written since is taken from the fresh record: the goal (a CRI handler
   * may have changed it: it must not be clobbered) and the store's own
   * bookkeeping; everything else is the step's.  (The other intent, the
   * resources an update applied, is written only by an exclusive
   * operation, which never runs while a step of the object does.) */
  store_record *rec = step->record;
  rec->state = fresh->state;
  rec->goal = fresh->goal;
  rec->generation = fresh->generation;
  rec->last_seq = fresh->last_seq;
  rec->updated_at = fresh->updated_at;

  if (terminal)
    store_delete(txn, rec, t->name, step->released, step->n_released);
  else
    store_transition(txn, rec, t->to, t->name, step->acquired, step->n_acquired, step->released,
                     step->n_released);
  /* Group commits would go here: concurrent workers' transitions queued
   * to one committer and written in one txn (one msync instead of N when
   * sync_every_commit is on).  Measure pod start first; LMDB commits
   * without sync are cheap. */
  return store_txn_commit(steal_pointer(&txn), err);
}

/* After a committed transition. */
static void note_commit(struct reconciler *r, struct reconcile_object *e,
                        const struct sm_transition *t) {
  pthread_mutex_lock(&r->lock);
  e->commits++;
  e->reached_at[t->to] = e->commits;
  e->backoff_ns = 0;
  /* A new state means a new step: an old backoff does not apply to it. */
  object_retry_cancel_locked(r, e);
  object_ops_state_moved_locked(e, t->to);
  object_notify_locked(e);
  pthread_mutex_unlock(&r->lock);
}

static enum run_outcome handle_failure(struct reconciler *r, struct reconcile_object *e,
                                       const struct sm_transition *t, sm_state_t started_goal,
                                       crio_error_t *step_err) {
  const struct sm_machine *m = sm_machine(e->kind);
  int status = crio_error_status(step_err);
  const char *message = crio_error_message(step_err);
  enum failure_policy policy = failure_policy(t);

  /* A step cut short by shutdown (reconcile_step_should_stop) did not
   * fail: nothing is recorded and no goal changes, so the next start
   * resumes it where it stands. */
  pthread_mutex_lock(&r->lock);
  bool stopping = r->stopping;
  if (stopping)
    object_notify_locked(e);
  pthread_mutex_unlock(&r->lock);
  if (stopping) {
    log_info("%s %s: %s interrupted by shutdown (%s); it resumes at the next start", m->name, e->id,
             t->name, message);
    return RUN_IDLE;
  }
  log_warning("%s %s: step %s failed: %s", m->name, e->id, t->name, message);

  cleanup_error crio_error_t err = NULL;
  cleanup_store_txn struct store_txn *txn = NULL;
  cleanup_store_record store_record *fresh = NULL;
  if (store_txn_begin(r->store, STORE_TXN_WRITE, &txn, &err) == 0 &&
      store_record_get(txn, (enum store_kind)e->kind, e->id, &fresh, &err) == 0) {
    store_record_failure(txn, fresh, t->name, status, message);
    /* Only the goal the step worked toward is replaced: a goal a CRI
     * handler set meanwhile is the newer intent. */
    if (fresh->state == t->from && fresh->goal == started_goal) {
      sm_state_t goal = policy == FAILURE_ROLLBACK  ? m->rollback_goal
                        : policy == FAILURE_GIVE_UP ? fresh->state
                                                    : fresh->goal;
      if (goal != fresh->goal) {
        cleanup_free char *why =
            xasprintf("%s after %s failed: %s",
                      policy == FAILURE_ROLLBACK ? "rolling back" : "giving up", t->name, message);
        log_info("%s %s: goal %s -> %s (%s)", m->name, e->id, sm_state_name(e->kind, fresh->goal),
                 sm_state_name(e->kind, goal), why);
        store_set_goal(txn, fresh, goal, why);
      }
    }
    store_txn_commit(steal_pointer(&txn), &err);
  }
  if (err != NULL && crio_error_status(&err) != ENOENT) {
    crio_error_prefix(&err, "%s %s: record failure of %s", m->name, e->id, t->name);
    crio_error_warn(&err, "reconciler");
    policy = FAILURE_RETRY;
  }

  pthread_mutex_lock(&r->lock);
  e->failures++;
  e->failure_status = status;
  free(e->failure_message);
  /* The record keeps the step's own words (for *Status); a waiter is told
   * which step said them. */
  e->failure_message = xasprintf("%s: %s", t->name, message);
  object_notify_locked(e);
  pthread_mutex_unlock(&r->lock);
  return policy == FAILURE_RETRY ? RUN_RETRY : RUN_AGAIN;
}

/* CRIO_FAIL_AT=<transition>:hang: a step wedged in the host (it never
 * asks reconcile_step_should_stop), until the daemon stops. */
static int hang_until_stop(struct reconciler *r, const struct sm_transition *t, crio_error_t *err) {
  log_warning("step %s hangs on purpose (CRIO_FAIL_AT) until the daemon stops", t->name);
  /* Polled, not a wait on r->work: it must not take the wake-ups meant
   * for the idle workers. */
  for (;;) {
    pthread_mutex_lock(&r->lock);
    bool stopping = r->stopping;
    pthread_mutex_unlock(&r->lock);
    if (stopping)
      break;
    nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
  }
  return crio_error(err, ECANCELED, "step %s hung on purpose (CRIO_FAIL_AT)", t->name);
}

static enum run_outcome run_step(struct reconciler *r, struct reconcile_object *e) {
  const struct sm_machine *m = sm_machine(e->kind);
  cleanup_error crio_error_t err = NULL;
  cleanup_store_record store_record *rec = NULL;
  if (reconciler_read_record(r, e->kind, e->id, &rec, &err) < 0) {
    if (crio_error_status(&err) == ENOENT)
      return RUN_IDLE;
    crio_error_warn(&err, "reconciler");
    return RUN_RETRY;
  }
  if (rec->state == rec->goal)
    return RUN_IDLE;
  const struct sm_transition *t = sm_next_step(e->kind, rec->state, rec->goal);
  if (t == NULL) {
    /* reconciler_wait() reports this to waiters as EBUSY. */
    log_debug("%s %s: goal %s cannot be reached from %s", m->name, e->id,
              sm_state_name(e->kind, rec->goal), sm_state_name(e->kind, rec->state));
    pthread_mutex_lock(&r->lock);
    object_notify_locked(e);
    pthread_mutex_unlock(&r->lock);
    return RUN_IDLE;
  }

  sm_state_t started_goal = rec->goal;
  const struct step_registration *reg = reconciler_step_lookup(r, t);
  struct reconcile_step step = {
      .reconciler = r,
      .store = r->store,
      .transition = t,
      .record = rec,
      .data = reg ? reg->data : NULL,
  };
  int rc;
  if (reg == NULL) {
    rc = crio_error(&err, ENOSYS, "no step is registered for transition %s", t->name);
  } else {
    log_debug("%s %s: running %s", m->name, e->id, t->name);
    reconciler_crash_point(r, t, false, e->id);
    if (r->fail_transition == t && r->fail_hang)
      rc = hang_until_stop(r, t, &err);
    else if (r->fail_transition == t)
      rc = crio_error(&err, EIO, "step %s failed on purpose (CRIO_FAIL_AT)", t->name);
    else
      rc = reg->fn(&step, &err);
    if (rc < 0 && err == NULL)
      crio_error(&err, EIO, "step %s failed without saying why", t->name);
  }
  if (rc == RECONCILE_STEP_WAIT) {
    /* Not a failure: the step asked other objects to move first (a pod's
     * containers to stop) and looks again shortly. */
    step_resources_free(&step);
    log_debug("%s %s: %s waits for other objects", m->name, e->id, t->name);
    return RUN_WAIT;
  }
  if (rc == 0) {
    rc = commit_transition(r, e->id, t, &step, &err);
    if (rc == 0)
      reconciler_crash_point(r, t, true, e->id);
  }
  step_resources_free(&step);
  if (rc == 1)
    return RUN_AGAIN;
  if (rc < 0)
    return handle_failure(r, e, t, started_goal, &err);
  log_debug("%s %s: %s -> %s", m->name, e->id, t->name, sm_state_name(e->kind, t->to));
  note_commit(r, e, t);
  return t->to == m->terminal ? RUN_IDLE : RUN_AGAIN;
}

static void apply_event(struct reconciler *r, struct reconcile_object *e,
                        struct reconcile_event *ev) {
  const struct sm_transition *t = ev->transition;
  const struct sm_machine *m = sm_machine(e->kind);
  const char *what = t ? t->name : sm_state_name(e->kind, ev->observed);
  cleanup_error crio_error_t err = NULL;
  cleanup_store_record store_record *rec = NULL;
  if (reconciler_read_record(r, e->kind, e->id, &rec, &err) < 0) {
    if (crio_error_status(&err) == ENOENT)
      log_debug("%s %s: event %s ignored: no record", m->name, e->id, what);
    else
      crio_error_warn(&err, "reconciler: event");
    return;
  }
  /* An observation commits whichever event leads from here to what was
   * observed. */
  if (t == NULL)
    t = sm_find_trigger(e->kind, rec->state, ev->observed, SM_TRIGGER_EVENT);
  if (t == NULL || rec->state != t->from) {
    log_debug("%s %s: event %s ignored in state %s", m->name, e->id, what,
              sm_state_name(e->kind, rec->state));
    return;
  }
  struct reconcile_step step = {
      .reconciler = r,
      .store = r->store,
      .transition = t,
      .record = rec,
      .data = ev->data,
  };
  reconciler_crash_point(r, t, false, e->id);
  int rc = ev->apply ? ev->apply(&step, &err) : 0;
  if (rc == 0) {
    rc = commit_transition(r, e->id, t, &step, &err);
    if (rc == 0)
      reconciler_crash_point(r, t, true, e->id);
  }
  step_resources_free(&step);
  if (rc < 0) {
    crio_error_prefix(&err, "%s %s: event %s", m->name, e->id, t->name);
    crio_error_warn(&err, "reconciler");
    return;
  }
  if (rc == 0) {
    log_debug("%s %s: event %s -> %s", m->name, e->id, t->name, sm_state_name(e->kind, t->to));
    note_commit(r, e, t);
  }
}

static enum run_outcome run_object(struct reconciler *r, struct reconcile_object *e) {
  for (;;) {
    pthread_mutex_lock(&r->lock);
    struct reconcile_event *ev = e->events_head;
    if (ev) {
      e->events_head = ev->next;
      if (e->events_head == NULL)
        e->events_tail = NULL;
    }
    bool stopping = r->stopping;
    pthread_mutex_unlock(&r->lock);
    if (ev == NULL)
      break;
    if (!stopping)
      apply_event(r, e, ev);
    object_event_free(ev);
  }
  pthread_mutex_lock(&r->lock);
  bool skip = r->stopping || e->in_retry;
  pthread_mutex_unlock(&r->lock);
  if (skip)
    return RUN_IDLE;
  return run_step(r, e);
}

static void finish_object_locked(struct reconciler *r, struct reconcile_object *e,
                                 enum run_outcome outcome) {
  e->running = false;
  /* An operation may be waiting for the object (op.c). */
  if (e->op_refs > 0)
    pthread_cond_broadcast(&e->changed);
  if (!r->stopping) {
    if (e->rerun) {
      /* Woken while it ran (or its retry fell due): the wake may carry a
       * new goal, run now. */
      e->rerun = false;
      object_retry_cancel_locked(r, e);
      object_enqueue_locked(r, e);
    } else {
      if (outcome == RUN_RETRY)
        object_retry_schedule_locked(r, e);
      else if (outcome == RUN_WAIT)
        object_wait_schedule_locked(r, e);
      /* Events posted meanwhile are applied at once; the step waits for
       * its retry (run_object skips it while the object backs off). */
      if (outcome == RUN_AGAIN || e->events_head != NULL)
        object_enqueue_locked(r, e);
    }
  }
  object_release_if_idle_locked(r, e);
}

/* The next object to run, waiting for one; NULL once stopping. */
static struct reconcile_object *next_object_locked(struct reconciler *r) {
  for (;;) {
    if (r->stopping)
      return NULL;
    if (reconciler_heartbeat_due_locked(r)) {
      pthread_mutex_unlock(&r->lock);
      r->heartbeat(r->heartbeat_data);
      pthread_mutex_lock(&r->lock);
      continue;
    }
    int64_t earliest = object_retry_promote_locked(r, crio_monotonic_ns());
    struct reconcile_object *e = object_queue_pop_locked(r);
    if (e && e->op_exclusive) {
      /* An exclusive operation holds it: it is queued again when the
       * operation ends (op.c). */
      e->after_op = true;
      continue;
    }
    if (e)
      return e;
    if (r->heartbeat) {
      /* Idle workers wake for the heartbeat too. */
      int64_t beat = r->last_beat_ns + r->heartbeat_ns;
      if (earliest == 0 || beat < earliest)
        earliest = beat;
    }
    if (earliest) {
      struct timespec ts;
      reconciler_timespec_from_ns(earliest, &ts);
      pthread_cond_timedwait(&r->work, &r->lock, &ts);
    } else {
      pthread_cond_wait(&r->work, &r->lock);
    }
  }
}

void *reconciler_worker_main(void *arg) {
  struct reconciler *r = arg;
  pthread_mutex_lock(&r->lock);
  for (;;) {
    struct reconcile_object *e = next_object_locked(r);
    if (e == NULL)
      break;
    e->running = true;
    pthread_mutex_unlock(&r->lock);
    enum run_outcome outcome = run_object(r, e);
    pthread_mutex_lock(&r->lock);
    finish_object_locked(r, e, outcome);
  }
  pthread_mutex_unlock(&r->lock);
  return NULL;
}
