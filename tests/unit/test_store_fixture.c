/* Shared by the store unit tests (each declares what it uses): fresh
 * temporary directories under /tmp that are removed at exit even when a
 * CHECK fails, since CHECK leaves through exit() and that runs atexit
 * handlers.  Forked children must leave with _exit(), and the handler only
 * removes directories in the process that made them. */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "tests/unit/test_host_cleanup.h"
#include "tests/unit/testing.h"

#define MAX_DIRS 64
static char *dirs[MAX_DIRS];
static size_t n_dirs;
static pid_t owner;

void fixture_rm_rf(const char *path) {
  test_rm_tree(path, 0);
}

static void remove_all(void) {
  if (getpid() != owner)
    return;
  for (size_t i = 0; i < n_dirs; i++) {
    fixture_rm_rf(dirs[i]);
    free(dirs[i]);
  }
  n_dirs = 0;
}

/* A new empty directory, removed at exit.  The store goes in a "db"
 * subdirectory so that store_open's own mkdir is exercised. */
char *fixture_tmpdir(void) {
  if (owner == 0) {
    owner = getpid();
    atexit(remove_all);
  }
  CHECK(n_dirs < MAX_DIRS);
  char *dir = strdup("/tmp/crio-store-test.XXXXXX");
  CHECK(dir != NULL && mkdtemp(dir) != NULL);
  dirs[n_dirs++] = dir;
  return dir;
}

char *fixture_db_dir(void) {
  char *db = NULL;
  CHECK(asprintf(&db, "%s/db", fixture_tmpdir()) > 0);
  return db;
}

struct store *fixture_open(const char *dir, bool read_only) {
  struct store_options options = {.dir = dir, .read_only = read_only};
  struct store *store = NULL;
  cleanup_error crio_error_t err = NULL;
  if (store_open(&options, &store, &err) < 0) {
    fprintf(stderr, "store_open %s: %s\n", dir, crio_error_message(&err));
    exit(1);
  }
  return store;
}
