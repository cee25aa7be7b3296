/* The data.mdb check: a whole database passes; truncated and corrupted
 * copies are reported as damaged (EUCLEAN) without being mapped; whatever
 * the check lets through, the store can open and read without a fatal
 * signal; and the SIGBUS guard turns LMDB's fault on a truncated file into
 * the damaged-database message and exit status 3. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "recovery/recovery.h"
#include "tests/unit/testing.h"

char *fixture_tmpdir(void);
struct store *fixture_open(const char *dir, bool read_only);

static char *good_db; /* a database dir with a few hundred records */
static uint8_t *good; /* its data.mdb */
static size_t good_len;

static void write_file(const char *path, const void *data, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  CHECK(fd >= 0);
  CHECK(write(fd, data, len) == (ssize_t)len);
  close(fd);
}

static void build_good(void) {
  CHECK(asprintf(&good_db, "%s/db", fixture_tmpdir()) > 0);
  struct store *store = fixture_open(good_db, false);
  cleanup_error crio_error_t err = NULL;
  for (int i = 0; i < 400; i++) {
    struct store_txn *txn = NULL;
    CHECK(store_txn_begin(store, STORE_TXN_WRITE, &txn, &err) == 0);
    char id[65], name[32];
    crio_random_id(id);
    snprintf(name, sizeof(name), "pod-%d", i);
    store_record *rec = store_record_new(STORE_KIND_POD, id);
    rec->state = 1;
    rec->goal = 5;
    store_string_set(&rec->name, name);
    /* Some values big enough for overflow pages. */
    if (i % 50 == 0) {
      rec->pod->cri_config.len = 9000;
      rec->pod->cri_config.data = calloc(1, 9000);
    }
    store_create(txn, rec);
    store_resource *res = store_resource_new("dir", "/run/crio/pods/x", NULL, 0);
    store_transition(txn, rec, 2, "pod.pin_namespaces", &res, 1, NULL, 0);
    store_resource_free(res);
    store_record_free(rec);
    CHECK(store_txn_commit(txn, &err) == 0);
  }
  store_close(store);
  char *path = NULL;
  CHECK(asprintf(&path, "%s/data.mdb", good_db) > 0);
  char *text = NULL;
  size_t len = 0;
  CHECK(crio_read_file(path, &text, &len, &err) == 0);
  good = (uint8_t *)text;
  good_len = len;
  free(path);
}

/* A database dir holding `len` bytes of `data` as data.mdb: always the
 * same scratch dir, rewritten (with no lock file left from before). */
static char *db_with(const uint8_t *data, size_t len) {
  static char *dir;
  if (dir == NULL) {
    CHECK(asprintf(&dir, "%s/db", fixture_tmpdir()) > 0);
    CHECK(mkdir(dir, 0700) == 0);
  }
  char *path = NULL;
  CHECK(asprintf(&path, "%s/lock.mdb", dir) > 0);
  unlink(path);
  free(path);
  CHECK(asprintf(&path, "%s/data.mdb", dir) > 0);
  write_file(path, data, len);
  free(path);
  return dir;
}

static void expect_damaged(const char *dir, const char *words) {
  cleanup_error crio_error_t err = NULL;
  int rc = recovery_db_check(dir, &err);
  if (rc == 0 || crio_error_status(&err) != EUCLEAN ||
      strstr(crio_error_message(&err), words) == NULL) {
    fprintf(stderr, "expected %s to be damaged (\"%s\"), saw rc %d: %s\n", dir, words, rc,
            rc ? crio_error_message(&err) : "ok");
    exit(1);
  }
}

static uint64_t get64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

static void test_whole_database_passes(void) {
  cleanup_error crio_error_t err = NULL;
  CHECK(recovery_db_check(good_db, &err) == 0);
  /* No data.mdb: a new database, nothing to check. */
  char *empty = NULL;
  CHECK(asprintf(&empty, "%s/none", fixture_tmpdir()) > 0);
  CHECK(recovery_db_check(empty, &err) == 0);
  free(empty);
}

static void test_truncated_files(void) {
  expect_damaged(db_with(good, 0), "is empty (0 bytes)");
  expect_damaged(db_with(good, 100), "ends at byte 100");
  expect_damaged(db_with(good, 4096), "shorter than its two meta pages");
  expect_damaged(db_with(good, 8192), "is truncated: page");
  expect_damaged(db_with(good, good_len / 2), "is truncated");
  expect_damaged(db_with(good, good_len - 4096 * 3), "truncated");
}

/* The newer meta page (higher txnid) is the one LMDB uses. */
static size_t meta_in_use(void) {
  return get64(good + 4096 + 144) > get64(good + 144) ? 4096 : 0;
}

static void test_corrupted_meta_pages(void) {
  uint8_t *copy = malloc(good_len);
  memcpy(copy, good, good_len);
  memset(copy + 16, 0xAB, 4); /* magic of meta 0 */
  expect_damaged(db_with(copy, good_len), "not an LMDB meta page");

  memcpy(copy, good, good_len);
  size_t meta = meta_in_use();
  memset(copy + meta + 136, 0xFF, 7); /* last page: LMDB would ask for exabytes */
  expect_damaged(db_with(copy, good_len), "last page");

  memcpy(copy, good, good_len);
  uint64_t far = good_len / 4096 + 1000;
  memcpy(copy + meta + 40 + 48 + 40, &far, 8); /* main root past the end */
  expect_damaged(db_with(copy, good_len), "past its end");
  free(copy);
}

static void test_corrupted_tree_pages(void) {
  size_t meta = meta_in_use();
  uint64_t root = get64(good + meta + 40 + 48 + 40);
  uint8_t *copy = malloc(good_len);

  memcpy(copy, good, good_len);
  uint64_t wrong = root + 1;
  memcpy(copy + root * 4096, &wrong, 8);
  expect_damaged(db_with(copy, good_len), "says it is page");

  memcpy(copy, good, good_len);
  copy[root * 4096 + 10] = 0x40; /* flags: neither branch nor leaf */
  copy[root * 4096 + 11] = 0;
  expect_damaged(db_with(copy, good_len), "should be a tree page");

  memcpy(copy, good, good_len);
  copy[root * 4096 + 14] = 0xFF; /* upper past the page */
  copy[root * 4096 + 15] = 0xFF;
  expect_damaged(db_with(copy, good_len), "has bounds");
  free(copy);
}

static int visit_nothing(const store_record *rec, void *data) {
  return 0;
}
static int visit_entry(const store_log_entry *e, void *data) {
  return 0;
}

/* Opens and reads the store as the daemon would (a write txn too), in a
 * child; returns its wait status. */
static int use_in_child(const char *dir) {
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, STDERR_FILENO);
    struct store_options options = {.dir = dir};
    struct store *store = NULL;
    crio_error_t err = NULL;
    if (store_open(&options, &store, &err) < 0)
      _exit(0);
    struct store_txn *txn = NULL;
    if (store_txn_begin(store, STORE_TXN_READ, &txn, &err) == 0) {
      for (int kind = STORE_KIND_POD; kind <= STORE_KIND_IMAGE; kind++) {
        crio_error_t e = NULL;
        store_record_foreach(txn, kind, visit_nothing, NULL, &e);
      }
      crio_error_t e = NULL;
      store_log_foreach(txn, 0, visit_entry, NULL, &e);
      store_txn_abort(txn);
    }
    if (store_txn_begin(store, STORE_TXN_WRITE, &txn, &err) == 0) {
      store_log_note(txn, "fuzz");
      crio_error_t e = NULL;
      store_txn_commit(txn, &e);
    }
    store_close(store);
    _exit(0);
  }
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid);
  return status;
}

/* Garbage anywhere: the check says damaged, or LMDB copes (an error at
 * worst).  Never a fatal signal for what the check let through. */
static void test_garbage_never_crashes_after_check(void) {
  srand(12345);
  uint8_t *copy = malloc(good_len);
  size_t pages = good_len / 4096;
  int caught = 0, passed = 0;
  for (int round = 0; round < 300; round++) {
    memcpy(copy, good, good_len);
    size_t page = (size_t)rand() % pages;
    int kind = rand() % 3;
    if (kind == 0) { /* a whole page of garbage */
      for (size_t i = 0; i < 4096; i++)
        copy[page * 4096 + i] = (uint8_t)rand();
    } else if (kind == 1) { /* the header */
      for (size_t i = 0; i < 16; i++)
        copy[page * 4096 + i] = (uint8_t)rand();
    } else { /* a few bytes anywhere in the page */
      size_t off = (size_t)rand() % (4096 - 8);
      for (size_t i = 0; i < 8; i++)
        copy[page * 4096 + off + i] = (uint8_t)rand();
    }
    char *dir = db_with(copy, good_len);
    cleanup_error crio_error_t err = NULL;
    if (recovery_db_check(dir, &err) < 0) {
      CHECK_INT_EQ(crio_error_status(&err), EUCLEAN);
      caught++;
      continue;
    }
    passed++;
    int status = use_in_child(dir);
    if (WIFSIGNALED(status)) {
      fprintf(stderr, "round %d (page %zu, kind %d): the check passed, LMDB died of signal %d\n",
              round, page, kind, WTERMSIG(status));
      exit(1);
    }
  }
  fprintf(stderr, "garbage: %d caught by the check, %d passed and read safely\n", caught, passed);
  CHECK(caught > 0);
  free(copy);
}

/* Without the check, LMDB faults on a truncated file; the guard turns the
 * fault into the message and exit status 3. */
static void test_sigbus_guard(void) {
  char *dir = db_with(good, good_len / 2);
  int pipefd[2];
  CHECK(pipe(pipefd) == 0);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    dup2(pipefd[1], STDERR_FILENO);
    recovery_db_fault_guard(dir);
    struct store_options options = {.dir = dir};
    struct store *store = NULL;
    crio_error_t err = NULL;
    if (store_open(&options, &store, &err) == 0) {
      struct store_txn *txn = NULL;
      if (store_txn_begin(store, STORE_TXN_READ, &txn, &err) == 0) {
        crio_error_t e = NULL;
        store_record_foreach(txn, STORE_KIND_POD, visit_nothing, NULL, &e);
        store_log_foreach(txn, 0, visit_entry, NULL, &e);
      }
    }
    _exit(0);
  }
  close(pipefd[1]);
  char buf[2048] = "";
  size_t len = 0;
  ssize_t n;
  while ((n = read(pipefd[0], buf + len, sizeof(buf) - 1 - len)) > 0)
    len += (size_t)n;
  buf[len] = '\0';
  close(pipefd[0]);
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != RECOVERY_EXIT_DB_DAMAGED) {
    fprintf(stderr, "expected exit status %d, saw status 0x%x; stderr: %s\n",
            RECOVERY_EXIT_DB_DAMAGED, status, buf);
    exit(1);
  }
  CHECK(strstr(buf, "is damaged: reading data.mdb faulted (SIGBUS)") != NULL);
  CHECK(strstr(buf, "docs/operations.md#damaged-database") != NULL);
}

int main(void) {
  build_good();
  RUN_TEST(test_whole_database_passes);
  RUN_TEST(test_truncated_files);
  RUN_TEST(test_corrupted_meta_pages);
  RUN_TEST(test_corrupted_tree_pages);
  RUN_TEST(test_garbage_never_crashes_after_check);
  RUN_TEST(test_sigbus_guard);
  free(good);
  return 0;
}
