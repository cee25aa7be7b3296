/* common/'s spawner (crio_spawn, crio_run), which runs every OCI runtime,
 * conmon and CNI plugin: exit status, output caps, the deadline and its
 * kill of the whole process group, an environment that is exactly the one
 * passed, no descriptor of ours in the child but those named, default
 * signal state, stdin fed without SIGPIPE, and the two ways of ending
 * (at the exit, or at the exit and the output's EOF). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"
#include "testing.h"

static int run_sh(const char *script, struct crio_run *r, struct crio_run_result *res) {
  const char *argv[] = {"/bin/sh", "-c", script, NULL};
  r->spawn.argv = argv;
  crio_error_t err = NULL;
  int rc = crio_run(r, res, &err);
  if (rc < 0) {
    fprintf(stderr, "crio_run %s: %s\n", script, crio_error_message(&err));
    crio_error_release(&err);
  }
  r->spawn.argv = NULL;
  return rc;
}

/* The exit status, or 128+signal; a program that cannot be executed is an
 * error, not a status. */
static void test_exit_status(void) {
  struct crio_run r = {0};
  struct crio_run_result res;
  CHECK(run_sh("exit 3", &r, &res) == 0);
  CHECK_INT_EQ(res.exit_code, 3);
  CHECK(!res.timed_out);
  crio_run_result_release(&res);
  CHECK(run_sh("kill -9 $$", &r, &res) == 0);
  CHECK_INT_EQ(res.exit_code, 128 + SIGKILL);
  crio_run_result_release(&res);
  CHECK(run_sh("echo out; echo err >&2", &r, &res) == 0);
  CHECK_INT_EQ(res.exit_code, 0);
  CHECK_STR_EQ(res.out, "out\n");
  CHECK_STR_EQ(res.errout, "err\n");
  crio_run_result_release(&res);

  const char *missing[] = {"/nonexistent/program", NULL};
  struct crio_run m = {.spawn = {.argv = missing}};
  crio_error_t err = NULL;
  CHECK(crio_run(&m, &res, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), ENOENT);
  crio_error_release(&err);
}

/* Output beyond the cap is read and dropped: the child never blocks on a
 * full pipe, and the result says it was cut. */
static void test_output_cap(void) {
  struct crio_run r = {.out_cap = 1000, .err_cap = 10};
  struct crio_run_result res;
  CHECK(run_sh("head -c 1000000 /dev/zero; echo 0123456789abcdef >&2", &r, &res) == 0);
  CHECK_INT_EQ(res.exit_code, 0);
  CHECK_INT_EQ(res.out_len, 1000);
  CHECK(res.out_truncated);
  CHECK_INT_EQ(res.err_len, 10);
  CHECK(res.err_truncated);
  CHECK(memcmp(res.errout, "0123456789", 10) == 0 && res.errout[10] == '\0');
  crio_run_result_release(&res);
  CHECK(run_sh("head -c 1000 /dev/zero", &r, &res) == 0);
  CHECK_INT_EQ(res.out_len, 1000);
  CHECK(!res.out_truncated);
  crio_run_result_release(&res);
}

/* stdin larger than a pipe's buffer arrives whole; a child that exits
 * without reading it costs us no SIGPIPE (the default action would end this
 * process). */
static void test_stdin(void) {
  size_t len = 1u << 20;
  char *input = xmalloc(len);
  for (size_t i = 0; i < len; i++)
    input[i] = (char)('a' + i % 26);
  const char *cat[] = {"/bin/cat", NULL};
  struct crio_run r = {.spawn = {.argv = cat}, .input = input, .input_len = len, .out_cap = len};
  struct crio_run_result res;
  crio_error_t err = NULL;
  CHECK(crio_run(&r, &res, &err) == 0);
  CHECK_INT_EQ(res.out_len, len);
  CHECK(memcmp(res.out, input, len) == 0);
  crio_run_result_release(&res);

  struct crio_run t = {.input = input, .input_len = len};
  CHECK(run_sh("exit 0", &t, &res) == 0);
  CHECK_INT_EQ(res.exit_code, 0);
  crio_run_result_release(&res);
  sigset_t pending;
  sigpending(&pending);
  CHECK(!sigismember(&pending, SIGPIPE));
  free(input);
}

static void note_timeout(pid_t pid, void *arg) {
  *(pid_t *)arg = pid;
}

static bool gone(pid_t pid) {
  for (int i = 0; i < 200; i++) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    cleanup_free char *stat = NULL;
    crio_error_t e = NULL;
    if (crio_read_file(path, &stat, NULL, &e) < 0) {
      crio_error_release(&e);
      return true;
    }
    if (strstr(stat, ") Z ") != NULL || strstr(stat, "(sleep)") == NULL)
      return true;
    usleep(10000);
  }
  return false;
}

/* At the deadline on_timeout runs, then the child's whole process group is
 * killed (what it started in the background too), and the result says so. */
static void test_deadline_kill(void) {
  pid_t told = 0;
  struct crio_run r = {.timeout_ms = 300, .on_timeout = note_timeout, .timeout_arg = &told};
  struct crio_run_result res;
  int64_t start = crio_monotonic_ns();
  CHECK(run_sh("sleep 30 & echo $!; wait", &r, &res) == 0);
  int64_t took_ms = (crio_monotonic_ns() - start) / 1000000;
  CHECK(res.timed_out);
  CHECK_INT_EQ(res.exit_code, 128 + SIGKILL);
  CHECK(took_ms >= 290 && took_ms < 5000);
  CHECK(told > 0);
  pid_t sleeper = (pid_t)atoi(res.out);
  CHECK(sleeper > 0);
  CHECK(gone(sleeper));
  crio_run_result_release(&res);
}

/* By default the call ends at the exit, whoever still holds the output;
 * wait_output_eof waits for the EOF too (within the deadline). */
static void test_exit_or_eof(void) {
  const char *script = "(sleep 0.5; echo late) & echo early";
  struct crio_run r = {.timeout_ms = 10000};
  struct crio_run_result res;
  int64_t start = crio_monotonic_ns();
  CHECK(run_sh(script, &r, &res) == 0);
  CHECK((crio_monotonic_ns() - start) / 1000000 < 450);
  CHECK_STR_EQ(res.out, "early\n");
  crio_run_result_release(&res);

  r.wait_output_eof = true;
  start = crio_monotonic_ns();
  CHECK(run_sh(script, &r, &res) == 0);
  CHECK((crio_monotonic_ns() - start) / 1000000 >= 450);
  CHECK_STR_EQ(res.out, "early\nlate\n");
  CHECK(!res.timed_out);
  crio_run_result_release(&res);

  /* A holder that outlives the deadline is killed with the group. */
  r.timeout_ms = 300;
  CHECK(run_sh("sleep 30 & echo $!", &r, &res) == 0);
  CHECK(res.timed_out);
  CHECK_INT_EQ(res.exit_code, 0); /* the shell itself had exited */
  CHECK(gone((pid_t)atoi(res.out)));
  crio_run_result_release(&res);
}

/* The child's environment is exactly envp: nothing of ours; NULL is PATH
 * alone. */
static void test_env_exact(void) {
  setenv("CRIO_TEST_LEAK", "1", 1);
  const char *env_argv[] = {"/usr/bin/env", NULL};
  const char *envp[] = {"CNI_COMMAND=ADD", "B=two words", NULL};
  struct crio_run r = {.spawn = {.argv = env_argv, .envp = envp}};
  struct crio_run_result res;
  crio_error_t err = NULL;
  CHECK(crio_run(&r, &res, &err) == 0);
  CHECK_STR_EQ(res.out, "CNI_COMMAND=ADD\nB=two words\n");
  crio_run_result_release(&res);
  r.spawn.envp = NULL;
  CHECK(crio_run(&r, &res, &err) == 0);
  char expect[256];
  snprintf(expect, sizeof(expect), "%s\n", crio_spawn_clean_env[0]);
  CHECK_STR_EQ(res.out, expect);
  CHECK(crio_spawn_clean_env[1] == NULL);
  crio_run_result_release(&res);
}

static char *fd_target(pid_t pid, int fd) {
  char path[64], target[256];
  snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
  ssize_t n = readlink(path, target, sizeof(target) - 1);
  if (n < 0)
    return NULL;
  target[n] = '\0';
  return xstrdup(target);
}

/* The descriptors of a running child: a bitmask of 0..63 (and 1<<63 for
 * anything higher). */
static unsigned long long child_fds(pid_t pid) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
  DIR *d = opendir(path);
  CHECK(d != NULL);
  unsigned long long mask = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    int fd = atoi(e->d_name);
    mask |= fd < 63 ? 1ull << fd : 1ull << 63;
  }
  closedir(d);
  return mask;
}

static void *spawn_sleeper(void *arg) {
  crio_error_t err = NULL;
  pid_t *pid_pidfd = arg;
  if (crio_spawn(&(struct crio_spawn){.argv = (const char *const[]){"/bin/sleep", "30", NULL},
                                      .stdin_fd = -1,
                                      .stdout_fd = -1,
                                      .stderr_fd = -1},
                 &pid_pidfd[0], &pid_pidfd[1], &err) < 0) {
    fprintf(stderr, "spawn sleep: %s\n", crio_error_message(&err));
    exit(1);
  }
  return NULL;
}

static char *status_line(pid_t pid, const char *key) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
  cleanup_free char *text = NULL;
  crio_error_t e = NULL;
  CHECK(crio_read_file(path, &text, NULL, &e) == 0);
  char *line = strstr(text, key);
  CHECK(line != NULL);
  return xstrndup(line, strcspn(line, "\n"));
}

static void kill_and_reap(pid_t pid, int pidfd) {
  kill(pid, SIGKILL);
  int code = 0;
  crio_error_t e = NULL;
  CHECK(crio_reap(pid, &code, &e) == 0);
  CHECK_INT_EQ(code, 128 + SIGKILL);
  close(pidfd);
}

/* Only stdio and the descriptors named reach the child, whatever we hold
 * without O_CLOEXEC; it runs in a process group of its own with no signal
 * blocked or ignored, even when spawned from a thread that blocks and
 * ignores some. */
static void test_no_fd_leak(void) {
  int leaky = open("/dev/null", O_RDONLY); /* no O_CLOEXEC, on purpose */
  int leaky_pipe[2];
  CHECK(leaky >= 0 && pipe(leaky_pipe) == 0);
  int named = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  CHECK(named >= 0);
  cleanup_free char *named_target = fd_target(getpid(), named);

  const char *argv[] = {"/bin/sleep", "30", NULL};
  int inherit[] = {named};
  struct crio_spawn s = {.argv = argv,
                         .stdin_fd = -1,
                         .stdout_fd = -1,
                         .stderr_fd = -1,
                         .inherit = inherit,
                         .n_inherit = 1};
  pid_t pid;
  int pidfd;
  crio_error_t err = NULL;
  CHECK(crio_spawn(&s, &pid, &pidfd, &err) == 0);
  /* posix_spawn returns after the exec; give the loader time to close
   * what it opened. */
  unsigned long long fds = 0;
  for (int i = 0; i < 100 && (fds = child_fds(pid)) != 0xfull; i++)
    usleep(10000);
  CHECK_INT_EQ(fds, 0xf); /* 0, 1, 2 and the one named, as 3 */
  cleanup_free char *t0 = fd_target(pid, 0);
  CHECK_STR_EQ(t0, "/dev/null");
  cleanup_free char *t3 = fd_target(pid, 3);
  CHECK_STR_EQ(t3, named_target);
  CHECK_INT_EQ(getpgid(pid), pid);
  kill_and_reap(pid, pidfd);

  /* From a thread with SIGTERM blocked and SIGINT ignored. */
  sigset_t term, old;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &term, &old);
  struct sigaction ign = {.sa_handler = SIG_IGN}, old_int;
  sigaction(SIGINT, &ign, &old_int);
  pid_t pid_pidfd[2];
  pthread_t th;
  CHECK(pthread_create(&th, NULL, spawn_sleeper, pid_pidfd) == 0);
  pthread_join(th, NULL);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  sigaction(SIGINT, &old_int, NULL);
  usleep(50000);
  cleanup_free char *blk = status_line(pid_pidfd[0], "SigBlk:");
  cleanup_free char *ignd = status_line(pid_pidfd[0], "SigIgn:");
  CHECK_STR_EQ(blk, "SigBlk:\t0000000000000000");
  /* Of the standard signals none is ignored.  glibc's posix_spawn leaves
   * its two internal real-time signals (32, 33: below SIGRTMIN, never a
   * program's own) ignored in the child; that is libc's, not ours. */
  unsigned long long ignored = strtoull(ignd + strlen("SigIgn:\t"), NULL, 16);
  CHECK_INT_EQ(ignored & 0x7fffffffull, 0);
  kill_and_reap(pid_pidfd[0], pid_pidfd[1]);

  close(leaky);
  close(leaky_pipe[0]);
  close(leaky_pipe[1]);
  close(named);
}

int main(void) {
  signal(SIGPIPE, SIG_DFL);
  test_exit_status();
  test_output_cap();
  test_stdin();
  test_deadline_kill();
  test_exit_or_eof();
  test_env_exact();
  test_no_fd_leak();
  fprintf(stderr, "test_common_spawn: all passed\n");
  return 0;
}
