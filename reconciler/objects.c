/* The in-memory object table: which objects are queued, running, backing
 * off or waited on.  Everything here runs with reconciler.lock held,
 * except the public wake calls, which take it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "reconciler/internal.h"

static size_t object_bucket(enum sm_kind kind, const char *id) {
  /* FNV-1a: ids are random hex, any mix will do. */
  uint64_t h = 1469598103934665603ULL ^ (uint64_t)kind;
  for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
    h ^= *p;
    h *= 1099511628211ULL;
  }
  return (size_t)(h % RECONCILER_BUCKETS);
}

struct reconcile_object *object_ref_locked(struct reconciler *r, enum sm_kind kind,
                                           const char *id) {
  size_t b = object_bucket(kind, id);
  for (struct reconcile_object *e = r->buckets[b]; e; e = e->next_in_bucket)
    if (e->kind == kind && strcmp(e->id, id) == 0)
      return e;
  struct reconcile_object *e = xzalloc(sizeof(*e));
  e->kind = kind;
  e->id = xstrdup(id);
  reconciler_cond_init_monotonic(&e->changed);
  e->next_in_bucket = r->buckets[b];
  r->buckets[b] = e;
  return e;
}

void object_event_free(struct reconcile_event *ev) {
  if (ev == NULL)
    return;
  if (ev->data_free)
    ev->data_free(ev->data);
  free(ev);
}

static void object_destroy(struct reconcile_object *e) {
  struct reconcile_event *ev = e->events_head;
  while (ev) {
    struct reconcile_event *next = ev->next;
    object_event_free(ev);
    ev = next;
  }
  pthread_cond_destroy(&e->changed);
  free(e->failure_message);
  free(e->id);
  free(e);
}

void object_release_if_idle_locked(struct reconciler *r, struct reconcile_object *e) {
  if (e->queued || e->running || e->in_retry || e->waiters > 0 || e->events_head != NULL ||
      e->op_refs > 0)
    return;
  struct reconcile_object **pp = &r->buckets[object_bucket(e->kind, e->id)];
  while (*pp && *pp != e)
    pp = &(*pp)->next_in_bucket;
  if (*pp)
    *pp = e->next_in_bucket;
  object_destroy(e);
}

void object_notify_locked(struct reconcile_object *e) {
  e->changes++;
  pthread_cond_broadcast(&e->changed);
}

void object_enqueue_locked(struct reconciler *r, struct reconcile_object *e) {
  if (e->running) {
    e->rerun = true;
    return;
  }
  if (e->queued)
    return;
  e->queued = true;
  e->next_queued = NULL;
  if (r->queue_tail)
    r->queue_tail->next_queued = e;
  else
    r->queue_head = e;
  r->queue_tail = e;
  pthread_cond_signal(&r->work);
}

struct reconcile_object *object_queue_pop_locked(struct reconciler *r) {
  struct reconcile_object *e = r->queue_head;
  if (e == NULL)
    return NULL;
  r->queue_head = e->next_queued;
  if (r->queue_head == NULL)
    r->queue_tail = NULL;
  e->next_queued = NULL;
  e->queued = false;
  return e;
}

void object_retry_cancel_locked(struct reconciler *r, struct reconcile_object *e) {
  if (!e->in_retry)
    return;
  struct reconcile_object **pp = &r->retry_list;
  while (*pp && *pp != e)
    pp = &(*pp)->next_retry;
  if (*pp)
    *pp = e->next_retry;
  e->next_retry = NULL;
  e->in_retry = false;
  e->retry_at = 0;
}

void object_retry_schedule_locked(struct reconciler *r, struct reconcile_object *e) {
  if (e->in_retry)
    return;
  if (e->backoff_ns <= 0)
    e->backoff_ns = r->retry_initial_ns;
  e->retry_at = crio_monotonic_ns() + e->backoff_ns;
  log_info("%s %s: retrying in %lld ms", sm_kind_name(e->kind), e->id,
           (long long)(e->backoff_ns / 1000000));
  e->backoff_ns = e->backoff_ns > r->retry_max_ns / 2 ? r->retry_max_ns : e->backoff_ns * 2;
  e->in_retry = true;
  e->next_retry = r->retry_list;
  r->retry_list = e;
  /* An idle worker may be in an untimed wait: let one recompute its
   * timeout from the new earliest retry. */
  pthread_cond_signal(&r->work);
}

/* A step that waits for other objects is looked at again after a short,
 * fixed delay (no backoff, no failure counted): the objects it waits for
 * are normally quick. */
void object_wait_schedule_locked(struct reconciler *r, struct reconcile_object *e) {
  if (e->in_retry)
    return;
  e->retry_at = crio_monotonic_ns() + RECONCILER_STEP_WAIT_NS;
  e->in_retry = true;
  e->next_retry = r->retry_list;
  r->retry_list = e;
  pthread_cond_signal(&r->work);
}

int64_t object_retry_promote_locked(struct reconciler *r, int64_t now) {
  int64_t earliest = 0;
  struct reconcile_object **pp = &r->retry_list;
  while (*pp) {
    struct reconcile_object *e = *pp;
    if (e->retry_at <= now) {
      *pp = e->next_retry;
      e->next_retry = NULL;
      e->in_retry = false;
      e->retry_at = 0;
      object_enqueue_locked(r, e);
      continue;
    }
    if (earliest == 0 || e->retry_at < earliest)
      earliest = e->retry_at;
    pp = &e->next_retry;
  }
  return earliest;
}

void objects_free_all(struct reconciler *r) {
  for (size_t b = 0; b < RECONCILER_BUCKETS; b++) {
    struct reconcile_object *e = r->buckets[b];
    while (e) {
      struct reconcile_object *next = e->next_in_bucket;
      object_destroy(e);
      e = next;
    }
    r->buckets[b] = NULL;
  }
  r->queue_head = r->queue_tail = NULL;
  r->retry_list = NULL;
}

/* ---- shared operations ------------------------------------------------------ */

static void op_reader_cancel(struct op_reader *o) {
  if (__atomic_exchange_n(&o->op->cancelled, true, __ATOMIC_ACQ_REL))
    return;
  if (o->op->type->cancel)
    o->op->type->cancel(o->op->data);
}

void object_ops_state_moved_locked(struct reconcile_object *e, sm_state_t to) {
  for (struct op_reader *o = e->shared_ops; o; o = o->next)
    if (o->state != to)
      op_reader_cancel(o);
}

void objects_cancel_all_ops_locked(struct reconciler *r) {
  for (size_t b = 0; b < RECONCILER_BUCKETS; b++)
    for (struct reconcile_object *e = r->buckets[b]; e; e = e->next_in_bucket)
      for (struct op_reader *o = e->shared_ops; o; o = o->next)
        op_reader_cancel(o);
}

/* ---- the public scheduling calls ------------------------------------------ */

void reconciler_wake(struct reconciler *r, enum sm_kind kind, const char *id) {
  pthread_mutex_lock(&r->lock);
  struct reconcile_object *e = object_ref_locked(r, kind, id);
  /* A wake means something changed (usually the goal): run now, and let
   * waiters look again (a goal moved away from theirs ends their wait). */
  object_retry_cancel_locked(r, e);
  object_enqueue_locked(r, e);
  object_notify_locked(e);
  pthread_mutex_unlock(&r->lock);
}

struct id_list {
  char **ids;
  size_t n;
};

static int collect_unsettled(const store_record *rec, void *data) {
  struct id_list *list = data;
  if (rec->state == rec->goal)
    return 0;
  list->ids = xrealloc(list->ids, (list->n + 1) * sizeof(*list->ids));
  list->ids[list->n++] = xstrdup(rec->id);
  return 0;
}

static void id_list_free(struct id_list *list) {
  for (size_t i = 0; i < list->n; i++)
    free(list->ids[i]);
  free(list->ids);
  list->ids = NULL;
  list->n = 0;
}

int reconciler_enqueue_all(struct reconciler *r, crio_error_t *err) {
  for (int k = SM_KIND_FIRST; k <= SM_KIND_LAST; k++) {
    enum sm_kind kind = (enum sm_kind)k;
    struct id_list list = {0};
    {
      cleanup_store_txn struct store_txn *txn = NULL;
      if (store_txn_begin(r->store, STORE_TXN_READ, &txn, err) < 0)
        return crio_error_prefix(err, "enqueue %ss", sm_kind_name(kind));
      if (store_record_foreach(txn, (enum store_kind)kind, collect_unsettled, &list, err) < 0) {
        id_list_free(&list);
        return crio_error_prefix(err, "enqueue %ss", sm_kind_name(kind));
      }
    } /* the read txn ends here, before anyone is woken */
    for (size_t i = 0; i < list.n; i++)
      reconciler_wake(r, kind, list.ids[i]);
    if (list.n > 0)
      log_info("reconciler: %zu %s(s) to bring to their goal", list.n, sm_kind_name(kind));
    id_list_free(&list);
  }
  return 0;
}

static int post(struct reconciler *r, enum sm_kind kind, const char *id, struct reconcile_event *ev,
                const char *what, crio_error_t *err) {
  pthread_mutex_lock(&r->lock);
  if (r->stopping) {
    pthread_mutex_unlock(&r->lock);
    object_event_free(ev);
    return crio_error(err, ECANCELED, "post event %s for %s %s: stopping", what, sm_kind_name(kind),
                      id);
  }
  struct reconcile_object *e = object_ref_locked(r, kind, id);
  if (e->events_tail)
    e->events_tail->next = ev;
  else
    e->events_head = ev;
  e->events_tail = ev;
  /* An event does not cancel a step's backoff: the worker applies the
   * event and skips the step until its retry is due (unless the event
   * moved the state, which makes a new step).  A running object picks its
   * events up when it finishes (not through `rerun`, which would cancel
   * the backoff). */
  if (!e->running)
    object_enqueue_locked(r, e);
  pthread_mutex_unlock(&r->lock);
  return 0;
}

int reconciler_post_event(struct reconciler *r, enum sm_kind kind, const char *id,
                          const char *transition, reconcile_step_fn apply, void *data,
                          void (*data_free)(void *data), crio_error_t *err) {
  const struct sm_transition *t = sm_transition_by_name(transition);
  if (t == NULL || t->trigger != SM_TRIGGER_EVENT || t->kind != kind) {
    if (data_free)
      data_free(data);
    return crio_error(err, EINVAL,
                      "post event %s for %s %s: not an event of "
                      "that kind",
                      transition ? transition : "(null)", sm_kind_name(kind), id);
  }
  struct reconcile_event *ev = xzalloc(sizeof(*ev));
  ev->transition = t;
  ev->apply = apply;
  ev->data = data;
  ev->data_free = data_free;
  return post(r, kind, id, ev, transition, err);
}

int reconciler_post_observed(struct reconciler *r, enum sm_kind kind, const char *id,
                             sm_state_t observed, reconcile_step_fn apply, void *data,
                             void (*data_free)(void *data), crio_error_t *err) {
  const struct sm_machine *m = sm_machine(kind);
  bool any = false;
  for (size_t i = 0; m && i < m->n_transitions; i++)
    any |= m->transitions[i].trigger == SM_TRIGGER_EVENT && m->transitions[i].to == observed;
  if (!any) {
    if (data_free)
      data_free(data);
    return crio_error(err, EINVAL, "post observation for %s %s: no event leads to state %u",
                      m ? m->name : "?", id, observed);
  }
  struct reconcile_event *ev = xzalloc(sizeof(*ev));
  ev->observed = observed;
  ev->apply = apply;
  ev->data = data;
  ev->data_free = data_free;
  return post(r, kind, id, ev, sm_state_name(kind, observed), err);
}
