/* ExecSync in a running container (root, runc through conmon): output of
 * both streams and the exit code, the deadline (the command and what it
 * started are killed), the output cap, background processes, commands
 * that cannot start, containers that do not run. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oci/oci.h"
#include "oci/runtime.h"
#include "tests/unit/testing.h"

/* test_oci_fixture.c */
void fixture_ok(int rc, crio_error_t *err, const char *what, int line);
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
const char *rtfx_cgroup_parent(void);
void rtfx_container_init(struct rtfx_container *c, const struct oci_runtime *rt, const char *tag,
                         const char *const *args, long long memory_limit);
int rtfx_create(struct rtfx_container *c, struct oci_conmon_created *out, crio_error_t *err);
int64_t rtfx_ms_since(int64_t start_ns);
char *rtfx_read(const char *path);
void rtfx_require_root(void);

static struct rtfx_container ctr;
static struct oci_conmon_created made;
static char *config_path;

static int exec_sh(const char *script, int64_t timeout_ms, size_t cap, struct oci_exec_result *r,
                   crio_error_t *err) {
  const char *argv[] = {"sh", "-c", script, NULL};
  char *json = NULL;
  OK(oci_exec_process_json(config_path, argv, &json, err), err);
  int rc = oci_exec_sync(rtfx_runc(), ctr.id, json, ctr.bundle, timeout_ms, cap, r, err);
  free(json);
  return rc;
}

/* Processes in the container's cgroup (its init, exec'd commands). */
static int procs_in_container(void) {
  char path[4096];
  snprintf(path, sizeof(path), "/sys/fs/cgroup/pids%s/%s/cgroup.procs", rtfx_cgroup_parent(),
           ctr.id);
  char *text = rtfx_read(path);
  CHECK(text != NULL);
  int n = 0;
  for (char *p = text; *p; p++)
    n += *p == '\n';
  free(text);
  return n;
}

static void test_output_and_code(void) {
  struct oci_exec_result r;
  crio_error_t err = NULL;
  OK(exec_sh("echo out; echo err >&2; echo $HOME; exit 7", 10000, 0, &r, &err), &err);
  CHECK_INT_EQ(r.exit_code, 7);
  CHECK_STR_EQ(r.out, "out\n/\n"); /* the container's env applies */
  CHECK_STR_EQ(r.errout, "err\n");
  CHECK(!r.out_truncated && !r.err_truncated);
  oci_exec_result_release(&r);
  OK(exec_sh("true", 0, 0, &r, &err), &err);
  CHECK_INT_EQ(r.exit_code, 0);
  CHECK_INT_EQ(r.out_len, 0);
  oci_exec_result_release(&r);
  /* Killed by a signal: 128 + signal, as for containers. */
  OK(exec_sh("kill -9 $$", 10000, 0, &r, &err), &err);
  CHECK_INT_EQ(r.exit_code, 137);
  oci_exec_result_release(&r);
  /* The process and pid files are gone afterwards. */
  DIR *d = opendir(ctr.bundle);
  CHECK(d != NULL);
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    CHECK(strncmp(de->d_name, "exec-", 5) != 0);
  closedir(d);
}

/* On timeout the command and its children die, and what it wrote so far
 * comes back with ETIMEDOUT. */
static void test_timeout(void) {
  int before = procs_in_container();
  struct oci_exec_result r;
  crio_error_t err = NULL;
  int64_t start = crio_monotonic_ns();
  CHECK(exec_sh("echo started; sleep 100 & sleep 200", 700, 0, &r, &err) < 0);
  int64_t ms = rtfx_ms_since(start);
  fprintf(stderr, "   timed out after %lld ms\n", (long long)ms);
  CHECK_INT_EQ(crio_error_status(&err), ETIMEDOUT);
  crio_error_release(&err);
  CHECK(ms >= 700 && ms < 5000);
  CHECK_STR_EQ(r.out, "started\n");
  oci_exec_result_release(&r);
  int after = -1;
  for (int i = 0; i < 200; i++) {
    after = procs_in_container();
    if (after == before)
      break;
    usleep(10000);
  }
  CHECK_INT_EQ(after, before);
}

/* More output than the cap: the first `cap` bytes, flagged; the command
 * still runs to its end (it is never blocked on a full pipe). */
static void test_cap(void) {
  struct oci_exec_result r;
  crio_error_t err = NULL;
  OK(exec_sh("head -c 300000 /dev/zero; echo done >&2", 10000, 1000, &r, &err), &err);
  CHECK_INT_EQ(r.exit_code, 0);
  CHECK_INT_EQ(r.out_len, 1000);
  CHECK(r.out_truncated);
  CHECK_STR_EQ(r.errout, "done\n");
  oci_exec_result_release(&r);
}

/* A command that leaves a background process holding its stdout returns
 * when it exits, not when the pipe closes. */
static void test_background(void) {
  struct oci_exec_result r;
  crio_error_t err = NULL;
  int64_t start = crio_monotonic_ns();
  OK(exec_sh("sleep 30 & echo bg", 10000, 0, &r, &err), &err);
  CHECK(rtfx_ms_since(start) < 3000);
  CHECK_INT_EQ(r.exit_code, 0);
  CHECK_STR_EQ(r.out, "bg\n");
  oci_exec_result_release(&r);
}

/* A binary that does not exist: a result with the runtime's code and
 * message, as the kubelet expects for a failing probe. */
static void test_missing_binary(void) {
  const char *argv[] = {"/bin/nonexistent", NULL};
  char *json = NULL;
  crio_error_t err = NULL;
  OK(oci_exec_process_json(config_path, argv, &json, &err), &err);
  struct oci_exec_result r;
  OK(oci_exec_sync(rtfx_runc(), ctr.id, json, ctr.bundle, 10000, 0, &r, &err), &err);
  fprintf(stderr, "   exit %d: %s", r.exit_code, r.errout);
  CHECK(r.exit_code != 0);
  CHECK(strstr(r.errout, "nonexistent") != NULL);
  oci_exec_result_release(&r);
  free(json);
}

/* The process JSON is the container's with new args and no terminal. */
static void test_process_json(void) {
  const char *argv[] = {"echo", "a b", NULL};
  char *json = NULL;
  crio_error_t err = NULL;
  OK(oci_exec_process_json(config_path, argv, &json, &err), &err);
  CHECK(strstr(json, "\"args\":[\"echo\",\"a b\"]") != NULL);
  CHECK(strstr(json, "\"terminal\":false") != NULL);
  CHECK(strstr(json, "\"PATH=/bin\"") != NULL);
  CHECK(strstr(json, "CAP_KILL") != NULL);
  free(json);
  const char *empty[] = {NULL};
  CHECK(oci_exec_process_json(config_path, empty, &json, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  crio_error_release(&err);
}

/* Not running: EBUSY; unknown: ENOENT. */
static void test_not_running(void) {
  crio_error_t err = NULL;
  struct oci_exec_result r;
  const char *argv[] = {"true", NULL};
  char *json = NULL;
  OK(oci_exec_process_json(config_path, argv, &json, &err), &err);
  CHECK(oci_exec_sync(rtfx_runc(), "nosuch", json, ctr.bundle, 5000, 0, &r, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), ENOENT);
  crio_error_release(&err);
  OK(oci_runtime_stop(rtfx_runc(), ctr.id, SIGKILL, 0, &err), &err);
  CHECK(oci_exec_sync(rtfx_runc(), ctr.id, json, ctr.bundle, 5000, 0, &r, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EBUSY);
  crio_error_release(&err);
  free(json);
}

int main(void) {
  rtfx_require_root();
  const char *args[] = {"sleep", "1000", NULL};
  rtfx_container_init(&ctr, rtfx_runc(), "exec", args, 0);
  crio_error_t err = NULL;
  OK(rtfx_create(&ctr, &made, &err), &err);
  OK(oci_runtime_start(rtfx_runc(), ctr.id, &err), &err);
  CHECK(asprintf(&config_path, "%s/config.json", ctr.bundle) > 0);
  RUN_TEST(test_process_json);
  RUN_TEST(test_output_and_code);
  RUN_TEST(test_timeout);
  RUN_TEST(test_cap);
  RUN_TEST(test_background);
  RUN_TEST(test_missing_binary);
  RUN_TEST(test_not_running);
  return 0;
}
