/* Runtime handlers without containers: the command lines runc and crun
 * handlers build (through a scripted stand-in that records its argv,
 * stdin and environment and answers like the real runtime), how their
 * failures are classified, deadlines, and the real binaries' answers for
 * unknown containers, versions, features and host checks. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/oci.h"
#include "oci/runtime.h"
#include "tests/unit/testing.h"

/* test_oci_fixture.c */
const char *fixture_dir(void);
void fixture_ok(int rc, crio_error_t *err, const char *what, int line);
#define OK(call, err) fixture_ok((call), (err), #call, __LINE__)

static char *path_in(const char *name) {
  char *p = NULL;
  CHECK(asprintf(&p, "%s/%s", fixture_dir(), name) > 0);
  return p;
}

static char *slurp(const char *name) {
  char *path = path_in(name);
  char *text = NULL;
  crio_error_t err = NULL;
  if (crio_read_file(path, &text, NULL, &err) < 0) {
    crio_error_release(&err);
    text = strdup("");
  }
  free(path);
  return text;
}

/* A stand-in runtime: writes its argv (one per line) to <tmp>/argv, stdin
 * to <tmp>/stdin, its environment to <tmp>/env, whether fd `leak_fd` is
 * open to <tmp>/leak, then runs `body` (sh). */
static int leak_fd = -1;
static char *fake_runtime(const char *name, const char *body) {
  char *path = path_in(name);
  char *script = NULL;
  const char *dir = fixture_dir();
  CHECK(asprintf(&script,
                 "#!/bin/sh\n"
                 "for a in \"$@\"; do printf '%%s\\n' \"$a\"; done > %s/argv\n"
                 "cat > %s/stdin\n"
                 "env > %s/env\n"
                 "if [ -e /proc/$$/fd/%d ]; then echo leaked; else echo closed; fi > %s/leak\n"
                 "%s\n",
                 dir, dir, dir, leak_fd, dir, body) > 0);
  crio_error_t err = NULL;
  OK(crio_write_file_atomic(path, script, strlen(script), 0755, &err), &err);
  free(script);
  return path;
}

static void test_ops_lookup(void) {
  crio_error_t err = NULL;
  CHECK(oci_runtime_ops_get("runc", &err) == &oci_runtime_runc);
  CHECK(oci_runtime_ops_get("crun", &err) == &oci_runtime_crun);
  CHECK(oci_runtime_ops_get("kata", &err) == NULL);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  CHECK(strstr(crio_error_message(&err), "kata") != NULL);
  crio_error_release(&err);
}

/* runc and crun handlers build the same command lines: global options,
 * then the verb, its flags, the id; the signal as a number; resources on
 * stdin; --systemd-cgroup when asked. */
static void check_command_lines(const struct oci_runtime_ops *ops) {
  fprintf(stderr, "   handler %s\n", ops->name);
  const char *root = "/run/test-root";
  char *bin = fake_runtime(ops->name, "echo '{\"ociVersion\":\"1.0.2\",\"id\":\"c1\","
                                      "\"pid\":4242,\"status\":\"running\"}'");
  struct oci_runtime rt = {.ops = ops, .path = bin, .root = root};
  crio_error_t err = NULL;
  char expect[1024];

  struct oci_runtime_state st;
  OK(oci_runtime_state(&rt, "c1", &st, &err), &err);
  CHECK_INT_EQ(st.status, OCI_STATUS_RUNNING);
  CHECK_INT_EQ(st.pid, 4242);
  char *argv = slurp("argv");
  snprintf(expect, sizeof(expect), "--root=%s\nstate\nc1\n", root);
  CHECK_STR_EQ(argv, expect);
  free(argv);

  /* A clean environment (PATH only) and none of our descriptors. */
  char *env = slurp("env");
  CHECK(strstr(env, "PATH=") != NULL);
  CHECK(strstr(env, "CRIO_TEST_MARKER") == NULL);
  free(env);
  char *leak = slurp("leak");
  CHECK_STR_EQ(leak, "closed\n");
  free(leak);

  OK(oci_runtime_kill(&rt, "c1", SIGTERM, false, &err), &err);
  argv = slurp("argv");
  snprintf(expect, sizeof(expect), "--root=%s\nkill\nc1\n15\n", root);
  CHECK_STR_EQ(argv, expect);
  free(argv);
  OK(oci_runtime_kill(&rt, "c1", SIGKILL, true, &err), &err);
  argv = slurp("argv");
  snprintf(expect, sizeof(expect), "--root=%s\nkill\n--all\nc1\n9\n", root);
  CHECK_STR_EQ(argv, expect);
  free(argv);

  OK(oci_runtime_delete(&rt, "c1", &err), &err);
  argv = slurp("argv");
  snprintf(expect, sizeof(expect), "--root=%s\ndelete\n--force\nc1\n", root);
  CHECK_STR_EQ(argv, expect);
  free(argv);

  const char *res = "{\"memory\":{\"limit\":33554432}}";
  OK(oci_runtime_update(&rt, "c1", res, &err), &err);
  argv = slurp("argv");
  snprintf(expect, sizeof(expect), "--root=%s\nupdate\n--resources\n-\nc1\n", root);
  CHECK_STR_EQ(argv, expect);
  free(argv);
  char *in = slurp("stdin");
  CHECK_STR_EQ(in, res);
  free(in);
  CHECK(oci_runtime_update(&rt, "c1", "not json", &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  crio_error_release(&err);

  OK(oci_runtime_start(&rt, "c1", &err), &err);
  argv = slurp("argv");
  snprintf(expect, sizeof(expect), "--root=%s\nstart\nc1\n", root);
  CHECK_STR_EQ(argv, expect);
  free(argv);
  OK(oci_runtime_pause(&rt, "c1", &err), &err);
  argv = slurp("argv");
  snprintf(expect, sizeof(expect), "--root=%s\npause\nc1\n", root);
  CHECK_STR_EQ(argv, expect);
  free(argv);
  OK(oci_runtime_resume(&rt, "c1", &err), &err);
  argv = slurp("argv");
  snprintf(expect, sizeof(expect), "--root=%s\nresume\nc1\n", root);
  CHECK_STR_EQ(argv, expect);
  free(argv);

  rt.systemd_cgroup = true;
  OK(oci_runtime_start(&rt, "c1", &err), &err);
  argv = slurp("argv");
  snprintf(expect, sizeof(expect), "--root=%s\n--systemd-cgroup\nstart\nc1\n", root);
  CHECK_STR_EQ(argv, expect);
  free(argv);

  char **exec = oci_runtime_exec_argv(&rt, "c1", "/b/p.json", "/b/p.pid", NULL);
  CHECK_STR_EQ(exec[0], bin);
  snprintf(expect, sizeof(expect), "--root=%s", root);
  CHECK_STR_EQ(exec[1], expect);
  CHECK_STR_EQ(exec[2], "--systemd-cgroup");
  CHECK_STR_EQ(exec[3], "exec");
  CHECK_STR_EQ(exec[4], "--detach");
  CHECK_STR_EQ(exec[5], "--process");
  CHECK_STR_EQ(exec[6], "/b/p.json");
  CHECK_STR_EQ(exec[7], "--pid-file");
  CHECK_STR_EQ(exec[8], "/b/p.pid");
  CHECK_STR_EQ(exec[9], "c1");
  CHECK(exec[10] == NULL);
  cleanup_strvp(&exec);
  char **global = oci_runtime_global_args(&rt);
  CHECK_STR_EQ(global[0], expect);
  CHECK(global[1] == NULL);
  cleanup_strvp(&global);

  /* Ids reach argv: anything that could be read as an option or a path
   * is refused before a process runs. */
  const char *bad[] = {"", "-rf", "../x", "a/b", "a b", NULL};
  for (const char **b = bad; *b; b++) {
    CHECK(oci_runtime_state(&rt, *b, &st, &err) < 0);
    CHECK_INT_EQ(crio_error_status(&err), EINVAL);
    crio_error_release(&err);
  }
  CHECK(oci_runtime_kill(&rt, "c1", 0, false, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  crio_error_release(&err);
  free(bin);
}

static void test_command_lines(void) {
  check_command_lines(&oci_runtime_runc);
  check_command_lines(&oci_runtime_crun);
}

/* Each runtime's own words for "no such container" and "not running"
 * become ENOENT and ESRCH; delete of an unknown container is success;
 * start of a stopped one is EALREADY. */
static void test_failure_classes(void) {
  crio_error_t err = NULL;
  struct oci_runtime_state st;
  /* runc: logrus lines on stderr. */
  char *runc_gone = fake_runtime(
      "runc-gone", "echo 'time=\"2026-01-01T00:00:00Z\" level=error msg=\"container does not "
                   "exist\"' >&2; exit 1");
  struct oci_runtime rt = {.ops = &oci_runtime_runc, .path = runc_gone, .root = "/r"};
  CHECK(oci_runtime_state(&rt, "c1", &st, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), ENOENT);
  CHECK(strstr(crio_error_message(&err), "container does not exist") != NULL);
  crio_error_release(&err);
  OK(oci_runtime_delete(&rt, "c1", &err), &err);
  CHECK(oci_runtime_kill(&rt, "c1", SIGTERM, false, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), ENOENT);
  crio_error_release(&err);

  char *runc_stopped = fake_runtime(
      "runc-stopped",
      "case \"$2\" in\n"
      "state) echo '{\"id\":\"c1\",\"pid\":0,\"status\":\"stopped\"}';;\n"
      "start) echo 'level=error msg=\"cannot start a container that has stopped\"' >&2; exit 1;;\n"
      "*) echo 'level=error msg=\"container not running\"' >&2; exit 1;;\n"
      "esac");
  rt.path = runc_stopped;
  CHECK(oci_runtime_kill(&rt, "c1", SIGTERM, false, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), ESRCH);
  crio_error_release(&err);
  CHECK(oci_runtime_start(&rt, "c1", &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EALREADY);
  crio_error_release(&err);
  /* Stopping a stopped container is done already. */
  OK(oci_runtime_stop(&rt, "c1", SIGTERM, 1000, &err), &err);

  /* crun: "not found" only when its message names the state dir of this
   * very container; another missing file is a plain failure. */
  char *crun_gone = fake_runtime(
      "crun-gone",
      "echo 'error opening file `/r/c1/status`: No such file or directory' >&2; exit 1");
  struct oci_runtime crt = {.ops = &oci_runtime_crun, .path = crun_gone, .root = "/r"};
  CHECK(oci_runtime_state(&crt, "c1", &st, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), ENOENT);
  crio_error_release(&err);
  CHECK(oci_runtime_state(&crt, "c10", &st, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EIO);
  crio_error_release(&err);
  char *crun_esrch =
      fake_runtime("crun-esrch", "echo 'kill container: No such process' >&2; exit 1");
  crt.path = crun_esrch;
  CHECK(oci_runtime_kill(&crt, "c1", SIGKILL, false, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), ESRCH);
  crio_error_release(&err);
  char *crun_nofeat = fake_runtime("crun-nofeat", "echo 'unknown command features' >&2; exit 1");
  crt.path = crun_nofeat;
  char *json = NULL;
  CHECK(oci_runtime_features(&crt, &json, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), ENOSYS);
  crio_error_release(&err);
  free(runc_gone);
  free(runc_stopped);
  free(crun_gone);
  free(crun_esrch);
  free(crun_nofeat);
}

/* A runtime that hangs is killed at the deadline, with what it started in
 * its process group, and the call fails with ETIMEDOUT. */
static void test_deadline(void) {
  char *pidfile = path_in("hang.pid");
  char body[1024];
  snprintf(body, sizeof(body), "sleep 30 & echo $! > %s; wait", pidfile);
  char *bin = fake_runtime("runc-hang", body);
  struct oci_runtime rt = {.ops = &oci_runtime_runc, .path = bin, .root = "/r", .timeout_ms = 300};
  crio_error_t err = NULL;
  struct oci_runtime_state st;
  int64_t start = crio_monotonic_ns();
  CHECK(oci_runtime_state(&rt, "c1", &st, &err) < 0);
  int64_t ms = (crio_monotonic_ns() - start) / 1000000;
  CHECK_INT_EQ(crio_error_status(&err), ETIMEDOUT);
  crio_error_release(&err);
  CHECK(ms >= 250 && ms < 5000);
  char *text = slurp("hang.pid");
  pid_t child = (pid_t)atoi(text);
  free(text);
  CHECK(child > 0);
  /* The background sleep was in the group: gone (or a zombie of init). */
  bool gone = false;
  for (int i = 0; i < 200 && !gone; i++) {
    char stat_path[64], *stat = NULL;
    snprintf(stat_path, sizeof(stat_path), "/proc/%d/stat", (int)child);
    if (crio_read_file(stat_path, &stat, NULL, &err) < 0) {
      crio_error_release(&err);
      gone = true;
    } else {
      char *p = strrchr(stat, ')');
      gone = p && p[2] == 'Z';
      free(stat);
    }
    if (!gone)
      usleep(10000);
  }
  CHECK(gone);
  free(bin);
  free(pidfile);
}

/* Debian's binaries: versions, features, and unknown containers. */
static void test_real_binaries(void) {
  const char *root = fixture_dir();
  const struct oci_runtime_ops *ops[] = {&oci_runtime_runc, &oci_runtime_crun};
  for (int i = 0; i < 2; i++) {
    if (access(ops[i]->default_path, X_OK) < 0) {
      fprintf(stderr, "   skip %s: %s not installed\n", ops[i]->name, ops[i]->default_path);
      continue;
    }
    fprintf(stderr, "   %s\n", ops[i]->name);
    struct oci_runtime rt = {.ops = ops[i], .root = root};
    crio_error_t err = NULL;
    char *version = NULL;
    OK(oci_runtime_version(&rt, &version, &err), &err);
    fprintf(stderr, "   %s version %s\n", ops[i]->name, version);
    CHECK(version[0] >= '0' && version[0] <= '9' && strchr(version, '.') != NULL);
    free(version);

    char *features = NULL;
    int rc = oci_runtime_features(&rt, &features, &err);
    if (rc < 0) {
      /* crun 1.8 has no `features`. */
      CHECK_INT_EQ(crio_error_status(&err), ENOSYS);
      fprintf(stderr, "   %s features: %s\n", ops[i]->name, crio_error_message(&err));
      crio_error_release(&err);
    } else {
      CHECK(strstr(features, "ociVersionMax") != NULL);
      free(features);
    }

    struct oci_runtime_state st;
    CHECK(oci_runtime_state(&rt, "nosuch", &st, &err) < 0);
    CHECK_INT_EQ(crio_error_status(&err), ENOENT);
    crio_error_release(&err);
    OK(oci_runtime_delete(&rt, "nosuch", &err), &err);
    CHECK(oci_runtime_kill(&rt, "nosuch", SIGKILL, false, &err) < 0);
    CHECK_INT_EQ(crio_error_status(&err), ENOENT);
    crio_error_release(&err);
    CHECK(oci_runtime_kill(&rt, "nosuch", SIGKILL, true, &err) < 0);
    CHECK_INT_EQ(crio_error_status(&err), ENOENT);
    crio_error_release(&err);
    CHECK(oci_runtime_start(&rt, "nosuch", &err) < 0);
    CHECK_INT_EQ(crio_error_status(&err), ENOENT);
    crio_error_release(&err);
    CHECK(oci_runtime_pause(&rt, "nosuch", &err) < 0);
    CHECK_INT_EQ(crio_error_status(&err), ENOENT);
    crio_error_release(&err);
    CHECK(oci_runtime_update(&rt, "nosuch", "{}", &err) < 0);
    CHECK_INT_EQ(crio_error_status(&err), ENOENT);
    crio_error_release(&err);
    /* Stopping an unknown container is done. */
    OK(oci_runtime_stop(&rt, "nosuch", SIGTERM, 100, &err), &err);
  }
}

/* runc runs everywhere; crun 1.8 refuses a hybrid layout whose v2
 * hierarchy has controllers, and the check says so exactly then. */
static void test_check_host(void) {
  struct oci_runtime runc = {.ops = &oci_runtime_runc};
  struct oci_runtime crun = {.ops = &oci_runtime_crun};
  crio_error_t err = NULL;
  OK(oci_runtime_check_host(&runc, &err), &err);
  enum oci_cgroup_mode mode;
  OK(oci_cgroup_mode_detect(&mode, &err), &err);
  bool refuse = false;
  if (mode == OCI_CGROUP_HYBRID) {
    char *controllers = NULL;
    OK(crio_read_file("/sys/fs/cgroup/unified/cgroup.controllers", &controllers, NULL, &err), &err);
    refuse = strspn(controllers, " \n") != strlen(controllers);
    free(controllers);
  }
  int rc = oci_runtime_check_host(&crun, &err);
  if (refuse) {
    CHECK(rc < 0);
    CHECK_INT_EQ(crio_error_status(&err), ENOTSUP);
    fprintf(stderr, "   crun on this host: %s\n", crio_error_message(&err));
    crio_error_release(&err);
  } else {
    OK(rc, &err);
  }
}

int main(void) {
  fixture_dir();
  /* A descriptor without O_CLOEXEC that no runtime may inherit. */
  leak_fd = open("/dev/null", O_RDONLY);
  CHECK(leak_fd >= 0);
  setenv("CRIO_TEST_MARKER", "1", 1);
  RUN_TEST(test_ops_lookup);
  RUN_TEST(test_command_lines);
  RUN_TEST(test_failure_classes);
  RUN_TEST(test_deadline);
  RUN_TEST(test_real_binaries);
  RUN_TEST(test_check_host);
  return 0;
}
