/* The resource registry on the real host (root): each type tells whether
 * its resource still exists and releases it, more than once, and refuses
 * what is not ours.  What a test makes is undone at exit by
 * test_oci_fixture.c even when a CHECK fails. */
#include <errno.h>
#include <fcntl.h>
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
#include "recovery/recovery.h"
#include "tests/unit/testing.h"

const char *fixture_dir(void);
void fixture_track_pin(const char *path);
void fixture_track_pin_dir(const char *dir);
void fixture_track_cgroup(const char *path);
void fixture_track_process(pid_t pid);
char *fixture_cgroup_name(void);
void fixture_ok(int rc, crio_error_t *err, const char *what, int line);
#define OK(call, err) fixture_ok((call), (err), #call, __LINE__)

/* Strings the tests make live until exit (freed then, for LeakSanitizer). */
static char *kept[256];
static size_t n_kept;

static void free_kept(void) {
  while (n_kept > 0)
    free(kept[--n_kept]);
}

static char *keep(char *s) {
  if (n_kept == 0)
    atexit(free_kept);
  CHECK(n_kept < sizeof(kept) / sizeof(kept[0]));
  kept[n_kept++] = s;
  return s;
}

static char *path_in(const char *dir, const char *name) {
  char *p = NULL;
  CHECK(asprintf(&p, "%s/%s", dir, name) > 0);
  return keep(p);
}

static void touch(const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  CHECK(fd >= 0);
  close(fd);
}

static bool exists(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0;
}

struct env_dirs {
  char *root, *runroot;
  struct recovery_env env;
};

static void env_make(struct env_dirs *d) {
  d->root = path_in(fixture_dir(), "root");
  d->runroot = path_in(fixture_dir(), "run");
  mkdir(d->root, 0700);
  mkdir(d->runroot, 0700);
  d->env = (struct recovery_env){.root = d->root, .runroot = d->runroot};
}

static const struct recovery_resource_type *type(const char *name) {
  const struct recovery_resource_type *t = recovery_resource_type_find(name);
  CHECK(t != NULL);
  return t;
}

static store_resource *res(const char *t, const char *id) {
  return store_resource_new(t, id, NULL, 0);
}

static void test_lookup(void) {
  static const char *const known[] = {"dir",    "netns", "ipcns",   "utsns", "pidns",
                                      "cgroup", "cni",   "process", "layer"};
  for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
    CHECK_STR_EQ(type(known[i])->type, known[i]);
  CHECK(recovery_resource_type_find("no-such-type") == NULL);
}

/* rm -rf below the run or state dir only; never through a symlink, never
 * into another filesystem, never the database. */
static void test_dir(void) {
  struct env_dirs d;
  env_make(&d);
  const struct recovery_resource_type *t = type("dir");
  cleanup_error crio_error_t err = NULL;

  char *pods = path_in(d.runroot, "pods");
  char *pod = path_in(pods, "p1");
  char *sub = path_in(pod, "sub");
  char *outside = path_in(fixture_dir(), "outside");
  CHECK(mkdir(pods, 0755) == 0 && mkdir(pod, 0755) == 0 && mkdir(sub, 0755) == 0 &&
        mkdir(outside, 0755) == 0);
  char *precious = path_in(outside, "precious");
  touch(precious);
  char *file = path_in(sub, "f");
  touch(file);
  char *link = path_in(pod, "link");
  CHECK(symlink(outside, link) == 0);

  store_resource *r = res("dir", pod);
  CHECK_INT_EQ(t->exists(&d.env, "p1", r, &err), 1);
  OK(t->release(&d.env, "p1", r, &err), &err);
  CHECK(!exists(pod));
  CHECK(exists(precious)); /* the symlink was removed, not followed */
  CHECK_INT_EQ(t->exists(&d.env, "p1", r, &err), 0);
  OK(t->release(&d.env, "p1", r, &err), &err); /* again: already gone */
  store_resource_free(r);

  /* Outside both dirs, the dirs themselves, a way out through "..": refused. */
  const char *refused[] = {outside, d.runroot, d.root, NULL};
  char *escape = NULL;
  CHECK(asprintf(&escape, "%s/../outside", d.runroot) > 0);
  keep(escape);
  refused[3] = escape;
  for (size_t i = 0; i < 4; i++) {
    r = res("dir", refused[i]);
    crio_error_t e = NULL;
    CHECK(t->release(&d.env, "p1", r, &e) < 0);
    CHECK_INT_EQ(crio_error_status(&e), EPERM);
    crio_error_release(&e);
    store_resource_free(r);
  }
  CHECK(exists(precious) && exists(d.runroot) && exists(d.root));

  /* The database is never an object's dir. */
  char *db = path_in(d.root, "db");
  CHECK(mkdir(db, 0700) == 0);
  char *data = path_in(db, "data.mdb");
  touch(data);
  const char *protected[] = {db, data};
  for (size_t i = 0; i < 2; i++) {
    r = res("dir", protected[i]);
    crio_error_t e = NULL;
    CHECK(t->release(&d.env, "p1", r, &e) < 0);
    CHECK_INT_EQ(crio_error_status(&e), EPERM);
    crio_error_release(&e);
    store_resource_free(r);
  }
  CHECK(exists(data));

  /* A filesystem mounted inside is someone's to unmount first. */
  char *bundle = path_in(d.root, "bundle");
  char *mnt = path_in(bundle, "rootfs");
  CHECK(mkdir(bundle, 0700) == 0 && mkdir(mnt, 0700) == 0);
  CHECK(mount("tmpfs", mnt, "tmpfs", 0, "size=1m") == 0);
  char *inside = path_in(mnt, "keep");
  touch(inside);
  r = res("dir", bundle);
  crio_error_t e = NULL;
  int rc = t->release(&d.env, "c1", r, &e);
  bool still = exists(inside);
  umount2(mnt, MNT_DETACH);
  CHECK(rc < 0);
  CHECK_INT_EQ(crio_error_status(&e), EBUSY);
  CHECK(still);
  crio_error_release(&e);
  OK(t->release(&d.env, "c1", r, &err), &err);
  CHECK(!exists(bundle));
  store_resource_free(r);
}

static void test_namespace_pins(void) {
  struct env_dirs d;
  env_make(&d);
  cleanup_error crio_error_t err = NULL;
  char *pin = keep(oci_ns_pin_path(d.runroot, OCI_NS_NET, "p1"));
  char *pin_dir = path_in(d.runroot, "netns");
  fixture_track_pin(pin);
  fixture_track_pin_dir(pin_dir);
  OK(oci_ns_pin(OCI_NS_NET, pin, NULL, &err), &err);

  const struct recovery_resource_type *t = type("netns");
  store_resource *r = res("netns", pin);
  CHECK_INT_EQ(t->exists(&d.env, "p1", r, &err), 1);
  /* The same path as another namespace type: not pinned as that. */
  store_resource *as_ipc = res("ipcns", pin);
  CHECK_INT_EQ(type("ipcns")->exists(&d.env, "p1", as_ipc, &err), 0);
  store_resource_free(as_ipc);
  OK(t->release(&d.env, "p1", r, &err), &err);
  CHECK(!exists(pin));
  CHECK_INT_EQ(t->exists(&d.env, "p1", r, &err), 0);
  OK(t->release(&d.env, "p1", r, &err), &err);
  store_resource_free(r);

  /* A plain file left under the run dir (a crash mid-pin) goes; one
   * elsewhere is not ours. */
  char *leftover = path_in(pin_dir, "p2");
  touch(leftover);
  r = res("netns", leftover);
  OK(t->release(&d.env, "p2", r, &err), &err);
  CHECK(!exists(leftover));
  store_resource_free(r);
  char *elsewhere = path_in(fixture_dir(), "not-a-pin");
  touch(elsewhere);
  r = res("netns", elsewhere);
  crio_error_t e = NULL;
  CHECK(t->release(&d.env, "p3", r, &e) < 0);
  CHECK_INT_EQ(crio_error_status(&e), EPERM);
  crio_error_release(&e);
  CHECK(exists(elsewhere));
  store_resource_free(r);
  OK(oci_ns_pin_dir_release(pin_dir, &err), &err);
}

/* A mount below the run or state dir is unmounted (every layer stacked
 * there); the mount point stays for its dir to remove; one elsewhere is
 * not ours. */
static void test_mount(void) {
  struct env_dirs d;
  env_make(&d);
  cleanup_error crio_error_t err = NULL;
  const struct recovery_resource_type *t = type("mount");
  char *pods = path_in(d.runroot, "pods");
  char *pod = path_in(pods, "m1");
  char *shm = path_in(pod, "shm");
  mkdir(pods, 0755);
  CHECK(mkdir(pod, 0755) == 0 && mkdir(shm, 0755) == 0);
  CHECK(mount("shm", shm, "tmpfs", 0, "size=64k") == 0);
  CHECK(mount("shm", shm, "tmpfs", 0, "size=64k") == 0); /* stacked twice */
  store_resource *r = res("mount", shm);
  CHECK_INT_EQ(t->exists(&d.env, "m1", r, &err), 1);
  int rc = t->release(&d.env, "m1", r, &err);
  int left = t->exists(&d.env, "m1", r, &err);
  umount2(shm, MNT_DETACH);
  umount2(shm, MNT_DETACH);
  OK(rc, &err);
  CHECK_INT_EQ(left, 0);
  CHECK(exists(shm));
  OK(t->release(&d.env, "m1", r, &err), &err);
  store_resource_free(r);

  char *outside = path_in(fixture_dir(), "elsewhere");
  CHECK(mkdir(outside, 0755) == 0);
  CHECK(mount("shm", outside, "tmpfs", 0, "size=64k") == 0);
  r = res("mount", outside);
  crio_error_t e = NULL;
  rc = t->release(&d.env, "m1", r, &e);
  left = t->exists(&d.env, "m1", r, &err);
  umount2(outside, MNT_DETACH);
  CHECK(rc < 0);
  CHECK_INT_EQ(crio_error_status(&e), EPERM);
  CHECK_INT_EQ(left, 1);
  crio_error_release(&e);
  store_resource_free(r);
}

/* A process that double-forked away from us, like pause: init reaps it. */
static pid_t start_orphan_sleeper(void) {
  int p[2];
  CHECK(pipe(p) == 0);
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    pid_t grandchild = fork();
    if (grandchild == 0) {
      close(p[0]);
      close(p[1]);
      execlp("sleep", "sleep", "300", (char *)NULL);
      _exit(127);
    }
    ssize_t ignored = write(p[1], &grandchild, sizeof(grandchild));
    (void)ignored;
    _exit(0);
  }
  close(p[1]);
  pid_t pid = 0;
  CHECK(read(p[0], &pid, sizeof(pid)) == sizeof(pid));
  close(p[0]);
  waitpid(child, NULL, 0);
  /* Until exec, the start time is the fork's anyway: one process. */
  fixture_track_process(pid);
  return pid;
}

static void test_process(void) {
  struct env_dirs d;
  env_make(&d);
  cleanup_error crio_error_t err = NULL;
  const struct recovery_resource_type *t = type("process");
  pid_t pid = start_orphan_sleeper();
  uint64_t start = 0;
  OK(crio_proc_start_time(pid, &start, &err), &err);

  char id[64];
  /* Another start time: a reused pid, never ours to signal. */
  snprintf(id, sizeof(id), "%d:%llu", (int)pid, (unsigned long long)start + 1);
  store_resource *r = res("process", id);
  CHECK_INT_EQ(t->exists(&d.env, "p", r, &err), 0);
  OK(t->release(&d.env, "p", r, &err), &err);
  CHECK(kill(pid, 0) == 0);
  store_resource_free(r);

  snprintf(id, sizeof(id), "%d:%llu", (int)pid, (unsigned long long)start);
  r = res("process", id);
  CHECK_INT_EQ(t->exists(&d.env, "p", r, &err), 1);
  OK(t->release(&d.env, "p", r, &err), &err);
  CHECK_INT_EQ(t->exists(&d.env, "p", r, &err), 0);
  OK(t->release(&d.env, "p", r, &err), &err);
  store_resource_free(r);

  r = res("process", "not-a-pid");
  crio_error_t e = NULL;
  CHECK(t->release(&d.env, "p", r, &e) < 0);
  CHECK_INT_EQ(crio_error_status(&e), EINVAL);
  crio_error_release(&e);
  store_resource_free(r);
}

static void test_cgroup(void) {
  struct env_dirs d;
  env_make(&d);
  cleanup_error crio_error_t err = NULL;
  char *parent = keep(fixture_cgroup_name());
  fixture_track_cgroup(parent);
  char *path = NULL;
  OK(oci_cgroup_manager_cgroupfs.create(parent, "abc", NULL, &path, &err), &err);
  fixture_track_cgroup(path);
  const struct recovery_resource_type *t = type("cgroup");
  store_resource *r = res("cgroup", path);
  CHECK_INT_EQ(t->exists(&d.env, "abc", r, &err), 1);
  char **dirs = recovery_cgroup_dirs(path);
  CHECK(dirs[0] != NULL);
  cleanup_strvp(&dirs);
  OK(t->release(&d.env, "abc", r, &err), &err);
  CHECK_INT_EQ(t->exists(&d.env, "abc", r, &err), 0);
  dirs = recovery_cgroup_dirs(path);
  CHECK(dirs[0] == NULL);
  cleanup_strvp(&dirs);
  OK(t->release(&d.env, "abc", r, &err), &err);
  store_resource_free(r);

  /* The root cgroup or a path with "..": never. */
  const char *bad[] = {"/", "/a/../..", "relative"};
  for (size_t i = 0; i < 3; i++) {
    r = res("cgroup", bad[i]);
    crio_error_t e = NULL;
    CHECK(t->release(&d.env, "abc", r, &e) < 0);
    CHECK_INT_EQ(crio_error_status(&e), EINVAL);
    crio_error_release(&e);
    store_resource_free(r);
  }
  free(path);
}

/* A CNI attachment is released from its logged detail alone; without a
 * usable detail there is nothing to DEL with. */
static void test_cni_detail_required(void) {
  struct env_dirs d;
  env_make(&d);
  const struct recovery_resource_type *t = type("cni");
  const char *details[] = {NULL, "not json", "{\"netns\":\"/x\"}"};
  for (size_t i = 0; i < 3; i++) {
    store_resource *r =
        store_resource_new("cni", "net/p/eth0", details[i], details[i] ? strlen(details[i]) : 0);
    crio_error_t e = NULL;
    CHECK(t->release(&d.env, "p", r, &e) < 0);
    CHECK_INT_EQ(crio_error_status(&e), EINVAL);
    crio_error_release(&e);
    store_resource_free(r);
  }
}

int main(void) {
  if (geteuid() != 0) {
    fprintf(stderr, "skipped: needs root (mounts, namespaces, cgroups)\n");
    return 77;
  }
  RUN_TEST(test_lookup);
  RUN_TEST(test_dir);
  RUN_TEST(test_namespace_pins);
  RUN_TEST(test_mount);
  RUN_TEST(test_process);
  RUN_TEST(test_cgroup);
  RUN_TEST(test_cni_detail_required);
  return 0;
}
