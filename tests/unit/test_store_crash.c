/* Crash tests of store/: a process killed with SIGKILL in the middle of a
 * write txn (holding LMDB's writer mutex and a reader slot) leaves nothing
 * of that txn behind and does not wedge the environment; one killed right
 * after its commit leaves all of it. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store.h"
#include "tests/unit/test_err_checks.h"
#include "tests/unit/testing.h"

/* test_store_fixture.c */
char *fixture_db_dir(void);
struct store *fixture_open(const char *dir, bool read_only);

#define CHILD_RECORDS 2000

static crio_error_t err;

static struct store_txn *begin(struct store *store, enum store_txn_mode mode) {
  struct store_txn *txn = NULL;
  OK(store_txn_begin(store, mode, &txn, &err));
  return txn;
}

/* A pod with a name, a transition that acquired a resource, and a note:
 * every db gets something. */
static void write_pod(struct store_txn *txn, const char *id) {
  cleanup_store_record store_record *rec = store_record_new(STORE_KIND_POD, id);
  store_string_set(&rec->name, id);
  rec->state = 1;
  rec->goal = 2;
  store_create(txn, rec);
  store_resource *netns = store_resource_new("netns", id, "detail", 6);
  store_transition(txn, rec, 2, "pod.netns_create", &netns, 1, NULL, 0);
  store_resource_free(netns);
  store_log_note(txn, id);
}

static void baseline(struct store *store) {
  struct store_txn *txn = begin(store, STORE_TXN_WRITE);
  write_pod(txn, "base");
  store_meta_put(txn, "boot_id", "boot-1");
  OK(store_txn_commit(txn, &err));
}

static int count_pod(const store_record *rec, void *data) {
  (void)rec;
  (*(int *)data)++;
  return 0;
}

/* What the store must hold: the baseline, plus the child's pods when
 * `with_child`. */
static void verify(struct store *store, bool with_child) {
  struct store_txn *txn = begin(store, STORE_TXN_READ);
  cleanup_store_record store_record *base = NULL;
  OK(store_record_get(txn, STORE_KIND_POD, "base", &base, &err));
  CHECK_INT_EQ(base->state, 2);
  CHECK_INT_EQ(base->n_resources, 1);
  CHECK_INT_EQ(base->last_seq, 2);
  cleanup_free char *boot = NULL, *owner = NULL;
  OK(store_meta_get(txn, "boot_id", &boot, &err));
  CHECK_STR_EQ(boot, "boot-1");
  int pods = 0;
  OK(store_record_foreach(txn, STORE_KIND_POD, count_pod, &pods, &err));
  uint64_t per_pod = 3;
  if (with_child) {
    CHECK_INT_EQ(pods, 1 + CHILD_RECORDS);
    CHECK_INT_EQ(store_log_count(txn), per_pod * (1 + CHILD_RECORDS));
    CHECK_INT_EQ(store_log_last_seq(txn), per_pod * (1 + CHILD_RECORDS));
    OK(store_name_lookup(txn, STORE_NAMES_POD, "child-01999", &owner, &err));
    CHECK_STR_EQ(owner, "child-01999");
  } else {
    CHECK_INT_EQ(pods, 1);
    CHECK_INT_EQ(store_log_count(txn), per_pod);
    CHECK_INT_EQ(store_log_last_seq(txn), per_pod);
    CHECK(store_name_lookup(txn, STORE_NAMES_POD, "child-00000", &owner, &err) < 0);
    CHECK_INT_EQ(crio_error_status(&err), ENOENT);
    crio_error_release(&err);
  }
  OK(store_txn_commit(txn, &err));
}

enum child_end {
  KILL_SELF_BEFORE_COMMIT, /* raise(SIGKILL) with the write txn open */
  KILLED_BY_PARENT,        /* signal the parent, keep writing until killed */
  KILL_SELF_AFTER_COMMIT,
};

/* Never returns.  Any failure exits with 3, so the parent, which expects
 * death by SIGKILL, notices. */
static void child(const char *dir, enum child_end end, int ready_fd) {
  struct store *store = fixture_open(dir, false);
  /* A read txn pins a reader slot; only the reader check can free it once
   * this process is dead. */
  struct store_txn *reader = NULL, *txn = NULL;
  if (store_txn_begin(store, STORE_TXN_READ, &reader, &err) < 0 ||
      store_txn_begin(store, STORE_TXN_WRITE, &txn, &err) < 0)
    _exit(3);
  char id[32];
  for (int i = 0; i < CHILD_RECORDS; i++) {
    snprintf(id, sizeof(id), "child-%05d", i);
    write_pod(txn, id);
  }
  if (store_txn_failed(txn))
    _exit(3);
  switch (end) {
  case KILL_SELF_BEFORE_COMMIT:
    raise(SIGKILL);
    break;
  case KILLED_BY_PARENT:
    if (write(ready_fd, "x", 1) != 1)
      _exit(3);
    for (int i = CHILD_RECORDS;; i++) {
      snprintf(id, sizeof(id), "child-%05d", i);
      write_pod(txn, id);
    }
    break;
  case KILL_SELF_AFTER_COMMIT:
    if (store_txn_commit(txn, &err) < 0)
      _exit(3);
    raise(SIGKILL);
    break;
  }
  _exit(3);
}

static void run_child(const char *dir, enum child_end end) {
  int pipefd[2];
  CHECK(pipe(pipefd) == 0);
  fflush(NULL);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    close(pipefd[0]);
    child(dir, end, pipefd[1]);
  }
  close(pipefd[1]);
  if (end == KILLED_BY_PARENT) {
    char c;
    CHECK_INT_EQ(read(pipefd[0], &c, 1), 1);
    CHECK(kill(pid, SIGKILL) == 0);
  }
  close(pipefd[0]);
  int status = 0;
  CHECK_INT_EQ(waitpid(pid, &status, 0), pid);
  if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
    fprintf(stderr, "child did not die by SIGKILL (status %#x)\n", status);
    exit(1);
  }
}

/* After a writer died, the next writer must get LMDB's writer mutex (a
 * robust mutex: EOWNERDEAD is recovered inside LMDB).  A hang here would
 * be the bug, so an alarm turns it into a failure. */
static void write_after_crash(struct store *store) {
  alarm(60);
  struct store_txn *txn = begin(store, STORE_TXN_WRITE);
  store_log_note(txn, "after the crash");
  uint64_t seq = store_log_last_seq(txn);
  OK(store_txn_commit(txn, &err));
  alarm(0);
  CHECK(seq > 0);
}

static void test_killed_mid_write_while_parent_has_store_open(void) {
  cleanup_free char *dir = fixture_db_dir();
  struct store *store = fixture_open(dir, false);
  baseline(store);
  run_child(dir, KILL_SELF_BEFORE_COMMIT);
  int dead = 0;
  OK(store_reader_check(store, &dead, &err));
  CHECK_INT_EQ(dead, 1);
  verify(store, false);
  store_close(store);

  store = fixture_open(dir, false);
  CHECK_INT_EQ(store_dead_readers_at_open(store), 0);
  verify(store, false);
  write_after_crash(store);
  store_close(store);
}

/* Another process that keeps the environment open throughout, as
 * crio-db-inspect might.  It matters: the first process to open an
 * environment nobody else has open resets LMDB's whole reader table, so
 * stale slots only survive (and need the reader check) while some other
 * process keeps the lock file open. */
struct bystander {
  pid_t pid;
  int release_fd;
};

static struct bystander start_bystander(const char *dir) {
  int ready[2], release[2];
  CHECK(pipe(ready) == 0 && pipe(release) == 0);
  fflush(NULL);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    close(ready[0]);
    close(release[1]);
    struct store *store = fixture_open(dir, true);
    char c = 'r';
    if (write(ready[1], &c, 1) != 1)
      _exit(3);
    while (read(release[0], &c, 1) > 0)
      ;
    store_close(store);
    _exit(0);
  }
  close(ready[1]);
  close(release[0]);
  char c;
  CHECK_INT_EQ(read(ready[0], &c, 1), 1);
  close(ready[0]);
  return (struct bystander){.pid = pid, .release_fd = release[1]};
}

static void stop_bystander(struct bystander *b) {
  close(b->release_fd);
  int status = 0;
  CHECK_INT_EQ(waitpid(b->pid, &status, 0), b->pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_killed_mid_write_then_reopened(void) {
  cleanup_free char *dir = fixture_db_dir();
  struct store *store = fixture_open(dir, false);
  baseline(store);
  store_close(store);
  struct bystander bystander = start_bystander(dir);
  run_child(dir, KILL_SELF_BEFORE_COMMIT);

  store = fixture_open(dir, false);
  CHECK_INT_EQ(store_dead_readers_at_open(store), 1);
  verify(store, false);
  write_after_crash(store);
  store_close(store);
  stop_bystander(&bystander);
}

static void test_killed_from_outside_mid_write(void) {
  cleanup_free char *dir = fixture_db_dir();
  struct store *store = fixture_open(dir, false);
  baseline(store);
  run_child(dir, KILLED_BY_PARENT);
  write_after_crash(store);
  store_close(store);

  store = fixture_open(dir, false);
  /* The parent's write already ran the reader check inside LMDB's mutex
   * recovery, or the open did: either way nothing stale is left. */
  int dead = -1;
  OK(store_reader_check(store, &dead, &err));
  CHECK_INT_EQ(dead, 0);
  struct store_txn *txn = begin(store, STORE_TXN_READ);
  CHECK_INT_EQ(store_log_count(txn), 4);
  OK(store_txn_commit(txn, &err));
  store_close(store);
}

static void test_killed_after_commit_keeps_everything(void) {
  cleanup_free char *dir = fixture_db_dir();
  struct store *store = fixture_open(dir, false);
  baseline(store);
  store_close(store);
  run_child(dir, KILL_SELF_AFTER_COMMIT);

  /* Alone, the open resets the reader table: no slot is left to clear. */
  store = fixture_open(dir, false);
  CHECK_INT_EQ(store_dead_readers_at_open(store), 0);
  verify(store, true);
  write_after_crash(store);
  store_close(store);
}

int main(void) {
  RUN_TEST(test_killed_mid_write_while_parent_has_store_open);
  RUN_TEST(test_killed_mid_write_then_reopened);
  RUN_TEST(test_killed_from_outside_mid_write);
  RUN_TEST(test_killed_after_commit_keeps_everything);
  return 0;
}
