/* The step registry, the crash-point and failure-injection hooks, and
 * the helpers steps call. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reconciler/internal.h"

/* ---- the crash-point hook ------------------------------------------------- */

/* The operations the crash hook may name besides transitions: the logged
 * ones the reconciler implements (internal.h). */
static const char *const crash_ops[] = {
    RECONCILER_OP_CONTAINER_UPDATE_RESOURCES,
    RECONCILER_OP_POD_UPDATE_RESOURCES,
    RECONCILER_OP_CONTAINER_REOPEN_LOG,
};

static int parse_crash_at(struct reconciler *r, const char *spec, crio_error_t *err) {
  if (spec == NULL || spec[0] == '\0')
    return 0;
  cleanup_free char *name = xstrdup(spec);
  bool after = false;
  /* Transition names contain '.', never ':'. */
  char *colon = strrchr(name, ':');
  if (colon != NULL) {
    *colon = '\0';
    if (strcmp(colon + 1, "after") == 0)
      after = true;
    else if (strcmp(colon + 1, "before") != 0)
      return crio_error(err, EINVAL, "CRIO_CRASH_AT=%s: expected <transition>[:before|:after]",
                        spec);
  }
  r->crash_after = after;
  r->crash_transition = sm_transition_by_name(name);
  if (r->crash_transition != NULL)
    return 0;
  for (size_t i = 0; i < sizeof(crash_ops) / sizeof(crash_ops[0]); i++) {
    if (strcmp(crash_ops[i], name) == 0) {
      r->crash_op = crash_ops[i];
      return 0;
    }
  }
  return crio_error(err, EINVAL, "CRIO_CRASH_AT=%s: unknown transition %s", spec, name);
}

static int parse_fail_at(struct reconciler *r, const char *spec, crio_error_t *err) {
  if (spec == NULL || spec[0] == '\0')
    return 0;
  cleanup_free char *name = xstrdup(spec);
  char *colon = strrchr(name, ':');
  if (colon != NULL) {
    *colon = '\0';
    if (strcmp(colon + 1, "hang") != 0)
      return crio_error(err, EINVAL, "CRIO_FAIL_AT=%s: expected <transition>[:hang]", spec);
    r->fail_hang = true;
  }
  const struct sm_transition *t = sm_transition_by_name(name);
  if (t == NULL)
    return crio_error(err, EINVAL, "CRIO_FAIL_AT=%s: unknown transition", spec);
  if (t->trigger != SM_TRIGGER_STEP)
    return crio_error(err, EINVAL, "CRIO_FAIL_AT=%s: not a step", spec);
  r->fail_transition = t;
  return 0;
}

/* ---- the heartbeat ------------------------------------------------------------ */

bool reconciler_heartbeat_due_locked(struct reconciler *r) {
  if (r->heartbeat == NULL)
    return false;
  int64_t now = crio_monotonic_ns();
  if (r->last_beat_ns && now - r->last_beat_ns < r->heartbeat_ns)
    return false;
  r->last_beat_ns = now;
  return true;
}

int reconciler_hooks_parse(struct reconciler *r, const struct reconciler_options *options,
                           crio_error_t *err) {
  if (parse_crash_at(r, options->crash_at, err) < 0 || parse_fail_at(r, options->fail_at, err) < 0)
    return -1;
  return 0;
}

static void crash(const char *name, bool after, enum sm_kind kind, const char *object_id) {
  /* Straight to stderr, not through the log sink: the crash tests read
   * it, and nothing may run after this line (no atexit, no flushing of
   * state that a real crash would not flush either). */
  fprintf(stderr, "crio: crash point %s:%s fired for %s %s; exiting 137\n", name,
          after ? "after" : "before", sm_kind_name(kind), object_id);
  _exit(137);
}

void reconciler_crash_point(const struct reconciler *r, const struct sm_transition *t, bool after,
                            const char *object_id) {
  if (r->crash_transition == t && r->crash_after == after)
    crash(t->name, after, t->kind, object_id);
}

void reconciler_crash_point_op(const struct reconciler *r, const struct reconcile_op_type *type,
                               bool after, const char *object_id) {
  if (r->crash_op != NULL && r->crash_after == after && strcmp(r->crash_op, type->name) == 0)
    crash(type->name, after, type->kind, object_id);
}

/* ---- the step registry ---------------------------------------------------- */

static ssize_t transition_index(const struct sm_transition *t) {
  size_t n = sm_transition_count();
  for (size_t i = 0; i < n; i++)
    if (sm_transition_at(i) == t)
      return (ssize_t)i;
  return -1;
}

const struct step_registration *reconciler_step_lookup(const struct reconciler *r,
                                                       const struct sm_transition *t) {
  ssize_t i = transition_index(t);
  if (i < 0 || (size_t)i >= r->n_steps || r->steps[i].fn == NULL)
    return NULL;
  return &r->steps[i];
}

int reconciler_register_step(struct reconciler *r, const char *transition, reconcile_step_fn fn,
                             void *data, crio_error_t *err) {
  const struct sm_transition *t = sm_transition_by_name(transition);
  if (t == NULL)
    return crio_error(err, EINVAL, "register step: unknown transition %s",
                      transition ? transition : "(null)");
  if (t->trigger != SM_TRIGGER_STEP)
    return crio_error(err, EINVAL, "register step: %s is an event, posted rather than run",
                      transition);
  if (fn == NULL)
    return crio_error(err, EINVAL, "register step %s: no function", transition);
  pthread_mutex_lock(&r->lock);
  bool started = r->started;
  pthread_mutex_unlock(&r->lock);
  if (started)
    return crio_error(err, EBUSY, "register step %s: the reconciler is already running",
                      transition);
  ssize_t i = transition_index(t);
  if (r->steps[i].fn != NULL)
    return crio_error(err, EEXIST, "register step %s: already registered", transition);
  r->steps[i].fn = fn;
  r->steps[i].data = data;
  return 0;
}

int reconcile_step_noop(struct reconcile_step *step, crio_error_t *err) {
  (void)step;
  (void)err;
  return 0;
}

/* ---- helpers for steps ---------------------------------------------------- */

static void resource_append(store_resource ***list, size_t *n, store_resource *res) {
  *list = xrealloc(*list, (*n + 1) * sizeof(**list));
  (*list)[(*n)++] = res;
}

void reconcile_step_acquire(struct reconcile_step *step, const char *type, const char *id,
                            const void *detail, size_t detail_len) {
  resource_append(&step->acquired, &step->n_acquired,
                  store_resource_new(type, id, detail, detail_len));
}

void reconcile_step_release(struct reconcile_step *step, const char *type, const char *id) {
  resource_append(&step->released, &step->n_released, store_resource_new(type, id, NULL, 0));
}

bool reconcile_step_should_stop(const struct reconcile_step *step) {
  struct reconciler *r = step->reconciler;
  pthread_mutex_lock(&r->lock);
  bool stopping = r->stopping;
  /* A long step that keeps asking (a pull, per chunk written) is making
   * progress: it keeps the heartbeat going while every worker is busy. */
  bool beat = reconciler_heartbeat_due_locked(r);
  pthread_mutex_unlock(&r->lock);
  if (beat)
    r->heartbeat(r->heartbeat_data);
  return stopping;
}
