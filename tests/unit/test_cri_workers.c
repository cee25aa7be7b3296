/* The handler pool: a queued call never waits behind handlers that block
 * for long (event streams, calls waiting for the reconciler) while the
 * pool may still grow. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "common/common.h"
#include "cri/workers.h"
#include "tests/unit/testing.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static bool release_blockers;
static int running_blockers;
static atomic_int quick_done;

static void blocker(void *arg) {
  (void)arg;
  pthread_mutex_lock(&lock);
  running_blockers++;
  pthread_cond_broadcast(&changed);
  while (!release_blockers)
    pthread_cond_wait(&changed, &lock);
  running_blockers--;
  pthread_mutex_unlock(&lock);
}

static void quick(void *arg) {
  (void)arg;
  atomic_fetch_add(&quick_done, 1);
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static bool wait_quick(int n, long timeout_ms) {
  for (long waited = 0; waited < timeout_ms; waited += 10) {
    if (atomic_load(&quick_done) >= n)
      return true;
    sleep_ms(10);
  }
  return atomic_load(&quick_done) >= n;
}

/* Two long handlers submitted back to back while one thread is idle: the
 * idle thread takes only one of them, so the second must get a thread of
 * its own, and a call submitted after both must run at once too. */
static void test_back_to_back_blockers_do_not_starve_later_calls(void) {
  for (int round = 0; round < 50; round++) {
    release_blockers = false;
    atomic_store(&quick_done, 0);
    struct cri_workers *w = cri_workers_new(16);
    cri_workers_submit(w, quick, NULL);
    CHECK(wait_quick(1, 5000));
    sleep_ms(5); /* its thread is idle again */
    cri_workers_submit(w, blocker, NULL);
    cri_workers_submit(w, blocker, NULL);
    cri_workers_submit(w, quick, NULL);
    if (!wait_quick(2, 3000)) {
      fprintf(stderr, "round %d: a call queued behind two blocked handlers never ran\n", round);
      exit(1);
    }
    pthread_mutex_lock(&lock);
    while (running_blockers < 2)
      pthread_cond_wait(&changed, &lock);
    release_blockers = true;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
    cri_workers_free(w);
  }
}

/* Past the cap calls queue, and run as soon as a thread is free. */
static void test_past_the_cap_calls_queue(void) {
  release_blockers = false;
  atomic_store(&quick_done, 0);
  struct cri_workers *w = cri_workers_new(2);
  cri_workers_submit(w, blocker, NULL);
  cri_workers_submit(w, blocker, NULL);
  cri_workers_submit(w, quick, NULL);
  sleep_ms(200);
  CHECK_INT_EQ(atomic_load(&quick_done), 0);
  pthread_mutex_lock(&lock);
  release_blockers = true;
  pthread_cond_broadcast(&changed);
  pthread_mutex_unlock(&lock);
  CHECK(wait_quick(1, 5000));
  cri_workers_free(w);
}

int main(void) {
  RUN_TEST(test_back_to_back_blockers_do_not_starve_later_calls);
  RUN_TEST(test_past_the_cap_calls_queue);
  return 0;
}
