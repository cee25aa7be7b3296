/* crio-runsc-shim: what conmon runs as "the runtime" for a gVisor handler.
 *
 * conmon learns that a container ended by reaping its init: it reads the
 * pid `runtime create --pid-file` wrote and waits for that child (it is a
 * child subreaper, so the init, orphaned when `runc create` exits, is its
 * child).  A gVisor container has no such host process: its processes
 * live inside the sandbox's kernel, and runsc's pid file names the
 * sandbox, which lives as long as the pod.  So conmon would never see a
 * gVisor container exit.
 *
 * The shim sits between them.  conmon calls
 *   crio-runsc-shim --crio-runtime=<runsc> <runsc's global args> create
 *                   --bundle B --pid-file P ... <id>
 * and the shim
 *   1. runs `<runsc> <global args> create ...` as given, and fails as it fails;
 *   2. forks a waiter, which runs `<runsc> <global args> wait <id>` (again
 *      while runsc answers "not started": the container is started later,
 *      by `runsc start`) and exits with the container's exit status;
 *   3. writes the waiter's pid to P (a temporary file renamed over it) and
 *      exits.
 * The waiter, orphaned, becomes conmon's child: conmon reaps it and
 * records its status as the container's, as it would a runc init's.
 *
 * No allocation beyond argv, no dependencies: it is linked statically like
 * crio-pause. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUNTIME_FLAG "--crio-runtime="

static int status_code(int st) {
  if (WIFEXITED(st))
    return WEXITSTATUS(st);
  if (WIFSIGNALED(st))
    return 128 + WTERMSIG(st);
  return 255;
}

/* Runs argv with stdout (and stderr, when err_fd >= 0) to the given
 * descriptors; returns its exit code, 255 when it cannot run. */
static int run(char *const *argv, int out_fd, int err_fd) {
  pid_t pid = fork();
  if (pid < 0)
    return 255;
  if (pid == 0) {
    if (out_fd >= 0)
      dup2(out_fd, 1);
    if (err_fd >= 0)
      dup2(err_fd, 2);
    execv(argv[0], argv);
    _exit(127);
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR)
      return 255;
  return status_code(st);
}

static ssize_t read_all(int fd, char *buf, size_t cap) {
  size_t len = 0;
  while (len + 1 < cap) {
    ssize_t n = read(fd, buf + len, cap - 1 - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    len += (size_t)n;
  }
  buf[len] = '\0';
  return (ssize_t)len;
}

/* `runsc wait` prints {"id":"<id>","exitStatus":N}. */
static int parse_exit_status(const char *out, int *code) {
  const char *p = strstr(out, "\"exitStatus\":");
  if (p == NULL)
    return -1;
  char *end = NULL;
  long v = strtol(p + strlen("\"exitStatus\":"), &end, 10);
  if (end == p + strlen("\"exitStatus\":"))
    return -1;
  *code = (int)(v & 0xff);
  return 0;
}

static void sleep_ms(long ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
}

/* The waiter: argv is `<runsc> <global args> wait <id>`.  It keeps its
 * stdio, conmon's pipes: this runsc gives a container that joins a
 * sandbox the stdio of `runsc start`, not of `create`, so the daemon's
 * start opens them again through /proc/<waiter>/fd/0..2
 * (oci/runtime_runsc.c).  Its own children get other descriptors. */
static _Noreturn void waiter(char *const *argv) {
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  long backoff = 20;
  int failures = 0;
  for (;;) {
    int out[2], errp[2];
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0)
      _exit(255);
    pid_t pid = fork();
    if (pid < 0)
      _exit(255);
    if (pid == 0) {
      if (devnull >= 0)
        dup2(devnull, 0);
      dup2(out[1], 1);
      dup2(errp[1], 2);
      execv(argv[0], argv);
      _exit(127);
    }
    close(out[1]);
    close(errp[1]);
    char obuf[4096], ebuf[4096];
    read_all(out[0], obuf, sizeof(obuf));
    read_all(errp[0], ebuf, sizeof(ebuf));
    close(out[0]);
    close(errp[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
      ;
    int code = 0;
    if (status_code(st) == 0 && parse_exit_status(obuf, &code) == 0)
      _exit(code);
    if (strstr(ebuf, "not started") != NULL) {
      /* Created, not started yet: CreateContainer and StartContainer may
       * be far apart, so look less often as time goes by. */
      sleep_ms(backoff);
      backoff = backoff < 1000 ? backoff * 2 : 1000;
      continue;
    }
    /* The container was deleted (a stop before it ever started), or its
     * sandbox is gone (the pod stopped, or it was killed): it died with
     * it, as if killed.  Anything else may pass: look again. */
    if (strstr(ebuf, "file does not exist") != NULL || strstr(ebuf, "no such file") != NULL)
      _exit(128 + SIGKILL);
    if (++failures >= 3)
      _exit(128 + SIGKILL);
    sleep_ms(100);
  }
}

/* The argv vectors live until main returns; freeing them there keeps a
 * sanitizer build's leak check quiet, which would otherwise fail the
 * create conmon asked for. */
static void free_argv(char ***argv) {
  free(*argv);
}
#define cleanup_argv __attribute__((cleanup(free_argv)))

static int write_pid_file(const char *path, pid_t pid) {
  char tmp[4096];
  if (snprintf(tmp, sizeof(tmp), "%s.shim", path) >= (int)sizeof(tmp))
    return -1;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return -1;
  char buf[32];
  int n = snprintf(buf, sizeof(buf), "%d", (int)pid);
  if (write(fd, buf, (size_t)n) != n || close(fd) < 0)
    return -1;
  return rename(tmp, path);
}

int main(int argc, char **argv) {
  if (argc < 3 || strncmp(argv[1], RUNTIME_FLAG, strlen(RUNTIME_FLAG)) != 0) {
    fprintf(stderr, "crio-runsc-shim: usage: crio-runsc-shim " RUNTIME_FLAG
                    "<runsc> [global args] create --bundle B --pid-file P ID\n");
    return 2;
  }
  const char *runtime = argv[1] + strlen(RUNTIME_FLAG);
  /* The runtime's argv: argv[1] replaced by the runtime's path. */
  cleanup_argv char **rt_argv = calloc((size_t)argc, sizeof(char *));
  if (rt_argv == NULL)
    return 255;
  rt_argv[0] = (char *)runtime;
  for (int i = 2; i < argc; i++)
    rt_argv[i - 1] = argv[i];
  int create = -1;
  for (int i = 2; i < argc; i++)
    if (strcmp(argv[i], "create") == 0) {
      create = i;
      break;
    }
  if (create < 0) {
    /* Anything but create (conmon only ever runs create and, with -e,
     * exec) goes straight to the runtime. */
    execv(runtime, rt_argv);
    fprintf(stderr, "crio-runsc-shim: exec %s: %s\n", runtime, strerror(errno));
    return 127;
  }
  const char *pid_file = NULL;
  for (int i = create + 1; i < argc; i++) {
    if (strcmp(argv[i], "--pid-file") == 0 && i + 1 < argc)
      pid_file = argv[i + 1];
    else if (strncmp(argv[i], "--pid-file=", 11) == 0)
      pid_file = argv[i] + 11;
  }
  const char *id = argv[argc - 1];
  if (pid_file == NULL) {
    fprintf(stderr, "crio-runsc-shim: create without --pid-file\n");
    return 2;
  }

  int rc = run(rt_argv, -1, -1);
  if (rc != 0)
    return rc;

  /* `<runsc> <global args> wait <id>`. */
  int n_global = create - 2;
  cleanup_argv char **wait_argv = calloc((size_t)n_global + 4, sizeof(char *));
  if (wait_argv == NULL)
    return 255;
  wait_argv[0] = (char *)runtime;
  for (int i = 0; i < n_global; i++)
    wait_argv[1 + i] = argv[2 + i];
  wait_argv[1 + n_global] = "wait";
  wait_argv[2 + n_global] = (char *)id;

  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "crio-runsc-shim: fork: %s\n", strerror(errno));
    return 255;
  }
  if (pid == 0)
    waiter(wait_argv);
  if (write_pid_file(pid_file, pid) < 0) {
    fprintf(stderr, "crio-runsc-shim: write %s: %s\n", pid_file, strerror(errno));
    kill(pid, SIGKILL);
    return 255;
  }
  return 0;
}
