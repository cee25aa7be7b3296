/* The reconciler's lifecycle (new, start, stop, free), the step registry,
 * the crash-point hook and the helpers steps call. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "reconciler/internal.h"

_Static_assert((int)SM_KIND_POD == (int)STORE_KIND_POD &&
                   (int)SM_KIND_CONTAINER == (int)STORE_KIND_CONTAINER &&
                   (int)SM_KIND_IMAGE == (int)STORE_KIND_IMAGE,
               "enum sm_kind and enum store_kind must agree");

void reconciler_cond_init_monotonic(pthread_cond_t *cond) {
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  /* Deadlines are CLOCK_MONOTONIC so a wall-clock jump (NTP, a VM resume)
   * neither fires nor postpones them. */
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(cond, &attr);
  pthread_condattr_destroy(&attr);
}

void reconciler_timespec_from_ns(int64_t ns, struct timespec *ts) {
  ts->tv_sec = (time_t)(ns / 1000000000LL);
  ts->tv_nsec = (long)(ns % 1000000000LL);
}

/* ---- the crash-point hook ------------------------------------------------- */

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
  const struct sm_transition *t = sm_transition_by_name(name);
  if (t == NULL)
    return crio_error(err, EINVAL, "CRIO_CRASH_AT=%s: unknown transition %s", spec, name);
  r->crash_transition = t;
  r->crash_after = after;
  return 0;
}

static int parse_fail_at(struct reconciler *r, const char *spec, crio_error_t *err) {
  if (spec == NULL || spec[0] == '\0')
    return 0;
  const struct sm_transition *t = sm_transition_by_name(spec);
  if (t == NULL)
    return crio_error(err, EINVAL, "CRIO_FAIL_AT=%s: unknown transition", spec);
  if (t->trigger != SM_TRIGGER_STEP)
    return crio_error(err, EINVAL, "CRIO_FAIL_AT=%s: not a step", spec);
  r->fail_transition = t;
  return 0;
}

void reconciler_crash_point(const struct reconciler *r, const struct sm_transition *t, bool after,
                            const char *object_id) {
  if (r->crash_transition != t || r->crash_after != after)
    return;
  /* Straight to stderr, not through the log sink: the crash tests read
   * it, and nothing may run after this line (no atexit, no flushing of
   * state that a real crash would not flush either). */
  fprintf(stderr, "crio: crash point %s:%s fired for %s %s; exiting 137\n", t->name,
          after ? "after" : "before", sm_kind_name(t->kind), object_id);
  _exit(137);
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
  pthread_mutex_unlock(&r->lock);
  return stopping;
}

/* ---- lifecycle ------------------------------------------------------------ */

int reconciler_new(struct store *store, const struct reconciler_options *options,
                   struct reconciler **out, crio_error_t *err) {
  static const struct reconciler_options defaults = {0};
  if (options == NULL)
    options = &defaults;
  if (store == NULL)
    return crio_error(err, EINVAL, "reconciler: no store");
  if (options->workers > RECONCILER_MAX_WORKERS)
    return crio_error(err, EINVAL, "reconciler: %u workers (at most %d)", options->workers,
                      RECONCILER_MAX_WORKERS);
  for (int k = SM_KIND_FIRST; k <= SM_KIND_LAST; k++) {
    const struct sm_machine *m = sm_machine((enum sm_kind)k);
    if (m == NULL || m->n_states > RECONCILER_MAX_STATES)
      return crio_error(err, EINVAL, "reconciler: machine %d has more than %d states", k,
                        RECONCILER_MAX_STATES);
  }

  struct reconciler *r = xzalloc(sizeof(*r));
  r->store = store;
  r->n_workers = options->workers ? options->workers : RECONCILER_DEFAULT_WORKERS;
  r->retry_initial_ns = options->retry_initial_ns > 0 ? options->retry_initial_ns
                                                      : RECONCILER_DEFAULT_RETRY_INITIAL_NS;
  r->retry_max_ns =
      options->retry_max_ns > 0 ? options->retry_max_ns : RECONCILER_DEFAULT_RETRY_MAX_NS;
  if (r->retry_max_ns < r->retry_initial_ns)
    r->retry_max_ns = r->retry_initial_ns;
  r->n_steps = sm_transition_count();
  r->steps = xcalloc(r->n_steps, sizeof(*r->steps));
  pthread_mutex_init(&r->lock, NULL);
  reconciler_cond_init_monotonic(&r->work);
  if (parse_crash_at(r, options->crash_at, err) < 0 ||
      parse_fail_at(r, options->fail_at, err) < 0) {
    reconciler_free(r);
    return -1;
  }
  *out = r;
  return 0;
}

int reconciler_start(struct reconciler *r, crio_error_t *err) {
  pthread_mutex_lock(&r->lock);
  if (r->started || r->stopping) {
    pthread_mutex_unlock(&r->lock);
    return crio_error(err, EBUSY, "reconciler: already started");
  }
  r->started = true;
  pthread_mutex_unlock(&r->lock);

  r->threads = xcalloc(r->n_workers, sizeof(*r->threads));
  for (unsigned i = 0; i < r->n_workers; i++) {
    int rc = pthread_create(&r->threads[i], NULL, reconciler_worker_main, r);
    if (rc != 0) {
      reconciler_stop(r);
      return crio_error_errno(err, rc, "reconciler: start worker %u", i);
    }
    pthread_mutex_lock(&r->lock);
    r->n_threads++;
    pthread_mutex_unlock(&r->lock);
  }
  return 0;
}

void reconciler_stop(struct reconciler *r) {
  pthread_mutex_lock(&r->lock);
  r->stopping = true;
  pthread_cond_broadcast(&r->work);
  for (size_t b = 0; b < RECONCILER_BUCKETS; b++)
    for (struct reconcile_object *e = r->buckets[b]; e; e = e->next_in_bucket)
      pthread_cond_broadcast(&e->changed);
  /* Taken under the lock so that a second stop (the daemon stops once to
   * release CRI handlers, once more on the way out) joins nothing twice. */
  unsigned n_threads = r->n_threads;
  r->n_threads = 0;
  pthread_mutex_unlock(&r->lock);

  for (unsigned i = 0; i < n_threads; i++)
    pthread_join(r->threads[i], NULL);
}

void reconciler_free(struct reconciler *r) {
  if (r == NULL)
    return;
  reconciler_stop(r);
  objects_free_all(r);
  free(r->threads);
  free(r->steps);
  pthread_cond_destroy(&r->work);
  pthread_mutex_destroy(&r->lock);
  free(r);
}

void reconciler_freep(struct reconciler **r) {
  if (r != NULL) {
    reconciler_free(*r);
    *r = NULL;
  }
}
