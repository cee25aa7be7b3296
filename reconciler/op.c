/* reconciler_run_op: an operation on a live object (reconciler.h,
 * "operations"), run on the caller's thread but owning the object the way
 * a worker does while it reads the record and, for an exclusive
 * operation, while it acts and commits. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "reconciler/internal.h"

/* Waits until neither a worker nor an exclusive operation holds the
 * object, then holds it exclusively.  Every operation begins this way, so
 * its record is read and checked between two steps, never during one. */
static int claim(struct reconciler *r, const struct reconcile_op_type *type, const char *id,
                 int64_t deadline_ns, struct reconcile_object **out, crio_error_t *err) {
  pthread_mutex_lock(&r->lock);
  struct reconcile_object *e = object_ref_locked(r, type->kind, id);
  e->op_refs++;
  int status = 0;
  for (;;) {
    if (r->stopping) {
      status = ECANCELED;
      break;
    }
    if (!e->running && !e->op_exclusive)
      break;
    if (deadline_ns <= 0) {
      pthread_cond_wait(&e->changed, &r->lock);
      continue;
    }
    if (crio_monotonic_ns() >= deadline_ns) {
      status = ETIMEDOUT;
      break;
    }
    struct timespec ts;
    reconciler_timespec_from_ns(deadline_ns, &ts);
    pthread_cond_timedwait(&e->changed, &r->lock, &ts);
  }
  if (status == 0) {
    e->op_exclusive = true;
    *out = e;
  } else {
    e->op_refs--;
    object_release_if_idle_locked(r, e);
  }
  pthread_mutex_unlock(&r->lock);
  if (status == ECANCELED)
    return crio_error(err, ECANCELED, "the reconciler is stopping");
  if (status == ETIMEDOUT)
    return crio_error(err, ETIMEDOUT, "deadline exceeded waiting for %s %s to be idle",
                      sm_kind_name(type->kind), id);
  return 0;
}

/* Ends the exclusive hold: what was queued meanwhile runs now. */
static void unhold_locked(struct reconciler *r, struct reconcile_object *e) {
  e->op_exclusive = false;
  if (e->after_op) {
    e->after_op = false;
    object_enqueue_locked(r, e);
  }
  pthread_cond_broadcast(&e->changed);
}

static void release(struct reconciler *r, struct reconcile_object *e, struct op_reader *reader) {
  pthread_mutex_lock(&r->lock);
  if (reader != NULL) {
    struct op_reader **pp = &e->shared_ops;
    while (*pp && *pp != reader)
      pp = &(*pp)->next;
    if (*pp)
      *pp = reader->next;
  }
  if (e->op_exclusive)
    unhold_locked(r, e);
  e->op_refs--;
  object_release_if_idle_locked(r, e);
  pthread_mutex_unlock(&r->lock);
}

static bool bytes_equal(ProtobufCBinaryData a, ProtobufCBinaryData b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

/* The outcome of an operation that was done: the intent fn left on its
 * copy of the record (resources_update: a GOAL entry), else an OPERATION
 * entry. */
static int commit_outcome(struct reconciler *r, const struct reconcile_op *op, const char *id,
                          const char *message, crio_error_t *err) {
  cleanup_store_txn struct store_txn *txn = NULL;
  cleanup_store_record store_record *fresh = NULL;
  if (store_txn_begin(r->store, STORE_TXN_WRITE, &txn, err) < 0 ||
      store_record_get(txn, (enum store_kind)op->type->kind, id, &fresh, err) < 0)
    return -1;
  if (!bytes_equal(fresh->resources_update, op->record->resources_update))
    store_set_resources_update(txn, fresh, op->record->resources_update.data,
                               op->record->resources_update.len, message);
  else
    store_log_operation(txn, fresh, op->type->name, message);
  return store_txn_commit(steal_pointer(&txn), err);
}

int reconciler_run_op(struct reconciler *r, const struct reconcile_op_type *type, const char *id,
                      const char *message, reconcile_op_fn fn, void *data, int64_t deadline_ns,
                      crio_error_t *err) {
  if (type == NULL || fn == NULL || sm_machine(type->kind) == NULL || id == NULL)
    return crio_error(err, EINVAL, "run operation: no type, function, kind or id");
  bool logged = type->logged && type->mode == RECONCILE_OP_EXCLUSIVE;
  struct reconcile_object *e = NULL;
  if (claim(r, type, id, deadline_ns, &e, err) < 0)
    return -1;

  struct reconcile_op op = {.reconciler = r, .type = type, .data = data};
  int rc = reconciler_read_record(r, type->kind, id, &op.record, err);
  if (rc == 0 && type->check)
    rc = type->check(&op, err);
  if (rc == 0 && logged)
    reconciler_crash_point_op(r, type, false, id);

  /* A shared operation lets go of the object once it has looked: steps
   * and other operations go on beside it, and it is told when the state
   * moves. */
  struct op_reader reader = {.op = &op};
  struct op_reader *registered = NULL;
  if (type->mode == RECONCILE_OP_SHARED) {
    pthread_mutex_lock(&r->lock);
    if (rc == 0) {
      reader.state = op.record->state;
      reader.next = e->shared_ops;
      e->shared_ops = &reader;
      registered = &reader;
    }
    unhold_locked(r, e);
    pthread_mutex_unlock(&r->lock);
  }

  if (rc == 0) {
    rc = fn(&op, err);
    if (rc < 0 && *err == NULL)
      crio_error(err, EIO, "operation %s failed without saying why", type->name);
    if (logged && rc == 0) {
      if (commit_outcome(r, &op, id, op.outcome ? op.outcome : message, err) < 0) {
        /* Done on the host, not recorded: the caller learns it failed and
         * retries; the next commit records what it applies then. */
        crio_error_prefix(err, "%s %s: record the outcome of %s", sm_kind_name(type->kind), id,
                          type->name);
        rc = -1;
      } else {
        reconciler_crash_point_op(r, type, true, id);
      }
    }
  }
  release(r, e, registered);
  store_record_free(op.record);
  free(op.outcome);
  return rc;
}
