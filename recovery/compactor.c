/* Keeping the state log bounded while the daemon runs (recovery.h has the
 * retention rule).  One thread follows the log's commits with
 * store_log_wait and, each time `every` entries were appended since its
 * last pass, compacts everything older than the newest `keep` entries in
 * one write txn.  A pass walks the old part of the log once (a few ms for
 * a few thousand entries) and holds the write lock meanwhile, so it is
 * rare rather than incremental. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "recovery/recovery.h"

/* How long a wait for commits lasts before the thread looks at its stop
 * flag: the most a shutdown waits for it. */
#define COMPACTOR_POLL_NS (200 * 1000000LL)

struct recovery_compactor {
  struct store *store;
  uint64_t keep, every;
  pthread_t thread;
  bool stop;                /* atomic */
  uint64_t passes, dropped; /* atomic */
};

static int compact_pass(struct recovery_compactor *c, uint64_t last_seq, crio_error_t *err) {
  if (last_seq <= c->keep)
    return 0;
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(c->store, STORE_TXN_WRITE, &txn, err) < 0)
    return -1;
  uint64_t n = 0;
  if (store_log_compact(txn, store_log_last_seq(txn) + 1 - c->keep, &n, err) < 0)
    return -1;
  if (store_txn_commit(steal_pointer(&txn), err) < 0)
    return -1;
  __atomic_add_fetch(&c->passes, 1, __ATOMIC_RELAXED);
  __atomic_add_fetch(&c->dropped, n, __ATOMIC_RELAXED);
  log_debug("state log: compacted, %llu entries dropped", (unsigned long long)n);
  return 0;
}

static void *compactor_main(void *arg) {
  struct recovery_compactor *c = arg;
  uint64_t seen = 0;
  struct store_txn *txn = NULL;
  crio_error_t err = NULL;
  if (store_txn_begin(c->store, STORE_TXN_READ, &txn, &err) == 0) {
    seen = store_log_last_seq(txn);
    store_txn_abort(txn);
  } else {
    crio_error_warn(&err, "state log compactor");
  }
  uint64_t last_pass = seen;
  while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
    uint64_t seq = store_log_wait(c->store, seen, crio_monotonic_ns() + COMPACTOR_POLL_NS);
    if (seq > seen)
      seen = seq;
    if (seen - last_pass < c->every)
      continue;
    if (compact_pass(c, seen, &err) < 0)
      crio_error_warn(&err, "compact the state log");
    last_pass = seen;
  }
  return NULL;
}

int recovery_compactor_start(struct store *store, const struct recovery_compactor_options *options,
                             struct recovery_compactor **out, crio_error_t *err) {
  struct recovery_compactor *c = xzalloc(sizeof(*c));
  c->store = store;
  c->keep = options && options->keep ? options->keep : RECOVERY_DEFAULT_LOG_KEEP;
  c->every = options && options->every ? options->every : RECOVERY_DEFAULT_COMPACT_EVERY;
  int rc = crio_thread_start(&c->thread, CRIO_THREAD_STACK_SMALL, compactor_main, c);
  if (rc != 0) {
    free(c);
    return crio_error_errno(err, rc, "start the state log compactor");
  }
  *out = c;
  return 0;
}

void recovery_compactor_stop(struct recovery_compactor *c) {
  if (c == NULL)
    return;
  __atomic_store_n(&c->stop, true, __ATOMIC_RELEASE);
  pthread_join(c->thread, NULL);
  free(c);
}

void recovery_compactor_stopp(struct recovery_compactor **c) {
  recovery_compactor_stop(*c);
  *c = NULL;
}

void recovery_compactor_totals(const struct recovery_compactor *c, uint64_t *passes,
                               uint64_t *dropped) {
  *passes = __atomic_load_n(&c->passes, __ATOMIC_RELAXED);
  *dropped = __atomic_load_n(&c->dropped, __ATOMIC_RELAXED);
}
