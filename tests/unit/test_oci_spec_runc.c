/* End to end: specs built by oci_spec_build for a busybox rootfs, run by
 * the host's runc (new namespaces of their own, a cgroup under a
 * test-owned parent, the RuntimeDefault seccomp profile, the default
 * capabilities and masked paths), checked from inside the container.
 * runc state, cgroups and directories are removed at exit, even on
 * failure (test_oci_spec_fixture.c). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/test_oci_spec_fixture.h"

#define BUSYBOX "/bin/busybox" /* Debian's busybox-static */
#define RUN_TIMEOUT_MS 60000

static const char *applets[] = {"sh",   "echo", "cat",   "id", "hostname",
                                "grep", "wc",   "touch", "ls", "pwd"};

static void copy_file(const char *from, const char *to, mode_t mode) {
  int in = open(from, O_RDONLY | O_CLOEXEC);
  CHECK(in >= 0);
  int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  CHECK(out >= 0);
  char buf[65536];
  ssize_t n;
  while ((n = read(in, buf, sizeof(buf))) > 0)
    CHECK(write(out, buf, (size_t)n) == n);
  CHECK(n == 0);
  close(in);
  CHECK(close(out) == 0);
}

static const char *busybox_rootfs(void) {
  static const char *rootfs;
  if (rootfs)
    return rootfs;
  struct stat st;
  if (stat(BUSYBOX, &st) < 0) {
    fprintf(stderr, "%s is missing: install busybox-static (make deps)\n", BUSYBOX);
    exit(1);
  }
  fx_mkdir("bb/bin");
  copy_file(BUSYBOX, fx_path("bb/bin/busybox"), 0755);
  for (size_t i = 0; i < sizeof(applets) / sizeof(applets[0]); i++)
    fx_symlink("busybox", fx_printf("bb/bin/%s", applets[i]));
  fx_write("bb/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"
                            "tester:x:1000:1000:Tester:/home/tester:/bin/sh\n");
  fx_write("bb/etc/group", "root:x:0:\nwheel:x:10:tester\naudio:x:29:tester\ntester:x:1000:\n");
  fx_mkdir("bb/home/tester");
  fx_mkdir("bb/root");
  /* What the pod would provide. */
  fx_write("pod/hostname", "spec-e2e\n");
  fx_write("pod/hosts", "127.0.0.1 localhost spec-e2e\n");
  fx_write("pod/resolv.conf", "nameserver 127.0.0.1\n");
  fx_write("pod/termination-log", "");
  fx_mkdir("pod/shm");
  rootfs = fx_path("bb");
  return rootfs;
}

struct run {
  char *out;
  int exit_code;
};

/* runc --root <root> run --bundle <bundle> <id>, no terminal, output
 * collected; killed after RUN_TIMEOUT_MS. */
static struct run runc_run(const char *bundle, const char *id) {
  const char *root = fx_path("runc-root");
  fx_track_runc(root, id);
  int out[2];
  CHECK(pipe2(out, O_CLOEXEC) == 0);
  const char *err_path = fx_printf("%s/runc.stderr", bundle);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    int null = open("/dev/null", O_RDONLY);
    int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (null < 0 || err < 0 || dup2(null, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err, 2) < 0)
      _exit(126);
    execlp("runc", "runc", "--root", root, "run", "--bundle", bundle, id, (char *)NULL);
    _exit(127);
  }
  close(out[1]);
  size_t cap = 4096, len = 0;
  char *buf = fx_new(cap);
  int64_t deadline = crio_monotonic_ns() + (int64_t)RUN_TIMEOUT_MS * 1000000;
  for (;;) {
    int left = (int)((deadline - crio_monotonic_ns()) / 1000000);
    struct pollfd p = {.fd = out[0], .events = POLLIN};
    if (left <= 0 || poll(&p, 1, left) == 0) {
      kill(pid, SIGKILL);
      fprintf(stderr, "runc run %s: no end after %d ms\n", id, RUN_TIMEOUT_MS);
      exit(1);
    }
    if (len + 1 == cap) {
      char *bigger = fx_new(cap * 2);
      memcpy(bigger, buf, len);
      buf = bigger;
      cap *= 2;
    }
    ssize_t n = read(out[0], buf + len, cap - len - 1);
    if (n < 0 && errno == EINTR)
      continue;
    CHECK(n >= 0);
    if (n == 0)
      break;
    len += (size_t)n;
  }
  close(out[0]);
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid);
  struct run r = {.out = buf, .exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128};
  char *err_text = NULL;
  crio_error_t err = NULL;
  if (crio_read_file(err_path, &err_text, NULL, &err) == 0 && err_text[0])
    fprintf(stderr, "   runc stderr: %s\n", err_text);
  free(err_text);
  crio_error_release(&err);
  fprintf(stderr, "   container output (exit %d):\n%s", r.exit_code, buf);
  return r;
}

static void expect_line(const struct run *r, const char *line) {
  const char *p = r->out;
  size_t n = strlen(line);
  while ((p = strstr(p, line)) != NULL) {
    if ((p == r->out || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
      return;
    p++;
  }
  fprintf(stderr, "expected the line \"%s\" in the container's output\n", line);
  exit(1);
}

static void expect_text(const struct run *r, const char *text) {
  if (strstr(r->out, text) == NULL) {
    fprintf(stderr, "expected \"%s\" in the container's output\n", text);
    exit(1);
  }
}

static const char *script =
    "echo \"uid=$(id -u) gid=$(id -g) groups=$(id -G)\"\n"
    "echo \"hostname=$(hostname) etc_hostname=$(cat /etc/hostname)\"\n"
    "echo \"hosts=$(cat /etc/hosts)\"\n"
    "echo \"foo=$FOO home=$HOME cwd=$(pwd) HOSTNAME=$HOSTNAME\"\n"
    "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status\n"
    "echo \"timer_list=$(cat /proc/timer_list | wc -c)\"\n"
    "echo \"oom=$(cat /proc/self/oom_score_adj) nofile=$(ulimit -n)\"\n"
    "echo \"memory=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)\"\n"
    "echo \"pids=$(cat /sys/fs/cgroup/pids/pids.max)\"\n"
    "grep -E ' /proc/sys | /sys ' /proc/self/mountinfo\n"
    "grep -E '^[0-9]+:memory:' /proc/self/cgroup\n"
    "if touch /written 2>/dev/null; then echo rootfs=rw; else echo rootfs=ro; fi\n"
    "ls /dev/termination-log /dev/shm/ >/dev/null && echo files=ok\n"
    "exit 3\n";

/* One container: the baseline request for `rootfs`, adjusted by `adjust`,
 * built, written, prepared and run. */
static struct run run_spec(const char *name, void (*adjust)(struct fx_case *), struct fx_case *k) {
  fx_case_init(k);
  const char *rootfs = busybox_rootfs();
  const char *id = fx_printf("crio-spec-%s-%d", name, (int)getpid());
  const char *parent = fx_printf("/crio-spec-test-%d", (int)getpid());
  fx_track_cgroup(parent);
  fx_track_cgroup(fx_printf("%s/crio-%s", parent, id));

  crio_error_t err = NULL;
  CHECK(oci_spec_host_detect(&k->host, &err) == 0);
  k->in.container_id = id;
  k->in.sandbox_id = "sandbox-e2e";
  k->in.rootfs = rootfs;
  k->in.cgroup_parent = parent;
  k->in.hostname_path = fx_path("pod/hostname");
  k->in.hosts_path = fx_path("pod/hosts");
  k->in.resolv_conf_path = fx_path("pod/resolv.conf");
  k->in.termination_message_path = fx_path("pod/termination-log");
  k->in.shm_path = fx_path("pod/shm");
  k->in.pids_limit = 100;
  k->pod->hostname = fx_str("spec-e2e");
  k->in.pod_hostname = "spec-e2e";
  /* args replace the image's CMD and keep its ENTRYPOINT. */
  fx_case_set_image(k, "{\"Entrypoint\": [\"/bin/sh\"], \"Cmd\": [\"-c\", \"exit 99\"], "
                       "\"WorkingDir\": \"/work\", "
                       "\"Env\": [\"PATH=/bin\", \"FOO=image\"]}");
  k->cfg->args = fx_strv(&k->cfg->n_args, "-c", script, NULL);
  Runtime__V1__KeyValue *foo = FX_MSG(Runtime__V1__KeyValue, RUNTIME__V1__KEY_VALUE__INIT);
  foo->key = fx_str("FOO");
  foo->value.data = (uint8_t *)fx_str("bar");
  foo->value.len = 3;
  k->cfg->envs = fx_new(sizeof(foo));
  k->cfg->envs[0] = foo;
  k->cfg->n_envs = 1;
  k->sc->seccomp = FX_MSG(Runtime__V1__SecurityProfile, RUNTIME__V1__SECURITY_PROFILE__INIT);
  k->res->memory_limit_in_bytes = 64 << 20;
  adjust(k);

  cJSON *spec = fx_build_ok(k);
  for (size_t i = 0; i < k->warnings.n; i++)
    fprintf(stderr, "   warning: %s\n", k->warnings.items[i]);
  const char *bundle = fx_printf("bundle-%s", name);
  fx_mkdir(bundle);
  bundle = fx_path(bundle);
  CHECK(oci_spec_write(bundle, spec, &err) == 0);
  CHECK(oci_spec_prepare_rootfs(rootfs, spec, k->image, &err) == 0);
  return runc_run(bundle, id);
}

static void as_root(struct fx_case *k) {
  k->res->oom_score_adj = 300;
}

static void check_common(const struct run *r, const struct fx_case *k) {
  CHECK_INT_EQ(r->exit_code, 3); /* the container's own exit code */
  expect_line(r, "hostname=spec-e2e etc_hostname=spec-e2e");
  expect_line(r, "hosts=127.0.0.1 localhost spec-e2e");
  expect_line(r, "CapInh:\t0000000000000000");
  expect_line(r, "CapBnd:\t00000000000005fb"); /* CRI-O's nine */
  expect_line(r, "CapAmb:\t0000000000000000");
  expect_line(r, "Seccomp:\t2"); /* a filter is loaded */
  /* Masked (the host's is not empty: checked in main). */
  expect_line(r, "timer_list=0");
  expect_line(r, "memory=67108864");
  expect_line(r, "pids=100");
  expect_line(r, "files=ok");
  expect_text(r, " /proc/sys ro,"); /* read-only paths */
  expect_text(r, " /sys ro,");
  /* The cgroup the spec named (cgroupfs, under the test's parent). */
  expect_text(r,
              fx_printf(":memory:/crio-spec-test-%d/crio-%s\n", (int)getpid(), k->in.container_id));
  uint64_t nofile =
      k->host.nofile_hard < 1048576 && !oci_spec_host_has_cap(&k->host, 24 /* CAP_SYS_RESOURCE */)
          ? k->host.nofile_hard
          : 1048576;
  expect_text(r, fx_printf(" nofile=%llu\n", (unsigned long long)nofile));
}

static void test_root_container_with_defaults(void) {
  struct fx_case k;
  struct run r = run_spec("root", as_root, &k);
  check_common(&r, &k);
  expect_line(&r, "uid=0 gid=0 groups=0");
  expect_line(&r, "foo=bar home=/root cwd=/work HOSTNAME=spec-e2e");
  expect_line(&r, "CapEff:\t00000000000005fb");
  expect_line(&r, "NoNewPrivs:\t0");
  expect_line(&r, "rootfs=rw");
  expect_text(&r, "oom=300 ");
}

static void as_tester(struct fx_case *k) {
  k->sc->run_as_username = fx_str("tester");
  k->sc->supplemental_groups = fx_new(sizeof(int64_t));
  k->sc->supplemental_groups[0] = 4242;
  k->sc->n_supplemental_groups = 1;
  k->sc->readonly_rootfs = true;
  k->sc->no_new_privs = true;
  /* Lower than the runtime's own: clamped here (no CAP_SYS_RESOURCE), else
   * runc would refuse to start the container. */
  k->res->oom_score_adj = -500;
}

static void test_non_root_read_only_container(void) {
  struct fx_case k;
  struct run r = run_spec("tester", as_tester, &k);
  check_common(&r, &k);
  expect_line(&r, "uid=1000 gid=1000 groups=1000 10 29 4242");
  expect_line(&r, "foo=bar home=/home/tester cwd=/work HOSTNAME=spec-e2e");
  /* A non-root user keeps no capabilities (no ambient ones). */
  expect_line(&r, "CapEff:\t0000000000000000");
  expect_line(&r, "CapPrm:\t0000000000000000");
  expect_line(&r, "NoNewPrivs:\t1");
  expect_line(&r, "rootfs=ro");
  int expected_oom =
      k.host.oom_score_adj > -500 && !oci_spec_host_has_cap(&k.host, 24 /* CAP_SYS_RESOURCE */)
          ? k.host.oom_score_adj
          : -500;
  expect_text(&r, fx_printf("oom=%d ", expected_oom));
  if (expected_oom != -500)
    CHECK(fx_has_warning(&k, "oom_score_adj -500"));
}

int main(void) {
  if (geteuid() != 0) {
    fprintf(stderr, "runs containers: needs root\n");
    return 1;
  }
  char *timer_list = NULL;
  crio_error_t err = NULL;
  CHECK(crio_read_file("/proc/timer_list", &timer_list, NULL, &err) == 0);
  CHECK(timer_list[0] != '\0');
  free(timer_list);
  RUN_TEST(test_root_container_with_defaults);
  RUN_TEST(test_non_root_read_only_container);
  return 0;
}
