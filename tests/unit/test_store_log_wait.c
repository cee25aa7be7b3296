/* store_log_wait: a follower of the log sleeps until a commit that
 * appended entries, and only such a commit wakes it. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "tests/unit/testing.h"

/* test_store_fixture.c */
char *fixture_db_dir(void);
struct store *fixture_open(const char *dir, bool read_only);

static uint64_t create_pod(struct store *store, const char *id) {
  cleanup_error crio_error_t err = NULL;
  struct store_txn *txn = NULL;
  CHECK(store_txn_begin(store, STORE_TXN_WRITE, &txn, &err) == 0);
  cleanup_store_record store_record *rec = store_record_new(STORE_KIND_POD, id);
  rec->state = 1;
  rec->goal = 1;
  store_create(txn, rec);
  uint64_t seq = rec->last_seq;
  CHECK(store_txn_commit(txn, &err) == 0);
  return seq;
}

static uint64_t last_seq(struct store *store) {
  cleanup_error crio_error_t err = NULL;
  cleanup_store_txn struct store_txn *txn = NULL;
  CHECK(store_txn_begin(store, STORE_TXN_READ, &txn, &err) == 0);
  return store_log_last_seq(txn);
}

/* Nothing committed: the wait ends at its deadline, not before. */
static void test_timeout_without_commit(void) {
  cleanup_free char *dir = fixture_db_dir();
  cleanup_store struct store *store = fixture_open(dir, false);
  int64_t start = crio_monotonic_ns();
  uint64_t seq = store_log_wait(store, 0, start + 100 * 1000000LL);
  int64_t waited = crio_monotonic_ns() - start;
  CHECK_INT_EQ(seq, 0);
  CHECK(waited >= 100 * 1000000LL);
  CHECK(waited < 2000 * 1000000LL);
}

/* A seq already committed past `seen` returns at once. */
static void test_returns_at_once_when_behind(void) {
  cleanup_free char *dir = fixture_db_dir();
  cleanup_store struct store *store = fixture_open(dir, false);
  uint64_t a = create_pod(store, "a");
  uint64_t b = create_pod(store, "b");
  CHECK(b > a);
  int64_t start = crio_monotonic_ns();
  CHECK_INT_EQ(store_log_wait(store, a, start + 5000 * 1000000LL), b);
  CHECK(crio_monotonic_ns() - start < 1000 * 1000000LL);
  CHECK_INT_EQ(last_seq(store), b);
}

struct waiter {
  struct store *store;
  uint64_t seen;
  uint64_t got;
  int64_t woke_at;
};

static void *wait_thread(void *arg) {
  struct waiter *w = arg;
  w->got = store_log_wait(w->store, w->seen, crio_monotonic_ns() + 10000 * 1000000LL);
  w->woke_at = crio_monotonic_ns();
  return NULL;
}

/* Several followers sleeping on the same seq all wake on one commit, with
 * the committed seq, long before their deadline. */
static void test_commit_wakes_every_follower(void) {
  cleanup_free char *dir = fixture_db_dir();
  cleanup_store struct store *store = fixture_open(dir, false);
  uint64_t seen = create_pod(store, "first");
  struct waiter w[3];
  pthread_t t[3];
  for (int i = 0; i < 3; i++) {
    w[i] = (struct waiter){.store = store, .seen = seen};
    CHECK(pthread_create(&t[i], NULL, wait_thread, &w[i]) == 0);
  }
  struct timespec pause = {0, 100 * 1000000L};
  nanosleep(&pause, NULL);
  int64_t committed_at = crio_monotonic_ns();
  uint64_t seq = create_pod(store, "second");
  for (int i = 0; i < 3; i++) {
    CHECK(pthread_join(t[i], NULL) == 0);
    CHECK_INT_EQ(w[i].got, seq);
    CHECK(w[i].woke_at - committed_at < 1000 * 1000000LL);
  }
}

/* A write txn that appended nothing (meta only) and an aborted one that
 * did append wake nobody: the follower sleeps to its deadline. */
static void test_commit_without_entries_does_not_wake(void) {
  cleanup_free char *dir = fixture_db_dir();
  cleanup_store struct store *store = fixture_open(dir, false);
  uint64_t seen = create_pod(store, "first");
  struct waiter w = {.store = store, .seen = seen};
  pthread_t t;
  int64_t start = crio_monotonic_ns();
  CHECK(pthread_create(&t, NULL, wait_thread, &w) == 0);
  cleanup_error crio_error_t err = NULL;
  struct store_txn *txn = NULL;
  CHECK(store_txn_begin(store, STORE_TXN_WRITE, &txn, &err) == 0);
  store_meta_put(txn, "test_key", "value");
  CHECK(store_txn_commit(txn, &err) == 0);
  CHECK(store_txn_begin(store, STORE_TXN_WRITE, &txn, &err) == 0);
  store_log_note(txn, "never committed");
  store_txn_abort(txn);
  /* The wait has a 10 s deadline; a wrong wake-up would end it now.  A
   * real commit after 300 ms ends it instead, and must be what it saw. */
  struct timespec pause = {0, 300 * 1000000L};
  nanosleep(&pause, NULL);
  uint64_t seq = create_pod(store, "second");
  CHECK(pthread_join(t, NULL) == 0);
  CHECK_INT_EQ(w.got, seq);
  CHECK(w.woke_at - start >= 300 * 1000000LL);
}

int main(void) {
  RUN_TEST(test_timeout_without_commit);
  RUN_TEST(test_returns_at_once_when_behind);
  RUN_TEST(test_commit_wakes_every_follower);
  RUN_TEST(test_commit_without_entries_does_not_wake);
  return 0;
}
