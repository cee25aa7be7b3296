/* oci infra process: crio-pause started as PID 1 of a new PID namespace
 * inside a pod's pinned namespaces and cgroup, reaping orphans, pinned by
 * its PID namespace, stopped only when its start time matches.  Needs root.
 *
 * The test makes itself a child subreaper so that pause (double-forked away
 * from us, as from the daemon) is reparented here and its exit status can be
 * seen and reaped. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "oci/oci.h"
#include "tests/unit/testing.h"

const char *fixture_dir(void);
void fixture_track_pin(const char *path);
void fixture_track_pin_dir(const char *dir);
void fixture_track_cgroup(const char *path);
void fixture_track_process(pid_t pid);
char *fixture_cgroup_name(void);
void fixture_ok(int rc, crio_error_t *err, const char *what, int line);
#define OK(call) fixture_ok((call), &err, #call, __LINE__)

static struct oci_ns_paths pod_ns;
static char *cgroup_top;

static ino_t inode_of(const char *path) {
  struct stat st;
  CHECK(stat(path, &st) == 0);
  return st.st_ino;
}

static char *proc_file(pid_t pid, const char *name) {
  cleanup_error crio_error_t err = NULL;
  cleanup_free char *path = xasprintf("/proc/%d/%s", (int)pid, name);
  char *text = NULL;
  OK(crio_read_file(path, &text, NULL, &err));
  return text;
}

static void pin_pod_namespaces(void) {
  cleanup_error crio_error_t err = NULL;
  const char *dir = fixture_dir();
  static const enum oci_ns_type types[] = {OCI_NS_NET, OCI_NS_IPC, OCI_NS_UTS};
  for (size_t i = 0; i < 3; i++) {
    char *typedir = xasprintf("%s/%sns", dir, oci_ns_type_name(types[i]));
    fixture_track_pin_dir(typedir);
    free(typedir);
    char *pin = oci_ns_pin_path(dir, types[i], "pod-infra");
    fixture_track_pin(pin);
    OK(oci_ns_pin(types[i], pin, "infra-pod", &err));
    pod_ns.path[types[i]] = pin;
  }
  char *pid_dir = xasprintf("%s/pidns", dir);
  fixture_track_pin_dir(pid_dir);
  free(pid_dir);
}

/* Waits (up to ~2 s) for a child of ours to exit; its exit status. */
static int reap(pid_t pid) {
  for (int i = 0; i < 200; i++) {
    int status;
    pid_t r = waitpid(pid, &status, WNOHANG);
    CHECK(r >= 0);
    if (r == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    usleep(10000);
  }
  fprintf(stderr, "process %d did not exit\n", (int)pid);
  exit(1);
}

static pid_t children_of(pid_t pid) {
  cleanup_free char *name = xasprintf("task/%d/children", (int)pid);
  cleanup_free char *text = proc_file(pid, name);
  return (pid_t)atoi(text);
}

/* A process whose parent is inside the pod's PID namespace, orphaned there:
 * the kernel hands it to pause, which must reap it when it exits. */
static void check_pause_reaps_orphans(pid_t pause_pid, const char *pid_pin) {
  CHECK_INT_EQ(children_of(pause_pid), 0);
  pid_t helper = fork();
  CHECK(helper >= 0);
  if (helper == 0) {
    int fd = open(pid_pin, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWPID) < 0)
      _exit(2);
    pid_t middle = fork(); /* in the pod's PID namespace */
    if (middle < 0)
      _exit(3);
    if (middle == 0) {
      pid_t orphan = fork();
      if (orphan == 0) {
        usleep(300000);
        _exit(0);
      }
      _exit(orphan > 0 ? 0 : 4); /* orphan goes to pause */
    }
    int status;
    waitpid(middle, &status, 0);
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 5);
  }
  CHECK_INT_EQ(reap(helper), 0);
  pid_t orphan = children_of(pause_pid);
  CHECK(orphan > 0); /* adopted by pause */
  for (int i = 0; i < 300 && children_of(pause_pid) != 0; i++)
    usleep(10000);
  CHECK_INT_EQ(children_of(pause_pid), 0); /* exited and reaped */
  cleanup_free char *gone = xasprintf("/proc/%d", (int)orphan);
  CHECK(access(gone, F_OK) < 0);
}

static void test_start_stop(void) {
  cleanup_error crio_error_t err = NULL;
  const struct oci_cgroup_manager *m = &oci_cgroup_manager_cgroupfs;
  cleanup_free char *parent = xasprintf("%s/pod-uid-infra", cgroup_top);
  fixture_track_cgroup(parent);
  cleanup_free char *cg = NULL;
  OK(m->create(parent, "infra", NULL, &cg, &err));
  fixture_track_cgroup(cg);

  struct oci_infra_config cfg = {.pause_path = CRIO_PAUSE_PATH,
                                 .ns = pod_ns,
                                 .cgroup_manager = m,
                                 .cgroup_parent = parent,
                                 .pod_id = "infra"};
  pid_t pid = 0;
  uint64_t start_time = 0;
  OK(oci_infra_start(&cfg, &pid, &start_time, &err));
  fixture_track_process(pid);
  CHECK(pid > 0);
  uint64_t seen = 0;
  OK(crio_proc_start_time(pid, &seen, &err));
  CHECK_INT_EQ(seen, start_time);
  CHECK_INT_EQ(oci_infra_is_running(pid, start_time, &err), 1);

  /* Settled in its wait (a sanitizer build takes a moment to start). */
  bool waiting = false;
  for (int i = 0; i < 200 && !waiting; i++) {
    cleanup_free char *wchan = proc_file(pid, "wchan");
    waiting = strstr(wchan, "sigtimedwait") != NULL;
    if (!waiting)
      usleep(10000);
  }
  CHECK(waiting);
  cleanup_free char *comm = proc_file(pid, "comm");
  CHECK_STR_EQ(comm, "crio-pause\n");
  /* PID 1 of its own namespace. */
  cleanup_free char *status = proc_file(pid, "status");
  char want_nspid[64];
  snprintf(want_nspid, sizeof(want_nspid), "NSpid:\t%d\t1\n", (int)pid);
  CHECK(strstr(status, want_nspid) != NULL);
  /* In the pod's pinned namespaces and its cgroup. */
  static const enum oci_ns_type joined[] = {OCI_NS_NET, OCI_NS_IPC, OCI_NS_UTS};
  for (size_t i = 0; i < 3; i++) {
    char ns_link[64];
    snprintf(ns_link, sizeof(ns_link), "/proc/%d/ns/%s", (int)pid, oci_ns_type_name(joined[i]));
    CHECK_INT_EQ(inode_of(ns_link), inode_of(pod_ns.path[joined[i]]));
  }
  cleanup_free char *cgroups = proc_file(pid, "cgroup");
  CHECK(strstr(cgroups, cg) != NULL);
  /* Only stdin, stdout and stderr, all /dev/null. */
  cleanup_free char *fd_dir = xasprintf("/proc/%d/fd", (int)pid);
  cleanup_dir DIR *d = opendir(fd_dir);
  CHECK(d != NULL);
  int fds = 0;
  for (struct dirent *de; (de = readdir(d));) {
    if (de->d_name[0] == '.')
      continue;
    fds++;
    char link[4096], target[4096];
    snprintf(link, sizeof(link), "%s/%s", fd_dir, de->d_name);
    ssize_t n = readlink(link, target, sizeof(target) - 1);
    CHECK(n > 0);
    target[n] = '\0';
    CHECK_STR_EQ(target, "/dev/null");
  }
  CHECK_INT_EQ(fds, 3);

  /* Its PID namespace pinned for the containers to join. */
  cleanup_free char *pid_pin = oci_ns_pin_path(fixture_dir(), OCI_NS_PID, "pod-infra");
  fixture_track_pin(pid_pin);
  cleanup_free char *source = xasprintf("/proc/%d/ns/pid", (int)pid);
  OK(oci_ns_pin_existing(OCI_NS_PID, source, pid_pin, &err));
  OK(oci_ns_pin_existing(OCI_NS_PID, source, pid_pin, &err));
  CHECK_INT_EQ(oci_ns_is_pinned(OCI_NS_PID, pid_pin, &err), 1);
  /* Another PID namespace at that pin is refused. */
  CHECK(oci_ns_pin_existing(OCI_NS_PID, "/proc/self/ns/pid", pid_pin, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EEXIST);
  crio_error_release(&err);

  check_pause_reaps_orphans(pid, pid_pin);

  /* A start time that does not match: another process with this pid. It
   * is left alone and the call succeeds. */
  OK(oci_infra_stop(pid, start_time + 1, 1000, &err));
  CHECK_INT_EQ(oci_infra_is_running(pid, start_time, &err), 1);
  CHECK_INT_EQ(oci_infra_is_running(pid, start_time + 1, &err), 0);

  OK(oci_infra_stop(pid, start_time, 5000, &err));
  CHECK_INT_EQ(oci_infra_is_running(pid, start_time, &err), 0);
  CHECK_INT_EQ(reap(pid), 0);                      /* pause exits 0 on SIGTERM */
  OK(oci_infra_stop(pid, start_time, 1000, &err)); /* gone: success */

  /* The pod cgroup is empty again and can go. */
  OK(m->remove(cg, &err));
  OK(oci_ns_unpin(pid_pin, &err));
}

/* A process that ignores SIGTERM is killed after the timeout. */
static void test_stop_escalates_to_sigkill(void) {
  cleanup_error crio_error_t err = NULL;
  int ready[2];
  CHECK(pipe(ready) == 0);
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    signal(SIGTERM, SIG_IGN);
    if (write(ready[1], "r", 1) != 1)
      _exit(1);
    for (;;)
      pause();
  }
  fixture_track_process(child);
  char c;
  CHECK(read(ready[0], &c, 1) == 1);
  close(ready[0]);
  close(ready[1]);
  uint64_t st = 0;
  OK(crio_proc_start_time(child, &st, &err));
  int64_t t0 = crio_monotonic_ns();
  OK(oci_infra_stop(child, st, 200, &err));
  CHECK(crio_monotonic_ns() - t0 >= 150 * 1000000LL);
  int status;
  CHECK(waitpid(child, &status, 0) == child);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

static void test_start_failures(void) {
  cleanup_error crio_error_t err = NULL;
  struct oci_infra_config cfg = {.pause_path = "/nonexistent/crio-pause", .ns = pod_ns};
  pid_t pid = 0;
  uint64_t st = 0;
  CHECK(oci_infra_start(&cfg, &pid, &st, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), ENOENT);
  crio_error_release(&err);

  /* It always makes its own PID namespace. */
  cfg.pause_path = CRIO_PAUSE_PATH;
  cfg.ns.path[OCI_NS_PID] = "/proc/self/ns/pid";
  CHECK(oci_infra_start(&cfg, &pid, &st, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  crio_error_release(&err);
  cfg.ns.path[OCI_NS_PID] = NULL;

  /* exec failure is reported (ENOEXEC), and the child is gone. */
  cleanup_free char *junk = xasprintf("%s/not-a-binary", fixture_dir());
  OK(crio_write_file_atomic(junk, "\x01\x02junk", 6, 0755, &err));
  cfg.pause_path = junk;
  CHECK(oci_infra_start(&cfg, &pid, &st, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), ENOEXEC);
  crio_error_release(&err);

  /* The cgroup cannot be entered: pause never runs. */
  cfg.pause_path = CRIO_PAUSE_PATH;
  cfg.cgroup_manager = &oci_cgroup_manager_cgroupfs;
  cfg.cgroup_parent = "/../escape";
  cfg.pod_id = "infra";
  CHECK(oci_infra_start(&cfg, &pid, &st, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  crio_error_release(&err);

  /* Both failed children were reparented to us: they exit on their own. */
  for (int n = 0; n < 2; n++) {
    int status;
    pid_t r = -1;
    for (int i = 0; i < 200 && (r = waitpid(-1, &status, WNOHANG)) == 0; i++)
      usleep(10000);
    CHECK(r > 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) != 0);
  }
  CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD);
}

int main(void) {
  if (geteuid() != 0) {
    fprintf(stderr, "test_oci_infra needs root\n");
    return 1;
  }
  CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  cgroup_top = fixture_cgroup_name();
  fixture_track_cgroup(cgroup_top);
  pin_pod_namespaces();
  RUN_TEST(test_start_stop);
  RUN_TEST(test_stop_escalates_to_sigkill);
  RUN_TEST(test_start_failures);
  return 0;
}
