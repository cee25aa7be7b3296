/* Stopping containers (root, runc through conmon): the stop signal, the
 * grace period, SIGKILL; timeout 0; a paused container; repeat stops.
 * Also update, pause/resume and where a container's stats are read. */
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
bool rtfx_wait(bool (*cond)(void *arg), void *arg, int timeout_ms);
char *rtfx_read(const char *path);
int64_t rtfx_ms_since(int64_t start_ns);
void rtfx_require_root(void);

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

/* A running container whose init printed `ready` (so its shell has set
 * its traps before we signal it). */
static void run(struct rtfx_container *c, const char *tag, const char *script,
                struct oci_conmon_created *made) {
  const char *args[] = {"sh", "-c", script, NULL};
  rtfx_container_init(c, rtfx_runc(), tag, args, 0);
  crio_error_t err = NULL;
  OK(rtfx_create(c, made, &err), &err);
  OK(oci_runtime_start(rtfx_runc(), c->id, &err), &err);
  struct log_wait lw = {c->log_path, "ready\n"};
  CHECK(rtfx_wait(log_has, &lw, 5000));
}

static int exit_code(const struct rtfx_container *c) {
  crio_error_t err = NULL;
  OK(oci_exit_file_wait(c->exit_dir, c->id, 10000, &err), &err);
  struct oci_exit_status st;
  OK(oci_exit_file_read(c->exit_dir, c->id, c->persist_dir, &st, &err), &err);
  return st.exit_code;
}

static enum oci_container_status status_of(const char *id) {
  struct oci_runtime_state st;
  crio_error_t err = NULL;
  OK(oci_runtime_state(rtfx_runc(), id, &st, &err), &err);
  return st.status;
}

/* `sleep` as PID 1 ignores SIGTERM (no handler): SIGKILL after the grace
 * period, not before. */
static void test_stop_escalates(void) {
  struct rtfx_container c;
  struct oci_conmon_created made;
  run(&c, "ignore", "echo ready; exec sleep 1000", &made);
  crio_error_t err = NULL;
  int64_t start = crio_monotonic_ns();
  OK(oci_runtime_stop(rtfx_runc(), c.id, SIGTERM, 700, &err), &err);
  int64_t ms = rtfx_ms_since(start);
  fprintf(stderr, "   stopped after %lld ms\n", (long long)ms);
  CHECK(ms >= 700 && ms < 5000);
  CHECK_INT_EQ(exit_code(&c), 137);
  CHECK_INT_EQ(status_of(c.id), OCI_STATUS_STOPPED);
  /* Stopping again, and stopping a deleted container, are done. */
  OK(oci_runtime_stop(rtfx_runc(), c.id, SIGTERM, 700, &err), &err);
  OK(oci_runtime_delete(rtfx_runc(), c.id, &err), &err);
  OK(oci_runtime_stop(rtfx_runc(), c.id, SIGTERM, 700, &err), &err);
}

/* A container that handles SIGTERM exits on it, well before the grace
 * period ends, with its own code. */
static void test_stop_graceful(void) {
  struct rtfx_container c;
  struct oci_conmon_created made;
  run(&c, "graceful", "trap 'exit 0' TERM; echo ready; while true; do sleep 0.05; done", &made);
  crio_error_t err = NULL;
  int64_t start = crio_monotonic_ns();
  OK(oci_runtime_stop(rtfx_runc(), c.id, SIGTERM, 10000, &err), &err);
  int64_t ms = rtfx_ms_since(start);
  fprintf(stderr, "   stopped after %lld ms\n", (long long)ms);
  CHECK(ms < 3000);
  CHECK_INT_EQ(exit_code(&c), 0);
  struct oci_exit_status st;
  OK(oci_exit_file_read(c.exit_dir, c.id, c.persist_dir, &st, &err), &err);
  CHECK_STR_EQ(oci_exit_reason_name(oci_exit_reason_of(&st)), "Completed");
}

/* Timeout 0: SIGKILL at once, even for a container that would handle
 * SIGTERM. */
static void test_stop_now(void) {
  struct rtfx_container c;
  struct oci_conmon_created made;
  run(&c, "now", "trap 'exit 0' TERM; echo ready; while true; do sleep 0.05; done", &made);
  crio_error_t err = NULL;
  int64_t start = crio_monotonic_ns();
  OK(oci_runtime_stop(rtfx_runc(), c.id, SIGTERM, 0, &err), &err);
  int64_t ms = rtfx_ms_since(start);
  fprintf(stderr, "   stopped after %lld ms\n", (long long)ms);
  CHECK(ms < 2000);
  CHECK_INT_EQ(exit_code(&c), 137);
}

/* A paused container is resumed before it is signalled; pause and resume
 * show in the state. */
static void test_pause_then_stop(void) {
  struct rtfx_container c;
  struct oci_conmon_created made;
  run(&c, "paused", "trap 'exit 5' TERM; echo ready; while true; do sleep 0.05; done", &made);
  const struct oci_runtime *rt = rtfx_runc();
  crio_error_t err = NULL;
  OK(oci_runtime_pause(rt, c.id, &err), &err);
  CHECK_INT_EQ(status_of(c.id), OCI_STATUS_PAUSED);
  OK(oci_runtime_resume(rt, c.id, &err), &err);
  CHECK_INT_EQ(status_of(c.id), OCI_STATUS_RUNNING);
  OK(oci_runtime_pause(rt, c.id, &err), &err);
  OK(oci_runtime_stop(rt, c.id, SIGTERM, 5000, &err), &err);
  CHECK_INT_EQ(exit_code(&c), 5);
}

/* A created (never started) container stops too. */
static void test_stop_created(void) {
  const char *args[] = {"sleep", "1000", NULL};
  struct rtfx_container c;
  rtfx_container_init(&c, rtfx_runc(), "created", args, 0);
  crio_error_t err = NULL;
  struct oci_conmon_created made;
  OK(rtfx_create(&c, &made, &err), &err);
  CHECK_INT_EQ(status_of(c.id), OCI_STATUS_CREATED);
  OK(oci_runtime_stop(rtfx_runc(), c.id, SIGTERM, 300, &err), &err);
  CHECK_INT_EQ(status_of(c.id), OCI_STATUS_STOPPED);
  CHECK(exit_code(&c) != 0);
}

static long long read_ll(const char *path) {
  char *text = rtfx_read(path);
  CHECK(text != NULL);
  long long v = atoll(text);
  free(text);
  return v;
}

/* update reaches the cgroup; the container's cgroup is found from its
 * pid, and its stats read there. */
static void test_update_and_stats(void) {
  struct rtfx_container c;
  struct oci_conmon_created made;
  run(&c, "update", "echo ready; exec sleep 1000", &made);
  const struct oci_runtime *rt = rtfx_runc();
  crio_error_t err = NULL;
  char *cg = NULL;
  OK(oci_process_cgroup_path(made.container_pid, &cg, &err), &err);
  char expect[1024];
  snprintf(expect, sizeof(expect), "%s/%s", rtfx_cgroup_parent(), c.id);
  CHECK_STR_EQ(cg, expect);
  enum oci_cgroup_mode mode;
  OK(oci_cgroup_mode_detect(&mode, &err), &err);
  if (mode != OCI_CGROUP_UNIFIED) {
    OK(oci_runtime_update(rt, c.id, "{\"memory\":{\"limit\":33554432},\"cpu\":{\"shares\":512}}",
                          &err),
       &err);
    char path[4096];
    snprintf(path, sizeof(path), "/sys/fs/cgroup/memory%s/memory.limit_in_bytes", cg);
    CHECK_INT_EQ(read_ll(path), 33554432);
    snprintf(path, sizeof(path), "/sys/fs/cgroup/cpu%s/cpu.shares", cg);
    CHECK_INT_EQ(read_ll(path), 512);
  }
  struct oci_cgroup_sampler *sampler = oci_cgroup_sampler_new(NULL);
  struct oci_cgroup_usage stats;
  OK(oci_cgroup_sample(sampler, cg, 0, &stats, &err), &err);
  oci_cgroup_sampler_free(sampler);
  CHECK(stats.memory_usage_bytes > 0);
  CHECK(stats.cpu_usage_ns > 0);
  free(cg);
  OK(oci_runtime_stop(rt, c.id, SIGKILL, 0, &err), &err);
  CHECK_INT_EQ(exit_code(&c), 137); /* reaped by conmon by now */
  CHECK(oci_process_cgroup_path(made.container_pid, &cg, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), ENOENT);
  crio_error_release(&err);
}

int main(void) {
  rtfx_require_root();
  RUN_TEST(test_stop_escalates);
  RUN_TEST(test_stop_graceful);
  RUN_TEST(test_stop_now);
  RUN_TEST(test_pause_then_stop);
  RUN_TEST(test_stop_created);
  RUN_TEST(test_update_and_stats);
  return 0;
}
