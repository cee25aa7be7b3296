/* common/parallel.c: every item is run exactly once whatever the number
 * of workers and items, each worker index is in range, the calling thread
 * is worker 0, and the worker count follows the CPUs, the cap and the
 * items per worker. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "common/common.h"
#include "tests/unit/testing.h"

struct seen {
  atomic_int *hits;
  unsigned workers;
  pthread_t caller;
  atomic_int bad_worker, caller_not_zero;
};

static void visit(void *data, size_t i, unsigned worker) {
  struct seen *s = data;
  atomic_fetch_add(&s->hits[i], 1);
  if (worker >= s->workers)
    atomic_fetch_add(&s->bad_worker, 1);
  if ((worker == 0) != (pthread_equal(pthread_self(), s->caller) != 0))
    atomic_fetch_add(&s->caller_not_zero, 1);
}

static void test_each_item_once(void) {
  static const size_t counts[] = {0, 1, 3, 4, 5, 17, 250, 1001};
  for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++)
    for (unsigned workers = 1; workers <= CRIO_PARALLEL_MAX + 1; workers++) {
      size_t n = counts[c];
      struct seen s = {.hits = calloc(n + 1, sizeof(atomic_int)),
                       .workers = workers > CRIO_PARALLEL_MAX ? CRIO_PARALLEL_MAX : workers,
                       .caller = pthread_self()};
      crio_parallel_for(n, workers, visit, &s);
      for (size_t i = 0; i < n; i++)
        CHECK_INT_EQ(atomic_load(&s.hits[i]), 1);
      CHECK_INT_EQ(atomic_load(&s.bad_worker), 0);
      CHECK_INT_EQ(atomic_load(&s.caller_not_zero), 0);
      free(s.hits);
    }
}

static void test_worker_count(void) {
  cpu_set_t set;
  CHECK(sched_getaffinity(0, sizeof(set), &set) == 0);
  unsigned cpus = (unsigned)CPU_COUNT(&set);
  unsigned most = cpus < CRIO_PARALLEL_MAX ? cpus : CRIO_PARALLEL_MAX;
  CHECK_INT_EQ(crio_parallel_workers(0, 16), 1);
  CHECK_INT_EQ(crio_parallel_workers(15, 16), 1);
  CHECK_INT_EQ(crio_parallel_workers(32, 16), most < 2 ? most : 2);
  CHECK_INT_EQ(crio_parallel_workers(100000, 16), most);
  CHECK_INT_EQ(crio_parallel_workers(3, 0), most < 3 ? most : 3);
}

int main(void) {
  RUN_TEST(test_each_item_once);
  RUN_TEST(test_worker_count);
  return 0;
}
