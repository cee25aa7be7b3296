/* The running daemon's log retention (recovery/compactor.c): with churn of
 * objects that are created and deleted, the log stays within keep + every
 * entries plus the histories of live objects; what a live object or one
 * still holding a resource logged is never dropped. */
#include <stdio.h>
#include <time.h>

#include "recovery/recovery.h"
#include "tests/unit/testing.h"

char *fixture_tmpdir(void);
struct store *fixture_open(const char *dir, bool read_only);

#define KEEP 32
#define EVERY 16

static void commit(struct store_txn *txn) {
  cleanup_error crio_error_t err = NULL;
  if (store_txn_commit(txn, &err) < 0) {
    fprintf(stderr, "commit: %s\n", crio_error_message(&err));
    CHECK(0);
  }
}

/* A pod created, moved on and deleted: three entries, nothing held. */
static void churn_one(struct store *store, int i) {
  char id[32];
  snprintf(id, sizeof(id), "churn%06d", i);
  struct store_txn *txn = NULL;
  cleanup_error crio_error_t err = NULL;
  CHECK(store_txn_begin(store, STORE_TXN_WRITE, &txn, &err) == 0);
  cleanup_store_record store_record *rec = store_record_new(STORE_KIND_POD, id);
  rec->state = 1;
  rec->goal = 2;
  store_create(txn, rec);
  store_transition(txn, rec, 2, "test.step", NULL, 0, NULL, 0);
  store_delete(txn, rec, "test.remove", NULL, 0);
  commit(txn);
}

static int count(const store_log_entry *e, void *data) {
  (*(uint64_t *)data)++;
  return 0;
}

static uint64_t entries_of(struct store *store, const char *id) {
  struct store_txn *txn = NULL;
  cleanup_error crio_error_t err = NULL;
  CHECK(store_txn_begin(store, STORE_TXN_READ, &txn, &err) == 0);
  uint64_t n = 0;
  if (id == NULL) {
    n = store_log_count(txn);
  } else {
    store_log_foreach_object(txn, id, count, &n, &err);
  }
  store_txn_abort(txn);
  return n;
}

static void test_churn_stays_bounded(void) {
  char dir[512];
  snprintf(dir, sizeof(dir), "%s/db", fixture_tmpdir());
  struct store *store = fixture_open(dir, false);

  /* A live pod and a deleted one still holding a netns: kept whatever. */
  struct store_txn *txn = NULL;
  cleanup_error crio_error_t err = NULL;
  CHECK(store_txn_begin(store, STORE_TXN_WRITE, &txn, &err) == 0);
  cleanup_store_record store_record *live = store_record_new(STORE_KIND_POD, "live");
  live->state = 1;
  live->goal = 2;
  store_create(txn, live);
  cleanup_store_record store_record *holder = store_record_new(STORE_KIND_POD, "holder");
  holder->state = 1;
  holder->goal = 2;
  store_create(txn, holder);
  store_resource *netns = store_resource_new("netns", "/run/netns/holder", NULL, 0);
  store_transition(txn, holder, 2, "test.netns", &netns, 1, NULL, 0);
  store_delete(txn, holder, "test.remove", NULL, 0);
  store_resource_free(netns);
  commit(txn);

  struct recovery_compactor_options opts = {.keep = KEEP, .every = EVERY};
  struct recovery_compactor *compactor = NULL;
  CHECK(recovery_compactor_start(store, &opts, &compactor, &err) == 0);
  for (int i = 0; i < 400; i++)
    churn_one(store, i);
  /* The compactor runs behind the commits: let it catch up. */
  uint64_t passes = 0, dropped = 0;
  for (int tries = 0; tries < 200; tries++) {
    recovery_compactor_totals(compactor, &passes, &dropped);
    if (entries_of(store, NULL) <= KEEP + EVERY + 4)
      break;
    nanosleep(&(struct timespec){.tv_nsec = 10 * 1000000}, NULL);
  }
  recovery_compactor_stop(compactor);
  uint64_t left = entries_of(store, NULL);
  fprintf(stderr, "   1200 churn entries: %llu passes dropped %llu, %llu left\n",
          (unsigned long long)passes, (unsigned long long)dropped, (unsigned long long)left);
  CHECK(passes >= 1);
  /* keep + every, the live pod's and the holder's histories, the last
   * churn object's three entries past the newest pass. */
  CHECK(left <= KEEP + EVERY + 1 + 3);
  CHECK_INT_EQ(entries_of(store, "live"), 1);
  CHECK_INT_EQ(entries_of(store, "holder"), 3);
  store_close(store);
}

static void test_stop_without_commits(void) {
  char dir[512];
  snprintf(dir, sizeof(dir), "%s/db", fixture_tmpdir());
  struct store *store = fixture_open(dir, false);
  struct recovery_compactor *compactor = NULL;
  cleanup_error crio_error_t err = NULL;
  CHECK(recovery_compactor_start(store, NULL, &compactor, &err) == 0);
  recovery_compactor_stop(compactor);
  recovery_compactor_stop(NULL);
  store_close(store);
}

int main(void) {
  crio_log_init(CRIO_LOG_WARNING, false);
  RUN_TEST(test_churn_stays_bounded);
  RUN_TEST(test_stop_without_commits);
  return 0;
}
