/* oci namespaces: pinning (idempotent, per type), hostnames in a pinned UTS
 * namespace, the unbindable pin directory, unpinning, running inside
 * pinned namespaces.  Needs root. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "oci/oci.h"
#include "tests/unit/testing.h"

const char *fixture_dir(void);
void fixture_track_pin(const char *path);
void fixture_track_pin_dir(const char *dir);
void fixture_ok(int rc, crio_error_t *err, const char *what, int line);
/* Checks a call that reports into the local `err`, printing its message. */
#define OK(call) fixture_ok((call), &err, #call, __LINE__)

static char *run_dir;

static ino_t inode_of(const char *path) {
  struct stat st;
  CHECK(stat(path, &st) == 0);
  return st.st_ino;
}

/* The pin path of a type, registered for cleanup. */
static char *pin_path(enum oci_ns_type type, const char *pod) {
  char *path = oci_ns_pin_path(run_dir, type, pod);
  fixture_track_pin(path);
  return path;
}

static void test_pin_path_layout(void) {
  cleanup_free char *p = oci_ns_pin_path("/run/crio", OCI_NS_NET, "abc");
  CHECK_STR_EQ(p, "/run/crio/netns/abc");
  cleanup_free char *q = oci_ns_pin_path("/run/crio", OCI_NS_PID, "abc");
  CHECK_STR_EQ(q, "/run/crio/pidns/abc");
}

/* Each type pinned twice: the second call is a no-op (same namespace),
 * the namespace is new (not the daemon's), and the daemon's own namespaces
 * did not move. */
static void test_pin_each_type_twice(void) {
  for (int t = 0; t < OCI_NS_PID; t++) {
    const char *name = oci_ns_type_name(t);
    char self_path[64];
    snprintf(self_path, sizeof(self_path), "/proc/self/ns/%s", name);
    ino_t self_before = inode_of(self_path);
    char thread_path[64];
    snprintf(thread_path, sizeof(thread_path), "/proc/thread-self/ns/%s", name);
    ino_t thread_before = inode_of(thread_path);

    cleanup_free char *path = pin_path(t, "pod1");
    cleanup_error crio_error_t err = NULL;
    CHECK_INT_EQ(oci_ns_is_pinned(t, path, &err), 0);
    OK(oci_ns_pin(t, path, "pod1-host", &err));
    CHECK_INT_EQ(oci_ns_is_pinned(t, path, &err), 1);
    ino_t first = inode_of(path);
    CHECK(first != self_before);

    OK(oci_ns_pin(t, path, "other", &err));
    CHECK_INT_EQ(inode_of(path), first);

    CHECK_INT_EQ(inode_of(self_path), self_before);
    CHECK_INT_EQ(inode_of(thread_path), thread_before);
    for (int other = 0; other < OCI_NS_COUNT; other++)
      if (other != t)
        CHECK_INT_EQ(oci_ns_is_pinned(other, path, &err), 0);
  }
}

/* A PID namespace is pinned from a process in it (here our own, for the
 * mechanics; test_oci_infra pins pause's), never created empty. */
static void test_pin_pid_existing(void) {
  cleanup_error crio_error_t err = NULL;
  cleanup_free char *path = pin_path(OCI_NS_PID, "pod-pid");
  CHECK(oci_ns_pin(OCI_NS_PID, path, NULL, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  crio_error_release(&err);

  OK(oci_ns_pin_existing(OCI_NS_PID, "/proc/self/ns/pid", path, &err));
  CHECK_INT_EQ(oci_ns_is_pinned(OCI_NS_PID, path, &err), 1);
  CHECK_INT_EQ(inode_of(path), inode_of("/proc/self/ns/pid"));
  OK(oci_ns_pin_existing(OCI_NS_PID, "/proc/self/ns/pid", path, &err));

  /* Not a PID namespace. */
  cleanup_free char *other = pin_path(OCI_NS_PID, "pod-pid2");
  CHECK(oci_ns_pin_existing(OCI_NS_PID, "/proc/self/ns/net", other, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  crio_error_release(&err);
  /* Another namespace already pinned there. */
  cleanup_free char *net = pin_path(OCI_NS_NET, "pod-pid-net");
  OK(oci_ns_pin(OCI_NS_NET, net, NULL, &err));
  CHECK(oci_ns_pin_existing(OCI_NS_NET, "/proc/self/ns/net", net, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EEXIST);
  crio_error_release(&err);
  OK(oci_ns_unpin(path, &err));
  CHECK_INT_EQ(oci_ns_is_pinned(OCI_NS_PID, path, &err), 0);
}

/* The pin lives in our (the host's) mount namespace, inside a directory
 * that is a self bind mount marked unbindable. */
static void test_pin_dir_is_unbindable(void) {
  cleanup_free char *path = pin_path(OCI_NS_NET, "pod-mnt");
  cleanup_error crio_error_t err = NULL;
  OK(oci_ns_pin(OCI_NS_NET, path, NULL, &err));
  cleanup_free char *dir = xasprintf("%s/netns", run_dir);
  cleanup_free char *info = NULL;
  OK(crio_read_file("/proc/self/mountinfo", &info, NULL, &err));
  bool dir_seen = false, pin_seen = false;
  for (char *line = strtok(info, "\n"); line; line = strtok(NULL, "\n")) {
    char mnt[4096] = "";
    sscanf(line, "%*s %*s %*s %*s %4095s", mnt);
    if (strcmp(mnt, dir) == 0) {
      dir_seen = true;
      char *dash = strstr(line, " - ");
      char *unb = strstr(line, "unbindable");
      CHECK(unb != NULL && dash != NULL && unb < dash);
    }
    if (strcmp(mnt, path) == 0) {
      pin_seen = true;
      CHECK(strstr(line, " - nsfs ") != NULL);
      /* Inside an unbindable mount the pin propagates nowhere. */
      char *dash = strstr(line, " - ");
      CHECK(memmem(line, dash - line, "shared:", 7) == NULL);
    }
  }
  CHECK(dir_seen);
  CHECK(pin_seen);

  /* A bind of the pin directory (what a hostPath of the run dir would do)
   * is refused. */
  cleanup_free char *target = xasprintf("%s/bind-target", fixture_dir());
  CHECK(mkdir(target, 0700) == 0);
  fixture_track_pin_dir(target); /* unmounted at exit should the bind work */
  CHECK(mount(dir, target, NULL, MS_BIND, NULL) < 0 && errno == EINVAL);
}

static int child_hostname_is(const char *pin, const char *expected) {
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    int fd = open(pin, O_RDONLY | O_CLOEXEC);
    struct utsname u;
    if (fd < 0 || setns(fd, CLONE_NEWUTS) < 0 || uname(&u) < 0)
      _exit(2);
    _exit(strcmp(u.nodename, expected) == 0 ? 0 : 1);
  }
  int status;
  CHECK(waitpid(child, &status, 0) == child);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 3;
}

static void test_uts_hostname(void) {
  struct utsname host_before;
  CHECK(uname(&host_before) == 0);
  cleanup_free char *path = pin_path(OCI_NS_UTS, "pod-uts");
  cleanup_error crio_error_t err = NULL;
  OK(oci_ns_pin(OCI_NS_UTS, path, "web-0", &err));
  CHECK_INT_EQ(child_hostname_is(path, "web-0"), 0);
  /* Pinning again does not rename. */
  OK(oci_ns_pin(OCI_NS_UTS, path, "renamed", &err));
  CHECK_INT_EQ(child_hostname_is(path, "web-0"), 0);
  struct utsname host_after;
  CHECK(uname(&host_after) == 0);
  CHECK_STR_EQ(host_after.nodename, host_before.nodename);
}

static void test_conflicts_and_leftovers(void) {
  cleanup_error crio_error_t err = NULL;
  /* A namespace of another type at the path. */
  cleanup_free char *net = pin_path(OCI_NS_NET, "pod-conflict");
  OK(oci_ns_pin(OCI_NS_NET, net, NULL, &err));
  CHECK(oci_ns_pin(OCI_NS_IPC, net, NULL, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EEXIST);
  crio_error_release(&err);

  /* A non-empty file is not ours to mount over. */
  cleanup_free char *file = pin_path(OCI_NS_IPC, "pod-file");
  CHECK(crio_mkdir_p(run_dir, 0755, &err) == 0);
  cleanup_free char *ipcdir = xasprintf("%s/ipcns", run_dir);
  CHECK(crio_mkdir_p(ipcdir, 0755, &err) == 0);
  CHECK(crio_write_file_atomic(file, "x", 1, 0644, &err) == 0);
  CHECK(oci_ns_pin(OCI_NS_IPC, file, NULL, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EEXIST);
  crio_error_release(&err);
  CHECK(unlink(file) == 0);

  /* The empty file a crash between create and mount leaves is reused. */
  int fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0444);
  CHECK(fd >= 0);
  close(fd);
  OK(oci_ns_pin(OCI_NS_IPC, file, NULL, &err));
  CHECK_INT_EQ(oci_ns_is_pinned(OCI_NS_IPC, file, &err), 1);

  CHECK(oci_ns_pin(OCI_NS_NET, "relative/path", NULL, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
}

static void test_unpin_idempotent(void) {
  cleanup_error crio_error_t err = NULL;
  for (int t = 0; t < OCI_NS_COUNT; t++) {
    cleanup_free char *path = pin_path(t, "pod-unpin");
    char self[64];
    snprintf(self, sizeof(self), "/proc/self/ns/%s", oci_ns_type_name(t));
#define PIN()                                                                                      \
  (t == OCI_NS_PID ? oci_ns_pin_existing(t, self, path, &err) : oci_ns_pin(t, path, NULL, &err))
    OK(PIN());
    OK(oci_ns_unpin(path, &err));
    struct stat st;
    CHECK(lstat(path, &st) < 0 && errno == ENOENT);
    CHECK_INT_EQ(oci_ns_is_pinned(t, path, &err), 0);
    OK(oci_ns_unpin(path, &err));
    /* Pin again after unpin: a fresh namespace at the same path. */
    OK(PIN());
#undef PIN
    CHECK_INT_EQ(oci_ns_is_pinned(t, path, &err), 1);
    OK(oci_ns_unpin(path, &err));
  }
}

struct seen_ns {
  ino_t net, uts;
};

static int record_ns(void *arg, crio_error_t *err) {
  struct seen_ns *s = arg;
  struct stat st;
  if (stat("/proc/thread-self/ns/net", &st) < 0)
    return crio_error_errno(err, errno, "stat net");
  s->net = st.st_ino;
  if (stat("/proc/thread-self/ns/uts", &st) < 0)
    return crio_error_errno(err, errno, "stat uts");
  s->uts = st.st_ino;
  return 0;
}

static int fail_task(void *arg, crio_error_t *err) {
  return crio_error(err, EPERM, "task says no");
}

static void test_run_in(void) {
  cleanup_error crio_error_t err = NULL;
  cleanup_free char *net = pin_path(OCI_NS_NET, "pod-run");
  OK(oci_ns_pin(OCI_NS_NET, net, NULL, &err));
  struct oci_ns_paths ns = {0};
  ns.path[OCI_NS_NET] = net;
  struct seen_ns seen = {0};
  OK(oci_ns_run_in(&ns, record_ns, &seen, &err));
  CHECK_INT_EQ(seen.net, inode_of(net));
  CHECK_INT_EQ(seen.uts, inode_of("/proc/self/ns/uts"));
  CHECK(inode_of("/proc/self/ns/net") != inode_of(net));

  CHECK(oci_ns_run_in(&ns, fail_task, NULL, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EPERM);
  CHECK(strstr(crio_error_message(&err), "task says no") != NULL);
  crio_error_release(&err);

  ns.path[OCI_NS_NET] = "/nonexistent/netns";
  CHECK(oci_ns_run_in(&ns, record_ns, &seen, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), ENOENT);
  CHECK(strstr(crio_error_message(&err), "/nonexistent/netns") != NULL);
}

int main(void) {
  if (geteuid() != 0) {
    fprintf(stderr, "test_oci_ns needs root\n");
    return 1;
  }
  run_dir = xasprintf("%s/run", fixture_dir());
  static const char *const types[] = {"netns", "ipcns", "utsns", "pidns"};
  for (size_t i = 0; i < 4; i++) {
    char *dir = xasprintf("%s/%s", run_dir, types[i]);
    fixture_track_pin_dir(dir);
    free(dir);
  }
  RUN_TEST(test_pin_path_layout);
  RUN_TEST(test_pin_each_type_twice);
  RUN_TEST(test_pin_pid_existing);
  RUN_TEST(test_pin_dir_is_unbindable);
  RUN_TEST(test_uts_hostname);
  RUN_TEST(test_conflicts_and_leftovers);
  RUN_TEST(test_unpin_idempotent);
  RUN_TEST(test_run_in);
  free(run_dir);
  return 0;
}
