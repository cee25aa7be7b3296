/* Shared by the oci runtime tests that run real containers (each test
 * declares what it uses): a busybox bundle per container, runc's --root
 * and conmon's dirs in the test's temporary dir (test_oci_fixture.c), a
 * test-owned cgroup parent, and cleanup at exit even when a CHECK fails:
 * `runc delete --force` of every container made (this handler is
 * registered after test_oci_fixture.c's, so it runs first), then that
 * fixture kills tracked conmons (pid + start time), removes the cgroup
 * parent in every hierarchy and the temporary dir. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "oci/oci.h"
#include "oci/runtime.h"
#include "tests/unit/testing.h"

/* test_oci_fixture.c */
const char *fixture_dir(void);
void fixture_track_cgroup(const char *path);
void fixture_track_process(pid_t pid);
char *fixture_cgroup_name(void);
void fixture_ok(int rc, crio_error_t *err, const char *what, int line);

#define MAX_CONTAINERS 64

static pid_t rt_owner;
static char *cgroup_parent;
static struct oci_runtime runtimes[2];
static char *roots[2];
static struct {
  const struct oci_runtime *rt;
  char *id;
} made[MAX_CONTAINERS];
static size_t n_made;

/* Strings that live as long as the test (container configs). */
#define MAX_KEPT 1024
static void *kept[MAX_KEPT];
static size_t n_kept;

static void *keep(void *p) {
  CHECK(n_kept < MAX_KEPT);
  kept[n_kept++] = p;
  return p;
}

static void delete_all(void) {
  if (getpid() != rt_owner)
    return;
  for (size_t i = n_made; i-- > 0;) {
    crio_error_t err = NULL;
    if (oci_runtime_delete(made[i].rt, made[i].id, &err) < 0)
      fprintf(stderr, "cleanup: %s\n", crio_error_message(&err));
    crio_error_release(&err);
    free(made[i].id);
  }
  for (size_t i = 0; i < n_kept; i++)
    free(kept[i]);
  for (int i = 0; i < 2; i++)
    free(roots[i]);
}

static void rt_init(void) {
  if (rt_owner != 0)
    return;
  const char *dir = fixture_dir();
  cgroup_parent = fixture_cgroup_name();
  fixture_track_cgroup(cgroup_parent);
  rt_owner = getpid();
  atexit(delete_all);
  const struct oci_runtime_ops *ops[2] = {&oci_runtime_runc, &oci_runtime_crun};
  for (int i = 0; i < 2; i++) {
    CHECK(asprintf(&roots[i], "%s/%s-root", dir, ops[i]->name) > 0);
    runtimes[i] = (struct oci_runtime){.ops = ops[i], .root = roots[i]};
  }
}

const struct oci_runtime *rtfx_runc(void) {
  rt_init();
  return &runtimes[0];
}

const struct oci_runtime *rtfx_crun(void) {
  rt_init();
  return &runtimes[1];
}

const char *rtfx_cgroup_parent(void) {
  rt_init();
  return cgroup_parent;
}

/* <tmp>/<name>, made if missing; malloc'd. */
char *rtfx_path(const char *name) {
  rt_init();
  char *p = NULL;
  CHECK(asprintf(&p, "%s/%s", fixture_dir(), name) > 0);
  return p;
}

void rtfx_track_container(const struct oci_runtime *rt, const char *id) {
  rt_init();
  CHECK(n_made < MAX_CONTAINERS);
  made[n_made].rt = rt;
  made[n_made].id = strdup(id);
  n_made++;
}

/* A fresh id: "t<pid>-<tag>-<n>". */
char *rtfx_id(const char *tag) {
  static int n;
  char *id = NULL;
  CHECK(asprintf(&id, "t%d-%s-%d", (int)getpid(), tag, n++) > 0);
  return id;
}

static void mkdir_or_die(const char *path) {
  CHECK(mkdir(path, 0755) == 0 || errno == EEXIST);
}

/* busybox as the whole rootfs: the binary plus the applets tests use. */
static void make_rootfs(const char *rootfs) {
  mkdir_or_die(rootfs);
  const char *dirs[] = {"bin", "proc", "dev", "sys", "tmp", "etc"};
  for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
    char *p = xasprintf("%s/%s", rootfs, dirs[i]);
    mkdir_or_die(p);
    free(p);
  }
  char *dst = xasprintf("%s/bin/busybox", rootfs);
  crio_error_t err = NULL;
  char *data = NULL;
  size_t len = 0;
  const char *src = access("/bin/busybox", X_OK) == 0 ? "/bin/busybox" : "/usr/bin/busybox";
  fixture_ok(crio_read_file(src, &data, &len, &err), &err, "read busybox", __LINE__);
  int fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
  CHECK(fd >= 0);
  CHECK(write(fd, data, len) == (ssize_t)len);
  close(fd);
  free(data);
  free(dst);
  const char *applets[] = {"sh", "echo", "sleep", "cat", "dd", "head", "ls", "true", "kill"};
  for (size_t i = 0; i < sizeof(applets) / sizeof(applets[0]); i++) {
    dst = xasprintf("%s/bin/%s", rootfs, applets[i]);
    CHECK(symlink("busybox", dst) == 0 || errno == EEXIST);
    free(dst);
  }
}

static cJSON *strings(const char *const *v) {
  cJSON *a = cJSON_CreateArray();
  for (; v && *v; v++)
    cJSON_AddItemToArray(a, cJSON_CreateString(*v));
  return a;
}

/* A bundle <tmp>/bundles/<id> with a busybox rootfs and a minimal
 * config.json running `args`, in the cgroup <parent>/<id>, with a memory
 * limit when memory_limit > 0.  Returns the bundle path (malloc'd). */
char *rtfx_bundle(const char *id, const char *const *args, long long memory_limit) {
  rt_init();
  char *bundles = rtfx_path("bundles");
  mkdir_or_die(bundles);
  char *bundle = NULL;
  CHECK(asprintf(&bundle, "%s/%s", bundles, id) > 0);
  free(bundles);
  mkdir_or_die(bundle);
  char *rootfs = xasprintf("%s/rootfs", bundle);
  make_rootfs(rootfs);
  free(rootfs);

  cJSON *c = cJSON_CreateObject();
  cJSON_AddStringToObject(c, "ociVersion", "1.0.2");
  cJSON *process = cJSON_AddObjectToObject(c, "process");
  cJSON_AddBoolToObject(process, "terminal", false);
  cJSON *user = cJSON_AddObjectToObject(process, "user");
  cJSON_AddNumberToObject(user, "uid", 0);
  cJSON_AddNumberToObject(user, "gid", 0);
  cJSON_AddItemToObject(process, "args", strings(args));
  const char *env[] = {"PATH=/bin", "HOME=/", NULL};
  cJSON_AddItemToObject(process, "env", strings(env));
  cJSON_AddStringToObject(process, "cwd", "/");
  cJSON_AddBoolToObject(process, "noNewPrivileges", true);
  const char *caps[] = {"CAP_KILL", "CAP_CHOWN", NULL};
  cJSON *capabilities = cJSON_AddObjectToObject(process, "capabilities");
  cJSON_AddItemToObject(capabilities, "bounding", strings(caps));
  cJSON_AddItemToObject(capabilities, "effective", strings(caps));
  cJSON_AddItemToObject(capabilities, "permitted", strings(caps));
  cJSON *root = cJSON_AddObjectToObject(c, "root");
  cJSON_AddStringToObject(root, "path", "rootfs");
  cJSON_AddBoolToObject(root, "readonly", true);
  cJSON_AddStringToObject(c, "hostname", "crio-test");
  cJSON *mounts = cJSON_AddArrayToObject(c, "mounts");
  cJSON *m = cJSON_CreateObject();
  cJSON_AddStringToObject(m, "destination", "/proc");
  cJSON_AddStringToObject(m, "type", "proc");
  cJSON_AddStringToObject(m, "source", "proc");
  cJSON_AddItemToArray(mounts, m);
  m = cJSON_CreateObject();
  cJSON_AddStringToObject(m, "destination", "/dev");
  cJSON_AddStringToObject(m, "type", "tmpfs");
  cJSON_AddStringToObject(m, "source", "tmpfs");
  const char *dev_opts[] = {"nosuid", "strictatime", "mode=755", "size=65536k", NULL};
  cJSON_AddItemToObject(m, "options", strings(dev_opts));
  cJSON_AddItemToArray(mounts, m);
  m = cJSON_CreateObject();
  cJSON_AddStringToObject(m, "destination", "/tmp");
  cJSON_AddStringToObject(m, "type", "tmpfs");
  cJSON_AddStringToObject(m, "source", "tmpfs");
  cJSON_AddItemToArray(mounts, m);
  cJSON *linux_ = cJSON_AddObjectToObject(c, "linux");
  cJSON *nss = cJSON_AddArrayToObject(linux_, "namespaces");
  const char *ns[] = {"pid", "ipc", "uts", "mount", "network"};
  for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
    cJSON *n = cJSON_CreateObject();
    cJSON_AddStringToObject(n, "type", ns[i]);
    cJSON_AddItemToArray(nss, n);
  }
  char *cg = xasprintf("%s/%s", cgroup_parent, id);
  cJSON_AddStringToObject(linux_, "cgroupsPath", cg);
  free(cg);
  if (memory_limit > 0) {
    cJSON *res = cJSON_AddObjectToObject(linux_, "resources");
    cJSON *mem = cJSON_AddObjectToObject(res, "memory");
    cJSON_AddNumberToObject(mem, "limit", (double)memory_limit);
  }
  const char *masked[] = {"/proc/kcore", "/proc/keys", "/proc/timer_list", NULL};
  cJSON_AddItemToObject(linux_, "maskedPaths", strings(masked));
  char *text = cJSON_Print(c);
  cJSON_Delete(c);
  char *path = xasprintf("%s/config.json", bundle);
  crio_error_t err = NULL;
  fixture_ok(crio_write_file_atomic(path, text, strlen(text), 0644, &err), &err,
             "write config.json", __LINE__);
  free(path);
  free(text);
  return bundle;
}

/* The conmon config every test uses: dirs under the temporary dir, the
 * log at <tmp>/logs/<id>.log, the persist dir <tmp>/persist/<id>. */
struct rtfx_container {
  char *id;
  char *bundle;
  char *log_path;
  char *persist_dir;
  char *exit_dir;
  struct oci_conmon_config cfg;
};

void rtfx_container_init(struct rtfx_container *c, const struct oci_runtime *rt, const char *tag,
                         const char *const *args, long long memory_limit) {
  rt_init();
  memset(c, 0, sizeof(*c));
  c->id = keep(rtfx_id(tag));
  c->bundle = keep(rtfx_bundle(c->id, args, memory_limit));
  char *logs = rtfx_path("logs");
  CHECK(asprintf(&c->log_path, "%s/%s.log", logs, c->id) > 0);
  keep(c->log_path);
  free(logs);
  char *persist_root = rtfx_path("persist");
  mkdir_or_die(persist_root);
  CHECK(asprintf(&c->persist_dir, "%s/%s", persist_root, c->id) > 0);
  keep(c->persist_dir);
  free(persist_root);
  mkdir_or_die(c->persist_dir);
  c->exit_dir = keep(rtfx_path("exits"));
  c->cfg = (struct oci_conmon_config){
      .runtime = rt,
      .id = c->id,
      .bundle = c->bundle,
      .persist_dir = c->persist_dir,
      .exit_dir = c->exit_dir,
      .socket_dir = keep(rtfx_path("sockets")),
      .log_path = c->log_path,
      .log_level = "debug",
      .create_timeout_ms = 60000,
  };
}

/* Creates through conmon; tracks the container and conmon for cleanup. */
int rtfx_create(struct rtfx_container *c, struct oci_conmon_created *out, crio_error_t *err) {
  rtfx_track_container(c->cfg.runtime, c->id);
  int rc = oci_conmon_create(&c->cfg, out, err);
  if (rc == 0)
    fixture_track_process(out->conmon_pid);
  return rc;
}

/* Polls cond(arg) every 10 ms up to timeout_ms. */
bool rtfx_wait(bool (*cond)(void *arg), void *arg, int timeout_ms) {
  for (int waited = 0; waited <= timeout_ms; waited += 10) {
    if (cond(arg))
      return true;
    nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
  }
  return cond(arg);
}

char *rtfx_read(const char *path) {
  char *text = NULL;
  crio_error_t err = NULL;
  if (crio_read_file(path, &text, NULL, &err) < 0) {
    crio_error_release(&err);
    return NULL;
  }
  return text;
}

int64_t rtfx_ms_since(int64_t start_ns) {
  return (crio_monotonic_ns() - start_ns) / 1000000;
}

/* Exit events gathered by an oci_exit_watch callback. */
#define MAX_EXITS 64
static pthread_mutex_t exits_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  char *id;
  int code;
  bool oom;
  int64_t finished_at_ns;
} exits[MAX_EXITS];
static size_t n_exits;

void rtfx_on_exit(const struct oci_exit_status *st, void *arg) {
  (void)arg;
  pthread_mutex_lock(&exits_lock);
  if (n_exits < MAX_EXITS) {
    exits[n_exits].id = strdup(st->id);
    exits[n_exits].code = st->exit_code;
    exits[n_exits].oom = st->oom_killed;
    exits[n_exits].finished_at_ns = st->finished_at_ns;
    n_exits++;
  }
  pthread_mutex_unlock(&exits_lock);
}

/* Waits until the watch reported `id`; returns its code (-1000 if not). */
int rtfx_wait_exit_event(const char *id, int timeout_ms, bool *oom, int64_t *finished_at_ns) {
  for (int waited = 0; waited <= timeout_ms; waited += 10) {
    pthread_mutex_lock(&exits_lock);
    for (size_t i = 0; i < n_exits; i++) {
      if (strcmp(exits[i].id, id) == 0) {
        int code = exits[i].code;
        if (oom)
          *oom = exits[i].oom;
        if (finished_at_ns)
          *finished_at_ns = exits[i].finished_at_ns;
        pthread_mutex_unlock(&exits_lock);
        return code;
      }
    }
    pthread_mutex_unlock(&exits_lock);
    nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
  }
  return -1000;
}

/* How many times the watch reported `id`. */
int rtfx_exit_events(const char *id) {
  int n = 0;
  pthread_mutex_lock(&exits_lock);
  for (size_t i = 0; i < n_exits; i++)
    n += strcmp(exits[i].id, id) == 0;
  pthread_mutex_unlock(&exits_lock);
  return n;
}

/* Skips the whole program (ctest: SKIP_RETURN_CODE 77) unless root. */
void rtfx_require_root(void) {
  if (geteuid() != 0) {
    fprintf(stderr, "skip: needs root (runc, conmon, cgroups)\n");
    exit(77);
  }
}
