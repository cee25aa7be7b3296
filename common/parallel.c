/* A loop over n independent items spread over the CPUs the daemon may run
 * on, for the list calls that read the host once per item (the stats of
 * every container and pod: a few cgroup files each, where each read is a
 * system call into the kernel's formatting, and where 250 pods are some
 * 2000 reads).  Threads are started for the call and joined before it
 * returns: a list call comes every few seconds, and a thread costs tens of
 * microseconds against milliseconds of reads. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "common/common.h"

/* Items taken at a time: few enough that a worker slowed by another
 * process on its CPU leaves the rest to the others. */
#define PARALLEL_CHUNK 4

unsigned crio_parallel_workers(size_t n, size_t min_per_worker) {
  cpu_set_t set;
  int cpus = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
  if (min_per_worker == 0)
    min_per_worker = 1;
  size_t workers = n / min_per_worker;
  if (workers > (size_t)cpus)
    workers = (size_t)cpus;
  if (workers > CRIO_PARALLEL_MAX)
    workers = CRIO_PARALLEL_MAX;
  return workers ? (unsigned)workers : 1;
}

struct parallel_run {
  size_t n;
  atomic_size_t next;
  crio_parallel_fn fn;
  void *data;
};

struct parallel_worker {
  struct parallel_run *run;
  unsigned index;
};

static void run_items(struct parallel_run *run, unsigned worker) {
  for (;;) {
    size_t begin = atomic_fetch_add(&run->next, PARALLEL_CHUNK);
    if (begin >= run->n)
      return;
    size_t end = begin + PARALLEL_CHUNK < run->n ? begin + PARALLEL_CHUNK : run->n;
    for (size_t i = begin; i < end; i++)
      run->fn(run->data, i, worker);
  }
}

static void *worker_main(void *arg) {
  struct parallel_worker *w = arg;
  run_items(w->run, w->index);
  return NULL;
}

void crio_parallel_for(size_t n, unsigned workers, crio_parallel_fn fn, void *data) {
  struct parallel_run run = {.n = n, .fn = fn, .data = data};
  atomic_init(&run.next, 0);
  if (workers > CRIO_PARALLEL_MAX)
    workers = CRIO_PARALLEL_MAX;
  pthread_t threads[CRIO_PARALLEL_MAX];
  struct parallel_worker args[CRIO_PARALLEL_MAX];
  unsigned started = 0;
  for (unsigned w = 1; w < workers; w++) {
    args[started] = (struct parallel_worker){&run, w};
    int rc =
        crio_thread_start(&threads[started], CRIO_THREAD_STACK_SMALL, worker_main, &args[started]);
    if (rc != 0) {
      /* The calling thread takes what that worker would have: slower,
       * still complete. */
      log_debug("parallel loop: start worker: %s", strerror(rc));
      break;
    }
    started++;
  }
  run_items(&run, 0);
  for (unsigned i = 0; i < started; i++)
    pthread_join(threads[i], NULL);
}
