/* The reconciler's lifecycle: new, start, stop, free. */
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
  if (options->heartbeat && options->heartbeat_ns > 0) {
    r->heartbeat = options->heartbeat;
    r->heartbeat_data = options->heartbeat_data;
    r->heartbeat_ns = options->heartbeat_ns;
  }
  r->n_steps = sm_transition_count();
  r->steps = xcalloc(r->n_steps, sizeof(*r->steps));
  pthread_mutex_init(&r->lock, NULL);
  reconciler_cond_init_monotonic(&r->work);
  reconciler_samplers_init(r);
  if (reconciler_hooks_parse(r, options, err) < 0) {
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
    int rc = crio_thread_start(&r->threads[i], CRIO_THREAD_STACK_SMALL, reconciler_worker_main, r);
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
  objects_cancel_all_ops_locked(r);
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
  reconciler_samplers_release(r);
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
