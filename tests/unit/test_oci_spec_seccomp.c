/* The seccomp profiles: the built-in RuntimeDefault compiled with
 * libseccomp the way runc does it and enforced on a child process (what it
 * allows, refuses, and answers ENOSYS for); Localhost files in Docker's
 * format converted for this machine and these capabilities. */
#include <errno.h>
#include <linux/capability.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/test_oci_spec_fixture.h"

#define DEFAULT_CAPS                                                                               \
  ((1ULL << CAP_CHOWN) | (1ULL << CAP_DAC_OVERRIDE) | (1ULL << CAP_FSETID) |                       \
   (1ULL << CAP_FOWNER) | (1ULL << CAP_SETGID) | (1ULL << CAP_SETUID) | (1ULL << CAP_SETPCAP) |    \
   (1ULL << CAP_NET_BIND_SERVICE) | (1ULL << CAP_KILL))
#define ALL_CAPS ((2ULL << SPEC_CAP_LAST) - 1)

/* "SCMP_ARCH_X86_64" -> libseccomp's token. */
static uint32_t arch_token(const char *name) {
  char lower[32];
  const char *p = name + strlen("SCMP_ARCH_");
  size_t i = 0;
  for (; p[i] && i < sizeof(lower) - 1; i++)
    lower[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] - 'A' + 'a' : p[i]);
  lower[i] = '\0';
  uint32_t token = seccomp_arch_resolve_name(lower);
  if (token == 0) {
    fprintf(stderr, "libseccomp does not know %s\n", name);
    exit(1);
  }
  return token;
}

/* Every name in the table is a syscall of at least one of the profile's
 * architectures (a typo would silently allow nothing). */
static void test_every_default_name_is_a_syscall(void) {
  size_t n_arches;
  const char *const *arches = spec_seccomp_arches(&n_arches);
  size_t i = 0;
  for (const char *name; (name = spec_seccomp_default_name(i)) != NULL; i++) {
    bool known = false;
    for (size_t a = 0; a < n_arches && !known; a++)
      known = seccomp_syscall_resolve_name_arch(arch_token(arches[a]), name) != __NR_SCMP_ERROR;
    if (!known) {
      fprintf(stderr, "\"%s\" is a syscall of none of the profile's architectures\n", name);
      exit(1);
    }
  }
  fprintf(stderr, "   %zu names, all known\n", i);
  CHECK(i > 300);
}

static int cmp_op(const char *op) {
  static const char *const ops[] = {"",
                                    "SCMP_CMP_NE",
                                    "SCMP_CMP_LT",
                                    "SCMP_CMP_LE",
                                    "SCMP_CMP_EQ",
                                    "SCMP_CMP_GE",
                                    "SCMP_CMP_GT",
                                    "SCMP_CMP_MASKED_EQ"};
  for (int i = 1; i < 8; i++)
    if (strcmp(op, ops[i]) == 0)
      return i; /* enum scmp_compare starts at SCMP_CMP_NE = 1 in this order */
  fprintf(stderr, "unknown op %s\n", op);
  exit(1);
}

/* Compiles a linux.seccomp object as runc does (libseccomp, one rule per
 * syscall and condition set, names unknown to an architecture skipped). */
static scmp_filter_ctx compile(const cJSON *profile) {
  CHECK_STR_EQ(fx_get_str(profile, "defaultAction"), "SCMP_ACT_ERRNO");
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
  CHECK(ctx != NULL);
  const cJSON *a;
  cJSON_ArrayForEach(a, fx_get(profile, "architectures")) {
    uint32_t token = arch_token(a->valuestring);
    if (token != seccomp_arch_native())
      CHECK(seccomp_arch_add(ctx, token) == 0);
  }
  const cJSON *rule;
  cJSON_ArrayForEach(rule, fx_get(profile, "syscalls")) {
    const char *action = fx_get_str(rule, "action");
    uint32_t act;
    if (strcmp(action, "SCMP_ACT_ALLOW") == 0) {
      act = SCMP_ACT_ALLOW;
    } else {
      CHECK_STR_EQ(action, "SCMP_ACT_ERRNO");
      int64_t e = EPERM;
      oci_spec_get_int(rule, "errnoRet", &e);
      act = SCMP_ACT_ERRNO((uint16_t)e);
    }
    struct scmp_arg_cmp args[6];
    unsigned n_args = 0;
    const cJSON *arg;
    cJSON_ArrayForEach(arg, fx_get(rule, "args")) {
      int64_t value = 0, value2 = 0;
      CHECK(oci_spec_get_int(arg, "value", &value));
      oci_spec_get_int(arg, "valueTwo", &value2);
      args[n_args++] = (struct scmp_arg_cmp){.arg = (unsigned)fx_get_int(arg, "index"),
                                             .op = cmp_op(fx_get_str(arg, "op")),
                                             .datum_a = (uint64_t)value,
                                             .datum_b = (uint64_t)value2};
    }
    const cJSON *name;
    cJSON_ArrayForEach(name, fx_get(rule, "names")) {
      int nr = seccomp_syscall_resolve_name(name->valuestring);
      if (nr == __NR_SCMP_ERROR)
        continue; /* not on this machine's architectures */
      int r = seccomp_rule_add_array(ctx, act, nr, n_args, args);
      if (r < 0) {
        fprintf(stderr, "rule for %s: %s\n", name->valuestring, strerror(-r));
        exit(1);
      }
    }
  }
  return ctx;
}

static void test_default_profile_compiles_with_any_caps(void) {
  uint64_t sets[] = {0, DEFAULT_CAPS, ALL_CAPS};
  for (size_t i = 0; i < 3; i++) {
    cJSON *p = NULL;
    oci_seccomp_default_profile(sets[i], &p);
    /* Unique names in the one unconditional rule. */
    const cJSON *names = fx_get(p, "syscalls.0.names");
    int n = cJSON_GetArraySize(names);
    for (int a = 0; a < n; a++)
      for (int b = a + 1; b < n; b++)
        CHECK(strcmp(cJSON_GetArrayItem(names, a)->valuestring,
                     cJSON_GetArrayItem(names, b)->valuestring) != 0);
    bool mount = fx_has_str(p, "syscalls.0.names", "mount");
    CHECK(mount == (i == 2));
    scmp_filter_ctx ctx = compile(p);
    seccomp_release(ctx);
    cJSON_Delete(p);
  }
}

/* Runs checks in a child under the default filter for the default caps;
 * exit status 0 = all as expected. */
static int child_under_filter(void) {
  cJSON *p = NULL;
  oci_seccomp_default_profile(DEFAULT_CAPS, &p);
  scmp_filter_ctx ctx = compile(p);
  cJSON_Delete(p);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || seccomp_load(ctx) < 0)
    return 10;
  seccomp_release(ctx);
  int failures = 0;
#define EXPECT(cond, what)                                                                         \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "   under the filter: expected %s (errno %d)\n", what, errno);               \
      failures++;                                                                                  \
    }                                                                                              \
  } while (0)
  EXPECT(getpid() > 0, "getpid to work");
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  EXPECT(s >= 0, "socket(AF_UNIX) to work");
  close(s);
  errno = 0;
  EXPECT(socket(40 /* AF_VSOCK */, SOCK_STREAM, 0) < 0 && errno == EPERM, "AF_VSOCK refused");
  errno = 0;
  EXPECT(mount("none", "/mnt", "tmpfs", 0, NULL) < 0 && errno == EPERM, "mount refused");
  errno = 0;
  EXPECT(unshare(CLONE_NEWUTS) < 0 && errno == EPERM, "unshare refused");
  errno = 0;
  EXPECT(syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0) < 0 && errno == EPERM,
         "clone with a namespace flag refused");
  errno = 0;
  EXPECT(syscall(SYS_clone3, NULL, 0) < 0 && errno == ENOSYS, "clone3 answering ENOSYS");
  errno = 0;
  EXPECT(syscall(SYS_io_uring_setup, 1, NULL) < 0 && errno == EPERM, "io_uring refused");
  EXPECT(personality(0xffffffff) >= 0, "personality query to work");
  errno = 0;
  EXPECT(personality(READ_IMPLIES_EXEC) < 0 && errno == EPERM, "READ_IMPLIES_EXEC refused");
  /* fork (clone without namespace flags) still works. */
  pid_t pid = fork();
  if (pid == 0)
    _exit(7);
  int status = 0;
  EXPECT(pid > 0 && waitpid(pid, &status, 0) == pid && WEXITSTATUS(status) == 7, "fork to work");
  return failures;
}

static void test_default_profile_enforced(void) {
  fflush(stderr);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0)
    _exit(child_under_filter());
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK_INT_EQ(WEXITSTATUS(status), 0);
}

static cJSON *load(const char *json, uint64_t caps, crio_error_t *err) {
  const char *path = fx_path("profile.json");
  fx_write("profile.json", json);
  cJSON *p = NULL;
  if (oci_seccomp_profile_load(path, caps, &p, err) < 0)
    return NULL;
  return p;
}

static void test_localhost_docker_format_converted(void) {
  crio_error_t err = NULL;
  cJSON *p = load("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 1,"
                  " \"archMap\": [{\"architecture\": \"SCMP_ARCH_AARCH64\", \"subArchitectures\":"
                  " [\"SCMP_ARCH_ARM\"]}, {\"architecture\": \"SCMP_ARCH_X86_64\","
                  " \"subArchitectures\": [\"SCMP_ARCH_X86\", \"SCMP_ARCH_X32\"]}],"
                  " \"syscalls\": ["
                  "  {\"names\": [\"read\", \"write\"], \"action\": \"SCMP_ACT_ALLOW\"},"
                  "  {\"name\": \"close\", \"action\": \"SCMP_ACT_ALLOW\"},"
                  "  {\"names\": [\"mount\"], \"action\": \"SCMP_ACT_ALLOW\","
                  "   \"includes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}},"
                  "  {\"names\": [\"kill\"], \"action\": \"SCMP_ACT_ALLOW\","
                  "   \"includes\": {\"caps\": [\"CAP_KILL\"]}},"
                  "  {\"names\": [\"clone\"], \"action\": \"SCMP_ACT_ALLOW\","
                  "   \"args\": [{\"index\": 0, \"value\": 2114060288, \"op\": "
                  "\"SCMP_CMP_MASKED_EQ\"}], \"excludes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}},"
                  "  {\"names\": [\"arch_prctl\"], \"action\": \"SCMP_ACT_ALLOW\","
                  "   \"includes\": {\"arches\": [\"amd64\", \"x32\"]}},"
                  "  {\"names\": [\"set_tls\"], \"action\": \"SCMP_ACT_ALLOW\","
                  "   \"includes\": {\"arches\": [\"arm\", \"arm64\"]}},"
                  "  {\"names\": [\"ptrace\"], \"action\": \"SCMP_ACT_ALLOW\","
                  "   \"includes\": {\"minKernel\": \"4.8\"}},"
                  "  {\"names\": [\"future\"], \"action\": \"SCMP_ACT_ALLOW\","
                  "   \"includes\": {\"minKernel\": \"99.0\"}},"
                  "  {\"names\": [\"clone3\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 38}"
                  "]}",
                  DEFAULT_CAPS, &err);
  if (p == NULL)
    fprintf(stderr, "%s\n", crio_error_message(&err));
  CHECK(p != NULL);
  char *text = cJSON_PrintUnformatted(p);
  fprintf(stderr, "   %s\n", text);
  free(text);
  CHECK_INT_EQ(fx_get_int(p, "defaultErrnoRet"), 1);
#if defined(__x86_64__)
  CHECK_STR_EQ(fx_get_str(p, "architectures.0"), "SCMP_ARCH_X86_64");
  CHECK_STR_EQ(fx_get_str(p, "architectures.2"), "SCMP_ARCH_X32");
  const char *kept[] = {"read", "close", "kill", "clone", "arch_prctl", "ptrace", "clone3"};
#else
  const char *kept[] = {"read", "close", "kill", "clone", "ptrace", "clone3"};
#endif
  size_t n_kept = sizeof(kept) / sizeof(kept[0]);
  CHECK_INT_EQ(cJSON_GetArraySize(fx_get(p, "syscalls")), n_kept);
  for (size_t i = 0; i < n_kept; i++)
    CHECK(fx_has_str(p, fx_printf("syscalls.%zu.names", i), kept[i]));
  CHECK(fx_has_str(p, "syscalls.0.names", "write"));
  CHECK_STR_EQ(fx_get_str(p, "syscalls.3.args.0.op"), "SCMP_CMP_MASKED_EQ");
  CHECK_INT_EQ(fx_get_int(p, fx_printf("syscalls.%zu.errnoRet", n_kept - 1)), 38);
  cJSON_Delete(p);

  /* With CAP_SYS_ADMIN, mount is in and the masked clone out. */
  p = load("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": ["
           " {\"names\": [\"mount\"], \"action\": \"SCMP_ACT_ALLOW\","
           "  \"includes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}},"
           " {\"names\": [\"clone\"], \"action\": \"SCMP_ACT_ALLOW\","
           "  \"excludes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}}]}",
           DEFAULT_CAPS | (1ULL << CAP_SYS_ADMIN), &err);
  CHECK(p != NULL);
  CHECK_INT_EQ(cJSON_GetArraySize(fx_get(p, "syscalls")), 1);
  CHECK(fx_has_str(p, "syscalls.0.names", "mount"));
  CHECK(fx_get(p, "architectures") == NULL);
  cJSON_Delete(p);

  /* The OCI form passes through. */
  p = load("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": [\"SCMP_ARCH_X86_64\"],"
           " \"syscalls\": [{\"names\": [\"mkdir\"], \"action\": \"SCMP_ACT_KILL_PROCESS\"}]}",
           0, &err);
  CHECK(p != NULL);
  CHECK_STR_EQ(fx_get_str(p, "architectures.0"), "SCMP_ARCH_X86_64");
  CHECK_STR_EQ(fx_get_str(p, "syscalls.0.action"), "SCMP_ACT_KILL_PROCESS");
  cJSON_Delete(p);
}

static void test_localhost_bad_profiles(void) {
  const struct {
    const char *json, *needle;
  } bad[] = {
      {"[]", "not a JSON object"},
      {"{\"syscalls\": []}", "defaultAction: missing"},
      {"{\"defaultAction\": \"SCMP_ACT_MAYBE\"}", "defaultAction: missing or unknown"},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": {}}", "syscalls: not a list"},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"]}]}",
       "syscalls[0].action"},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"action\": \"SCMP_ACT_ALLOW\"}]}",
       "syscalls[0]: no names"},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [1], \"action\": "
       "\"SCMP_ACT_ALLOW\"}]}",
       "syscalls[0].names"},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], \"action\": "
       "\"SCMP_ACT_ALLOW\"}, {\"names\": [\"x\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": "
       "[{\"index\": 7, \"value\": 1, \"op\": \"SCMP_CMP_EQ\"}]}]}",
       "syscalls[1].args[0]"},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"x\"], \"action\": "
       "\"SCMP_ACT_ALLOW\", \"args\": [{\"index\": 0, \"value\": 1, \"op\": \"EQ\"}]}]}",
       "syscalls[0].args[0]"},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"x\"], \"action\": "
       "\"SCMP_ACT_ALLOW\", \"includes\": {\"caps\": [\"CAP_MADE_UP\"]}}]}",
       "syscalls[0].includes: unknown capability"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    crio_error_t err = NULL;
    cJSON *p = load(bad[i].json, DEFAULT_CAPS, &err);
    CHECK(p == NULL);
    fprintf(stderr, "   %s\n", crio_error_message(&err));
    CHECK_INT_EQ(crio_error_status(&err), EINVAL);
    CHECK(strstr(crio_error_message(&err), bad[i].needle) != NULL);
    CHECK(strstr(crio_error_message(&err), fx_path("profile.json")) != NULL);
    crio_error_release(&err);
  }
}

/* A path the kubelet names is read only if it is a regular file of
 * bounded size: a FIFO nobody writes to must not hang the step (it would
 * block the object's reconciler worker), a device like /dev/zero must not
 * grow a buffer without end. */
static void test_localhost_not_a_bounded_regular_file(void) {
  const char *fifo = fx_path("profile.fifo");
  unlink(fifo);
  CHECK(mkfifo(fifo, 0600) == 0);
  char *big = xmalloc(OCI_SECCOMP_PROFILE_MAX + 2);
  memset(big, ' ', OCI_SECCOMP_PROFILE_MAX + 1);
  big[OCI_SECCOMP_PROFILE_MAX + 1] = '\0';
  fx_write("big.json", big);
  free(big);
  const struct {
    const char *path, *needle;
  } bad[] = {
      {fifo, "not a regular file"},
      {"/dev/zero", "not a regular file"},
      {fx_path("big.json"), "bytes, more than"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    crio_error_t err = NULL;
    cJSON *p = NULL;
    CHECK(oci_seccomp_profile_load(bad[i].path, DEFAULT_CAPS, &p, &err) < 0);
    CHECK(p == NULL);
    fprintf(stderr, "   %s\n", crio_error_message(&err));
    CHECK_INT_EQ(crio_error_status(&err), EINVAL);
    CHECK(strstr(crio_error_message(&err), bad[i].needle) != NULL);
    crio_error_release(&err);
  }
  unlink(fifo);
}

int main(void) {
  RUN_TEST(test_every_default_name_is_a_syscall);
  RUN_TEST(test_default_profile_compiles_with_any_caps);
  RUN_TEST(test_default_profile_enforced);
  RUN_TEST(test_localhost_docker_format_converted);
  RUN_TEST(test_localhost_bad_profiles);
  RUN_TEST(test_localhost_not_a_bounded_regular_file);
  return 0;
}
