/* The reconciler against a real store in a temporary directory, with test
 * steps that record what ran: the forward and backward walks, the failure
 * policy (rollback, retry, give up), waits (EBUSY, ETIMEDOUT, ECANCELED),
 * serialisation, events, and the crash-point hook across a fork. */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "reconciler/reconciler.h"
#include "tests/unit/testing.h"

#define MS (1000 * 1000LL)
#define MAX_RECORDED 128
#define MAX_PODS 8

/* ---- fixtures ---------------------------------------------------------------- */

struct test_dir {
  char path[64];
};

static void test_dir_make(struct test_dir *d) {
  snprintf(d->path, sizeof(d->path), "/tmp/crio-reconciler-XXXXXX");
  CHECK(mkdtemp(d->path) != NULL);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static void test_dir_remove(struct test_dir *d) {
  nftw(d->path, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static struct store *open_store(const char *dir) {
  cleanup_error crio_error_t err = NULL;
  struct store_options opts = {.dir = dir, .map_size = 64 << 20};
  struct store *store = NULL;
  if (store_open(&opts, &store, &err) < 0) {
    fprintf(stderr, "store_open %s: %s\n", dir, crio_error_message(&err));
    exit(1);
  }
  return store;
}

static void create_record(struct store *store, enum sm_kind kind, const char *id,
                          const char *parent, sm_state_t state, sm_state_t goal) {
  cleanup_error crio_error_t err = NULL;
  cleanup_store_txn struct store_txn *txn = NULL;
  cleanup_store_record store_record *rec = store_record_new((enum store_kind)kind, id);
  rec->name = xasprintf("name-%s", id);
  if (parent)
    rec->parent_id = xstrdup(parent);
  if (kind == SM_KIND_CONTAINER && parent)
    rec->container->pod_id = xstrdup(parent);
  rec->state = state;
  rec->goal = goal;
  CHECK(store_txn_begin(store, STORE_TXN_WRITE, &txn, &err) == 0);
  store_create(txn, rec);
  if (store_txn_commit(steal_pointer(&txn), &err) < 0) {
    fprintf(stderr, "create %s: %s\n", id, crio_error_message(&err));
    exit(1);
  }
}

/* 0 with the record, or -1 if absent. */
static int read_record(struct store *store, enum sm_kind kind, const char *id, store_record **out) {
  cleanup_error crio_error_t err = NULL;
  cleanup_store_txn struct store_txn *txn = NULL;
  CHECK(store_txn_begin(store, STORE_TXN_READ, &txn, &err) == 0);
  if (store_record_get(txn, (enum store_kind)kind, id, out, &err) < 0) {
    CHECK_INT_EQ(crio_error_status(&err), ENOENT);
    return -1;
  }
  return 0;
}

static sm_state_t record_state(struct store *store, enum sm_kind kind, const char *id) {
  cleanup_store_record store_record *rec = NULL;
  if (read_record(store, kind, id, &rec) < 0)
    return 0;
  return rec->state;
}

static void set_goal_directly(struct store *store, enum sm_kind kind, const char *id,
                              sm_state_t goal) {
  cleanup_error crio_error_t err = NULL;
  cleanup_store_txn struct store_txn *txn = NULL;
  cleanup_store_record store_record *rec = NULL;
  CHECK(store_txn_begin(store, STORE_TXN_WRITE, &txn, &err) == 0);
  CHECK(store_record_get(txn, (enum store_kind)kind, id, &rec, &err) == 0);
  store_set_goal(txn, rec, goal, "test");
  CHECK(store_txn_commit(steal_pointer(&txn), &err) == 0);
}

/* The log entries of one object as "TYPE:transition" strings. */
struct log_lines {
  char *lines[MAX_RECORDED];
  size_t n;
};

static int collect_log(const store_log_entry *entry, void *data) {
  struct log_lines *log = data;
  static const char *const types[] = {"UNSPECIFIED", "CREATE", "GOAL", "TRANSITION",
                                      "STEP_FAILED", "DELETE", "NOTE", "OPERATION"};
  CHECK(log->n < MAX_RECORDED);
  log->lines[log->n++] = xasprintf("%s:%s", types[entry->type], entry->transition);
  return 0;
}

static void read_log(struct store *store, const char *id, struct log_lines *log) {
  cleanup_error crio_error_t err = NULL;
  cleanup_store_txn struct store_txn *txn = NULL;
  memset(log, 0, sizeof(*log));
  CHECK(store_txn_begin(store, STORE_TXN_READ, &txn, &err) == 0);
  CHECK(store_log_foreach_object(txn, id, collect_log, log, &err) == 0);
}

static void log_lines_free(struct log_lines *log) {
  for (size_t i = 0; i < log->n; i++)
    free(log->lines[i]);
  log->n = 0;
}

static bool log_has(const struct log_lines *log, const char *line) {
  for (size_t i = 0; i < log->n; i++)
    if (strcmp(log->lines[i], line) == 0)
      return true;
  return false;
}

static int64_t deadline_in(int64_t ns) {
  return crio_monotonic_ns() + ns;
}

static void sleep_ms(long ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * MS};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
}

/* ---- recording test steps ------------------------------------------------------ */

struct test_ctx {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  const char *recorded[MAX_RECORDED];
  size_t n_recorded;
  /* Failure injection: the step named fail_at fails fail_times times (-1:
   * always) with EIO. */
  const char *fail_at;
  int fail_times;
  /* The step named wait_at answers RECONCILE_STEP_WAIT wait_times times. */
  const char *wait_at;
  int wait_times;
  /* Every step sleeps this long; the step named slow_at sleeps slow_ms. */
  long sleep_ms;
  const char *slow_at;
  long slow_ms;
  /* The step named gate_at blocks until gate_open (and says it entered). */
  const char *gate_at;
  bool gate_entered, gate_open;
  /* Concurrency accounting. */
  const char *ids[MAX_PODS];
  atomic_int active_per_object[MAX_PODS];
  atomic_int max_per_object;
  atomic_int active;
  atomic_int max_active;
};

static void ctx_init(struct test_ctx *ctx) {
  memset(ctx, 0, sizeof(*ctx));
  pthread_mutex_init(&ctx->lock, NULL);
  pthread_cond_init(&ctx->cond, NULL);
}

static void ctx_destroy(struct test_ctx *ctx) {
  pthread_cond_destroy(&ctx->cond);
  pthread_mutex_destroy(&ctx->lock);
}

static void atomic_max(atomic_int *max, int value) {
  int seen = atomic_load(max);
  while (value > seen && !atomic_compare_exchange_weak(max, &seen, value))
    ;
}

static bool is_creation_step(const struct sm_transition *t) {
  const struct sm_machine *m = sm_machine(t->kind);
  const struct sm_transition *back = sm_next_step(t->kind, t->from, m->rollback_goal);
  return !t->rollback && back != t;
}

static int recording_step(struct reconcile_step *step, crio_error_t *err) {
  struct test_ctx *ctx = step->data;
  const struct sm_transition *t = step->transition;
  /* The step sees the record in the transition's from state. */
  CHECK_INT_EQ(step->record->state, t->from);

  int slot = -1;
  for (int i = 0; i < MAX_PODS; i++)
    if (ctx->ids[i] && strcmp(ctx->ids[i], step->record->id) == 0)
      slot = i;
  if (slot >= 0)
    atomic_max(&ctx->max_per_object, atomic_fetch_add(&ctx->active_per_object[slot], 1) + 1);
  atomic_max(&ctx->max_active, atomic_fetch_add(&ctx->active, 1) + 1);

  bool fail = false, wait = false;
  pthread_mutex_lock(&ctx->lock);
  if (ctx->wait_at && strcmp(ctx->wait_at, t->name) == 0 && ctx->wait_times > 0) {
    ctx->wait_times--;
    wait = true;
  }
  CHECK(ctx->n_recorded < MAX_RECORDED);
  ctx->recorded[ctx->n_recorded++] = t->name;
  if (ctx->fail_at && strcmp(ctx->fail_at, t->name) == 0 && ctx->fail_times != 0) {
    fail = true;
    if (ctx->fail_times > 0)
      ctx->fail_times--;
  }
  if (ctx->gate_at && strcmp(ctx->gate_at, t->name) == 0) {
    ctx->gate_entered = true;
    pthread_cond_broadcast(&ctx->cond);
    while (!ctx->gate_open)
      pthread_cond_wait(&ctx->cond, &ctx->lock);
  }
  long sleep = ctx->sleep_ms;
  if (ctx->slow_at && strcmp(ctx->slow_at, t->name) == 0)
    sleep = ctx->slow_ms;
  pthread_mutex_unlock(&ctx->lock);
  if (sleep > 0)
    sleep_ms(sleep);

  /* The last step releases what the record still holds, as real steps
   * release what they undo, so the log balances. */
  if (!fail && t->to == sm_machine(t->kind)->terminal) {
    for (size_t i = 0; i < step->record->n_resources; i++)
      reconcile_step_release(step, step->record->resources[i]->type,
                             step->record->resources[i]->id);
  }
  if (!fail && is_creation_step(t)) {
    reconcile_step_acquire(step, "test", t->name, t->name, strlen(t->name));
    if (t->kind == SM_KIND_POD && t->from == SM_POD_PENDING) {
      cleanup_free char *netns = xasprintf("/run/netns/%s", step->record->id);
      store_string_set(&step->record->pod->netns_path, netns);
    }
  }

  atomic_fetch_sub(&ctx->active, 1);
  if (slot >= 0)
    atomic_fetch_sub(&ctx->active_per_object[slot], 1);
  if (wait)
    return RECONCILE_STEP_WAIT;
  if (fail)
    return crio_error(err, EIO, "injected failure in %s", t->name);
  return 0;
}

/* Registers recording_step for every STEP transition of `kind` but
 * `except`. */
static void register_recording(struct reconciler *r, enum sm_kind kind, struct test_ctx *ctx,
                               const char *except) {
  cleanup_error crio_error_t err = NULL;
  for (size_t i = 0; i < sm_transition_count(); i++) {
    const struct sm_transition *t = sm_transition_at(i);
    if (t->kind != kind || t->trigger != SM_TRIGGER_STEP)
      continue;
    if (except && strcmp(except, t->name) == 0)
      continue;
    if (reconciler_register_step(r, t->name, recording_step, ctx, &err) < 0) {
      fprintf(stderr, "register %s: %s\n", t->name, crio_error_message(&err));
      exit(1);
    }
  }
}

static struct reconciler *new_reconciler_backoff(struct store *store, unsigned workers,
                                                 const char *crash_at, int64_t retry_ns) {
  cleanup_error crio_error_t err = NULL;
  struct reconciler_options opts = {.workers = workers,
                                    .crash_at = crash_at,
                                    .retry_initial_ns = retry_ns,
                                    .retry_max_ns = 4 * retry_ns};
  struct reconciler *r = NULL;
  if (reconciler_new(store, &opts, &r, &err) < 0) {
    fprintf(stderr, "reconciler_new: %s\n", crio_error_message(&err));
    exit(1);
  }
  return r;
}

static struct reconciler *new_reconciler(struct store *store, unsigned workers,
                                         const char *crash_at) {
  return new_reconciler_backoff(store, workers, crash_at, 10 * MS);
}

static void start(struct reconciler *r) {
  cleanup_error crio_error_t err = NULL;
  CHECK(reconciler_start(r, &err) == 0);
}

/* The transitions sm_next_step takes from `from` to `to`, appended. */
static size_t walk(enum sm_kind kind, sm_state_t from, sm_state_t to, const char **out, size_t n) {
  while (from != to) {
    const struct sm_transition *t = sm_next_step(kind, from, to);
    CHECK(t != NULL);
    CHECK(n < MAX_RECORDED);
    out[n++] = t->name;
    from = t->to;
  }
  return n;
}

static void check_recorded(struct test_ctx *ctx, const char **expected, size_t n) {
  pthread_mutex_lock(&ctx->lock);
  for (size_t i = 0; i < n && i < ctx->n_recorded; i++) {
    if (strcmp(ctx->recorded[i], expected[i]) != 0) {
      fprintf(stderr, "step %zu: expected %s, saw %s\n", i, expected[i], ctx->recorded[i]);
      exit(1);
    }
  }
  CHECK_INT_EQ(ctx->n_recorded, n);
  pthread_mutex_unlock(&ctx->lock);
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_pod_reaches_ready_then_removed(void) {
  struct test_dir dir;
  test_dir_make(&dir);
  struct store *store = open_store(dir.path);
  struct test_ctx ctx;
  ctx_init(&ctx);
  struct reconciler *r = new_reconciler(store, 4, NULL);
  register_recording(r, SM_KIND_POD, &ctx, NULL);
  start(r);
  create_record(store, SM_KIND_POD, "pod1", NULL, SM_POD_PENDING, SM_POD_PENDING);

  cleanup_error crio_error_t err = NULL;
  int rc = reconciler_request(r, SM_KIND_POD, "pod1", SM_POD_READY, deadline_in(5000 * MS), &err);
  if (rc < 0)
    fprintf(stderr, "request: %s\n", crio_error_message(&err));
  CHECK_INT_EQ(rc, 0);
  const char *expected[MAX_RECORDED];
  size_t n = walk(SM_KIND_POD, SM_POD_PENDING, SM_POD_READY, expected, 0);
  CHECK_INT_EQ(n, 4);
  check_recorded(&ctx, expected, n);

  {
    cleanup_store_record store_record *rec = NULL;
    CHECK(read_record(store, SM_KIND_POD, "pod1", &rec) == 0);
    CHECK_INT_EQ(rec->state, SM_POD_READY);
    CHECK_INT_EQ(rec->goal, SM_POD_READY);
    /* What the step wrote to its copy of the record was committed. */
    CHECK_STR_EQ(rec->pod->netns_path, "/run/netns/pod1");
    CHECK_INT_EQ(rec->n_resources, 4); /* one per creation step */
  }
  struct log_lines log;
  read_log(store, "pod1", &log);
  CHECK_INT_EQ(log.n, 6);
  CHECK_STR_EQ(log.lines[0], "CREATE:");
  CHECK_STR_EQ(log.lines[1], "GOAL:");
  for (size_t i = 0; i < n; i++) {
    cleanup_free char *want = xasprintf("TRANSITION:%s", expected[i]);
    CHECK_STR_EQ(log.lines[2 + i], want);
  }
  log_lines_free(&log);

  /* Already there: returns at once, runs nothing. */
  CHECK_INT_EQ(reconciler_request(r, SM_KIND_POD, "pod1", SM_POD_READY, 0, &err), 0);
  check_recorded(&ctx, expected, n);

  CHECK_INT_EQ(
      reconciler_request(r, SM_KIND_POD, "pod1", SM_POD_REMOVED, deadline_in(5000 * MS), &err), 0);
  n = walk(SM_KIND_POD, SM_POD_READY, SM_POD_REMOVED, expected, n);
  check_recorded(&ctx, expected, n);
  CHECK_INT_EQ(record_state(store, SM_KIND_POD, "pod1"), 0);
  read_log(store, "pod1", &log);
  CHECK_STR_EQ(log.lines[log.n - 1], "DELETE:pod.delete_record");
  log_lines_free(&log);

  /* Removing what is gone succeeds. */
  CHECK_INT_EQ(reconciler_request(r, SM_KIND_POD, "pod1", SM_POD_REMOVED, 0, &err), 0);
  /* Asking anything else of it is NOT_FOUND. */
  CHECK_INT_EQ(reconciler_request(r, SM_KIND_POD, "pod1", SM_POD_READY, 0, &err), -1);
  CHECK_INT_EQ(crio_error_status(&err), ENOENT);

  reconciler_free(r);
  ctx_destroy(&ctx);
  store_close(store);
  test_dir_remove(&dir);
}

static void test_failed_step_rolls_pod_back(void) {
  struct test_dir dir;
  test_dir_make(&dir);
  struct store *store = open_store(dir.path);
  struct test_ctx ctx;
  ctx_init(&ctx);
  ctx.fail_at = "pod.cni_add";
  ctx.fail_times = -1;
  struct reconciler *r = new_reconciler(store, 4, NULL);
  register_recording(r, SM_KIND_POD, &ctx, NULL);
  start(r);
  create_record(store, SM_KIND_POD, "pod1", NULL, SM_POD_PENDING, SM_POD_PENDING);

  cleanup_error crio_error_t err = NULL;
  CHECK_INT_EQ(
      reconciler_request(r, SM_KIND_POD, "pod1", SM_POD_READY, deadline_in(5000 * MS), &err), -1);
  /* The waiter gets the step's own error. */
  CHECK_INT_EQ(crio_error_status(&err), EIO);
  CHECK(strstr(crio_error_message(&err), "injected failure in pod.cni_add"));
  CHECK(strstr(crio_error_message(&err), "pod1"));
  crio_error_release(&err);

  /* ... and the half-made pod is rolled back to the rollback goal. */
  const struct sm_machine *m = sm_machine(SM_KIND_POD);
  CHECK_INT_EQ(
      reconciler_wait(r, SM_KIND_POD, "pod1", m->rollback_goal, deadline_in(5000 * MS), &err), 0);
  CHECK_INT_EQ(record_state(store, SM_KIND_POD, "pod1"), 0);
  const char *expected[MAX_RECORDED];
  size_t n = walk(SM_KIND_POD, SM_POD_PENDING, SM_POD_CGROUP_CREATED, expected, 0);
  expected[n++] = "pod.cni_add";
  n = walk(SM_KIND_POD, SM_POD_CGROUP_CREATED, m->rollback_goal, expected, n);
  check_recorded(&ctx, expected, n);
  CHECK_STR_EQ(expected[3], "pod.rollback_cni_del");

  struct log_lines log;
  read_log(store, "pod1", &log);
  CHECK(log_has(&log, "STEP_FAILED:pod.cni_add"));
  CHECK(log_has(&log, "TRANSITION:pod.rollback_cni_del"));
  CHECK(log_has(&log, "DELETE:pod.delete_record"));
  log_lines_free(&log);

  reconciler_free(r);
  ctx_destroy(&ctx);
  store_close(store);
  test_dir_remove(&dir);
}

static void test_teardown_failure_retries_with_backoff(void) {
  struct test_dir dir;
  test_dir_make(&dir);
  struct store *store = open_store(dir.path);
  struct test_ctx ctx;
  ctx_init(&ctx);
  ctx.fail_at = "pod.cni_del";
  ctx.fail_times = 3;
  struct reconciler *r = new_reconciler(store, 2, NULL);
  register_recording(r, SM_KIND_POD, &ctx, NULL);
  start(r);
  create_record(store, SM_KIND_POD, "pod1", NULL, SM_POD_READY, SM_POD_READY);

  cleanup_error crio_error_t err = NULL;
  int64_t began = crio_monotonic_ns();
  CHECK_INT_EQ(
      reconciler_request(r, SM_KIND_POD, "pod1", SM_POD_STOPPED, deadline_in(5000 * MS), &err), -1);
  CHECK_INT_EQ(crio_error_status(&err), EIO);
  crio_error_release(&err);
  /* The goal stays (a stop is not rolled back) and the step is retried
   * until it succeeds, after 10 + 20 + 40 ms of backoff; a waiter hears
   * of every failure that happens while it waits. */
  int rc = -1;
  for (int attempt = 0; attempt < 4 && rc < 0; attempt++) {
    rc = reconciler_wait(r, SM_KIND_POD, "pod1", SM_POD_STOPPED, deadline_in(5000 * MS), &err);
    if (rc < 0) {
      CHECK_INT_EQ(crio_error_status(&err), EIO);
      crio_error_release(&err);
    }
  }
  CHECK_INT_EQ(rc, 0);
  CHECK(crio_monotonic_ns() - began >= 60 * MS);
  const char *expected[MAX_RECORDED] = {"pod.stop_containers", "pod.cni_del",
                                        "pod.cni_del",         "pod.cni_del",
                                        "pod.cni_del",         "pod.release_namespaces"};
  check_recorded(&ctx, expected, 6);
  cleanup_store_record store_record *rec = NULL;
  CHECK(read_record(store, SM_KIND_POD, "pod1", &rec) == 0);
  CHECK_INT_EQ(rec->goal, SM_POD_STOPPED);
  CHECK_INT_EQ(rec->error_status, 0); /* cleared by the transition */

  reconciler_free(r);
  ctx_destroy(&ctx);
  store_close(store);
  test_dir_remove(&dir);
}

/* A step that waits for other objects is run again shortly, without a
 * failure being recorded or a waiter being told of one. */
static void test_waiting_step_runs_again(void) {
  struct test_dir dir;
  test_dir_make(&dir);
  struct store *store = open_store(dir.path);
  struct test_ctx ctx;
  ctx_init(&ctx);
  ctx.wait_at = "pod.stop_containers";
  ctx.wait_times = 3;
  struct reconciler *r = new_reconciler(store, 2, NULL);
  register_recording(r, SM_KIND_POD, &ctx, NULL);
  start(r);
  create_record(store, SM_KIND_POD, "pod1", NULL, SM_POD_READY, SM_POD_READY);

  cleanup_error crio_error_t err = NULL;
  int64_t began = crio_monotonic_ns();
  int rc = reconciler_request(r, SM_KIND_POD, "pod1", SM_POD_STOPPED, deadline_in(5000 * MS), &err);
  if (rc < 0)
    fprintf(stderr, "request: %s\n", crio_error_message(&err));
  CHECK_INT_EQ(rc, 0);
  CHECK(crio_monotonic_ns() - began >= 3 * 15 * MS);
  const char *expected[MAX_RECORDED] = {"pod.stop_containers", "pod.stop_containers",
                                        "pod.stop_containers", "pod.stop_containers",
                                        "pod.cni_del",         "pod.release_namespaces"};
  check_recorded(&ctx, expected, 6);
  struct log_lines log;
  read_log(store, "pod1", &log);
  for (size_t i = 0; i < log.n; i++)
    CHECK(strncmp(log.lines[i], "STEP_FAILED", 11) != 0);
  log_lines_free(&log);

  reconciler_free(r);
  ctx_destroy(&ctx);
  store_close(store);
  test_dir_remove(&dir);
}

static void test_failed_start_keeps_created_container(void) {
  struct test_dir dir;
  test_dir_make(&dir);
  struct store *store = open_store(dir.path);
  struct test_ctx ctx;
  ctx_init(&ctx);
  ctx.fail_at = "container.start";
  ctx.fail_times = -1;
  struct reconciler *r = new_reconciler(store, 2, NULL);
  register_recording(r, SM_KIND_CONTAINER, &ctx, NULL);
  start(r);
  create_record(store, SM_KIND_CONTAINER, "ctr1", "pod1", SM_CONTAINER_CREATED,
                SM_CONTAINER_CREATED);

  cleanup_error crio_error_t err = NULL;
  CHECK_INT_EQ(reconciler_request(r, SM_KIND_CONTAINER, "ctr1", SM_CONTAINER_RUNNING,
                                  deadline_in(5000 * MS), &err),
               -1);
  CHECK_INT_EQ(crio_error_status(&err), EIO);
  /* A complete container whose start failed is neither removed nor
   * retried: its goal falls back to its state, the error is kept (the
   * failure is committed before waiters hear of it). */
  cleanup_store_record store_record *rec = NULL;
  CHECK(read_record(store, SM_KIND_CONTAINER, "ctr1", &rec) == 0);
  CHECK_INT_EQ(rec->state, SM_CONTAINER_CREATED);
  CHECK_INT_EQ(rec->goal, SM_CONTAINER_CREATED);
  CHECK_INT_EQ(rec->error_status, EIO);
  const char *expected[] = {"container.start"};
  check_recorded(&ctx, expected, 1);

  reconciler_free(r);
  ctx_destroy(&ctx);
  store_close(store);
  test_dir_remove(&dir);
}

static void test_unreachable_goal_is_ebusy(void) {
  struct test_dir dir;
  test_dir_make(&dir);
  struct store *store = open_store(dir.path);
  struct test_ctx ctx;
  ctx_init(&ctx);
  struct reconciler *r = new_reconciler(store, 2, NULL);
  register_recording(r, SM_KIND_POD, &ctx, NULL);
  start(r);
  create_record(store, SM_KIND_POD, "pod1", NULL, SM_POD_STOPPED, SM_POD_STOPPED);

  cleanup_error crio_error_t err = NULL;
  int64_t began = crio_monotonic_ns();
  CHECK_INT_EQ(
      reconciler_request(r, SM_KIND_POD, "pod1", SM_POD_READY, deadline_in(5000 * MS), &err), -1);
  CHECK_INT_EQ(crio_error_status(&err), EBUSY);
  CHECK(crio_monotonic_ns() - began < 1000 * MS);
  crio_error_release(&err);
  /* Nothing was written. */
  cleanup_store_record store_record *rec = NULL;
  CHECK(read_record(store, SM_KIND_POD, "pod1", &rec) == 0);
  CHECK_INT_EQ(rec->goal, SM_POD_STOPPED);

  /* A bare wait on a goal the record has but cannot reach: EBUSY too. */
  set_goal_directly(store, SM_KIND_POD, "pod1", SM_POD_READY);
  CHECK_INT_EQ(reconciler_wait(r, SM_KIND_POD, "pod1", SM_POD_READY, deadline_in(5000 * MS), &err),
               -1);
  CHECK_INT_EQ(crio_error_status(&err), EBUSY);
  check_recorded(&ctx, NULL, 0);

  reconciler_free(r);
  ctx_destroy(&ctx);
  store_close(store);
  test_dir_remove(&dir);
}

static void test_deadline_times_out(void) {
  struct test_dir dir;
  test_dir_make(&dir);
  struct store *store = open_store(dir.path);
  struct test_ctx ctx;
  ctx_init(&ctx);
  ctx.slow_at = "pod.create_cgroup";
  ctx.slow_ms = 300;
  struct reconciler *r = new_reconciler(store, 2, NULL);
  register_recording(r, SM_KIND_POD, &ctx, NULL);
  start(r);
  create_record(store, SM_KIND_POD, "pod1", NULL, SM_POD_PENDING, SM_POD_PENDING);

  cleanup_error crio_error_t err = NULL;
  int64_t began = crio_monotonic_ns();
  CHECK_INT_EQ(reconciler_request(r, SM_KIND_POD, "pod1", SM_POD_READY, deadline_in(50 * MS), &err),
               -1);
  CHECK_INT_EQ(crio_error_status(&err), ETIMEDOUT);
  int64_t took = crio_monotonic_ns() - began;
  CHECK(took >= 50 * MS && took < 250 * MS);
  crio_error_release(&err);
  /* The object carries on regardless. */
  CHECK_INT_EQ(reconciler_wait(r, SM_KIND_POD, "pod1", SM_POD_READY, 0, &err), 0);

  reconciler_free(r);
  ctx_destroy(&ctx);
  store_close(store);
  test_dir_remove(&dir);
}

struct waker_arg {
  struct reconciler *r;
  const char *id;
  atomic_bool *stop;
};

static void *waker_main(void *arg) {
  struct waker_arg *w = arg;
  while (!atomic_load(w->stop)) {
    reconciler_wake(w->r, SM_KIND_POD, w->id);
    sleep_ms(1);
  }
  return NULL;
}

static void test_one_object_serialised_many_parallel(void) {
  struct test_dir dir;
  test_dir_make(&dir);
  struct store *store = open_store(dir.path);
  struct test_ctx ctx;
  ctx_init(&ctx);
  ctx.sleep_ms = 20;
  static const char *const ids[] = {"podA", "podB", "podC", "podD"};
  for (size_t i = 0; i < 4; i++)
    ctx.ids[i] = ids[i];
  struct reconciler *r = new_reconciler(store, 4, NULL);
  register_recording(r, SM_KIND_POD, &ctx, NULL);
  start(r);
  for (size_t i = 0; i < 4; i++)
    create_record(store, SM_KIND_POD, ids[i], NULL, SM_POD_PENDING, SM_POD_READY);

  for (size_t i = 0; i < 4; i++)
    reconciler_wake(r, SM_KIND_POD, ids[i]);
  /* Wake objects from several threads at once, podA from two, all the
   * time, while they run. */
  atomic_bool stop = false;
  pthread_t wakers[4];
  struct waker_arg args[4];
  for (size_t i = 0; i < 4; i++) {
    args[i] = (struct waker_arg){r, i < 2 ? ids[0] : ids[i], &stop};
    CHECK(pthread_create(&wakers[i], NULL, waker_main, &args[i]) == 0);
  }
  cleanup_error crio_error_t err = NULL;
  for (size_t i = 0; i < 4; i++)
    CHECK_INT_EQ(
        reconciler_wait(r, SM_KIND_POD, ids[i], SM_POD_READY, deadline_in(10000 * MS), &err), 0);
  atomic_store(&stop, true);
  for (size_t i = 0; i < 4; i++)
    pthread_join(wakers[i], NULL);

  CHECK_INT_EQ(atomic_load(&ctx.max_per_object), 1);
  CHECK(atomic_load(&ctx.max_active) >= 2);
  /* Every forward step ran exactly once per pod despite the wakes. */
  pthread_mutex_lock(&ctx.lock);
  CHECK_INT_EQ(ctx.n_recorded, 16);
  pthread_mutex_unlock(&ctx.lock);

  reconciler_free(r);
  ctx_destroy(&ctx);
  store_close(store);
  test_dir_remove(&dir);
}

static void test_missing_step_is_enosys(void) {
  struct test_dir dir;
  test_dir_make(&dir);
  struct store *store = open_store(dir.path);
  struct test_ctx ctx;
  ctx_init(&ctx);
  struct reconciler *r = new_reconciler(store, 2, NULL);
  register_recording(r, SM_KIND_POD, &ctx, "pod.cni_add");
  start(r);
  create_record(store, SM_KIND_POD, "pod1", NULL, SM_POD_PENDING, SM_POD_PENDING);

  cleanup_error crio_error_t err = NULL;
  CHECK_INT_EQ(
      reconciler_request(r, SM_KIND_POD, "pod1", SM_POD_READY, deadline_in(5000 * MS), &err), -1);
  CHECK_INT_EQ(crio_error_status(&err), ENOSYS);
  CHECK(strstr(crio_error_message(&err), "pod.cni_add") != NULL);
  crio_error_release(&err);
  /* Never a fake success: the pod is rolled back like any failure. */
  CHECK_INT_EQ(
      reconciler_wait(r, SM_KIND_POD, "pod1", SM_POD_REMOVED, deadline_in(5000 * MS), &err), 0);

  reconciler_free(r);
  ctx_destroy(&ctx);
  store_close(store);
  test_dir_remove(&dir);
}

static void test_goal_changed_during_step_is_kept(void) {
  struct test_dir dir;
  test_dir_make(&dir);
  struct store *store = open_store(dir.path);
  struct test_ctx ctx;
  ctx_init(&ctx);
  ctx.gate_at = "pod.pin_namespaces";
  struct reconciler *r = new_reconciler(store, 2, NULL);
  register_recording(r, SM_KIND_POD, &ctx, NULL);
  start(r);
  create_record(store, SM_KIND_POD, "pod1", NULL, SM_POD_PENDING, SM_POD_READY);
  reconciler_wake(r, SM_KIND_POD, "pod1");

  pthread_mutex_lock(&ctx.lock);
  while (!ctx.gate_entered)
    pthread_cond_wait(&ctx.cond, &ctx.lock);
  pthread_mutex_unlock(&ctx.lock);
  /* A CRI handler changes the goal while the step runs. */
  set_goal_directly(store, SM_KIND_POD, "pod1", SM_POD_REMOVED);
  reconciler_wake(r, SM_KIND_POD, "pod1");
  pthread_mutex_lock(&ctx.lock);
  ctx.gate_open = true;
  pthread_cond_broadcast(&ctx.cond);
  pthread_mutex_unlock(&ctx.lock);

  cleanup_error crio_error_t err = NULL;
  CHECK_INT_EQ(
      reconciler_wait(r, SM_KIND_POD, "pod1", SM_POD_REMOVED, deadline_in(5000 * MS), &err), 0);
  const char *expected[MAX_RECORDED] = {"pod.pin_namespaces"};
  size_t n = walk(SM_KIND_POD, SM_POD_NAMESPACES_PINNED, SM_POD_REMOVED, expected, 1);
  check_recorded(&ctx, expected, n);

  reconciler_free(r);
  ctx_destroy(&ctx);
  store_close(store);
  test_dir_remove(&dir);
}

/* UpdateContainerResources changes the record's resources while a step of
 * the object may be running: it is an exclusive operation, which waits
 * for the step's commit and then records its change, so both are kept,
 * and the log names the change. */
static int op_set_limits(struct reconcile_op *op, crio_error_t *err) {
  (void)err;
  store_record *rec = op->record;
  free(rec->resources_update.data);
  rec->resources_update.data = xmemdup("limits", 6);
  rec->resources_update.len = 6;
  int *ran = op->data;
  __atomic_store_n(ran, 1, __ATOMIC_RELEASE);
  return 0;
}

static const struct reconcile_op_type test_update_op = {
    .name = "pod.test_update",
    .kind = SM_KIND_POD,
    .mode = RECONCILE_OP_EXCLUSIVE,
    .logged = true,
};

struct op_thread {
  struct reconciler *r;
  const struct reconcile_op_type *type;
  reconcile_op_fn fn;
  void *data;
  int rc;
  int status;
  bool done;
};

static void *run_op_thread(void *arg) {
  struct op_thread *t = arg;
  cleanup_error crio_error_t err = NULL;
  t->rc = reconciler_run_op(t->r, t->type, "pod1", "test: resources", t->fn, t->data,
                            deadline_in(5000 * MS), &err);
  t->status = t->rc < 0 ? crio_error_status(&err) : 0;
  __atomic_store_n(&t->done, true, __ATOMIC_RELEASE);
  return NULL;
}

static void test_resources_update_during_step_is_kept(void) {
  struct test_dir dir;
  test_dir_make(&dir);
  struct store *store = open_store(dir.path);
  struct test_ctx ctx;
  ctx_init(&ctx);
  ctx.gate_at = "pod.pin_namespaces";
  struct reconciler *r = new_reconciler(store, 2, NULL);
  register_recording(r, SM_KIND_POD, &ctx, NULL);
  start(r);
  create_record(store, SM_KIND_POD, "pod1", NULL, SM_POD_PENDING, SM_POD_READY);
  reconciler_wake(r, SM_KIND_POD, "pod1");

  pthread_mutex_lock(&ctx.lock);
  while (!ctx.gate_entered)
    pthread_cond_wait(&ctx.cond, &ctx.lock);
  pthread_mutex_unlock(&ctx.lock);
  int ran = 0;
  struct op_thread t = {.r = r, .type = &test_update_op, .fn = op_set_limits, .data = &ran};
  pthread_t th;
  CHECK(pthread_create(&th, NULL, run_op_thread, &t) == 0);
  sleep_ms(50);
  /* The step holds the object: the operation waits for it. */
  CHECK_INT_EQ(__atomic_load_n(&ran, __ATOMIC_ACQUIRE), 0);
  pthread_mutex_lock(&ctx.lock);
  ctx.gate_open = true;
  pthread_cond_broadcast(&ctx.cond);
  pthread_mutex_unlock(&ctx.lock);
  pthread_join(th, NULL);
  CHECK_INT_EQ(t.rc, 0);

  cleanup_error crio_error_t err = NULL;
  CHECK_INT_EQ(reconciler_wait(r, SM_KIND_POD, "pod1", SM_POD_READY, deadline_in(5000 * MS), &err),
               0);
  cleanup_store_record store_record *rec = NULL;
  CHECK(read_record(store, SM_KIND_POD, "pod1", &rec) == 0);
  CHECK_INT_EQ(rec->resources_update.len, 6);
  CHECK(memcmp(rec->resources_update.data, "limits", 6) == 0);
  struct log_lines log;
  read_log(store, "pod1", &log);
  CHECK(log_has(&log, "GOAL:"));
  log_lines_free(&log);

  reconciler_free(r);
  ctx_destroy(&ctx);
  store_close(store);
  test_dir_remove(&dir);
}

/* A failed operation, and one its check refuses, change nothing in the
 * record nor in the log; one that was done without changing the record
 * is an OPERATION entry. */
static int op_fail(struct reconcile_op *op, crio_error_t *err) {
  (void)op;
  return crio_error(err, EIO, "the host said no");
}

static int reconcile_op_done(struct reconcile_op *op, crio_error_t *err) {
  (void)op, (void)err;
  return 0;
}

static int check_refuse(struct reconcile_op *op, crio_error_t *err) {
  return crio_error(err, EBUSY, "pod %s is not ready", op->record->id);
}

static void test_operation_outcome_is_logged(void) {
  struct test_dir dir;
  test_dir_make(&dir);
  struct store *store = open_store(dir.path);
  struct reconciler *r = new_reconciler(store, 2, NULL);
  start(r);
  create_record(store, SM_KIND_POD, "pod1", NULL, SM_POD_READY, SM_POD_READY);

  cleanup_error crio_error_t err = NULL;
  CHECK_INT_EQ(reconciler_run_op(r, &test_update_op, "pod1", "test: fail", op_fail, NULL,
                                 deadline_in(5000 * MS), &err),
               -1);
  CHECK_INT_EQ(crio_error_status(&err), EIO);
  crio_error_release(&err);
  static const struct reconcile_op_type refused = {
      .name = "pod.test_refused",
      .kind = SM_KIND_POD,
      .mode = RECONCILE_OP_EXCLUSIVE,
      .logged = true,
      .check = check_refuse,
  };
  CHECK_INT_EQ(reconciler_run_op(r, &refused, "pod1", "test: refused", op_fail, NULL, 0, &err), -1);
  CHECK_INT_EQ(crio_error_status(&err), EBUSY);
  crio_error_release(&err);
  CHECK_INT_EQ(reconciler_run_op(r, &test_update_op, "nope", "test", op_fail, NULL, 0, &err), -1);
  CHECK_INT_EQ(crio_error_status(&err), ENOENT);
  crio_error_release(&err);

  struct log_lines log;
  read_log(store, "pod1", &log);
  CHECK_INT_EQ(log.n, 1); /* CREATE */
  log_lines_free(&log);
  CHECK_INT_EQ(reconciler_run_op(r, &refused, "pod1", "test", reconcile_op_done, NULL, 0, &err),
               -1);
  crio_error_release(&err);
  static const struct reconcile_op_type done = {
      .name = "pod.test_done",
      .kind = SM_KIND_POD,
      .mode = RECONCILE_OP_EXCLUSIVE,
      .logged = true,
  };
  CHECK_INT_EQ(reconciler_run_op(r, &done, "pod1", "test: done", reconcile_op_done, NULL, 0, &err),
               0);
  read_log(store, "pod1", &log);
  CHECK_INT_EQ(log.n, 2);
  CHECK(log_has(&log, "OPERATION:pod.test_done"));
  log_lines_free(&log);
  cleanup_store_record store_record *rec = NULL;
  CHECK(read_record(store, SM_KIND_POD, "pod1", &rec) == 0);
  CHECK_INT_EQ(rec->resources_update.len, 0);
  CHECK_INT_EQ(rec->error_status, 0);

  reconciler_free(r);
  store_close(store);
  test_dir_remove(&dir);
}

/* Shared operations of one object run side by side (concurrent execs are
 * not serialised), and one that began in a state is told when a
 * transition moves the object out of it. */
struct shared_ctx {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int inside;
  int max_inside;
  int cancels;
};

static int op_shared_wait(struct reconcile_op *op, crio_error_t *err) {
  (void)err;
  struct shared_ctx *c = op->data;
  pthread_mutex_lock(&c->lock);
  c->inside++;
  if (c->inside > c->max_inside)
    c->max_inside = c->inside;
  pthread_cond_broadcast(&c->cond);
  int64_t until = deadline_in(5000 * MS);
  while (!reconcile_op_cancelled(op) && crio_monotonic_ns() < until) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 10 * MS;
    if (ts.tv_nsec >= 1000 * MS) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000 * MS;
    }
    pthread_cond_timedwait(&c->cond, &c->lock, &ts);
  }
  c->inside--;
  pthread_mutex_unlock(&c->lock);
  return reconcile_op_cancelled(op) ? 0 : -1;
}

static void shared_cancel(void *data) {
  struct shared_ctx *c = data;
  c->cancels++; /* under the reconciler's lock: only count */
}

static void test_shared_operations_run_together_and_end_with_the_state(void) {
  struct test_dir dir;
  test_dir_make(&dir);
  struct store *store = open_store(dir.path);
  struct test_ctx ctx;
  ctx_init(&ctx);
  struct reconciler *r = new_reconciler(store, 2, NULL);
  register_recording(r, SM_KIND_POD, &ctx, NULL);
  start(r);
  create_record(store, SM_KIND_POD, "pod1", NULL, SM_POD_READY, SM_POD_READY);

  struct shared_ctx c = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
  static const struct reconcile_op_type shared = {
      .name = "pod.test_shared",
      .kind = SM_KIND_POD,
      .mode = RECONCILE_OP_SHARED,
      .cancel = shared_cancel,
  };
  struct op_thread t[2];
  pthread_t th[2];
  for (int i = 0; i < 2; i++) {
    t[i] = (struct op_thread){.r = r, .type = &shared, .fn = op_shared_wait, .data = &c};
    CHECK(pthread_create(&th[i], NULL, run_op_thread, &t[i]) == 0);
  }
  pthread_mutex_lock(&c.lock);
  int64_t until = deadline_in(5000 * MS);
  while (c.inside < 2 && crio_monotonic_ns() < until) {
    pthread_mutex_unlock(&c.lock);
    sleep_ms(5);
    pthread_mutex_lock(&c.lock);
  }
  CHECK_INT_EQ(c.max_inside, 2);
  pthread_mutex_unlock(&c.lock);

  /* The pod is stopped: both operations are told, and end. */
  cleanup_error crio_error_t err = NULL;
  CHECK_INT_EQ(
      reconciler_request(r, SM_KIND_POD, "pod1", SM_POD_STOPPED, deadline_in(5000 * MS), &err), 0);
  for (int i = 0; i < 2; i++) {
    pthread_join(th[i], NULL);
    CHECK_INT_EQ(t[i].rc, 0);
  }
  CHECK_INT_EQ(c.cancels, 2);
  struct log_lines log;
  read_log(store, "pod1", &log);
  CHECK(!log_has(&log, "OPERATION:pod.test_shared"));
  log_lines_free(&log);

  reconciler_free(r);
  ctx_destroy(&ctx);
  store_close(store);
  test_dir_remove(&dir);
}

static void *stop_later(void *arg) {
  sleep_ms(50);
  reconciler_stop(arg);
  return NULL;
}

static void test_stop_cancels_waiters_and_finishes_step(void) {
  struct test_dir dir;
  test_dir_make(&dir);
  struct store *store = open_store(dir.path);
  struct test_ctx ctx;
  ctx_init(&ctx);
  ctx.slow_at = "pod.pin_namespaces";
  ctx.slow_ms = 300;
  struct reconciler *r = new_reconciler(store, 2, NULL);
  register_recording(r, SM_KIND_POD, &ctx, NULL);
  start(r);
  create_record(store, SM_KIND_POD, "pod1", NULL, SM_POD_PENDING, SM_POD_PENDING);
  pthread_t stopper;
  CHECK(pthread_create(&stopper, NULL, stop_later, r) == 0);
  cleanup_error crio_error_t err = NULL;
  CHECK_INT_EQ(reconciler_request(r, SM_KIND_POD, "pod1", SM_POD_READY, 0, &err), -1);
  CHECK_INT_EQ(crio_error_status(&err), ECANCELED);
  pthread_join(stopper, NULL);
  /* The step in progress finished and committed; nothing after it ran. */
  CHECK_INT_EQ(record_state(store, SM_KIND_POD, "pod1"), SM_POD_NAMESPACES_PINNED);
  const char *expected[] = {"pod.pin_namespaces"};
  check_recorded(&ctx, expected, 1);
  crio_error_release(&err);
  CHECK_INT_EQ(reconciler_wait(r, SM_KIND_POD, "pod1", SM_POD_READY, 0, &err), -1);
  CHECK_INT_EQ(crio_error_status(&err), ECANCELED);

  reconciler_free(r);
  ctx_destroy(&ctx);
  store_close(store);
  test_dir_remove(&dir);
}

struct exit_info {
  int exit_code;
  atomic_int *applied;
  atomic_int *disposed;
};

static int apply_exit(struct reconcile_step *step, crio_error_t *err) {
  struct exit_info *info = step->data;
  (void)err;
  CHECK_STR_EQ(step->transition->name, "container.exit");
  step->record->container->exit_code = info->exit_code;
  atomic_fetch_add(info->applied, 1);
  return 0;
}

static void dispose_exit(void *data) {
  struct exit_info *info = data;
  atomic_fetch_add(info->disposed, 1);
  free(info);
}

static void wait_for_count(atomic_int *counter, int value) {
  for (int i = 0; i < 5000 && atomic_load(counter) < value; i++)
    sleep_ms(1);
  CHECK_INT_EQ(atomic_load(counter), value);
}

static void test_exit_event_is_a_transition(void) {
  struct test_dir dir;
  test_dir_make(&dir);
  struct store *store = open_store(dir.path);
  struct test_ctx ctx;
  ctx_init(&ctx);
  struct reconciler *r = new_reconciler(store, 2, NULL);
  register_recording(r, SM_KIND_CONTAINER, &ctx, NULL);
  start(r);
  create_record(store, SM_KIND_CONTAINER, "ctr1", "pod1", SM_CONTAINER_RUNNING,
                SM_CONTAINER_RUNNING);

  atomic_int applied = 0, disposed = 0;
  cleanup_error crio_error_t err = NULL;
  for (int i = 0; i < 2; i++) {
    struct exit_info *info = xzalloc(sizeof(*info));
    *info = (struct exit_info){3 + i, &applied, &disposed};
    CHECK_INT_EQ(reconciler_post_event(r, SM_KIND_CONTAINER, "ctr1", "container.exit", apply_exit,
                                       info, dispose_exit, &err),
                 0);
  }
  /* The second exit finds the container EXITED: ignored. */
  wait_for_count(&disposed, 2);
  CHECK_INT_EQ(atomic_load(&applied), 1);
  cleanup_store_record store_record *rec = NULL;
  CHECK(read_record(store, SM_KIND_CONTAINER, "ctr1", &rec) == 0);
  CHECK_INT_EQ(rec->state, SM_CONTAINER_EXITED);
  CHECK_INT_EQ(rec->container->exit_code, 3);
  struct log_lines log;
  read_log(store, "ctr1", &log);
  CHECK_STR_EQ(log.lines[log.n - 1], "TRANSITION:container.exit");
  log_lines_free(&log);
  check_recorded(&ctx, NULL, 0);

  /* Steps are not events, and events are checked against their kind. */
  CHECK_INT_EQ(
      reconciler_post_event(r, SM_KIND_CONTAINER, "ctr1", "container.stop", NULL, NULL, NULL, &err),
      -1);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  crio_error_release(&err);
  CHECK_INT_EQ(
      reconciler_post_event(r, SM_KIND_POD, "ctr1", "container.exit", NULL, NULL, NULL, &err), -1);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);

  reconciler_free(r);
  ctx_destroy(&ctx);
  store_close(store);
  test_dir_remove(&dir);
}

/* An observation is one event: the transition committed is the table's
 * event from the record's state when it is applied (container.exit from
 * RUNNING, container.exit_before_start from CREATED); in a state with no
 * such event it is ignored. */
static int apply_observed_exit(struct reconcile_step *step, crio_error_t *err) {
  struct exit_info *info = step->data;
  (void)err;
  step->record->container->exit_code = info->exit_code;
  atomic_fetch_add(info->applied, 1);
  return 0;
}

static void test_observed_exit_is_one_event(void) {
  struct test_dir dir;
  test_dir_make(&dir);
  struct store *store = open_store(dir.path);
  struct test_ctx ctx;
  ctx_init(&ctx);
  struct reconciler *r = new_reconciler(store, 2, NULL);
  register_recording(r, SM_KIND_CONTAINER, &ctx, NULL);
  start(r);
  create_record(store, SM_KIND_CONTAINER, "run", "pod1", SM_CONTAINER_RUNNING,
                SM_CONTAINER_RUNNING);
  create_record(store, SM_KIND_CONTAINER, "made", "pod1", SM_CONTAINER_CREATED,
                SM_CONTAINER_CREATED);

  atomic_int applied = 0, disposed = 0;
  cleanup_error crio_error_t err = NULL;
  static const char *const ids[] = {"run", "made", "run"};
  for (int i = 0; i < 3; i++) {
    struct exit_info *info = xzalloc(sizeof(*info));
    *info = (struct exit_info){3 + i, &applied, &disposed};
    CHECK_INT_EQ(reconciler_post_observed(r, SM_KIND_CONTAINER, ids[i], SM_CONTAINER_EXITED,
                                          apply_observed_exit, info, dispose_exit, &err),
                 0);
    wait_for_count(&disposed, i + 1);
  }
  /* The third finds "run" EXITED: ignored. */
  CHECK_INT_EQ(atomic_load(&applied), 2);
  struct log_lines log;
  read_log(store, "run", &log);
  CHECK_STR_EQ(log.lines[log.n - 1], "TRANSITION:container.exit");
  CHECK_INT_EQ(log.n, 2);
  log_lines_free(&log);
  read_log(store, "made", &log);
  CHECK_STR_EQ(log.lines[log.n - 1], "TRANSITION:container.exit_before_start");
  log_lines_free(&log);
  /* No event leads to a state that is never observed. */
  CHECK_INT_EQ(reconciler_post_observed(r, SM_KIND_CONTAINER, "run", SM_CONTAINER_RUNNING, NULL,
                                        NULL, NULL, &err),
               -1);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);

  reconciler_free(r);
  ctx_destroy(&ctx);
  store_close(store);
  test_dir_remove(&dir);
}

/* A stop step that keeps failing backs off for long; the exit observed
 * meanwhile is applied at once, and the new state's steps do not wait for
 * the old step's backoff. */
static void test_exit_event_during_backoff(void) {
  struct test_dir dir;
  test_dir_make(&dir);
  struct store *store = open_store(dir.path);
  struct test_ctx ctx;
  ctx_init(&ctx);
  ctx.fail_at = "container.stop";
  ctx.fail_times = -1;
  struct reconciler *r = new_reconciler_backoff(store, 2, NULL, 10000 * MS);
  register_recording(r, SM_KIND_CONTAINER, &ctx, NULL);
  start(r);
  create_record(store, SM_KIND_CONTAINER, "ctr1", "pod1", SM_CONTAINER_RUNNING,
                SM_CONTAINER_RUNNING);

  cleanup_error crio_error_t err = NULL;
  CHECK_INT_EQ(reconciler_request(r, SM_KIND_CONTAINER, "ctr1", SM_CONTAINER_REMOVED,
                                  deadline_in(5000 * MS), &err),
               -1);
  CHECK_INT_EQ(crio_error_status(&err), EIO);
  crio_error_release(&err);

  atomic_int applied = 0, disposed = 0;
  struct exit_info *info = xzalloc(sizeof(*info));
  *info = (struct exit_info){137, &applied, &disposed};
  CHECK_INT_EQ(reconciler_post_event(r, SM_KIND_CONTAINER, "ctr1", "container.exit", apply_exit,
                                     info, dispose_exit, &err),
               0);
  int64_t began = crio_monotonic_ns();
  CHECK_INT_EQ(reconciler_wait(r, SM_KIND_CONTAINER, "ctr1", SM_CONTAINER_REMOVED,
                               deadline_in(5000 * MS), &err),
               0);
  CHECK(crio_monotonic_ns() - began < 2000 * MS);
  CHECK_INT_EQ(atomic_load(&applied), 1);
  const char *expected[MAX_RECORDED] = {"container.stop"};
  size_t n = walk(SM_KIND_CONTAINER, SM_CONTAINER_EXITED, SM_CONTAINER_REMOVED, expected, 1);
  check_recorded(&ctx, expected, n);

  reconciler_free(r);
  ctx_destroy(&ctx);
  store_close(store);
  test_dir_remove(&dir);
}

static void test_bad_registration_and_crash_spec(void) {
  struct test_dir dir;
  test_dir_make(&dir);
  struct store *store = open_store(dir.path);
  cleanup_error crio_error_t err = NULL;
  struct reconciler *r = NULL;
  static const char *const bad[] = {"pod.cni_ad", "pod.cni_add:sideways", ":after"};
  for (size_t i = 0; i < 3; i++) {
    struct reconciler_options opts = {.crash_at = bad[i]};
    CHECK_INT_EQ(reconciler_new(store, &opts, &r, &err), -1);
    CHECK_INT_EQ(crio_error_status(&err), EINVAL);
    crio_error_release(&err);
  }
  struct reconciler_options opts = {.crash_at = "pod.cni_add:after"};
  CHECK_INT_EQ(reconciler_new(store, &opts, &r, &err), 0);
  CHECK_INT_EQ(reconciler_register_step(r, "pod.nope", reconcile_step_noop, NULL, &err), -1);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  crio_error_release(&err);
  CHECK_INT_EQ(reconciler_register_step(r, "container.exit", reconcile_step_noop, NULL, &err), -1);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  crio_error_release(&err);
  CHECK_INT_EQ(reconciler_register_noop(r, "pod.mark_ready", &err), 0);
  CHECK_INT_EQ(reconciler_register_noop(r, "pod.mark_ready", &err), -1);
  CHECK_INT_EQ(crio_error_status(&err), EEXIST);
  crio_error_release(&err);
  start(r);
  CHECK_INT_EQ(reconciler_register_noop(r, "pod.cni_add", &err), -1);
  CHECK_INT_EQ(crio_error_status(&err), EBUSY);
  reconciler_free(r);
  store_close(store);
  test_dir_remove(&dir);
}

/* Runs a reconciler in a child with the crash point set and returns its
 * exit status; the child must die at the crash point. */
static int run_crashing_child(const char *dir, const char *crash_at) {
  fflush(stderr);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    struct store *store = open_store(dir);
    struct test_ctx ctx;
    ctx_init(&ctx);
    struct reconciler *r = new_reconciler(store, 2, crash_at);
    register_recording(r, SM_KIND_POD, &ctx, NULL);
    start(r);
    cleanup_error crio_error_t err = NULL;
    reconciler_request(r, SM_KIND_POD, "pod1", SM_POD_READY, deadline_in(5000 * MS), &err);
    fprintf(stderr, "child: crash point %s did not fire (%s)\n", crash_at,
            crio_error_message(&err));
    _exit(1);
  }
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  return WEXITSTATUS(status);
}

static void check_crash_then_recover(const char *crash_at, sm_state_t state_after_crash) {
  struct test_dir dir;
  test_dir_make(&dir);
  {
    struct store *store = open_store(dir.path);
    create_record(store, SM_KIND_POD, "pod1", NULL, SM_POD_PENDING, SM_POD_PENDING);
    store_close(store); /* an LMDB env must not cross a fork */
  }
  CHECK_INT_EQ(run_crashing_child(dir.path, crash_at), 137);

  struct store *store = open_store(dir.path);
  cleanup_store_record store_record *rec = NULL;
  CHECK(read_record(store, SM_KIND_POD, "pod1", &rec) == 0);
  CHECK_INT_EQ(rec->state, state_after_crash);
  CHECK_INT_EQ(rec->goal, SM_POD_READY); /* the intent survived */
  struct log_lines log;
  read_log(store, "pod1", &log);
  CHECK_INT_EQ(log_has(&log, "TRANSITION:pod.cni_add"),
               state_after_crash == SM_POD_NETWORK_ATTACHED);
  log_lines_free(&log);

  /* Start-up: a fresh reconciler finds the pod and finishes it. */
  struct test_ctx ctx;
  ctx_init(&ctx);
  struct reconciler *r = new_reconciler(store, 2, NULL);
  register_recording(r, SM_KIND_POD, &ctx, NULL);
  start(r);
  cleanup_error crio_error_t err = NULL;
  CHECK_INT_EQ(reconciler_enqueue_all(r, &err), 0);
  CHECK_INT_EQ(reconciler_wait(r, SM_KIND_POD, "pod1", SM_POD_READY, deadline_in(5000 * MS), &err),
               0);
  const char *expected[MAX_RECORDED];
  size_t n = walk(SM_KIND_POD, state_after_crash, SM_POD_READY, expected, 0);
  check_recorded(&ctx, expected, n);

  reconciler_free(r);
  ctx_destroy(&ctx);
  store_close(store);
  test_dir_remove(&dir);
}

static void test_crash_after_commit(void) {
  check_crash_then_recover("pod.cni_add:after", SM_POD_NETWORK_ATTACHED);
}

static void test_crash_before_side_effect(void) {
  check_crash_then_recover("pod.cni_add:before", SM_POD_CGROUP_CREATED);
  check_crash_then_recover("pod.cni_add", SM_POD_CGROUP_CREATED);
}

/* ---- the heartbeat (systemd's watchdog) ------------------------------------------ */

static void count_beat(void *data) {
  atomic_fetch_add((atomic_int *)data, 1);
}

/* An idle reconciler beats every period; with its one worker stuck in a
 * step that never asks reconcile_step_should_stop, the beats stop; they
 * come back once the step ends. */
static void test_heartbeat_stops_while_every_worker_is_stuck(void) {
  struct test_dir dir;
  test_dir_make(&dir);
  struct store *store = open_store(dir.path);
  struct test_ctx ctx;
  ctx_init(&ctx);
  ctx.gate_at = "pod.pin_namespaces";
  atomic_int beats = 0;
  struct reconciler_options opts = {
      .workers = 1, .heartbeat = count_beat, .heartbeat_data = &beats, .heartbeat_ns = 20 * MS};
  struct reconciler *r = NULL;
  cleanup_error crio_error_t err = NULL;
  CHECK(reconciler_new(store, &opts, &r, &err) == 0);
  register_recording(r, SM_KIND_POD, &ctx, NULL);
  start(r);
  sleep_ms(200);
  int idle = atomic_load(&beats);
  if (idle < 4 || idle > 12)
    fprintf(stderr, "expected about 10 beats in 200 ms idle, saw %d\n", idle);
  CHECK(idle >= 4 && idle <= 12);

  create_record(store, SM_KIND_POD, "pod1", NULL, SM_POD_PENDING, SM_POD_PENDING);
  set_goal_directly(store, SM_KIND_POD, "pod1", SM_POD_READY);
  CHECK_INT_EQ(reconciler_enqueue_all(r, &err), 0);
  pthread_mutex_lock(&ctx.lock);
  while (!ctx.gate_entered)
    pthread_cond_wait(&ctx.cond, &ctx.lock);
  pthread_mutex_unlock(&ctx.lock);
  int stuck = atomic_load(&beats);
  sleep_ms(200);
  CHECK_INT_EQ(atomic_load(&beats), stuck);

  pthread_mutex_lock(&ctx.lock);
  ctx.gate_open = true;
  pthread_cond_broadcast(&ctx.cond);
  pthread_mutex_unlock(&ctx.lock);
  CHECK_INT_EQ(reconciler_wait(r, SM_KIND_POD, "pod1", SM_POD_READY, deadline_in(5000 * MS), &err),
               0);
  sleep_ms(100);
  CHECK(atomic_load(&beats) > stuck);

  reconciler_free(r);
  ctx_destroy(&ctx);
  store_close(store);
  test_dir_remove(&dir);
}

int main(void) {
  RUN_TEST(test_pod_reaches_ready_then_removed);
  RUN_TEST(test_failed_step_rolls_pod_back);
  RUN_TEST(test_teardown_failure_retries_with_backoff);
  RUN_TEST(test_waiting_step_runs_again);
  RUN_TEST(test_failed_start_keeps_created_container);
  RUN_TEST(test_unreachable_goal_is_ebusy);
  RUN_TEST(test_deadline_times_out);
  RUN_TEST(test_one_object_serialised_many_parallel);
  RUN_TEST(test_missing_step_is_enosys);
  RUN_TEST(test_goal_changed_during_step_is_kept);
  RUN_TEST(test_resources_update_during_step_is_kept);
  RUN_TEST(test_operation_outcome_is_logged);
  RUN_TEST(test_shared_operations_run_together_and_end_with_the_state);
  RUN_TEST(test_stop_cancels_waiters_and_finishes_step);
  RUN_TEST(test_exit_event_is_a_transition);
  RUN_TEST(test_exit_event_during_backoff);
  RUN_TEST(test_observed_exit_is_one_event);
  RUN_TEST(test_bad_registration_and_crash_spec);
  RUN_TEST(test_crash_after_commit);
  RUN_TEST(test_crash_before_side_effect);
  RUN_TEST(test_heartbeat_stops_while_every_worker_is_stuck);
  return 0;
}
