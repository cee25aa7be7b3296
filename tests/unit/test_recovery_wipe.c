/* crio wipe against a real store, with resource types of the test's own
 * that only record what they were asked to release: order (newest first,
 * containers before pods), what is logged, idempotence, dry run, failures,
 * unknown types, images left alone, compaction before wipe, the lock. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "recovery/recovery.h"
#include "tests/unit/testing.h"

char *fixture_tmpdir(void);
struct store *fixture_open(const char *dir, bool read_only);

/* ---- fake resource types ------------------------------------------------------ */

static char released_log[8192]; /* "owner:type:id " per release, in order */
static const char *fail_id;     /* a release of this id fails */

static int fake_exists(const struct recovery_env *env, const char *owner, const store_resource *res,
                       crio_error_t *err) {
  return 1;
}

static int fake_release(const struct recovery_env *env, const char *owner,
                        const store_resource *res, crio_error_t *err) {
  if (fail_id && strcmp(res->id, fail_id) == 0)
    return crio_error(err, EBUSY, "%s is busy", res->id);
  size_t len = strlen(released_log);
  snprintf(released_log + len, sizeof(released_log) - len, "%s:%s:%s ", owner, res->type, res->id);
  return 0;
}

static const struct recovery_resource_type fake_types[] = {
    {"dir", fake_exists, fake_release},    {"netns", fake_exists, fake_release},
    {"cgroup", fake_exists, fake_release}, {"cni", fake_exists, fake_release},
    {"mount", fake_exists, fake_release},  {"layer", fake_exists, fake_release},
};

/* ---- building a database --------------------------------------------------------- */

struct world {
  char *root; /* freed by the fixture */
  char db_dir[4096];
  struct store *store;
};

static void world_open(struct world *w) {
  w->root = fixture_tmpdir();
  snprintf(w->db_dir, sizeof(w->db_dir), "%s/db", w->root);
  w->store = fixture_open(w->db_dir, false);
}

static void world_close(struct world *w) {
  if (w->store)
    store_close(w->store);
  w->store = NULL;
}

static store_resource **resources(const char *spec, size_t *n) {
  store_resource **list = calloc(16, sizeof(*list));
  *n = 0;
  if (spec == NULL)
    return list;
  char *copy = strdup(spec);
  char *save = NULL;
  for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
    char *colon = strchr(tok, ':');
    *colon = '\0';
    list[(*n)++] = store_resource_new(tok, colon + 1, NULL, 0);
  }
  free(copy);
  return list;
}

static void free_resources(store_resource **list, size_t n) {
  for (size_t i = 0; i < n; i++)
    store_resource_free(list[i]);
  free(list);
}

static void commit(struct store_txn *txn) {
  cleanup_error crio_error_t err = NULL;
  if (store_txn_commit(txn, &err) < 0) {
    fprintf(stderr, "commit: %s\n", crio_error_message(&err));
    exit(1);
  }
}

static struct store_txn *begin(struct world *w) {
  struct store_txn *txn = NULL;
  cleanup_error crio_error_t err = NULL;
  CHECK(store_txn_begin(w->store, STORE_TXN_WRITE, &txn, &err) == 0);
  return txn;
}

static void create(struct world *w, enum store_kind kind, const char *id, const char *name,
                   const char *parent) {
  struct store_txn *txn = begin(w);
  store_record *rec = store_record_new(kind, id);
  rec->state = 1;
  rec->goal = 1;
  store_string_set(&rec->name, name);
  store_string_set(&rec->parent_id, parent);
  if (kind == STORE_KIND_CONTAINER)
    store_string_set(&rec->container->pod_id, parent);
  store_create(txn, rec);
  store_record_free(rec);
  commit(txn);
}

/* A transition of the record to `state` acquiring and releasing. */
static void step(struct world *w, enum store_kind kind, const char *id, uint32_t state,
                 const char *acquire, const char *release) {
  struct store_txn *txn = begin(w);
  store_record *rec = NULL;
  cleanup_error crio_error_t err = NULL;
  CHECK(store_record_get(txn, kind, id, &rec, &err) == 0);
  size_t na, nr;
  store_resource **a = resources(acquire, &na), **r = resources(release, &nr);
  store_transition(txn, rec, state, "test.step", a, na, r, nr);
  free_resources(a, na);
  free_resources(r, nr);
  store_record_free(rec);
  commit(txn);
}

static void delete (struct world *w, enum store_kind kind, const char *id, const char *release) {
  struct store_txn *txn = begin(w);
  store_record *rec = NULL;
  cleanup_error crio_error_t err = NULL;
  CHECK(store_record_get(txn, kind, id, &rec, &err) == 0);
  size_t nr;
  store_resource **r = resources(release, &nr);
  store_delete(txn, rec, "test.delete", r, nr);
  free_resources(r, nr);
  store_record_free(rec);
  commit(txn);
}

static uint64_t log_count(struct world *w) {
  struct store_txn *txn = NULL;
  cleanup_error crio_error_t err = NULL;
  CHECK(store_txn_begin(w->store, STORE_TXN_READ, &txn, &err) == 0);
  uint64_t n = store_log_count(txn);
  store_txn_abort(txn);
  return n;
}

static bool record_exists(struct world *w, enum store_kind kind, const char *id) {
  struct store_txn *txn = NULL;
  cleanup_error crio_error_t err = NULL;
  CHECK(store_txn_begin(w->store, STORE_TXN_READ, &txn, &err) == 0);
  store_record *rec = NULL;
  cleanup_error crio_error_t get_err = NULL;
  bool found = store_record_get(txn, kind, id, &rec, &get_err) == 0;
  store_record_free(rec);
  store_txn_abort(txn);
  return found;
}

static bool name_taken(struct world *w, enum store_name_space ns, const char *name) {
  struct store_txn *txn = NULL;
  cleanup_error crio_error_t err = NULL;
  CHECK(store_txn_begin(w->store, STORE_TXN_READ, &txn, &err) == 0);
  char *id = NULL;
  cleanup_error crio_error_t lookup_err = NULL;
  bool found = store_name_lookup(txn, ns, name, &id, &lookup_err) == 0;
  free(id);
  store_txn_abort(txn);
  return found;
}

/* Runs wipe with the store closed (wipe opens it, as `crio wipe` does in
 * a process of its own), then reopens it. */
static int run_wipe(struct world *w, bool dry_run, struct recovery_wipe_report *report,
                    char **output, crio_error_t *err) {
  world_close(w);
  size_t len = 0;
  FILE *out = open_memstream(output, &len);
  char *runroot = NULL;
  CHECK(asprintf(&runroot, "%s/run", w->root) > 0);
  struct recovery_wipe_options options = {
      .env = {.root = w->root, .runroot = runroot},
      .dry_run = dry_run,
      .out = out,
      .types = fake_types,
      .n_types = sizeof(fake_types) / sizeof(fake_types[0]),
  };
  released_log[0] = '\0';
  int rc = recovery_wipe(&options, report, err);
  fclose(out);
  free(runroot);
  w->store = fixture_open(w->db_dir, false);
  return rc;
}

/* Two pods, one with a container; one pod deleted long ago while still
 * holding its cgroup; one fully released and deleted. */
static void populate(struct world *w) {
  create(w, STORE_KIND_POD, "podA", "pod-a", NULL);
  step(w, STORE_KIND_POD, "podA", 2, "dir:/run/pods/podA netns:/run/netns/podA", NULL);
  step(w, STORE_KIND_POD, "podA", 3, "cgroup:/crio/crio-podA", NULL);
  step(w, STORE_KIND_POD, "podA", 4, "cni:net/podA/eth0", NULL);
  create(w, STORE_KIND_CONTAINER, "ctrA", "ctr-a", "podA");
  step(w, STORE_KIND_CONTAINER, "ctrA", 2, "mount:/rootfs/ctrA", NULL);

  create(w, STORE_KIND_POD, "podB", "pod-b", NULL);
  step(w, STORE_KIND_POD, "podB", 2, "dir:/run/pods/podB netns:/run/netns/podB", NULL);
  step(w, STORE_KIND_POD, "podB", 3, "cgroup:/crio/crio-podB", NULL);
  step(w, STORE_KIND_POD, "podB", 8, NULL, "netns:/run/netns/podB dir:/run/pods/podB");
  delete (w, STORE_KIND_POD, "podB", NULL); /* leaves its cgroup in the log */

  create(w, STORE_KIND_POD, "podC", "pod-c", NULL);
  step(w, STORE_KIND_POD, "podC", 2, "dir:/run/pods/podC", NULL);
  step(w, STORE_KIND_POD, "podC", 8, NULL, "dir:/run/pods/podC");
  delete (w, STORE_KIND_POD, "podC", NULL);
}

static void test_wipe_releases_everything_once(void) {
  struct world w = {0};
  world_open(&w);
  populate(&w);
  struct recovery_wipe_report report;
  cleanup_error crio_error_t err = NULL;
  char *out = NULL;
  if (run_wipe(&w, false, &report, &out, &err) < 0) {
    fprintf(stderr, "wipe: %s\n%s", crio_error_message(&err), out);
    exit(1);
  }
  /* The container first, then each pod newest acquisition first. */
  CHECK_STR_EQ(released_log, "ctrA:mount:/rootfs/ctrA "
                             "podA:cni:net/podA/eth0 podA:cgroup:/crio/crio-podA "
                             "podA:netns:/run/netns/podA podA:dir:/run/pods/podA "
                             "podB:cgroup:/crio/crio-podB ");
  CHECK_INT_EQ(report.released, 6);
  CHECK_INT_EQ(report.planned, 6);
  CHECK_INT_EQ(report.pods_deleted, 1);
  CHECK_INT_EQ(report.containers_deleted, 1);
  CHECK_INT_EQ(report.failed, 0);
  CHECK(strstr(out, "released pod/podA cni net/podA/eth0\n") != NULL);
  CHECK(strstr(out, "deleted container/ctrA record ctr-a\n") != NULL);
  CHECK(!record_exists(&w, STORE_KIND_POD, "podA"));
  CHECK(!record_exists(&w, STORE_KIND_CONTAINER, "ctrA"));
  CHECK(!name_taken(&w, STORE_NAMES_POD, "pod-a"));
  CHECK(!name_taken(&w, STORE_NAMES_CONTAINER, "ctr-a"));
  free(out);

  /* The log now says everything is released: a second wipe finds nothing
   * and writes nothing. */
  uint64_t entries = log_count(&w);
  out = NULL;
  CHECK(run_wipe(&w, false, &report, &out, &err) == 0);
  CHECK_STR_EQ(released_log, "");
  CHECK_INT_EQ(report.planned, 0);
  CHECK_INT_EQ(log_count(&w), entries);
  free(out);

  /* And compaction may now drop every object's history (notes aside). */
  struct store_txn *txn = begin(&w);
  uint64_t dropped = 0;
  CHECK(store_log_compact(txn, store_log_last_seq(txn) + 1, &dropped, &err) == 0);
  commit(txn);
  CHECK_INT_EQ(log_count(&w), 0);
  world_close(&w);
}

static void test_dry_run_changes_nothing(void) {
  struct world w = {0};
  world_open(&w);
  populate(&w);
  uint64_t entries = log_count(&w);
  struct recovery_wipe_report report;
  cleanup_error crio_error_t err = NULL;
  char *out = NULL;
  CHECK(run_wipe(&w, true, &report, &out, &err) == 0);
  CHECK_STR_EQ(released_log, "");
  CHECK_INT_EQ(report.planned, 6);
  CHECK_INT_EQ(log_count(&w), entries);
  CHECK(record_exists(&w, STORE_KIND_POD, "podA"));
  /* One line per resource: kind/id type id; and the records to delete. */
  CHECK(strstr(out, "container/ctrA mount /rootfs/ctrA\n") != NULL);
  CHECK(strstr(out, "pod/podA cni net/podA/eth0\n") != NULL);
  CHECK(strstr(out, "pod/podB cgroup /crio/crio-podB\n") != NULL);
  CHECK(strstr(out, "pod/podA record pod-a\n") != NULL);
  CHECK(strstr(out, "podC") == NULL);
  free(out);
  world_close(&w);
}

/* A failed release stops that object (what follows depends on it), keeps
 * its record and its pod's, logs what was released, and fails the wipe;
 * the next wipe resumes where it stopped. */
static void test_failure_keeps_and_resumes(void) {
  struct world w = {0};
  world_open(&w);
  populate(&w);
  struct recovery_wipe_report report;
  char *out = NULL;
  fail_id = "/crio/crio-podA";
  {
    cleanup_error crio_error_t err = NULL;
    CHECK(run_wipe(&w, false, &report, &out, &err) < 0);
    CHECK_INT_EQ(crio_error_status(&err), EAGAIN);
  }
  CHECK_STR_EQ(released_log, "ctrA:mount:/rootfs/ctrA podA:cni:net/podA/eth0 "
                             "podB:cgroup:/crio/crio-podB ");
  CHECK_INT_EQ(report.failed, 1);
  CHECK(strstr(out, "failed pod/podA cgroup /crio/crio-podA: /crio/crio-podA is busy\n") != NULL);
  CHECK(record_exists(&w, STORE_KIND_POD, "podA"));
  CHECK(!record_exists(&w, STORE_KIND_CONTAINER, "ctrA"));
  free(out);

  fail_id = NULL;
  out = NULL;
  cleanup_error crio_error_t err = NULL;
  CHECK(run_wipe(&w, false, &report, &out, &err) == 0);
  CHECK_STR_EQ(released_log, "podA:cgroup:/crio/crio-podA podA:netns:/run/netns/podA "
                             "podA:dir:/run/pods/podA ");
  CHECK(!record_exists(&w, STORE_KIND_POD, "podA"));
  free(out);
  world_close(&w);
}

/* A pod whose container could not be wiped is not touched at all. */
static void test_container_failure_blocks_pod(void) {
  struct world w = {0};
  world_open(&w);
  populate(&w);
  struct recovery_wipe_report report;
  cleanup_error crio_error_t err = NULL;
  char *out = NULL;
  fail_id = "/rootfs/ctrA";
  CHECK(run_wipe(&w, false, &report, &out, &err) < 0);
  fail_id = NULL;
  CHECK_STR_EQ(released_log, "podB:cgroup:/crio/crio-podB ");
  CHECK(strstr(out, "kept pod/podA: one of its containers could not be wiped\n") != NULL);
  CHECK(record_exists(&w, STORE_KIND_POD, "podA"));
  CHECK(record_exists(&w, STORE_KIND_CONTAINER, "ctrA"));
  free(out);
  world_close(&w);
}

/* A type this build has no entry for is reported and stays in the log
 * (for a build that knows it); the record goes anyway. */
static void test_unknown_type_left_in_log(void) {
  struct world w = {0};
  world_open(&w);
  create(&w, STORE_KIND_POD, "p", "p", NULL);
  step(&w, STORE_KIND_POD, "p", 2, "dir:/run/pods/p gizmo:g1", NULL);
  struct recovery_wipe_report report;
  cleanup_error crio_error_t err = NULL;
  char *out = NULL;
  CHECK(run_wipe(&w, false, &report, &out, &err) == 0);
  CHECK_STR_EQ(released_log, "p:dir:/run/pods/p ");
  CHECK_INT_EQ(report.unknown, 1);
  CHECK(strstr(out, "left pod/p gizmo g1: unknown resource type\n") != NULL);
  CHECK(!record_exists(&w, STORE_KIND_POD, "p"));
  free(out);
  out = NULL;
  CHECK(run_wipe(&w, true, &report, &out, &err) == 0);
  CHECK_INT_EQ(report.unknown, 1);
  CHECK_INT_EQ(report.planned, 0);
  free(out);
  world_close(&w);
}

/* Images keep their records and layers; a deleted image's layer is
 * released unless a live image holds the same layer. */
static void test_images_left_alone(void) {
  struct world w = {0};
  world_open(&w);
  create(&w, STORE_KIND_IMAGE, "img1", "", NULL);
  step(&w, STORE_KIND_IMAGE, "img1", 2, "layer:sha256:base layer:sha256:top1", NULL);
  create(&w, STORE_KIND_IMAGE, "img2", "", NULL);
  step(&w, STORE_KIND_IMAGE, "img2", 2, "layer:sha256:base layer:sha256:top2", NULL);
  delete (&w, STORE_KIND_IMAGE, "img2", NULL);
  struct recovery_wipe_report report;
  cleanup_error crio_error_t err = NULL;
  char *out = NULL;
  CHECK(run_wipe(&w, false, &report, &out, &err) == 0);
  CHECK_STR_EQ(released_log, "img2:layer:sha256:top2 ");
  CHECK_INT_EQ(report.shared, 1);
  CHECK(strstr(out, "kept image/img2 layer sha256:base: still held by image img1\n") != NULL);
  CHECK(record_exists(&w, STORE_KIND_IMAGE, "img1"));
  free(out);
  world_close(&w);
}

/* Compaction drops only histories wipe no longer needs: after it, wipe
 * still finds every unreleased resource, of live and deleted objects. */
static void test_compaction_then_wipe(void) {
  struct world w = {0};
  world_open(&w);
  populate(&w);
  for (int i = 0; i < 50; i++) {
    char id[16], res[64];
    snprintf(id, sizeof(id), "done%d", i);
    snprintf(res, sizeof(res), "dir:/run/pods/%s", id);
    create(&w, STORE_KIND_POD, id, id, NULL);
    step(&w, STORE_KIND_POD, id, 2, res, NULL);
    step(&w, STORE_KIND_POD, id, 8, NULL, res);
    delete (&w, STORE_KIND_POD, id, NULL);
  }
  uint64_t before = log_count(&w);
  world_close(&w);
  struct store_options options = {.dir = w.db_dir};
  struct store *store = NULL;
  cleanup_error crio_error_t err = NULL;
  CHECK(store_open(&options, &store, &err) == 0);
  uint64_t entries = 0, dropped = 0;
  CHECK(recovery_compact_log(store, 10, &entries, &dropped, &err) == 0);
  store_close(store);
  w.store = fixture_open(w.db_dir, false);
  CHECK_INT_EQ(entries, before);
  /* 50 pods * 4 entries, and podC's 4. */
  CHECK_INT_EQ(dropped, 204);
  CHECK_INT_EQ(log_count(&w), before - 204);

  struct recovery_wipe_report report;
  char *out = NULL;
  CHECK(run_wipe(&w, false, &report, &out, &err) == 0);
  CHECK_STR_EQ(released_log, "ctrA:mount:/rootfs/ctrA "
                             "podA:cni:net/podA/eth0 podA:cgroup:/crio/crio-podA "
                             "podA:netns:/run/netns/podA podA:dir:/run/pods/podA "
                             "podB:cgroup:/crio/crio-podB ");
  free(out);
  /* Below the threshold nothing is compacted. */
  world_close(&w);
  CHECK(store_open(&options, &store, &err) == 0);
  CHECK(recovery_compact_log(store, 1000, &entries, &dropped, &err) == 0);
  CHECK_INT_EQ(dropped, 0);
  store_close(store);
}

/* While the daemon holds <root>/crio.lock, wipe refuses and changes
 * nothing. */
static void test_refuses_while_locked(void) {
  struct world w = {0};
  world_open(&w);
  populate(&w);
  char *lock_path = NULL;
  CHECK(asprintf(&lock_path, "%s/crio.lock", w.root) > 0);
  /* flock locks belong to the open file description: another open of the
   * file, even in this process, conflicts with it. */
  int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  CHECK(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0);
  uint64_t entries = log_count(&w);
  struct recovery_wipe_report report;
  cleanup_error crio_error_t err = NULL;
  char *out = NULL;
  CHECK(run_wipe(&w, false, &report, &out, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EBUSY);
  CHECK(strstr(crio_error_message(&err), "crio is running; stop it first") != NULL);
  CHECK_STR_EQ(released_log, "");
  CHECK_INT_EQ(log_count(&w), entries);
  close(fd);
  free(lock_path);
  free(out);
  world_close(&w);
}

int main(void) {
  RUN_TEST(test_wipe_releases_everything_once);
  RUN_TEST(test_dry_run_changes_nothing);
  RUN_TEST(test_failure_keeps_and_resumes);
  RUN_TEST(test_container_failure_blocks_pod);
  RUN_TEST(test_unknown_type_left_in_log);
  RUN_TEST(test_images_left_alone);
  RUN_TEST(test_compaction_then_wipe);
  RUN_TEST(test_refuses_while_locked);
  return 0;
}
