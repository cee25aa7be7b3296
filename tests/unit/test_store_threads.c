/* Threads on one struct store: many read txns at once beside serialised
 * writers (and a compactor) for about a second, without an error and with
 * the record/log invariant intact at the end; and a reader is never
 * blocked by an open write txn. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store.h"
#include "tests/unit/testing.h"

/* test_store_fixture.c */
char *fixture_db_dir(void);
struct store *fixture_open(const char *dir, bool read_only);

#define THREADS 16
#define RUN_NS 1000000000LL

struct shared {
  struct store *store;
  int64_t deadline;
  atomic_int errors;
  atomic_long reads;
  atomic_long writes;
};

struct worker {
  struct shared *shared;
  int index;
  unsigned seed;
  long created;
  long deleted;
};

static void fail(struct shared *shared, const char *what, crio_error_t *err) {
  fprintf(stderr, "%s: %s\n", what, crio_error_message(err));
  crio_error_release(err);
  atomic_fetch_add(&shared->errors, 1);
}

static int count_record(const store_record *rec, void *data) {
  (void)rec;
  (*(long *)data)++;
  return 0;
}

struct last_entry {
  uint64_t seq;
  const char *id;
  bool wrong_object;
};

static int note_last(const store_log_entry *entry, void *data) {
  struct last_entry *last = data;
  last->seq = entry->seq;
  if (strcmp(entry->object_id, last->id) != 0)
    last->wrong_object = true;
  return 0;
}

/* A record's last_seq must be the newest entry of its own history. */
static bool record_matches_log(struct store_txn *txn, const store_record *rec, crio_error_t *err) {
  struct last_entry last = {.id = rec->id};
  if (store_log_foreach_object(txn, rec->id, note_last, &last, err) < 0)
    return false;
  return !last.wrong_object && last.seq == rec->last_seq;
}

static void do_read(struct worker *w) {
  struct shared *shared = w->shared;
  cleanup_error crio_error_t err = NULL;
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(shared->store, STORE_TXN_READ, &txn, &err) < 0)
    return fail(shared, "begin read", &err);
  long pods = 0;
  if (store_record_foreach(txn, STORE_KIND_POD, count_record, &pods, &err) < 0)
    return fail(shared, "foreach", &err);
  char prefix[32];
  snprintf(prefix, sizeof(prefix), "t%02d-", w->index);
  cleanup_free char *id = NULL;
  if (store_record_resolve_prefix(txn, STORE_KIND_POD, prefix, &id, &err) < 0) {
    /* none yet, or several: both are answers, not failures */
    if (crio_error_status(&err) != ENOENT && crio_error_status(&err) != EINVAL)
      return fail(shared, "resolve", &err);
    crio_error_release(&err);
  } else {
    cleanup_store_record store_record *rec = NULL;
    if (store_record_get(txn, STORE_KIND_POD, id, &rec, &err) < 0)
      return fail(shared, "get", &err);
    if (!record_matches_log(txn, rec, &err)) {
      if (err == NULL)
        crio_error(&err, EUCLEAN, "record %s and its log disagree", id);
      return fail(shared, "log check", &err);
    }
  }
  if (store_txn_failed(txn))
    return fail(shared, "read txn", &err);
  atomic_fetch_add(&shared->reads, 1);
}

static void do_write(struct worker *w) {
  struct shared *shared = w->shared;
  cleanup_error crio_error_t err = NULL;
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(shared->store, STORE_TXN_WRITE, &txn, &err) < 0)
    return fail(shared, "begin write", &err);
  char id[48], name[56];
  snprintf(id, sizeof(id), "t%02d-%06ld", w->index, w->created);
  snprintf(name, sizeof(name), "pod-%s", id);
  cleanup_store_record store_record *rec = store_record_new(STORE_KIND_POD, id);
  store_string_set(&rec->name, name);
  rec->state = 1;
  rec->goal = 2;
  store_create(txn, rec);
  store_resource *res = store_resource_new("netns", id, NULL, 0);
  store_transition(txn, rec, 2, "pod.netns_create", &res, 1, NULL, 0);
  /* Every third pod is deleted again, releasing what it holds, so the
   * compactor has something to drop. */
  bool delete_it = w->created % 3 == 0;
  if (delete_it)
    store_delete(txn, rec, "pod.remove", &res, 1);
  store_resource_free(res);
  if (store_txn_commit(steal_pointer(&txn), &err) < 0)
    return fail(shared, "commit", &err);
  w->created++;
  w->deleted += delete_it;
  atomic_fetch_add(&shared->writes, 1);
}

static void do_compact(struct worker *w) {
  struct shared *shared = w->shared;
  cleanup_error crio_error_t err = NULL;
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(shared->store, STORE_TXN_WRITE, &txn, &err) < 0)
    return fail(shared, "begin compact", &err);
  uint64_t dropped = 0;
  if (store_log_compact(txn, store_log_last_seq(txn), &dropped, &err) < 0 ||
      store_txn_commit(steal_pointer(&txn), &err) < 0)
    return fail(shared, "compact", &err);
}

static void *work(void *arg) {
  struct worker *w = arg;
  for (long i = 0; crio_monotonic_ns() < w->shared->deadline; i++) {
    unsigned r = (unsigned)rand_r(&w->seed) % 100;
    if (w->index == 0 && i % 50 == 49)
      do_compact(w);
    else if (r < 70)
      do_read(w);
    else
      do_write(w);
  }
  return NULL;
}

static void test_many_threads_read_and_write_one_store(void) {
  cleanup_free char *dir = fixture_db_dir();
  cleanup_store struct store *store = fixture_open(dir, false);
  struct shared shared = {.store = store, .deadline = crio_monotonic_ns() + RUN_NS};
  struct worker workers[THREADS];
  pthread_t threads[THREADS];
  for (int i = 0; i < THREADS; i++) {
    workers[i] = (struct worker){.shared = &shared, .index = i, .seed = (unsigned)i * 7919u + 1};
    CHECK(pthread_create(&threads[i], NULL, work, &workers[i]) == 0);
  }
  long created = 0, deleted = 0;
  for (int i = 0; i < THREADS; i++) {
    CHECK(pthread_join(threads[i], NULL) == 0);
    created += workers[i].created;
    deleted += workers[i].deleted;
  }
  fprintf(stderr, "   %ld reads, %ld writes, %ld pods created, %ld deleted\n", (long)shared.reads,
          (long)shared.writes, created, deleted);
  CHECK_INT_EQ(shared.errors, 0);
  CHECK(shared.reads > 0 && shared.writes > 0);

  /* Every live record is there, with its whole history; nothing else. */
  cleanup_error crio_error_t err = NULL;
  cleanup_store_txn struct store_txn *txn = NULL;
  CHECK(store_txn_begin(store, STORE_TXN_READ, &txn, &err) == 0);
  long pods = 0;
  CHECK(store_record_foreach(txn, STORE_KIND_POD, count_record, &pods, &err) == 0);
  CHECK_INT_EQ(pods, created - deleted);
  for (int i = 0; i < THREADS; i++) {
    for (long n = 0; n < workers[i].created; n++) {
      char id[48];
      snprintf(id, sizeof(id), "t%02d-%06ld", i, n);
      cleanup_store_record store_record *rec = NULL;
      int rc = store_record_get(txn, STORE_KIND_POD, id, &rec, &err);
      if (n % 3 == 0) {
        CHECK_INT_EQ(rc, -1);
        CHECK_INT_EQ(crio_error_status(&err), ENOENT);
        crio_error_release(&err);
        continue;
      }
      CHECK_INT_EQ(rc, 0);
      CHECK(record_matches_log(txn, rec, &err));
      CHECK_INT_EQ(rec->n_resources, 1);
    }
  }
  CHECK(!store_txn_failed(txn));
}

struct blocked_reader {
  struct store *store;
  bool saw_committed;
  bool saw_pending;
  int rc;
};

static void *read_beside_writer(void *arg) {
  struct blocked_reader *r = arg;
  cleanup_error crio_error_t err = NULL;
  cleanup_store_txn struct store_txn *txn = NULL;
  r->rc = store_txn_begin(r->store, STORE_TXN_READ, &txn, &err);
  if (r->rc < 0)
    return NULL;
  cleanup_store_record store_record *a = NULL, *b = NULL;
  r->saw_committed = store_record_get(txn, STORE_KIND_POD, "committed", &a, &err) == 0;
  crio_error_release(&err);
  r->saw_pending = store_record_get(txn, STORE_KIND_POD, "pending", &b, &err) == 0;
  return NULL;
}

static void test_reader_is_not_blocked_by_an_open_write_txn(void) {
  cleanup_free char *dir = fixture_db_dir();
  cleanup_store struct store *store = fixture_open(dir, false);
  cleanup_error crio_error_t err = NULL;
  struct store_txn *txn = NULL;
  CHECK(store_txn_begin(store, STORE_TXN_WRITE, &txn, &err) == 0);
  cleanup_store_record store_record *committed = store_record_new(STORE_KIND_POD, "committed");
  store_create(txn, committed);
  CHECK(store_txn_commit(txn, &err) == 0);

  CHECK(store_txn_begin(store, STORE_TXN_WRITE, &txn, &err) == 0);
  cleanup_store_record store_record *pending = store_record_new(STORE_KIND_POD, "pending");
  store_create(txn, pending);
  struct blocked_reader reader = {.store = store};
  pthread_t thread;
  CHECK(pthread_create(&thread, NULL, read_beside_writer, &reader) == 0);
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 10;
  int rc = pthread_timedjoin_np(thread, NULL, &until);
  if (rc != 0) {
    fprintf(stderr, "reader still blocked after 10s behind a write txn\n");
    exit(1);
  }
  CHECK_INT_EQ(reader.rc, 0);
  CHECK(reader.saw_committed);
  CHECK(!reader.saw_pending);
  CHECK(store_txn_commit(txn, &err) == 0);
}

int main(void) {
  RUN_TEST(test_many_threads_read_and_write_one_store);
  RUN_TEST(test_reader_is_not_blocked_by_an_open_write_txn);
  return 0;
}
