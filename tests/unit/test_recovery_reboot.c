/* Start-up after a node reboot, against a real store and reconciler whose
 * steps do nothing on the host: running and created containers become
 * EXITED through their event transitions (reason NodeRestarted, the exit
 * code conmon persisted or -1 with exit_code_lost), unfinished creations
 * are rolled back, pods asked to be READY are stopped before recovery
 * returns, leftovers no record owns are removed (and only those), the new
 * boot id is stored, the log tells it in order, and a second start on the
 * same boot does nothing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reconciler/reconciler.h"
#include "recovery/recovery.h"
#include "statemachine/statemachine.h"
#include "tests/unit/testing.h"

char *fixture_tmpdir(void);
struct store *fixture_open(const char *dir, bool read_only);

#define ID(c)                                                                                      \
  c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c  \
      c c c c c c c c c c c c c c c c
static const char *const POD_READY = ID("a");
static const char *const POD_STOPPED = ID("b");
static const char *const CTR_RUNNING = ID("1");
static const char *const CTR_CREATED = ID("2");
static const char *const CTR_PENDING = ID("3");
static const char *const CTR_EXITED = ID("4");
static const char *const STRAY_CTR = ID("5");
static const char *const STRAY_POD = ID("6");
static const char *const DELETED_POD = ID("7");

struct world {
  char *dir; /* freed by the fixture */
  char root[4096], runroot[4096], db_dir[4096], boot_file[4096];
  struct store *store;
};

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  fputs(text, f);
  fclose(f);
}

static void mkdirs(const char *path) {
  cleanup_error crio_error_t err = NULL;
  CHECK(crio_mkdir_p(path, 0755, &err) == 0);
}

static bool exists(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0;
}

static void create(struct store_txn *txn, enum store_kind kind, const char *id, const char *parent,
                   uint32_t state, uint32_t goal, const char *container_dir) {
  cleanup_store_record store_record *rec = store_record_new(kind, id);
  rec->state = state;
  rec->goal = goal;
  if (parent)
    store_string_set(&rec->parent_id, parent);
  if (container_dir)
    store_string_set(&rec->container->container_dir, container_dir);
  if (kind == STORE_KIND_CONTAINER)
    rec->container->started_at = crio_now_ns() - 1000;
  store_create(txn, rec);
}

static void world_build(struct world *w) {
  w->dir = fixture_tmpdir();
  snprintf(w->root, sizeof(w->root), "%s/root", w->dir);
  snprintf(w->runroot, sizeof(w->runroot), "%s/run", w->dir);
  snprintf(w->db_dir, sizeof(w->db_dir), "%s/root/db", w->dir);
  snprintf(w->boot_file, sizeof(w->boot_file), "%s/boot_id", w->dir);
  w->store = fixture_open(w->db_dir, false);

  char path[4200];
  /* conmon persisted the running container's end (SIGTERM at shutdown). */
  snprintf(path, sizeof(path), "%s/containers/%s", w->root, CTR_RUNNING);
  mkdirs(path);
  snprintf(path, sizeof(path), "%s/containers/%s/exit", w->root, CTR_RUNNING);
  write_text(path, "143");
  char created_dir[4200];
  snprintf(created_dir, sizeof(created_dir), "%s/containers/%s", w->root, CTR_CREATED);
  mkdirs(created_dir);
  char running_dir[4200];
  snprintf(running_dir, sizeof(running_dir), "%s/containers/%s", w->root, CTR_RUNNING);

  cleanup_error crio_error_t err = NULL;
  cleanup_store_txn struct store_txn *txn = NULL;
  CHECK(store_txn_begin(w->store, STORE_TXN_WRITE, &txn, &err) == 0);
  create(txn, STORE_KIND_POD, POD_READY, NULL, SM_POD_READY, SM_POD_READY, NULL);
  create(txn, STORE_KIND_POD, POD_STOPPED, NULL, SM_POD_STOPPED, SM_POD_STOPPED, NULL);
  create(txn, STORE_KIND_CONTAINER, CTR_RUNNING, POD_READY, SM_CONTAINER_RUNNING,
         SM_CONTAINER_RUNNING, running_dir);
  create(txn, STORE_KIND_CONTAINER, CTR_CREATED, POD_READY, SM_CONTAINER_CREATED,
         SM_CONTAINER_CREATED, created_dir);
  create(txn, STORE_KIND_CONTAINER, CTR_PENDING, POD_READY, SM_CONTAINER_PENDING,
         SM_CONTAINER_CREATED, NULL);
  create(txn, STORE_KIND_CONTAINER, CTR_EXITED, POD_STOPPED, SM_CONTAINER_EXITED,
         SM_CONTAINER_EXITED, NULL);
  /* A pod deleted long ago whose log never released its run dir. */
  char held[4200];
  snprintf(held, sizeof(held), "%s/pods/%s", w->runroot, DELETED_POD);
  store_log_entry entry = CRIO__STORE__LOG_ENTRY__INIT;
  entry.type = CRIO__STORE__LOG_ENTRY__TYPE__DELETE;
  entry.kind = STORE_KIND_POD;
  entry.object_id = (char *)DELETED_POD;
  store_resource *res = store_resource_new("dir", held, NULL, 0);
  entry.acquired = &res;
  entry.n_acquired = 1;
  store_log_append(txn, &entry);
  store_resource_free(res);
  store_meta_put(txn, "boot_id", "boot-before");
  CHECK(store_txn_commit(steal_pointer(&txn), &err) == 0);

  /* Leftovers: two no record owns, one the log says is held, one not
   * named by an id, and the dirs of live records. */
  snprintf(path, sizeof(path), "%s/containers/%s/upper", w->root, STRAY_CTR);
  mkdirs(path);
  snprintf(path, sizeof(path), "%s/pods/%s", w->runroot, STRAY_POD);
  mkdirs(path);
  mkdirs(held);
  snprintf(path, sizeof(path), "%s/pods/not-an-id", w->runroot);
  mkdirs(path);
  snprintf(path, sizeof(path), "%s/pods/%s", w->runroot, POD_READY);
  mkdirs(path);
  write_text(w->boot_file, "boot-after\n");
}

static struct reconciler *reconciler_with_noop_steps(struct store *store) {
  struct reconciler_options opts = {.workers = 2};
  struct reconciler *r = NULL;
  cleanup_error crio_error_t err = NULL;
  CHECK(reconciler_new(store, &opts, &r, &err) == 0);
  for (size_t i = 0; i < sm_transition_count(); i++) {
    const struct sm_transition *t = sm_transition_at(i);
    if (t->trigger == SM_TRIGGER_STEP)
      CHECK(reconciler_register_noop(r, t->name, &err) == 0);
  }
  CHECK(reconciler_start(r, &err) == 0);
  return r;
}

static store_record *get(struct store *store, enum store_kind kind, const char *id) {
  cleanup_error crio_error_t err = NULL;
  cleanup_store_txn struct store_txn *txn = NULL;
  CHECK(store_txn_begin(store, STORE_TXN_READ, &txn, &err) == 0);
  store_record *rec = NULL;
  if (store_record_get(txn, kind, id, &rec, &err) < 0)
    return NULL;
  return rec;
}

static char *meta(struct store *store, const char *key) {
  cleanup_error crio_error_t err = NULL;
  cleanup_store_txn struct store_txn *txn = NULL;
  CHECK(store_txn_begin(store, STORE_TXN_READ, &txn, &err) == 0);
  char *value = NULL;
  CHECK(store_meta_get(txn, key, &value, &err) == 0);
  return value;
}

struct seqs {
  uint64_t reboot_note, handled_note, running_exit, created_exit, pod_goal;
  char pod_goal_message[512];
};

static int note_visit(const store_log_entry *e, void *data) {
  struct seqs *s = data;
  if (e->type == CRIO__STORE__LOG_ENTRY__TYPE__NOTE && strstr(e->message, "node rebooted"))
    s->reboot_note = e->seq;
  if (e->type == CRIO__STORE__LOG_ENTRY__TYPE__NOTE && strstr(e->message, "reboot handled"))
    s->handled_note = e->seq;
  if (e->type == CRIO__STORE__LOG_ENTRY__TYPE__TRANSITION &&
      strcmp(e->transition, "container.exit") == 0 && strcmp(e->object_id, CTR_RUNNING) == 0)
    s->running_exit = e->seq;
  if (e->type == CRIO__STORE__LOG_ENTRY__TYPE__TRANSITION &&
      strcmp(e->transition, "container.exit_before_start") == 0 &&
      strcmp(e->object_id, CTR_CREATED) == 0)
    s->created_exit = e->seq;
  if (e->type == CRIO__STORE__LOG_ENTRY__TYPE__GOAL && strcmp(e->object_id, POD_READY) == 0 &&
      e->goal == SM_POD_STOPPED) {
    s->pod_goal = e->seq;
    snprintf(s->pod_goal_message, sizeof(s->pod_goal_message), "%s", e->message);
  }
  return 0;
}

static uint64_t log_count(struct store *store) {
  cleanup_error crio_error_t err = NULL;
  cleanup_store_txn struct store_txn *txn = NULL;
  CHECK(store_txn_begin(store, STORE_TXN_READ, &txn, &err) == 0);
  return store_log_count(txn);
}

static void test_a_reboot_exits_containers_stops_pods_and_sweeps_leftovers(void) {
  struct world w;
  world_build(&w);
  struct reconciler *r = reconciler_with_noop_steps(w.store);
  struct recovery_options options = {
      .boot_id_path = w.boot_file, .root = w.root, .runroot = w.runroot};
  struct recovery_report report;
  cleanup_error crio_error_t err = NULL;
  int rc = recovery_run(w.store, r, &options, &report, &err);
  if (rc < 0)
    fprintf(stderr, "recovery_run: %s\n", crio_error_message(&err));
  CHECK_INT_EQ(rc, 0);
  CHECK(report.rebooted && !report.first_start);
  CHECK_INT_EQ(report.reboot.containers_exited, 2);
  CHECK_INT_EQ(report.reboot.containers_not_exited, 0);
  CHECK_INT_EQ(report.reboot.creations_rolled_back, 1);
  CHECK_INT_EQ(report.reboot.pods_stopping, 1);
  CHECK_INT_EQ(report.reboot.pods_stopped, 1);
  CHECK_INT_EQ(report.reboot.leftovers_removed, 2);

  cleanup_store_record store_record *running = get(w.store, STORE_KIND_CONTAINER, CTR_RUNNING);
  CHECK_INT_EQ(running->state, SM_CONTAINER_EXITED);
  CHECK_STR_EQ(running->container->reason, "NodeRestarted");
  CHECK_INT_EQ(running->container->exit_code, 143);
  CHECK(!running->container->exit_code_lost);
  CHECK(strstr(running->container->message, "conmon recorded exit code 143") != NULL);
  cleanup_store_record store_record *created = get(w.store, STORE_KIND_CONTAINER, CTR_CREATED);
  CHECK_INT_EQ(created->state, SM_CONTAINER_EXITED);
  CHECK_STR_EQ(created->container->reason, "NodeRestarted");
  CHECK_INT_EQ(created->container->exit_code, -1);
  CHECK(created->container->exit_code_lost);
  CHECK(created->container->finished_at >= created->container->started_at);
  CHECK(strstr(created->container->message, "boot id boot-before -> boot-after") != NULL);
  cleanup_store_record store_record *pending = get(w.store, STORE_KIND_CONTAINER, CTR_PENDING);
  CHECK(pending == NULL || pending->goal == SM_CONTAINER_REMOVED);
  cleanup_store_record store_record *exited = get(w.store, STORE_KIND_CONTAINER, CTR_EXITED);
  CHECK_INT_EQ(exited->state, SM_CONTAINER_EXITED);
  CHECK_INT_EQ(exited->container->exit_code, 0); /* untouched */
  cleanup_store_record store_record *pod = get(w.store, STORE_KIND_POD, POD_READY);
  CHECK_INT_EQ(pod->state, SM_POD_STOPPED);
  CHECK_INT_EQ(pod->goal, SM_POD_STOPPED);
  cleanup_free char *boot = meta(w.store, "boot_id");
  CHECK_STR_EQ(boot, "boot-after");

  /* The log: the cause first, then the exits, then the goals. */
  struct seqs s = {0};
  {
    cleanup_store_txn struct store_txn *txn = NULL;
    CHECK(store_txn_begin(w.store, STORE_TXN_READ, &txn, &err) == 0);
    CHECK(store_log_foreach(txn, 0, note_visit, &s, &err) == 0);
  }
  CHECK(s.reboot_note > 0 && s.running_exit > s.reboot_note && s.created_exit > s.reboot_note);
  CHECK(s.pod_goal > s.running_exit && s.pod_goal > s.created_exit);
  CHECK(s.handled_note > 0);
  CHECK(strstr(s.pod_goal_message, "the node restarted") != NULL);

  char path[4200];
  snprintf(path, sizeof(path), "%s/containers/%s", w.root, STRAY_CTR);
  CHECK(!exists(path));
  snprintf(path, sizeof(path), "%s/pods/%s", w.runroot, STRAY_POD);
  CHECK(!exists(path));
  snprintf(path, sizeof(path), "%s/pods/%s", w.runroot, DELETED_POD);
  CHECK(exists(path)); /* crio wipe's, with its log entry */
  snprintf(path, sizeof(path), "%s/pods/not-an-id", w.runroot);
  CHECK(exists(path));
  snprintf(path, sizeof(path), "%s/containers/%s/exit", w.root, CTR_RUNNING);
  CHECK(exists(path));

  /* The same boot again: a plain restart, nothing to do. */
  reconciler_free(r);
  r = reconciler_with_noop_steps(w.store);
  uint64_t entries = log_count(w.store);
  CHECK_INT_EQ(recovery_run(w.store, r, &options, &report, &err), 0);
  CHECK(!report.rebooted && !report.first_start);
  CHECK_INT_EQ(report.reboot.containers_exited, 0);
  /* Only the rolled-back creation may still be finishing its way out. */
  cleanup_store_record store_record *again = get(w.store, STORE_KIND_CONTAINER, CTR_CREATED);
  CHECK_INT_EQ(again->generation, created->generation);
  CHECK(log_count(w.store) >= entries);
  reconciler_free(r);
  store_close(w.store);
}

/* A crash after some exits were recorded, before the goals and the boot
 * id: the next start sees the old boot id and finishes the job. */
static void test_an_interrupted_reboot_handling_is_done_again(void) {
  struct world w;
  world_build(&w);
  cleanup_error crio_error_t err = NULL;
  {
    /* As if the first attempt recorded one exit and died. */
    cleanup_store_txn struct store_txn *txn = NULL;
    CHECK(store_txn_begin(w.store, STORE_TXN_WRITE, &txn, &err) == 0);
    cleanup_store_record store_record *rec = NULL;
    CHECK(store_record_get(txn, STORE_KIND_CONTAINER, CTR_RUNNING, &rec, &err) == 0);
    store_string_set(&rec->container->reason, "NodeRestarted");
    rec->container->exit_code = 143;
    store_transition(txn, rec, SM_CONTAINER_EXITED, "container.exit", NULL, 0, NULL, 0);
    CHECK(store_txn_commit(steal_pointer(&txn), &err) == 0);
  }
  struct reconciler *r = reconciler_with_noop_steps(w.store);
  struct recovery_options options = {
      .boot_id_path = w.boot_file, .root = w.root, .runroot = w.runroot};
  struct recovery_report report;
  CHECK_INT_EQ(recovery_run(w.store, r, &options, &report, &err), 0);
  CHECK(report.rebooted);
  CHECK_INT_EQ(report.reboot.containers_exited, 1);
  CHECK_INT_EQ(report.reboot.pods_stopped, 1);
  cleanup_store_record store_record *created = get(w.store, STORE_KIND_CONTAINER, CTR_CREATED);
  CHECK_INT_EQ(created->state, SM_CONTAINER_EXITED);
  cleanup_free char *boot = meta(w.store, "boot_id");
  CHECK_STR_EQ(boot, "boot-after");
  reconciler_free(r);
  store_close(w.store);
}

static void test_a_first_start_records_the_boot_id_and_is_no_reboot(void) {
  char *dir = fixture_tmpdir();
  char db[4200], boot_file[4200];
  snprintf(db, sizeof(db), "%s/db", dir);
  snprintf(boot_file, sizeof(boot_file), "%s/boot_id", dir);
  write_text(boot_file, "boot-one\n");
  struct store *store = fixture_open(db, false);
  struct reconciler *r = reconciler_with_noop_steps(store);
  struct recovery_options options = {.boot_id_path = boot_file};
  struct recovery_report report;
  cleanup_error crio_error_t err = NULL;
  CHECK_INT_EQ(recovery_run(store, r, &options, &report, &err), 0);
  CHECK(report.first_start && !report.rebooted);
  cleanup_free char *boot = meta(store, "boot_id");
  CHECK_STR_EQ(boot, "boot-one");
  reconciler_free(r);
  store_close(store);
}

int main(void) {
  crio_log_init(CRIO_LOG_WARNING, false);
  RUN_TEST(test_a_first_start_records_the_boot_id_and_is_no_reboot);
  RUN_TEST(test_a_reboot_exits_containers_stops_pods_and_sweeps_leftovers);
  RUN_TEST(test_an_interrupted_reboot_handling_is_done_again);
  return 0;
}
