/* Unit tests of store/: record and log written together or not at all,
 * sticky errors, names, prefix resolution, the pod_containers index, meta,
 * schema-version refusal, read-only opens beside a writer, close-on-exec,
 * and log compaction. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store.h"
#include "tests/unit/test_err_checks.h"
#include "tests/unit/testing.h"

/* test_store_fixture.c */
char *fixture_tmpdir(void);
char *fixture_db_dir(void);
struct store *fixture_open(const char *dir, bool read_only);

static crio_error_t err;

static struct store_txn *begin(struct store *store, enum store_txn_mode mode) {
  struct store_txn *txn = NULL;
  OK(store_txn_begin(store, mode, &txn, &err));
  return txn;
}

static void commit(struct store_txn *txn) {
  OK(store_txn_commit(txn, &err));
}

static store_record *get(struct store_txn *txn, enum store_kind kind, const char *id) {
  store_record *rec = NULL;
  OK(store_record_get(txn, kind, id, &rec, &err));
  return rec;
}

static bool exists(struct store *store, enum store_kind kind, const char *id) {
  cleanup_store_txn struct store_txn *txn = begin(store, STORE_TXN_READ);
  cleanup_store_record store_record *rec = NULL;
  int rc = store_record_get(txn, kind, id, &rec, &err);
  if (rc < 0)
    CHECK_INT_EQ(crio_error_status(&err), ENOENT);
  crio_error_release(&err);
  CHECK(!store_txn_failed(txn));
  return rc == 0;
}

static store_record *new_record(enum store_kind kind, const char *id, const char *name,
                                uint32_t state, uint32_t goal) {
  store_record *rec = store_record_new(kind, id);
  store_string_set(&rec->name, name);
  rec->state = state;
  rec->goal = goal;
  return rec;
}

static void create(struct store *store, enum store_kind kind, const char *id, const char *parent,
                   const char *name) {
  struct store_txn *txn = begin(store, STORE_TXN_WRITE);
  cleanup_store_record store_record *rec = new_record(kind, id, name, 1, 2);
  store_string_set(&rec->parent_id, parent);
  store_create(txn, rec);
  commit(txn);
}

static uint64_t log_count(struct store *store) {
  cleanup_store_txn struct store_txn *txn = begin(store, STORE_TXN_READ);
  return store_log_count(txn);
}

/* A whole history copied out of the callbacks (which free their entry). */
struct history {
  store_log_entry *entries[256];
  size_t n;
};

static int collect_entry(const store_log_entry *entry, void *data) {
  struct history *h = data;
  CHECK(h->n < 256);
  size_t len = protobuf_c_message_get_packed_size(&entry->base);
  uint8_t *buf = malloc(len + 1);
  protobuf_c_message_pack(&entry->base, buf);
  h->entries[h->n] = crio__store__log_entry__unpack(NULL, len, buf);
  CHECK(h->entries[h->n] != NULL);
  h->entries[h->n]->seq = entry->seq;
  h->n++;
  free(buf);
  return 0;
}

static void history_release(struct history *h) {
  for (size_t i = 0; i < h->n; i++)
    store_log_entry_free(h->entries[i]);
  h->n = 0;
}
#define cleanup_history __attribute__((cleanup(history_release)))

static void history_of(struct store *store, const char *id, struct history *h) {
  cleanup_store_txn struct store_txn *txn = begin(store, STORE_TXN_READ);
  OK(store_log_foreach_object(txn, id, collect_entry, h, &err));
}

static void whole_log(struct store *store, uint64_t since, struct history *h) {
  cleanup_store_txn struct store_txn *txn = begin(store, STORE_TXN_READ);
  OK(store_log_foreach(txn, since, collect_entry, h, &err));
}

static void check_entry(const store_log_entry *e, int type, uint32_t from, uint32_t to,
                        uint32_t goal) {
  CHECK_INT_EQ(e->type, type);
  CHECK_INT_EQ(e->from_state, from);
  CHECK_INT_EQ(e->to_state, to);
  CHECK_INT_EQ(e->goal, goal);
}

/* ---- 1. record and log commit together -------------------------------------- */
static void test_lifecycle_calls_log_each_change_in_the_same_commit(void) {
  cleanup_free char *dir = fixture_db_dir();
  cleanup_store struct store *store = fixture_open(dir, false);
  cleanup_store_record store_record *rec = new_record(STORE_KIND_POD, "pod-a", "default/web", 1, 2);
  struct store_txn *txn = begin(store, STORE_TXN_WRITE);
  store_create(txn, rec);
  commit(txn);
  CHECK_INT_EQ(rec->last_seq, 1);
  CHECK_INT_EQ(rec->generation, 1);

  txn = begin(store, STORE_TXN_WRITE);
  store_set_goal(txn, rec, 3, "stop requested");
  commit(txn);

  store_resource *netns = store_resource_new("netns", "/run/netns/a", "x", 1);
  store_resource *cgroup = store_resource_new("cgroup", "/sys/fs/cgroup/a", NULL, 0);
  store_resource *acquired[] = {netns, cgroup};
  txn = begin(store, STORE_TXN_WRITE);
  store_transition(txn, rec, 2, "pod.cni_add", acquired, 2, NULL, 0);
  commit(txn);
  CHECK_INT_EQ(rec->n_resources, 2);

  txn = begin(store, STORE_TXN_WRITE);
  store_record_failure(txn, rec, "pod.cni_del", EIO, "plugin crashed");
  commit(txn);
  {
    txn = begin(store, STORE_TXN_READ);
    cleanup_store_record store_record *stored = get(txn, STORE_KIND_POD, "pod-a");
    commit(txn);
    CHECK_INT_EQ(stored->state, 2);
    CHECK_INT_EQ(stored->goal, 3);
    CHECK_INT_EQ(stored->error_status, EIO);
    CHECK_STR_EQ(stored->error_message, "plugin crashed");
    CHECK_INT_EQ(stored->n_resources, 2);
    CHECK_INT_EQ(stored->generation, 4);
    CHECK_INT_EQ(stored->last_seq, 4);
    CHECK_INT_EQ(stored->schema_version, STORE_SCHEMA_VERSION);
  }

  /* Released resources are matched by type+id, not by detail. */
  store_resource *netns_again = store_resource_new("netns", "/run/netns/a", NULL, 0);
  txn = begin(store, STORE_TXN_WRITE);
  store_transition(txn, rec, 3, "pod.cni_del", NULL, 0, &netns_again, 1);
  commit(txn);
  CHECK_INT_EQ(rec->n_resources, 1);
  CHECK_STR_EQ(rec->resources[0]->type, "cgroup");
  CHECK_INT_EQ(rec->error_status, 0);
  CHECK_STR_EQ(rec->error_message, "");

  txn = begin(store, STORE_TXN_WRITE);
  store_delete(txn, rec, "pod.remove", &cgroup, 1);
  commit(txn);
  CHECK(!exists(store, STORE_KIND_POD, "pod-a"));
  txn = begin(store, STORE_TXN_READ);
  cleanup_free char *owner = NULL;
  FAILS_WITH(store_name_lookup(txn, STORE_NAMES_POD, "default/web", &owner, &err), ENOENT);
  CHECK_INT_EQ(store_log_count(txn), 6);
  CHECK_INT_EQ(store_log_last_seq(txn), 6);
  CHECK_INT_EQ(store_log_first_seq(txn), 1);
  commit(txn);

  cleanup_history struct history h = {0};
  history_of(store, "pod-a", &h);
  CHECK_INT_EQ(h.n, 6);
  check_entry(h.entries[0], CRIO__STORE__LOG_ENTRY__TYPE__CREATE, 0, 1, 2);
  check_entry(h.entries[1], CRIO__STORE__LOG_ENTRY__TYPE__GOAL, 1, 1, 3);
  CHECK_STR_EQ(h.entries[1]->message, "stop requested");
  check_entry(h.entries[2], CRIO__STORE__LOG_ENTRY__TYPE__TRANSITION, 1, 2, 3);
  CHECK_STR_EQ(h.entries[2]->transition, "pod.cni_add");
  CHECK_INT_EQ(h.entries[2]->n_acquired, 2);
  CHECK_STR_EQ(h.entries[2]->acquired[0]->id, "/run/netns/a");
  CHECK_INT_EQ(h.entries[2]->acquired[0]->detail.len, 1);
  CHECK_STR_EQ(h.entries[2]->acquired[1]->type, "cgroup");
  CHECK_INT_EQ(h.entries[2]->n_released, 0);
  check_entry(h.entries[3], CRIO__STORE__LOG_ENTRY__TYPE__STEP_FAILED, 2, 2, 3);
  CHECK_INT_EQ(h.entries[3]->error_status, EIO);
  check_entry(h.entries[4], CRIO__STORE__LOG_ENTRY__TYPE__TRANSITION, 2, 3, 3);
  CHECK_INT_EQ(h.entries[4]->n_released, 1);
  CHECK_STR_EQ(h.entries[4]->released[0]->type, "netns");
  check_entry(h.entries[5], CRIO__STORE__LOG_ENTRY__TYPE__DELETE, 3, 0, 3);
  CHECK_STR_EQ(h.entries[5]->transition, "pod.remove");
  CHECK_INT_EQ(h.entries[5]->n_released, 1);
  CHECK_STR_EQ(h.entries[5]->released[0]->id, "/sys/fs/cgroup/a");
  for (size_t i = 0; i < h.n; i++) {
    CHECK_INT_EQ(h.entries[i]->seq, i + 1);
    CHECK_STR_EQ(h.entries[i]->object_id, "pod-a");
    CHECK_INT_EQ(h.entries[i]->kind, STORE_KIND_POD);
    CHECK(h.entries[i]->time > 0);
  }
  store_resource_free(netns);
  store_resource_free(cgroup);
  store_resource_free(netns_again);
}

static void test_aborted_txn_leaves_neither_record_nor_log_entry(void) {
  cleanup_free char *dir = fixture_db_dir();
  cleanup_store struct store *store = fixture_open(dir, false);
  create(store, STORE_KIND_POD, "pod-1", NULL, "one");

  struct store_txn *txn = begin(store, STORE_TXN_WRITE);
  cleanup_store_record store_record *rec = new_record(STORE_KIND_POD, "pod-2", "two", 1, 2);
  store_create(txn, rec);
  store_log_note(txn, "never seen");
  CHECK_INT_EQ(store_log_last_seq(txn), 3);
  store_txn_abort(txn);

  CHECK(!exists(store, STORE_KIND_POD, "pod-2"));
  CHECK(exists(store, STORE_KIND_POD, "pod-1"));
  txn = begin(store, STORE_TXN_READ);
  CHECK_INT_EQ(store_log_count(txn), 1);
  CHECK_INT_EQ(store_log_last_seq(txn), 1);
  cleanup_free char *id = NULL;
  FAILS_WITH(store_name_lookup(txn, STORE_NAMES_POD, "two", &id, &err), ENOENT);
  commit(txn);
}

static void test_sticky_failure_commits_nothing(void) {
  cleanup_free char *dir = fixture_db_dir();
  cleanup_store struct store *store = fixture_open(dir, false);
  create(store, STORE_KIND_POD, "pod-1", NULL, "web");

  struct store_txn *txn = begin(store, STORE_TXN_WRITE);
  cleanup_store_record store_record *ok = new_record(STORE_KIND_POD, "pod-2", "db", 1, 2);
  cleanup_store_record store_record *clash = new_record(STORE_KIND_POD, "pod-3", "web", 1, 2);
  cleanup_store_record store_record *after = new_record(STORE_KIND_POD, "pod-4", "cache", 1, 2);
  store_create(txn, ok);
  CHECK(!store_txn_failed(txn));
  store_create(txn, clash);
  CHECK(store_txn_failed(txn));
  store_create(txn, after); /* a no-op now */
  store_log_note(txn, "no-op");
  CHECK_INT_EQ(after->last_seq, 0);
  cleanup_store_record store_record *rec = NULL;
  /* Reads report the sticky error too rather than a misleading answer. */
  FAILS_WITH(store_record_get(txn, STORE_KIND_POD, "pod-2", &rec, &err), EEXIST);
  int rc = store_txn_commit(txn, &err);
  CHECK_INT_EQ(rc, -1);
  CHECK_INT_EQ(crio_error_status(&err), EEXIST);
  CHECK(strstr(crio_error_message(&err), "\"web\"") != NULL);
  CHECK(strstr(crio_error_message(&err), "pod-1") != NULL);
  crio_error_release(&err);

  CHECK(!exists(store, STORE_KIND_POD, "pod-2"));
  CHECK(!exists(store, STORE_KIND_POD, "pod-4"));
  txn = begin(store, STORE_TXN_READ);
  CHECK_INT_EQ(store_log_count(txn), 1);
  cleanup_free char *id = NULL;
  FAILS_WITH(store_name_lookup(txn, STORE_NAMES_POD, "db", &id, &err), ENOENT);
  commit(txn);

  /* A failure the caller found itself poisons the txn the same way. */
  txn = begin(store, STORE_TXN_WRITE);
  cleanup_store_record store_record *five = new_record(STORE_KIND_POD, "pod-5", "", 1, 2);
  store_create(txn, five);
  CHECK_INT_EQ(store_txn_fail(txn, EINVAL, "field %s is bad", "x"), -1);
  store_txn_fail(txn, ENOSPC, "a later failure does not replace the first");
  FAILS_WITH(store_txn_commit(txn, &err), EINVAL);
  CHECK(!exists(store, STORE_KIND_POD, "pod-5"));

  /* Creating an id twice is refused. */
  txn = begin(store, STORE_TXN_WRITE);
  cleanup_store_record store_record *again = new_record(STORE_KIND_POD, "pod-1", "", 1, 2);
  store_create(txn, again);
  FAILS_WITH(store_txn_commit(txn, &err), EEXIST);

  /* Writes in a read txn fail the txn. */
  txn = begin(store, STORE_TXN_READ);
  store_create(txn, five);
  CHECK(store_txn_failed(txn));
  FAILS_WITH(store_txn_commit(txn, &err), EROFS);
}

/* ---- 3. names, prefixes, index, meta, schema ---------------------------------- */
static void test_names_are_per_namespace_and_reserving_is_sticky(void) {
  cleanup_free char *dir = fixture_db_dir();
  cleanup_store struct store *store = fixture_open(dir, false);
  struct store_txn *txn = begin(store, STORE_TXN_WRITE);
  store_name_reserve(txn, STORE_NAMES_POD, "web", "id-1");
  store_name_reserve(txn, STORE_NAMES_CONTAINER, "web", "id-2");
  store_name_reserve(txn, STORE_NAMES_POD, "web", "id-1"); /* idempotent */
  store_name_reserve(txn, STORE_NAMES_IMAGE, "docker.io/library/busybox:latest", "img-1");
  commit(txn);

  txn = begin(store, STORE_TXN_WRITE);
  cleanup_free char *pod = NULL, *ctr = NULL, *missing = NULL, *img = NULL;
  OK(store_name_lookup(txn, STORE_NAMES_POD, "web", &pod, &err));
  OK(store_name_lookup(txn, STORE_NAMES_CONTAINER, "web", &ctr, &err));
  OK(store_name_lookup(txn, STORE_NAMES_IMAGE, "docker.io/library/busybox:latest", &img, &err));
  CHECK_STR_EQ(pod, "id-1");
  CHECK_STR_EQ(ctr, "id-2");
  CHECK_STR_EQ(img, "img-1");
  FAILS_WITH(store_name_lookup(txn, STORE_NAMES_IMAGE, "web", &missing, &err), ENOENT);
  CHECK(!store_txn_failed(txn)); /* absence is not sticky */
  store_name_release(txn, STORE_NAMES_CONTAINER, "web");
  store_name_release(txn, STORE_NAMES_CONTAINER, "never-reserved");
  FAILS_WITH(store_name_lookup(txn, STORE_NAMES_CONTAINER, "web", &missing, &err), ENOENT);
  store_name_reserve(txn, STORE_NAMES_POD, "web", "id-3");
  CHECK(store_txn_failed(txn));
  FAILS_WITH(store_txn_commit(txn, &err), EEXIST);

  /* The failed txn released nothing. */
  txn = begin(store, STORE_TXN_READ);
  cleanup_free char *still = NULL;
  OK(store_name_lookup(txn, STORE_NAMES_CONTAINER, "web", &still, &err));
  CHECK_STR_EQ(still, "id-2");
  commit(txn);

  /* CRI names longer than an LMDB key (a pod's k8s_<name>_<ns>_<uid>_<n>
   * with 253-character fields) are stored under a hashed key: two names
   * that differ only past the key's prefix stay two names, each found,
   * listed whole and released exactly. */
  char long_a[800], long_b[800];
  memset(long_a, 'n', sizeof(long_a) - 1);
  long_a[sizeof(long_a) - 1] = '\0';
  memcpy(long_b, long_a, sizeof(long_b));
  long_b[sizeof(long_b) - 2] = 'm';
  txn = begin(store, STORE_TXN_WRITE);
  store_name_reserve(txn, STORE_NAMES_POD, long_a, "id-4");
  store_name_reserve(txn, STORE_NAMES_POD, long_b, "id-5");
  store_name_reserve(txn, STORE_NAMES_POD, long_a, "id-4"); /* idempotent */
  commit(txn);
  txn = begin(store, STORE_TXN_WRITE);
  cleanup_free char *id_a = NULL, *id_b = NULL, *gone = NULL;
  OK(store_name_lookup(txn, STORE_NAMES_POD, long_a, &id_a, &err));
  OK(store_name_lookup(txn, STORE_NAMES_POD, long_b, &id_b, &err));
  CHECK_STR_EQ(id_a, "id-4");
  CHECK_STR_EQ(id_b, "id-5");
  store_name_release(txn, STORE_NAMES_POD, long_b);
  FAILS_WITH(store_name_lookup(txn, STORE_NAMES_POD, long_b, &gone, &err), ENOENT);
  store_name_reserve(txn, STORE_NAMES_POD, long_a, "id-6");
  FAILS_WITH(store_txn_commit(txn, &err), EEXIST);
}

static int find_long_name(const char *name, const char *id, void *data) {
  const char *want = data;
  return strcmp(name, want) == 0 && strcmp(id, "id-9") == 0 ? 1 : 0;
}

static void test_long_names_are_listed_whole(void) {
  cleanup_free char *dir = fixture_db_dir();
  cleanup_store struct store *store = fixture_open(dir, false);
  char name[700];
  memset(name, 'x', sizeof(name) - 1);
  name[sizeof(name) - 1] = '\0';
  struct store_txn *txn = begin(store, STORE_TXN_WRITE);
  store_name_reserve(txn, STORE_NAMES_IMAGE, name, "id-9");
  commit(txn);
  txn = begin(store, STORE_TXN_READ);
  CHECK_INT_EQ(store_name_foreach(txn, STORE_NAMES_IMAGE, find_long_name, name, &err), 1);
  commit(txn);
}

struct name_walk {
  char seen[8][64];
  size_t n;
  size_t stop_after; /* 0: never */
};

static int collect_name(const char *name, const char *id, void *data) {
  struct name_walk *w = data;
  CHECK(w->n < 8);
  snprintf(w->seen[w->n++], 64, "%s=%s", name, id);
  return w->stop_after && w->n == w->stop_after ? 42 : 0;
}

static void test_name_foreach_walks_one_namespace_in_order(void) {
  cleanup_free char *dir = fixture_db_dir();
  cleanup_store struct store *store = fixture_open(dir, false);
  struct store_txn *txn = begin(store, STORE_TXN_WRITE);
  store_name_reserve(txn, STORE_NAMES_IMAGE, "quay.io/b:1", "img-b");
  store_name_reserve(txn, STORE_NAMES_IMAGE, "docker.io/a:1", "img-a");
  store_name_reserve(txn, STORE_NAMES_IMAGE, "docker.io/a@sha256:00", "img-a");
  /* Neighbouring namespaces ('c' before 'i', 'p' after) stay out. */
  store_name_reserve(txn, STORE_NAMES_CONTAINER, "ctr", "c-1");
  store_name_reserve(txn, STORE_NAMES_POD, "pod", "p-1");
  commit(txn);

  txn = begin(store, STORE_TXN_READ);
  struct name_walk w = {0};
  OK(store_name_foreach(txn, STORE_NAMES_IMAGE, collect_name, &w, &err));
  CHECK_INT_EQ(w.n, 3);
  CHECK_STR_EQ(w.seen[0], "docker.io/a:1=img-a");
  CHECK_STR_EQ(w.seen[1], "docker.io/a@sha256:00=img-a");
  CHECK_STR_EQ(w.seen[2], "quay.io/b:1=img-b");

  struct name_walk stopped = {.stop_after = 2};
  CHECK_INT_EQ(store_name_foreach(txn, STORE_NAMES_IMAGE, collect_name, &stopped, &err), 42);
  CHECK_INT_EQ(stopped.n, 2);

  struct name_walk pods = {0};
  OK(store_name_foreach(txn, STORE_NAMES_POD, collect_name, &pods, &err));
  CHECK_INT_EQ(pods.n, 1);
  CHECK_STR_EQ(pods.seen[0], "pod=p-1");
  FAILS_WITH(store_name_foreach(txn, (enum store_name_space)'z', collect_name, &pods, &err),
             EINVAL);
  commit(txn);

  /* An empty namespace is an empty walk. */
  cleanup_free char *dir2 = fixture_db_dir();
  cleanup_store struct store *empty = fixture_open(dir2, false);
  txn = begin(empty, STORE_TXN_READ);
  struct name_walk none = {0};
  OK(store_name_foreach(txn, STORE_NAMES_IMAGE, collect_name, &none, &err));
  CHECK_INT_EQ(none.n, 0);
  commit(txn);
}

static void test_prefix_resolution(void) {
  cleanup_free char *dir = fixture_db_dir();
  cleanup_store struct store *store = fixture_open(dir, false);
  const char *ids[] = {"abc123", "abc456", "abd789", "ab"};
  for (size_t i = 0; i < 4; i++)
    create(store, STORE_KIND_IMAGE, ids[i], NULL, "");

  struct store_txn *txn = begin(store, STORE_TXN_READ);
  cleanup_free char *a = NULL, *b = NULL, *c = NULL, *none = NULL;
  OK(store_record_resolve_prefix(txn, STORE_KIND_IMAGE, "abd", &a, &err));
  CHECK_STR_EQ(a, "abd789");
  OK(store_record_resolve_prefix(txn, STORE_KIND_IMAGE, "abc4", &b, &err));
  CHECK_STR_EQ(b, "abc456");
  /* A full id resolves to itself even though longer ids start with it. */
  OK(store_record_resolve_prefix(txn, STORE_KIND_IMAGE, "ab", &c, &err));
  CHECK_STR_EQ(c, "ab");
  CHECK_INT_EQ(store_record_resolve_prefix(txn, STORE_KIND_IMAGE, "abc", &none, &err), -1);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  CHECK(strstr(crio_error_message(&err), "ambiguous") != NULL);
  crio_error_release(&err);
  FAILS_WITH(store_record_resolve_prefix(txn, STORE_KIND_IMAGE, "zz", &none, &err), ENOENT);
  FAILS_WITH(store_record_resolve_prefix(txn, STORE_KIND_IMAGE, "abc1234", &none, &err), ENOENT);
  FAILS_WITH(store_record_resolve_prefix(txn, STORE_KIND_POD, "abd", &none, &err), ENOENT);
  FAILS_WITH(store_record_resolve_prefix(txn, STORE_KIND_IMAGE, "", &none, &err), EINVAL);
  CHECK(none == NULL);
  CHECK(!store_txn_failed(txn));
  commit(txn);
}

static int count_record(const store_record *rec, void *data) {
  char *last = data;
  CHECK(strcmp(last, rec->id) < 0); /* id order */
  snprintf(last, 64, "%s", rec->id);
  return 0;
}

static int stop_at_second(const store_record *rec, void *data) {
  (void)rec;
  int *seen = data;
  return ++*seen == 2 ? 42 : 0;
}

static void test_pod_containers_index_follows_create_and_delete(void) {
  cleanup_free char *dir = fixture_db_dir();
  cleanup_store struct store *store = fixture_open(dir, false);
  create(store, STORE_KIND_POD, "p1", NULL, "pod-one");
  create(store, STORE_KIND_POD, "p10", NULL, "pod-ten");
  create(store, STORE_KIND_CONTAINER, "c2", "p1", "p1/b");
  create(store, STORE_KIND_CONTAINER, "c1", "p1", "p1/a");
  create(store, STORE_KIND_CONTAINER, "c3", "p10", "p10/a");

  struct store_txn *txn = begin(store, STORE_TXN_READ);
  cleanup_strv char **ids = NULL, **ids10 = NULL, **none = NULL;
  size_t n = 0, n10 = 0, n_none = 1;
  OK(store_pod_container_ids(txn, "p1", &ids, &n, &err));
  OK(store_pod_container_ids(txn, "p10", &ids10, &n10, &err));
  OK(store_pod_container_ids(txn, "p2", &none, &n_none, &err));
  CHECK_INT_EQ(n, 2);
  CHECK_STR_EQ(ids[0], "c1");
  CHECK_STR_EQ(ids[1], "c2");
  CHECK(ids[2] == NULL);
  CHECK_INT_EQ(n10, 1); /* "p1" must not match "p10"'s entries or the reverse */
  CHECK_STR_EQ(ids10[0], "c3");
  CHECK_INT_EQ(n_none, 0);
  CHECK(none[0] == NULL);
  char last[64] = "";
  OK(store_record_foreach(txn, STORE_KIND_CONTAINER, count_record, last, &err));
  CHECK_STR_EQ(last, "c3");
  int seen = 0;
  CHECK_INT_EQ(store_record_foreach(txn, STORE_KIND_POD, stop_at_second, &seen, &err), 42);
  commit(txn);

  /* A pod with containers cannot go first. */
  txn = begin(store, STORE_TXN_WRITE);
  cleanup_store_record store_record *p1 = get(txn, STORE_KIND_POD, "p1");
  store_delete(txn, p1, "pod.remove", NULL, 0);
  FAILS_WITH(store_txn_commit(txn, &err), EBUSY);
  CHECK(exists(store, STORE_KIND_POD, "p1"));

  txn = begin(store, STORE_TXN_WRITE);
  cleanup_store_record store_record *c1 = get(txn, STORE_KIND_CONTAINER, "c1");
  store_delete(txn, c1, "container.remove", NULL, 0);
  commit(txn);
  txn = begin(store, STORE_TXN_READ);
  cleanup_strv char **after = NULL;
  OK(store_pod_container_ids(txn, "p1", &after, &n, &err));
  CHECK_INT_EQ(n, 1);
  CHECK_STR_EQ(after[0], "c2");
  commit(txn);

  /* Container then pod in one txn is fine; names go with them. */
  txn = begin(store, STORE_TXN_WRITE);
  cleanup_store_record store_record *c2 = get(txn, STORE_KIND_CONTAINER, "c2");
  store_record_free(p1);
  p1 = get(txn, STORE_KIND_POD, "p1");
  store_delete(txn, c2, "container.remove", NULL, 0);
  store_delete(txn, p1, "pod.remove", NULL, 0);
  commit(txn);
  txn = begin(store, STORE_TXN_READ);
  cleanup_strv char **gone = NULL;
  cleanup_free char *name_owner = NULL;
  OK(store_pod_container_ids(txn, "p1", &gone, &n, &err));
  CHECK_INT_EQ(n, 0);
  FAILS_WITH(store_name_lookup(txn, STORE_NAMES_CONTAINER, "p1/b", &name_owner, &err), ENOENT);
  FAILS_WITH(store_name_lookup(txn, STORE_NAMES_POD, "pod-one", &name_owner, &err), ENOENT);
  commit(txn);

  /* Deleting what is not there is a sticky ENOENT. */
  txn = begin(store, STORE_TXN_WRITE);
  store_delete(txn, c2, "container.remove", NULL, 0);
  FAILS_WITH(store_txn_commit(txn, &err), ENOENT);
}

static void test_record_put_bumps_generation_and_meta_round_trips(void) {
  cleanup_free char *dir = fixture_db_dir();
  cleanup_store struct store *store = fixture_open(dir, false);
  struct store_txn *txn = begin(store, STORE_TXN_WRITE);
  cleanup_store_record store_record *rec = new_record(STORE_KIND_IMAGE, "img", "", 0, 0);
  store_string_set(&rec->image->user, "nobody");
  store_record_put(txn, rec);
  store_record_put(txn, rec);
  store_meta_put(txn, "boot_id", "1234-abcd");
  store_log_note(txn, "daemon started");
  commit(txn);
  CHECK_INT_EQ(rec->generation, 2);
  CHECK(rec->updated_at >= rec->created_at);

  txn = begin(store, STORE_TXN_READ);
  cleanup_store_record store_record *stored = get(txn, STORE_KIND_IMAGE, "img");
  CHECK_INT_EQ(stored->generation, 2);
  CHECK_INT_EQ(stored->body_case, CRIO__STORE__OBJECT_RECORD__BODY_IMAGE);
  CHECK_STR_EQ(stored->image->user, "nobody");
  cleanup_free char *boot = NULL, *seq = NULL, *schema = NULL, *missing = NULL;
  OK(store_meta_get(txn, "boot_id", &boot, &err));
  CHECK_STR_EQ(boot, "1234-abcd");
  OK(store_meta_get(txn, "log_seq", &seq, &err));
  CHECK_STR_EQ(seq, "1");
  OK(store_meta_get(txn, "schema_version", &schema, &err));
  CHECK_STR_EQ(schema, "1");
  FAILS_WITH(store_meta_get(txn, "pod_cidr", &missing, &err), ENOENT);
  CHECK(!store_txn_failed(txn));
  commit(txn);

  uint64_t file_bytes = 0, used_bytes = 0;
  OK(store_stat(store, &file_bytes, &used_bytes, &err));
  CHECK(used_bytes > 0 && file_bytes >= used_bytes);
  int dead = -1;
  OK(store_reader_check(store, &dead, &err));
  CHECK_INT_EQ(dead, 0);
}

static void test_newer_schema_version_is_refused(void) {
  cleanup_free char *dir = fixture_db_dir();
  struct store *store = fixture_open(dir, false);
  create(store, STORE_KIND_POD, "p", NULL, "");
  struct store_txn *txn = begin(store, STORE_TXN_WRITE);
  store_meta_put(txn, "schema_version", "2");
  commit(txn);
  store_close(store);

  struct store_options options = {.dir = dir};
  struct store *again = NULL;
  CHECK_INT_EQ(store_open(&options, &again, &err), -1);
  CHECK(again == NULL);
  CHECK_INT_EQ(crio_error_status(&err), EPROTO);
  CHECK(strstr(crio_error_message(&err),
               "database schema version 2 is newer than this build supports (1)") != NULL);
  crio_error_release(&err);
  options.read_only = true;
  FAILS_WITH(store_open(&options, &again, &err), EPROTO);
}

/* ---- read-only opens ---------------------------------------------------------- */
static void test_read_only_open_beside_a_writer(void) {
  cleanup_free char *dir = fixture_db_dir();
  cleanup_store struct store *store = fixture_open(dir, false);
  create(store, STORE_KIND_POD, "committed", NULL, "web");
  /* The writer holds an open write txn while the reader runs: the reader
   * must neither block nor see it. */
  struct store_txn *pending = begin(store, STORE_TXN_WRITE);
  cleanup_store_record store_record *rec = new_record(STORE_KIND_POD, "uncommitted", "", 1, 2);
  store_create(pending, rec);

  /* Another process, like crio-db-inspect: a second env in this process
   * would break LMDB's fcntl liveness locks (see store.h). */
  fflush(NULL);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    struct store *ro = fixture_open(dir, true);
    struct store_txn *txn = begin(ro, STORE_TXN_READ);
    cleanup_store_record store_record *seen = get(txn, STORE_KIND_POD, "committed");
    CHECK(seen != NULL);
    cleanup_store_record store_record *unseen = NULL;
    FAILS_WITH(store_record_get(txn, STORE_KIND_POD, "uncommitted", &unseen, &err), ENOENT);
    CHECK_INT_EQ(store_log_count(txn), 1);
    commit(txn);
    struct store_txn *w = NULL;
    FAILS_WITH(store_txn_begin(ro, STORE_TXN_WRITE, &w, &err), EROFS);
    store_close(ro);
    _exit(0);
  }
  int status = 0;
  CHECK_INT_EQ(waitpid(pid, &status, 0), pid);
  CHECK(WIFEXITED(status));
  CHECK_INT_EQ(WEXITSTATUS(status), 0);
  commit(pending);
  CHECK(exists(store, STORE_KIND_POD, "uncommitted"));
}

static int count_entry(const store_log_entry *entry, void *data) {
  (void)entry;
  (*(int *)data)++;
  return 0;
}

static void test_read_only_open_treats_missing_databases_as_empty(void) {
  cleanup_free char *dir = fixture_db_dir();
  /* An environment without our named dbs, as a writer that has not got far
   * (or an older build) leaves it. */
  {
    struct store_options options = {.dir = dir, .read_only = true};
    struct store *none = NULL;
    FAILS_WITH(store_open(&options, &none, &err), ENOENT);
    CHECK(mkdir(dir, 0700) == 0);
    MDB_env *env = NULL;
    CHECK_INT_EQ(mdb_env_create(&env), 0);
    CHECK_INT_EQ(mdb_env_open(env, dir, 0, 0600), 0);
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    CHECK_INT_EQ(mdb_txn_begin(env, NULL, 0, &txn), 0);
    CHECK_INT_EQ(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
    CHECK_INT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
  }
  cleanup_store struct store *store = fixture_open(dir, true);
  struct store_txn *txn = begin(store, STORE_TXN_READ);
  cleanup_store_record store_record *rec = NULL;
  cleanup_free char *value = NULL, *id = NULL;
  cleanup_strv char **ids = NULL;
  size_t n = 1;
  int entries = 0;
  FAILS_WITH(store_record_get(txn, STORE_KIND_POD, "x", &rec, &err), ENOENT);
  FAILS_WITH(store_meta_get(txn, "schema_version", &value, &err), ENOENT);
  FAILS_WITH(store_name_lookup(txn, STORE_NAMES_POD, "x", &id, &err), ENOENT);
  FAILS_WITH(store_record_resolve_prefix(txn, STORE_KIND_POD, "x", &id, &err), ENOENT);
  OK(store_pod_container_ids(txn, "x", &ids, &n, &err));
  CHECK_INT_EQ(n, 0);
  OK(store_log_foreach(txn, 0, count_entry, &entries, &err));
  OK(store_log_foreach_object(txn, "x", count_entry, &entries, &err));
  OK(store_record_foreach(txn, STORE_KIND_POD, stop_at_second, &entries, &err));
  CHECK_INT_EQ(entries, 0);
  CHECK_INT_EQ(store_log_count(txn), 0);
  CHECK_INT_EQ(store_log_last_seq(txn), 0);
  CHECK_INT_EQ(store_log_first_seq(txn), 0);
  commit(txn);
}

/* Every fd of this process open on dir's data.mdb or lock.mdb must be
 * close-on-exec; returns how many data.mdb fds there are. */
static int check_cloexec(const char *dir) {
  cleanup_free char *data = NULL, *lock = NULL;
  CHECK(asprintf(&data, "%s/data.mdb", dir) > 0);
  CHECK(asprintf(&lock, "%s/lock.mdb", dir) > 0);
  cleanup_dir DIR *fds = opendir("/proc/self/fd");
  CHECK(fds != NULL);
  int n_data = 0;
  struct dirent *d;
  while ((d = readdir(fds)) != NULL) {
    if (d->d_name[0] == '.')
      continue;
    char link[PATH_MAX + 1];
    cleanup_free char *path = NULL;
    CHECK(asprintf(&path, "/proc/self/fd/%s", d->d_name) > 0);
    ssize_t len = readlink(path, link, sizeof(link) - 1);
    if (len < 0)
      continue;
    link[len] = '\0';
    bool is_data = strcmp(link, data) == 0;
    if (!is_data && strcmp(link, lock) != 0)
      continue;
    int flags = fcntl(atoi(d->d_name), F_GETFD);
    if (flags < 0 || !(flags & FD_CLOEXEC)) {
      fprintf(stderr, "fd %s on %s is not close-on-exec\n", d->d_name, link);
      exit(1);
    }
    n_data += is_data;
  }
  return n_data;
}

static void test_database_fds_are_close_on_exec(void) {
  cleanup_free char *dir = fixture_db_dir();
  {
    cleanup_store struct store *store = fixture_open(dir, false);
    CHECK(store != NULL && check_cloexec(dir) >= 1);
  }
  cleanup_store struct store *ro = fixture_open(dir, true);
  CHECK(ro != NULL && check_cloexec(dir) >= 1);
}

/* ---- compaction ------------------------------------------------------------------ */
static void step(struct store *store, const char *id, uint32_t to, const char *acquire,
                 const char *release) {
  struct store_txn *txn = begin(store, STORE_TXN_WRITE);
  cleanup_store_record store_record *rec = get(txn, STORE_KIND_POD, id);
  store_resource *acq = acquire ? store_resource_new("mount", acquire, NULL, 0) : NULL;
  store_resource *rel = release ? store_resource_new("mount", release, NULL, 0) : NULL;
  store_transition(txn, rec, to, "pod.step", &acq, acq ? 1 : 0, &rel, rel ? 1 : 0);
  commit(txn);
  store_resource_free(acq);
  store_resource_free(rel);
}

static void delete_pod(struct store *store, const char *id, const char *release) {
  struct store_txn *txn = begin(store, STORE_TXN_WRITE);
  cleanup_store_record store_record *rec = get(txn, STORE_KIND_POD, id);
  store_resource *rel = release ? store_resource_new("mount", release, NULL, 0) : NULL;
  store_delete(txn, rec, "pod.remove", &rel, rel ? 1 : 0);
  commit(txn);
  store_resource_free(rel);
}

static void note(struct store *store, const char *message) {
  struct store_txn *txn = begin(store, STORE_TXN_WRITE);
  store_log_note(txn, message);
  commit(txn);
}

static size_t history_len(struct store *store, const char *id) {
  cleanup_history struct history h = {0};
  history_of(store, id, &h);
  return h.n;
}

static uint64_t compact(struct store *store, uint64_t before) {
  uint64_t dropped = 0;
  struct store_txn *txn = begin(store, STORE_TXN_WRITE);
  OK(store_log_compact(txn, before, &dropped, &err));
  commit(txn);
  return dropped;
}

static void test_compaction_drops_only_fully_released_deleted_objects(void) {
  cleanup_free char *dir = fixture_db_dir();
  cleanup_store struct store *store = fixture_open(dir, false);
  note(store, "daemon started");
  /* released: acquired then released, deleted. */
  create(store, STORE_KIND_POD, "released", NULL, "released");
  step(store, "released", 2, "/m/released", NULL);
  step(store, "released", 3, NULL, "/m/released");
  delete_pod(store, "released", NULL);
  /* leaked: deleted but its mount was never released. */
  create(store, STORE_KIND_POD, "leaked", NULL, "leaked");
  step(store, "leaked", 2, "/m/leaked", NULL);
  delete_pod(store, "leaked", NULL);
  /* reacquired: released, then acquired again and never released. */
  create(store, STORE_KIND_POD, "reacquired", NULL, "");
  step(store, "reacquired", 2, "/m/re", NULL);
  step(store, "reacquired", 3, NULL, "/m/re");
  step(store, "reacquired", 2, "/m/re", NULL);
  delete_pod(store, "reacquired", NULL);
  /* released-at-delete: released by the DELETE entry itself. */
  create(store, STORE_KIND_POD, "released-at-delete", NULL, "");
  step(store, "released-at-delete", 2, "/m/rad", NULL);
  delete_pod(store, "released-at-delete", "/m/rad");
  /* live: never deleted. */
  create(store, STORE_KIND_POD, "live", NULL, "live");
  step(store, "live", 2, NULL, NULL);
  /* late: fully released, but its DELETE is not older than the cut. */
  create(store, STORE_KIND_POD, "late", NULL, "");
  uint64_t cut = 0;
  {
    struct store_txn *txn = begin(store, STORE_TXN_READ);
    cut = store_log_last_seq(txn) + 1;
    commit(txn);
  }
  delete_pod(store, "late", NULL);
  note(store, "after the cut");

  uint64_t before = log_count(store);
  CHECK_INT_EQ(before, 21);
  CHECK_INT_EQ(compact(store, cut), 1 + 4 + 3);
  CHECK_INT_EQ(log_count(store), before - 8);
  CHECK_INT_EQ(history_len(store, "released"), 0);
  CHECK_INT_EQ(history_len(store, "released-at-delete"), 0);
  CHECK_INT_EQ(history_len(store, "leaked"), 3);
  CHECK_INT_EQ(history_len(store, "reacquired"), 5);
  CHECK_INT_EQ(history_len(store, "live"), 2);
  CHECK_INT_EQ(history_len(store, "late"), 2);
  {
    cleanup_history struct history all = {0};
    whole_log(store, 0, &all);
    CHECK_INT_EQ(all.n, 13);
    for (size_t i = 0; i < all.n; i++)
      CHECK(strcmp(all.entries[i]->object_id, "released") != 0);
    CHECK_INT_EQ(all.entries[all.n - 1]->type, CRIO__STORE__LOG_ENTRY__TYPE__NOTE);
  }

  /* Everything: late and the last note go too; seqs are never reused even
   * though the newest entry was dropped. */
  struct store_txn *txn = begin(store, STORE_TXN_READ);
  uint64_t last = store_log_last_seq(txn);
  commit(txn);
  CHECK_INT_EQ(compact(store, UINT64_MAX), 3);
  CHECK_INT_EQ(history_len(store, "late"), 0);
  CHECK_INT_EQ(log_count(store), 10);
  note(store, "next");
  txn = begin(store, STORE_TXN_READ);
  CHECK_INT_EQ(store_log_last_seq(txn), last + 1);
  commit(txn);
  cleanup_history struct history tail = {0};
  whole_log(store, last, &tail);
  CHECK_INT_EQ(tail.n, 1);
  CHECK_INT_EQ(tail.entries[0]->seq, last + 1);
  CHECK_INT_EQ(compact(store, 1), 0);

  txn = begin(store, STORE_TXN_READ);
  uint64_t dropped = 0;
  FAILS_WITH(store_log_compact(txn, UINT64_MAX, &dropped, &err), EROFS);
  commit(txn);
}

/* "Release everything I hold" passes the record's own list. */
static void test_releasing_the_records_own_resource_list(void) {
  cleanup_free char *dir = fixture_db_dir();
  cleanup_store struct store *store = fixture_open(dir, false);
  cleanup_store_record store_record *rec = new_record(STORE_KIND_POD, "pod", "", 1, 2);
  rec->resources = xcalloc(2, sizeof(*rec->resources));
  rec->resources[0] = store_resource_new("netns", "/run/netns/p", NULL, 0);
  rec->resources[1] = store_resource_new("cgroup", "/sys/fs/cgroup/p", NULL, 0);
  rec->n_resources = 2;
  struct store_txn *txn = begin(store, STORE_TXN_WRITE);
  store_create(txn, rec);
  /* Acquiring what is held again (a repeated step) does not duplicate it. */
  store_transition(txn, rec, 2, "pod.again", rec->resources, 1, NULL, 0);
  CHECK_INT_EQ(rec->n_resources, 2);
  store_transition(txn, rec, 3, "pod.release_all", NULL, 0, rec->resources, rec->n_resources);
  CHECK_INT_EQ(rec->n_resources, 0);
  commit(txn);

  txn = begin(store, STORE_TXN_WRITE);
  store_resource *mount = store_resource_new("mount", "/m/p", NULL, 0);
  store_transition(txn, rec, 2, "pod.mount", &mount, 1, NULL, 0);
  store_resource_free(mount);
  store_delete(txn, rec, "pod.remove", rec->resources, rec->n_resources);
  CHECK_INT_EQ(rec->n_resources, 0);
  commit(txn);

  cleanup_history struct history h = {0};
  history_of(store, "pod", &h);
  CHECK_INT_EQ(h.n, 5);
  CHECK_INT_EQ(h.entries[0]->n_acquired, 2);
  CHECK_INT_EQ(h.entries[1]->n_acquired, 1);
  CHECK_STR_EQ(h.entries[1]->acquired[0]->type, "netns");
  CHECK_INT_EQ(h.entries[2]->n_released, 2);
  CHECK_STR_EQ(h.entries[2]->released[1]->type, "cgroup");
  CHECK_INT_EQ(h.entries[4]->type, CRIO__STORE__LOG_ENTRY__TYPE__DELETE);
  CHECK_INT_EQ(h.entries[4]->n_released, 1);
  CHECK_STR_EQ(h.entries[4]->released[0]->id, "/m/p");
  /* Everything was released: compaction may drop the whole history. */
  CHECK_INT_EQ(compact(store, UINT64_MAX), 5);
}

int main(void) {
  RUN_TEST(test_lifecycle_calls_log_each_change_in_the_same_commit);
  RUN_TEST(test_aborted_txn_leaves_neither_record_nor_log_entry);
  RUN_TEST(test_sticky_failure_commits_nothing);
  RUN_TEST(test_names_are_per_namespace_and_reserving_is_sticky);
  RUN_TEST(test_name_foreach_walks_one_namespace_in_order);
  RUN_TEST(test_long_names_are_listed_whole);
  RUN_TEST(test_prefix_resolution);
  RUN_TEST(test_pod_containers_index_follows_create_and_delete);
  RUN_TEST(test_record_put_bumps_generation_and_meta_round_trips);
  RUN_TEST(test_newer_schema_version_is_refused);
  RUN_TEST(test_read_only_open_beside_a_writer);
  RUN_TEST(test_read_only_open_treats_missing_databases_as_empty);
  RUN_TEST(test_database_fds_are_close_on_exec);
  RUN_TEST(test_compaction_drops_only_fully_released_deleted_objects);
  RUN_TEST(test_releasing_the_records_own_resource_list);
  return 0;
}
