/* Shared by the oci sandbox unit tests (each declares what it uses): what a
 * test creates on the host — pins, pin directories, cgroups, processes, a
 * temporary directory — is recorded here and undone at exit even when a
 * CHECK fails (CHECK leaves through exit(), which runs atexit handlers).
 * Forked children must leave with _exit(); the handler only acts in the
 * process that registered. */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "oci/oci.h"
#include "tests/unit/test_host_cleanup.h"
#include "tests/unit/testing.h"

#define MAX_ITEMS 64

static pid_t owner;
static char *tmp_dir;
static char *pins[MAX_ITEMS];
static size_t n_pins;
static char *pin_dirs[MAX_ITEMS];
static size_t n_pin_dirs;
static char *cgroups[MAX_ITEMS];
static size_t n_cgroups;
static struct {
  pid_t pid;
  uint64_t start_time;
} procs[MAX_ITEMS];
static size_t n_procs;

static void cleanup_all(void) {
  if (getpid() != owner)
    return;
  for (size_t i = 0; i < n_procs; i++) {
    crio_error_t err = NULL;
    uint64_t st = 0;
    /* Only a process that is still the one we started. */
    if (crio_proc_start_time(procs[i].pid, &st, &err) == 0 && st == procs[i].start_time) {
      kill(procs[i].pid, SIGKILL);
      for (int j = 0; j < 100; j++) {
        if (waitpid(procs[i].pid, NULL, WNOHANG) != 0 || kill(procs[i].pid, 0) < 0)
          break;
        nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
      }
    }
    crio_error_release(&err);
  }
  for (size_t i = n_pins; i-- > 0;) {
    crio_error_t err = NULL;
    if (oci_ns_unpin(pins[i], &err) < 0)
      fprintf(stderr, "cleanup: %s\n", crio_error_message(&err));
    crio_error_release(&err);
  }
  for (size_t i = n_pin_dirs; i-- > 0;)
    umount2(pin_dirs[i], MNT_DETACH);
  for (size_t i = n_cgroups; i-- > 0;)
    test_cgroup_rmdir_everywhere(cgroups[i]);
  if (tmp_dir)
    test_rm_tree(tmp_dir, FTW_MOUNT);
}

static void fixture_init(void) {
  if (owner != 0)
    return;
  owner = getpid();
  atexit(cleanup_all);
  /* SIGTERM from ctest's timeout: leave through exit() so cleanup runs. */
  signal(SIGTERM, exit);
}

/* A temporary directory for this test, removed at exit. */
const char *fixture_dir(void) {
  fixture_init();
  if (tmp_dir == NULL) {
    tmp_dir = strdup("/tmp/crio-oci-test.XXXXXX");
    CHECK(tmp_dir != NULL && mkdtemp(tmp_dir) != NULL);
  }
  return tmp_dir;
}

void fixture_track_pin(const char *path) {
  fixture_init();
  CHECK(n_pins < MAX_ITEMS);
  pins[n_pins++] = strdup(path);
}

void fixture_track_pin_dir(const char *dir) {
  fixture_init();
  CHECK(n_pin_dirs < MAX_ITEMS);
  pin_dirs[n_pin_dirs++] = strdup(dir);
}

/* Removed in reverse order: track a parent before its children. */
void fixture_track_cgroup(const char *path) {
  fixture_init();
  CHECK(n_cgroups < MAX_ITEMS);
  cgroups[n_cgroups++] = strdup(path);
}

void fixture_track_process(pid_t pid) {
  fixture_init();
  CHECK(n_procs < MAX_ITEMS);
  crio_error_t err = NULL;
  uint64_t st = 0;
  if (crio_proc_start_time(pid, &st, &err) < 0)
    crio_error_release(&err);
  procs[n_procs].pid = pid;
  procs[n_procs].start_time = st;
  n_procs++;
}

/* A test-owned cgroup name: "/crio-test-<random>". */
char *fixture_cgroup_name(void) {
  char id[65];
  crio_random_id(id);
  id[12] = '\0';
  char *name = NULL;
  CHECK(asprintf(&name, "/crio-test-%s", id) > 0);
  return name;
}

/* Fails the test with the error's message when rc < 0. */
void fixture_ok(int rc, crio_error_t *err, const char *what, int line) {
  if (rc >= 0)
    return;
  fprintf(stderr, "line %d: %s failed: %s (status %d)\n", line, what, crio_error_message(err),
          crio_error_status(err));
  exit(1);
}
