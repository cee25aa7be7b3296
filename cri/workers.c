#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "common/common.h"
#include "cri/workers.h"

enum {
  CORE_THREADS = 2,       /* kept even when idle */
  IDLE_EXIT_SECONDS = 30, /* extra threads idle this long exit */
  THREAD_STACK = 512 * 1024,
  TRIM_AFTER_IDLE_MS = 1000, /* quiet this long after a call: heap trimmed */
};

struct job {
  void (*fn)(void *arg);
  void *arg;
  struct job *next;
};

struct cri_workers {
  pthread_mutex_t lock;
  pthread_cond_t work_ready; /* a job was queued, or stopping */
  pthread_cond_t all_gone;   /* n_threads dropped to 0 */
  struct job *head, *tail;
  /* n_idle counts threads waiting for work, including ones already
   * signalled that have not woken yet; n_queued the jobs no thread has
   * taken.  A job needs a new thread when the queued ones outnumber the
   * idle threads: comparing with n_idle == 0 alone let two jobs submitted
   * back to back share one idle thread, and the second then waited behind
   * whatever it ran (an event stream: for ever). */
  unsigned n_threads, n_idle, n_queued, max_threads;
  bool stopping;
  /* A call ran since the last malloc_trim; trim at trim_at_ns if no call
   * came since.  glibc returns freed memory in the middle of its heaps
   * (and of every thread's arena) only when asked: without this, the
   * high-water mark of a burst of calls (fifty pods started, a big
   * ListContainers) stays resident for the daemon's life. */
  bool trim_pending;
  int64_t trim_at_ns;
};

static struct timespec mono_timespec(int64_t ns) {
  return (struct timespec){.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
}

static void *worker_main(void *arg) {
  struct cri_workers *w = arg;
  pthread_mutex_lock(&w->lock);
  for (;;) {
    int64_t exit_at = crio_monotonic_ns() + (int64_t)IDLE_EXIT_SECONDS * 1000000000;
    while (w->head == NULL && !w->stopping) {
      int64_t wake_at = w->trim_pending && w->trim_at_ns < exit_at ? w->trim_at_ns : exit_at;
      struct timespec until = mono_timespec(wake_at);
      w->n_idle++;
      int rc = pthread_cond_timedwait(&w->work_ready, &w->lock, &until);
      w->n_idle--;
      if (rc != ETIMEDOUT || w->head != NULL)
        continue;
      int64_t now = crio_monotonic_ns();
      if (w->trim_pending && now >= w->trim_at_ns) {
        w->trim_pending = false;
        pthread_mutex_unlock(&w->lock);
        malloc_trim(0);
        pthread_mutex_lock(&w->lock);
        continue;
      }
      if (now >= exit_at) {
        if (w->n_threads > CORE_THREADS)
          goto out;
        exit_at = now + (int64_t)IDLE_EXIT_SECONDS * 1000000000;
      }
    }
    if (w->head == NULL) /* stopping and drained */
      break;
    struct job *job = w->head;
    w->n_queued--;
    w->head = job->next;
    if (w->head == NULL)
      w->tail = NULL;
    pthread_mutex_unlock(&w->lock);
    job->fn(job->arg);
    free(job);
    pthread_mutex_lock(&w->lock);
    w->trim_pending = true;
    w->trim_at_ns = crio_monotonic_ns() + (int64_t)TRIM_AFTER_IDLE_MS * 1000000;
  }
out:
  w->n_threads--;
  if (w->n_threads == 0)
    pthread_cond_broadcast(&w->all_gone);
  pthread_mutex_unlock(&w->lock);
  return NULL;
}

/* Called with the lock held. */
static void spawn_locked(struct cri_workers *w) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, THREAD_STACK);
  pthread_t tid;
  if (pthread_create(&tid, &attr, worker_main, w) == 0)
    w->n_threads++;
  else if (w->n_threads == 0)
    log_error("cannot start a handler thread; calls will wait");
  pthread_attr_destroy(&attr);
}

struct cri_workers *cri_workers_new(unsigned max_threads) {
  struct cri_workers *w = xzalloc(sizeof(*w));
  pthread_mutex_init(&w->lock, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&w->work_ready, &ca);
  pthread_condattr_destroy(&ca);
  pthread_cond_init(&w->all_gone, NULL);
  w->max_threads = max_threads ? max_threads : 256;
  return w;
}

void cri_workers_submit(struct cri_workers *w, void (*fn)(void *arg), void *arg) {
  struct job *job = xzalloc(sizeof(*job));
  job->fn = fn;
  job->arg = arg;
  pthread_mutex_lock(&w->lock);
  if (w->tail)
    w->tail->next = job;
  else
    w->head = job;
  w->tail = job;
  w->n_queued++;
  if (w->n_queued > w->n_idle && w->n_threads < w->max_threads)
    spawn_locked(w);
  else
    pthread_cond_signal(&w->work_ready);
  pthread_mutex_unlock(&w->lock);
}

void cri_workers_free(struct cri_workers *w) {
  if (w == NULL)
    return;
  pthread_mutex_lock(&w->lock);
  w->stopping = true;
  if (w->head != NULL && w->n_threads == 0)
    spawn_locked(w);
  pthread_cond_broadcast(&w->work_ready);
  while (w->n_threads > 0)
    pthread_cond_wait(&w->all_gone, &w->lock);
  pthread_mutex_unlock(&w->lock);
  pthread_mutex_destroy(&w->lock);
  pthread_cond_destroy(&w->work_ready);
  pthread_cond_destroy(&w->all_gone);
  free(w);
}
