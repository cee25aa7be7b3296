/* Containers through conmon and runc (root): create reports the pid on
 * the sync pipe, start, logs in the CRI format, the exit file and the
 * exit watch, a monitor that survives its "daemon", log reopen through
 * the control FIFO, OOM, delete; and crun where the host allows it. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "oci/oci.h"
#include "oci/runtime.h"
#include "tests/unit/testing.h"

/* test_oci_fixture.c */
void fixture_ok(int rc, crio_error_t *err, const char *what, int line);
void fixture_track_process(pid_t pid);
#define OK(call, err) fixture_ok((call), (err), #call, __LINE__)

/* test_oci_runtime_fixture.c */
struct rtfx_container {
  char *id;
  char *bundle;
  char *log_path;
  char *persist_dir;
  char *exit_dir;
  struct oci_conmon_config cfg;
};
const struct oci_runtime *rtfx_runc(void);
const struct oci_runtime *rtfx_crun(void);
const char *rtfx_cgroup_parent(void);
char *rtfx_path(const char *name);
void rtfx_container_init(struct rtfx_container *c, const struct oci_runtime *rt, const char *tag,
                         const char *const *args, long long memory_limit);
int rtfx_create(struct rtfx_container *c, struct oci_conmon_created *out, crio_error_t *err);
bool rtfx_wait(bool (*cond)(void *arg), void *arg, int timeout_ms);
char *rtfx_read(const char *path);
int64_t rtfx_ms_since(int64_t start_ns);
void rtfx_on_exit(const struct oci_exit_status *st, void *arg);
int rtfx_wait_exit_event(const char *id, int timeout_ms, bool *oom, int64_t *finished_at_ns);
int rtfx_exit_events(const char *id);
void rtfx_require_root(void);
void rtfx_track_container(const struct oci_runtime *rt, const char *id);

static struct oci_exit_watch *watch;

static enum oci_container_status status_of(const struct oci_runtime *rt, const char *id) {
  struct oci_runtime_state st;
  crio_error_t err = NULL;
  OK(oci_runtime_state(rt, id, &st, &err), &err);
  return st.status;
}

struct log_wait {
  const char *path;
  const char *needle;
};
static bool log_has(void *arg) {
  const struct log_wait *w = arg;
  char *text = rtfx_read(w->path);
  bool found = text && strstr(text, w->needle) != NULL;
  free(text);
  return found;
}

/* Every line is "<RFC3339Nano timestamp> <stream> <P|F> <text>". */
static void check_cri_line(const char *line, const char *stream, const char *text) {
  /* 2026-11-22T17:36:22.048951948+00:00 */
  CHECK(strlen(line) > 36);
  CHECK(line[4] == '-' && line[7] == '-' && line[10] == 'T' && line[13] == ':' && line[16] == ':' &&
        line[19] == '.');
  const char *sp = strchr(line, ' ');
  CHECK(sp != NULL);
  CHECK(sp - line >= 30); /* nine fraction digits and a zone */
  for (const char *p = line + 20; p < line + 29; p++)
    CHECK(*p >= '0' && *p <= '9');
  char expect[256];
  snprintf(expect, sizeof(expect), " %s F %s", stream, text);
  CHECK_STR_EQ(sp, expect);
}

static char *find_line(const char *text, const char *suffix) {
  char *copy = strdup(text);
  for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n")) {
    size_t n = strlen(line), m = strlen(suffix);
    if (n >= m && strcmp(line + n - m, suffix) == 0) {
      char *found = strdup(line);
      free(copy);
      return found;
    }
  }
  free(copy);
  return NULL;
}

struct conmon_ref {
  pid_t pid;
  uint64_t start;
};
static bool conmon_gone(void *arg) {
  const struct conmon_ref *c = arg;
  crio_error_t err = NULL;
  int r = oci_conmon_is_running(c->pid, c->start, &err);
  crio_error_release(&err);
  return r == 0;
}

static bool path_absent(void *arg) {
  return access((const char *)arg, F_OK) < 0;
}

/* create -> pid from the sync pipe -> "created" -> start -> "running" ->
 * CRI log lines -> exit 3 -> exit file and callback -> delete. */
static void test_lifecycle(const struct oci_runtime *rt) {
  const char *args[] = {"sh", "-c", "echo hello; echo oops >&2; sleep 1; exit 3", NULL};
  struct rtfx_container c;
  rtfx_container_init(&c, rt, "life", args, 0);
  crio_error_t err = NULL;
  struct oci_conmon_created made;
  OK(rtfx_create(&c, &made, &err), &err);
  CHECK(made.container_pid > 1);
  CHECK(made.conmon_pid > 1);
  struct oci_runtime_state st;
  OK(oci_runtime_state(rt, c.id, &st, &err), &err);
  CHECK_INT_EQ(st.status, OCI_STATUS_CREATED);
  CHECK_INT_EQ(st.pid, made.container_pid);
  OK(oci_conmon_is_running(made.conmon_pid, made.conmon_start_time, &err), &err);
  CHECK_INT_EQ(oci_conmon_is_running(made.conmon_pid, made.conmon_start_time, &err), 1);
  /* A wrong start time never passes for our conmon. */
  CHECK_INT_EQ(oci_conmon_is_running(made.conmon_pid, made.conmon_start_time + 1, &err), 0);
  pid_t from_file = 0;
  OK(oci_conmon_read_pidfile(c.bundle, &from_file, &err), &err);
  CHECK_INT_EQ(from_file, made.conmon_pid);
  /* conmon's attach endpoint: <socket_dir>/<id> links to the bundle. */
  char link[4096], target[4096];
  snprintf(link, sizeof(link), "%s/%s", c.cfg.socket_dir, c.id);
  ssize_t n = readlink(link, target, sizeof(target) - 1);
  CHECK(n > 0);
  target[n] = '\0';
  CHECK_STR_EQ(target, c.bundle);

  int64_t before_start = crio_now_ns();
  OK(oci_runtime_start(rt, c.id, &err), &err);
  CHECK_INT_EQ(status_of(rt, c.id), OCI_STATUS_RUNNING);
  /* Start again: already running is success. */
  OK(oci_runtime_start(rt, c.id, &err), &err);

  struct log_wait lw = {c.log_path, "oops\n"};
  CHECK(rtfx_wait(log_has, &lw, 5000));
  char *log = rtfx_read(c.log_path);
  char *out_line = find_line(log, "hello");
  char *err_line = find_line(log, "oops");
  CHECK(out_line && err_line);
  check_cri_line(out_line, "stdout", "hello");
  check_cri_line(err_line, "stderr", "oops");
  free(out_line);
  free(err_line);
  free(log);

  bool oom = true;
  int64_t finished = 0;
  CHECK_INT_EQ(rtfx_wait_exit_event(c.id, 10000, &oom, &finished), 3);
  CHECK(!oom);
  CHECK(finished >= before_start && finished <= crio_now_ns());
  struct oci_exit_status es;
  OK(oci_exit_file_read(c.exit_dir, c.id, c.persist_dir, &es, &err), &err);
  CHECK_INT_EQ(es.exit_code, 3);
  CHECK(!es.oom_killed);
  CHECK_STR_EQ(oci_exit_reason_name(oci_exit_reason_of(&es)), "Error");
  /* conmon's copy in the persist dir says the same. */
  char persist_exit[4096];
  snprintf(persist_exit, sizeof(persist_exit), "%s/exit", c.persist_dir);
  char *copy = rtfx_read(persist_exit);
  CHECK(copy != NULL);
  CHECK_STR_EQ(copy, "3");
  free(copy);
  CHECK_INT_EQ(status_of(rt, c.id), OCI_STATUS_STOPPED);
  /* The monitor leaves once its container is gone, and removes its
   * attach socket but not the link to it. */
  struct conmon_ref ref = {made.conmon_pid, made.conmon_start_time};
  CHECK(rtfx_wait(conmon_gone, &ref, 5000));
  char attach[4096];
  snprintf(attach, sizeof(attach), "%s/attach", c.bundle);
  CHECK(rtfx_wait(path_absent, attach, 5000));
  struct stat lst;
  CHECK(lstat(link, &lst) == 0 && S_ISLNK(lst.st_mode));
  OK(oci_conmon_remove_attach_link(c.cfg.socket_dir, c.id, &err), &err);
  CHECK(lstat(link, &lst) < 0 && errno == ENOENT);
  OK(oci_conmon_remove_attach_link(c.cfg.socket_dir, c.id, &err), &err);
  /* A stopped container cannot start again. */
  CHECK(oci_runtime_start(rt, c.id, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EALREADY);
  crio_error_release(&err);
  /* Reopening a dead container's log: nobody reads the FIFO. */
  CHECK(oci_conmon_reopen_log(c.bundle, c.log_path, 1000, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EBUSY);
  crio_error_release(&err);

  /* delete removes the runtime's state and the container's cgroup. */
  OK(oci_runtime_delete(rt, c.id, &err), &err);
  CHECK(oci_runtime_state(rt, c.id, &st, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), ENOENT);
  crio_error_release(&err);
  char state_dir[4096];
  snprintf(state_dir, sizeof(state_dir), "%s/%s", oci_runtime_root(rt), c.id);
  CHECK(access(state_dir, F_OK) < 0);
  char cg[4096];
  snprintf(cg, sizeof(cg), "/sys/fs/cgroup/memory%s/%s", rtfx_cgroup_parent(), c.id);
  CHECK(access(cg, F_OK) < 0);
  OK(oci_runtime_delete(rt, c.id, &err), &err); /* again: success */
  OK(oci_exit_file_remove(c.exit_dir, c.id, &err), &err);
  CHECK(oci_exit_file_read(c.exit_dir, c.id, NULL, &es, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), ENOENT);
  crio_error_release(&err);
  OK(oci_exit_file_remove(c.exit_dir, c.id, &err), &err);
}

static void test_lifecycle_runc(void) {
  test_lifecycle(rtfx_runc());
}

/* The "daemon" (a child process here) creates the container and dies:
 * (runs before the exit watch's thread exists: the child calls malloc)
 * conmon was reparented away from it, holds none of its descriptors, and
 * the container is still there to start; its logs still flow. */
static void test_survives_daemon(void) {
  const struct oci_runtime *rt = rtfx_runc();
  const char *args[] = {"sh", "-c", "read x < /dev/null; echo alive; sleep 1000", NULL};
  struct rtfx_container c;
  rtfx_container_init(&c, rt, "detach", args, 0);
  rtfx_track_container(rt, c.id);
  char *marker = rtfx_path("daemon-marker");
  int report[2];
  CHECK(pipe(report) == 0);
  pid_t daemon = fork();
  CHECK(daemon >= 0);
  if (daemon == 0) {
    /* Descriptors a daemon holds without O_CLOEXEC must not reach conmon. */
    int leak = open(marker, O_RDWR | O_CREAT, 0600);
    (void)leak;
    crio_error_t err = NULL;
    struct oci_conmon_created made = {0};
    int rc = oci_conmon_create(&c.cfg, &made, &err);
    if (rc < 0)
      fprintf(stderr, "daemon child: %s\n", crio_error_message(&err));
    if (write(report[1], &made, sizeof(made)) != (ssize_t)sizeof(made))
      _exit(2);
    _exit(rc < 0 ? 1 : 0);
  }
  close(report[1]);
  struct oci_conmon_created made;
  CHECK(read(report[0], &made, sizeof(made)) == (ssize_t)sizeof(made));
  close(report[0]);
  int status = 0;
  CHECK(waitpid(daemon, &status, 0) == daemon);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  fixture_track_process(made.conmon_pid);

  crio_error_t err = NULL;
  CHECK_INT_EQ(oci_conmon_is_running(made.conmon_pid, made.conmon_start_time, &err), 1);
  char stat_path[64];
  snprintf(stat_path, sizeof(stat_path), "/proc/%d/stat", (int)made.conmon_pid);
  char *stat = rtfx_read(stat_path);
  CHECK(stat != NULL);
  int ppid = 0;
  CHECK(sscanf(strrchr(stat, ')') + 2, "%*c %d", &ppid) == 1);
  free(stat);
  CHECK(ppid != daemon && ppid != getpid());
  /* None of conmon's descriptors is the daemon's marker file. */
  char fd_dir[64];
  snprintf(fd_dir, sizeof(fd_dir), "/proc/%d/fd", (int)made.conmon_pid);
  for (int fd = 0; fd < 64; fd++) {
    char link[128], target[4096];
    snprintf(link, sizeof(link), "%s/%d", fd_dir, fd);
    ssize_t n = readlink(link, target, sizeof(target) - 1);
    if (n <= 0)
      continue;
    target[n] = '\0';
    CHECK(strcmp(target, marker) != 0);
  }
  CHECK_INT_EQ(status_of(rt, c.id), OCI_STATUS_CREATED);
  OK(oci_runtime_start(rt, c.id, &err), &err);
  struct log_wait lw = {c.log_path, "alive\n"};
  CHECK(rtfx_wait(log_has, &lw, 5000));
  OK(oci_runtime_stop(rt, c.id, SIGKILL, 0, &err), &err);
  OK(oci_exit_file_wait(c.exit_dir, c.id, 10000, &err), &err);
  struct oci_exit_status es;
  OK(oci_exit_file_read(c.exit_dir, c.id, c.persist_dir, &es, &err), &err);
  CHECK_INT_EQ(es.exit_code, 137);
  free(marker);
}

static bool file_grows(void *arg) {
  struct stat st;
  const char *path = arg;
  return stat(path, &st) == 0 && st.st_size > 0;
}

/* The kubelet renames the log and asks for a reopen: new lines go to a
 * new file at the log path, none to the renamed one. */
static void test_reopen_log(void) {
  const struct oci_runtime *rt = rtfx_runc();
  const char *args[] = {"sh", "-c", "i=0; while true; do echo line$i; i=$((i+1)); sleep 0.05; done",
                        NULL};
  struct rtfx_container c;
  rtfx_container_init(&c, rt, "reopen", args, 0);
  crio_error_t err = NULL;
  struct oci_conmon_created made;
  OK(rtfx_create(&c, &made, &err), &err);
  OK(oci_runtime_start(rt, c.id, &err), &err);
  struct log_wait lw = {c.log_path, "line3\n"};
  CHECK(rtfx_wait(log_has, &lw, 5000));
  char rotated[4096];
  snprintf(rotated, sizeof(rotated), "%s.1", c.log_path);
  CHECK(rename(c.log_path, rotated) == 0);
  OK(oci_conmon_reopen_log(c.bundle, c.log_path, 5000, &err), &err);
  struct stat after_reopen;
  CHECK(stat(rotated, &after_reopen) == 0);
  CHECK(rtfx_wait(file_grows, c.log_path, 5000));
  struct log_wait lw2 = {c.log_path, " stdout F line"};
  CHECK(rtfx_wait(log_has, &lw2, 5000));
  usleep(300000);
  struct stat later;
  CHECK(stat(rotated, &later) == 0);
  CHECK_INT_EQ(later.st_size, after_reopen.st_size);
  /* Without a rename: a reopen still yields a new file in place. */
  struct stat old;
  CHECK(stat(c.log_path, &old) == 0);
  OK(oci_conmon_reopen_log(c.bundle, c.log_path, 5000, &err), &err);
  struct stat fresh;
  CHECK(stat(c.log_path, &fresh) == 0);
  CHECK(fresh.st_ino != old.st_ino);
  /* A resize without a terminal is accepted by conmon and ignored. */
  OK(oci_conmon_resize(c.bundle, 40, 120, &err), &err);
  OK(oci_runtime_stop(rt, c.id, SIGTERM, 2000, &err), &err);
  CHECK(rtfx_wait_exit_event(c.id, 10000, NULL, NULL) != -1000);
}

/* The memory cgroup kills the container: conmon leaves "oom" in the
 * persist dir before the exit file, so the event says OOMKilled. */
static void test_oom(void) {
  const struct oci_runtime *rt = rtfx_runc();
  const char *args[] = {"dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1", NULL};
  struct rtfx_container c;
  rtfx_container_init(&c, rt, "oom", args, 16 << 20);
  crio_error_t err = NULL;
  struct oci_conmon_created made;
  OK(rtfx_create(&c, &made, &err), &err);
  OK(oci_runtime_start(rt, c.id, &err), &err);
  bool oom = false;
  CHECK_INT_EQ(rtfx_wait_exit_event(c.id, 20000, &oom, NULL), 137);
  CHECK(oom);
  struct oci_exit_status es;
  OK(oci_exit_file_read(c.exit_dir, c.id, c.persist_dir, &es, &err), &err);
  CHECK_STR_EQ(oci_exit_reason_name(oci_exit_reason_of(&es)), "OOMKilled");
  OK(oci_runtime_delete(rt, c.id, &err), &err);
}

/* Exits that happened while nobody watched are found by the scan (at
 * start-up, and by a new watch's first scan); then the watch reports new
 * ones as conmon writes them (a temporary renamed into place). */
static void test_scan(void) {
  char *exits = rtfx_path("exits-scan");
  CHECK(mkdir(exits, 0700) == 0);
  char path[4096];
  snprintf(path, sizeof(path), "%s/scan-early", exits);
  crio_error_t err = NULL;
  OK(crio_write_file_atomic(path, "42", 2, 0644, &err), &err);
  /* A glib temporary and junk are ignored. */
  snprintf(path, sizeof(path), "%s/scan-early.AB12cd", exits);
  OK(crio_write_file_atomic(path, "1", 1, 0644, &err), &err);
  snprintf(path, sizeof(path), "%s/bad-exit", exits);
  OK(crio_write_file_atomic(path, "x", 1, 0644, &err), &err);
  OK(oci_exit_scan(exits, NULL, rtfx_on_exit, NULL, &err), &err);
  CHECK_INT_EQ(rtfx_exit_events("scan-early"), 1);
  CHECK_INT_EQ(rtfx_exit_events("bad-exit"), 0);
  CHECK_INT_EQ(rtfx_exit_events("scan-early.AB12cd"), 0);
  struct oci_exit_watch *w2 = NULL;
  OK(oci_exit_watch_start(exits, NULL, rtfx_on_exit, NULL, &w2, &err), &err);
  for (int i = 0; i < 500 && rtfx_exit_events("scan-early") < 2; i++)
    usleep(10000);
  CHECK_INT_EQ(rtfx_exit_events("scan-early"), 2);
  snprintf(path, sizeof(path), "%s/scan-live", exits);
  OK(crio_write_file_atomic(path, "0", 1, 0644, &err), &err);
  CHECK_INT_EQ(rtfx_wait_exit_event("scan-live", 5000, NULL, NULL), 0);
  oci_exit_watch_stop(w2);
  /* Once or twice: a file written while the watch's first scan is still
   * reading the directory is seen by the scan and by inotify.  Harmless in
   * the daemon: a second exit event finds the container EXITED already and
   * is ignored by the reconciler. */
  CHECK(rtfx_exit_events("scan-live") >= 1 && rtfx_exit_events("scan-live") <= 2);
  CHECK_INT_EQ(rtfx_exit_events("bad-exit"), 0);
  free(exits);
}

/* crun: where the host allows it, the same lifecycle; where it does not
 * (crun 1.8 on a hybrid cgroup host), check_host says why and a real
 * create through conmon fails with crun's own reason. */
static void test_crun(void) {
  const struct oci_runtime *rt = rtfx_crun();
  if (access(oci_runtime_path(rt), X_OK) < 0) {
    fprintf(stderr, "   skip crun: %s not installed\n", oci_runtime_path(rt));
    return;
  }
  crio_error_t err = NULL;
  if (oci_runtime_check_host(rt, &err) == 0) {
    test_lifecycle(rt);
    return;
  }
  CHECK_INT_EQ(crio_error_status(&err), ENOTSUP);
  fprintf(stderr, "   skip crun lifecycle: %s\n", crio_error_message(&err));
  crio_error_release(&err);
  const char *args[] = {"true", NULL};
  struct rtfx_container c;
  rtfx_container_init(&c, rt, "crun", args, 0);
  struct oci_conmon_created made;
  CHECK(rtfx_create(&c, &made, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EIO);
  fprintf(stderr, "   crun create through conmon: %s\n", crio_error_message(&err));
  CHECK(strstr(crio_error_message(&err), "hybrid") != NULL);
  crio_error_release(&err);
}

/* Bad configurations are refused before anything runs. */
static void test_bad_config(void) {
  const char *args[] = {"true", NULL};
  struct rtfx_container c;
  rtfx_container_init(&c, rtfx_runc(), "bad", args, 0);
  crio_error_t err = NULL;
  struct oci_conmon_created made;
  struct oci_conmon_config cfg = c.cfg;
  cfg.log_path = "relative.log";
  CHECK(oci_conmon_create(&cfg, &made, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  crio_error_release(&err);
  cfg = c.cfg;
  cfg.id = "../escape";
  CHECK(oci_conmon_create(&cfg, &made, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  crio_error_release(&err);
  cfg = c.cfg;
  cfg.log_level = "chatty";
  CHECK(oci_conmon_create(&cfg, &made, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  crio_error_release(&err);
  /* A bundle whose command does not exist: runc 1.1 looks it up at
   * create, and its message comes back through conmon's sync pipe. */
  const char *missing[] = {"/bin/nonexistent", NULL};
  struct rtfx_container d;
  rtfx_container_init(&d, rtfx_runc(), "noexec", missing, 0);
  CHECK(rtfx_create(&d, &made, &err) < 0);
  fprintf(stderr, "   create with a missing binary: %s\n", crio_error_message(&err));
  CHECK_INT_EQ(crio_error_status(&err), EIO);
  CHECK(strstr(crio_error_message(&err), "/bin/nonexistent") != NULL);
  crio_error_release(&err);
  struct oci_runtime_state st;
  CHECK(oci_runtime_state(rtfx_runc(), d.id, &st, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), ENOENT);
  crio_error_release(&err);
  /* A runtime that does not exist: conmon refuses before forking. */
  struct oci_runtime ghost = *rtfx_runc();
  ghost.path = "/nonexistent/runc";
  cfg = c.cfg;
  cfg.runtime = &ghost;
  CHECK(oci_conmon_create(&cfg, &made, &err) < 0);
  fprintf(stderr, "   missing runtime: %s\n", crio_error_message(&err));
  CHECK_INT_EQ(crio_error_status(&err), EIO);
  crio_error_release(&err);
}

int main(void) {
  rtfx_require_root();
  char *exits = rtfx_path("exits");
  char *persist = rtfx_path("persist");
  crio_error_t err = NULL;
  RUN_TEST(test_survives_daemon);
  OK(oci_exit_watch_start(exits, persist, rtfx_on_exit, NULL, &watch, &err), &err);
  RUN_TEST(test_lifecycle_runc);
  RUN_TEST(test_reopen_log);
  RUN_TEST(test_oom);
  RUN_TEST(test_scan);
  RUN_TEST(test_bad_config);
  RUN_TEST(test_crun);
  oci_exit_watch_stop(watch);
  free(exits);
  free(persist);
  return 0;
}
