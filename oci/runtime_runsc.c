/* runsc (gVisor; Debian's 0.0~20221219): how it differs from runc.
 *
 *  - Its command line is runc's (create/start/state/kill/delete/exec
 *    --detach --pid-file), with its own messages: an unknown container is
 *    "loading container ...: file does not exist"; a container with no
 *    process left answers kill with "no such process".
 *  - A sandbox per pod: a container whose spec says
 *    io.kubernetes.cri.container-type "container" and sandbox-id <pod id>
 *    (containerd's annotations; runsc also reads CRI-O's) joins the
 *    sandbox that the container named <pod id>, of type "sandbox", started.
 *    The pod's infra container is that one (reconciler/pod_steps_sandbox.c).
 *  - No host process per container: `state` reports the sandbox's pid for
 *    every container of the pod, exits come from `runsc wait` (through
 *    crio-runsc-shim, see oci/runsc_shim/), stops wait on `state`.
 *  - An exec'd command is no host process either: the host process
 *    `runsc exec --detach` leaves is a proxy that exits with the command,
 *    and killing it leaves the command running.  So exec asks for the
 *    command's pid in the sandbox (--internal-pid-file) and a timed-out
 *    command is killed with `runsc kill --pid`, as containerd's gVisor
 *    shim does.
 *  - No `update` and no `features` subcommand.
 *  - Usage from `runsc events --stats <id>`: CPU per container, memory
 *    per sandbox (gVisor's accounting), since the host cgroup of a
 *    container holds at most its gofer. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "oci/runtime_internal.h"

static enum oci_cli_failure runsc_classify(const struct oci_runtime *rt, const char *id,
                                           const char *errout) {
  (void)rt, (void)id;
  if (strstr(errout, "loading container") && strstr(errout, "file does not exist"))
    return OCI_CLI_NOT_FOUND;
  if (strstr(errout, "no such process") || strstr(errout, "is not running") ||
      strstr(errout, "in state stopped") || strstr(errout, "container is stopped"))
    return OCI_CLI_NOT_RUNNING;
  if (strstr(errout, "Usage: runsc"))
    return OCI_CLI_NO_SUBCOMMAND;
  return OCI_CLI_FAILED;
}

/* ---- start: with the container's stdio ------------------------------------ */

/* The bundle `state` reports for `id`; NULL if runsc does not know it. */
static char *bundle_of(const struct oci_runtime *rt, const char *id) {
  const char *args[] = {"state", id, NULL};
  cleanup_free char *out = NULL;
  cleanup_error crio_error_t e = NULL;
  if (oci_cli_run(rt, runsc_classify, id, args, NULL, &out, NULL, &e) < 0)
    return NULL;
  cJSON *doc = cJSON_Parse(out);
  const cJSON *b = cJSON_GetObjectItemCaseSensitive(doc, "bundle");
  char *bundle = cJSON_IsString(b) ? xstrdup(b->valuestring) : NULL;
  cJSON_Delete(doc);
  return bundle;
}

/* crio-runsc-shim's waiter of `id`: the pid conmon's pid file (-p, in the
 * bundle) names, if its command line is the shim's and ends with `id` (a
 * reused pid is not ours). */
static pid_t waiter_of(const struct oci_runtime *rt, const char *id) {
  cleanup_free char *bundle = bundle_of(rt, id);
  if (bundle == NULL)
    return 0;
  cleanup_free char *pid_path = xasprintf("%s/" OCI_CONMON_CTR_PIDFILE, bundle);
  cleanup_free char *text = NULL;
  cleanup_error crio_error_t e = NULL;
  if (crio_read_file(pid_path, &text, NULL, &e) < 0)
    return 0;
  long pid = strtol(text, NULL, 10);
  if (pid <= 1)
    return 0;
  cleanup_free char *cmd_path = xasprintf("/proc/%ld/cmdline", pid);
  cleanup_free char *cmd = NULL;
  size_t len = 0;
  if (crio_read_file(cmd_path, &cmd, &len, &e) < 0 || len == 0)
    return 0;
  const char *argv0 = cmd, *last = cmd;
  for (const char *p = cmd; p < cmd + len; p += strlen(p) + 1)
    last = p;
  const char *base = strrchr(argv0, '/');
  if (strcmp(base ? base + 1 : argv0, "crio-runsc-shim") != 0 || strcmp(last, id) != 0)
    return 0;
  return (pid_t)pid;
}

/* A container that joins a sandbox takes its stdio from `runsc start`
 * (this release; the sandbox's first container takes create's).  conmon
 * holds them, and the shim's waiter keeps them as its 0, 1, 2: opened
 * again through /proc, they are the same pipes.  runsc's own error
 * message, if start fails, lands in the container's log, since that is
 * its stderr; the error here says what state the container is in. */
static int start_with_stdio(const struct oci_runtime *rt, const char *id, pid_t waiter,
                            crio_error_t *err) {
  int fds[3] = {-1, -1, -1};
  for (int i = 0; i < 3; i++) {
    cleanup_free char *path = xasprintf("/proc/%d/fd/%d", (int)waiter, i);
    fds[i] = open(path, (i == 0 ? O_RDONLY : O_WRONLY) | O_CLOEXEC);
    if (fds[i] < 0) {
      int saved = errno;
      for (int j = 0; j < i; j++)
        close(fds[j]);
      return crio_error_errno(err, saved, "start container %s: open its stdio %s", id, path);
    }
  }
  cleanup_strv char **global = oci_runtime_global_args(rt);
  struct strv_builder {
    char **v;
    size_t n;
  } b = {xcalloc(1, sizeof(char *)), 0};
#define ADD(s)                                                                                     \
  do {                                                                                             \
    b.v = xrealloc(b.v, (b.n + 2) * sizeof(char *));                                               \
    b.v[b.n++] = xstrdup(s);                                                                       \
    b.v[b.n] = NULL;                                                                               \
  } while (0)
  ADD(oci_runtime_path(rt));
  for (char **g = global; *g; g++)
    ADD(*g);
  ADD("start");
  ADD(id);
#undef ADD
  cleanup_strv char **argv = b.v;
  struct crio_spawn s = {.argv = (const char *const *)argv,
                         .stdin_fd = fds[0],
                         .stdout_fd = fds[1],
                         .stderr_fd = fds[2]};
  pid_t pid = 0;
  int pidfd_raw = -1;
  int rc = crio_spawn(&s, &pid, &pidfd_raw, err);
  for (int i = 0; i < 3; i++)
    close(fds[i]);
  if (rc < 0)
    return crio_error_prefix(err, "runsc start %s", id);
  cleanup_close int pidfd = pidfd_raw;
  unsigned timeout = rt->timeout_ms ? rt->timeout_ms : OCI_RUNTIME_TIMEOUT_MS;
  struct pollfd pfd = {pidfd, POLLIN, 0};
  int r;
  while ((r = poll(&pfd, 1, (int)timeout)) < 0 && errno == EINTR)
    ;
  if (r == 0) {
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
  }
  int code = 0;
  if (crio_reap(pid, &code, err) < 0)
    return crio_error_prefix(err, "runsc start %s", id);
  if (r == 0)
    return crio_error(err, ETIMEDOUT, "runsc start %s: no answer within %u ms; killed", id,
                      timeout);
  if (code == 0)
    return 0;
  /* As oci_cli_start: started before is success, stopped is EALREADY. */
  struct oci_runtime_state st;
  cleanup_error crio_error_t e = NULL;
  if (oci_runtime_state(rt, id, &st, &e) < 0) {
    if (crio_error_status(&e) == ENOENT)
      return crio_error(err, ENOENT, "runsc start %s: no such container", id);
  } else if (st.status == OCI_STATUS_RUNNING || st.status == OCI_STATUS_PAUSED) {
    return 0;
  } else if (st.status == OCI_STATUS_STOPPED) {
    return crio_error(err, EALREADY, "start container %s: it has already stopped", id);
  }
  return crio_error(err, EIO,
                    "runsc start %s: exit status %d (runsc's message is in the "
                    "container's log)",
                    id, code);
}

static int runsc_start(const struct oci_runtime *rt, const char *id, crio_error_t *err) {
  if (oci_check_container_id(id, err) < 0)
    return -1;
  pid_t waiter = waiter_of(rt, id);
  if (waiter > 0)
    return start_with_stdio(rt, id, waiter, err);
  return oci_cli_start(rt, id, err);
}
/* A created container that joins a sandbox has no process yet, and runsc
 * refuses to signal it ("in state created") where runc would kill its
 * waiting init.  Deleting it is the equivalent: the shim's waiter then
 * finds it gone and reports it killed (137), as conmon would for runc. */
static int runsc_kill(const struct oci_runtime *rt, const char *id, int signal, bool all,
                      crio_error_t *err) {
  crio_error_t e = NULL;
  if (oci_cli_kill(rt, id, signal, all, &e) == 0)
    return 0;
  if (signal == SIGKILL && strstr(crio_error_message(&e), "in state created")) {
    crio_error_release(&e);
    return oci_runtime_delete(rt, id, err);
  }
  *err = e;
  return -1;
}
/* runc's exec argv with --internal-pid-file <pid_file>.internal before
 * the container id (the last word). */
static char **runsc_exec_argv(const struct oci_runtime *rt, const char *id,
                              const char *process_file, const char *pid_file,
                              const char *console_socket) {
  cleanup_strv char **cli = oci_cli_exec_argv(rt, id, process_file, pid_file, console_socket);
  size_t n = 0;
  while (cli[n])
    n++;
  char **argv = xcalloc(n + 3, sizeof(char *));
  for (size_t i = 0; i + 1 < n; i++)
    argv[i] = steal_pointer(&cli[i]);
  argv[n - 1] = xstrdup("--internal-pid-file");
  argv[n] = xasprintf("%s" OCI_EXEC_INTERNAL_PID_SUFFIX, pid_file);
  argv[n + 1] = steal_pointer(&cli[n - 1]);
  return argv;
}

/* Adds to `pids` (at most `cap`) the descendants of pids[0..*n) that
 * `runsc ps` lists: a table "UID PID PPID C STIME TIME CMD" (its json
 * format lists only the pids). */
static void add_descendants(const char *ps_table, long *pids, size_t *n, size_t cap) {
  for (bool grew = true; grew && *n < cap;) {
    grew = false;
    const char *line = strchr(ps_table, '\n'); /* after the header */
    for (; line && *n < cap; line = strchr(line, '\n')) {
      line++;
      long pid, ppid;
      if (sscanf(line, "%*s %ld %ld", &pid, &ppid) != 2)
        continue;
      bool parent_in = false, in = false;
      for (size_t i = 0; i < *n; i++) {
        parent_in |= pids[i] == ppid;
        in |= pids[i] == pid;
      }
      if (parent_in && !in) {
        pids[(*n)++] = pid;
        grew = true;
      }
    }
  }
}

/* The command and what it started: `runsc kill --pid` signals one process
 * (pids are the sandbox kernel's), so its descendants, found in `runsc
 * ps`, are killed one by one; the runc path kills the process group. */
static void runsc_exec_kill(const struct oci_runtime *rt, const char *id, const char *pid_file) {
  cleanup_free char *path = xasprintf("%s" OCI_EXEC_INTERNAL_PID_SUFFIX, pid_file);
  cleanup_free char *text = NULL;
  cleanup_error crio_error_t e = NULL;
  if (crio_read_file(path, &text, NULL, &e) < 0)
    return; /* not started yet: killing the host side stops the start */
  long pids[64] = {strtol(text, NULL, 10)};
  size_t n = 1;
  if (pids[0] <= 0)
    return;
  const char *ps_args[] = {"ps", id, NULL};
  cleanup_free char *ps = NULL;
  if (oci_cli_run(rt, runsc_classify, id, ps_args, NULL, &ps, NULL, &e) == 0)
    add_descendants(ps, pids, &n, sizeof(pids) / sizeof(pids[0]));
  crio_error_release(&e);
  for (size_t i = 0; i < n; i++) {
    char pid_arg[24];
    snprintf(pid_arg, sizeof(pid_arg), "%ld", pids[i]);
    const char *args[] = {"kill", "--pid", pid_arg, id, "KILL", NULL};
    /* One that ended meanwhile makes runsc answer "no such process". */
    if (oci_cli_run(rt, runsc_classify, id, args, NULL, NULL, NULL, &e) < 0 &&
        crio_error_status(&e) != ESRCH)
      crio_error_warn(&e, "kill a timed-out exec in the sandbox");
    crio_error_release(&e);
  }
}

static uint64_t json_u64(const cJSON *obj, const char *a, const char *b) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, a);
  if (b)
    v = cJSON_GetObjectItemCaseSensitive(v, b);
  return cJSON_IsNumber(v) && v->valuedouble > 0 ? (uint64_t)v->valuedouble : 0;
}

/* {"type":"stats","id":..,"data":{"cpu":{"usage":{"total":ns}},
 *  "memory":{"usage":{"usage":bytes}},"pids":{"current":n}}} */
static int runsc_stats(const struct oci_runtime *rt, const char *id, struct oci_runtime_stats *out,
                       crio_error_t *err) {
  if (oci_check_container_id(id, err) < 0)
    return -1;
  const char *args[] = {"events", "--stats", id, NULL};
  cleanup_free char *text = NULL;
  if (oci_cli_run(rt, runsc_classify, id, args, NULL, &text, NULL, err) < 0)
    return -1;
  cJSON *doc = cJSON_Parse(text);
  const cJSON *data = cJSON_GetObjectItemCaseSensitive(doc, "data");
  if (!cJSON_IsObject(data)) {
    cJSON_Delete(doc);
    return crio_error(err, EINVAL, "runsc events --stats %s: unexpected output \"%.200s\"", id,
                      text);
  }
  const cJSON *cpu = cJSON_GetObjectItemCaseSensitive(data, "cpu");
  const cJSON *mem = cJSON_GetObjectItemCaseSensitive(data, "memory");
  out->cpu_usage_ns = json_u64(cpu, "usage", "total");
  out->memory_usage_bytes = json_u64(mem, "usage", "usage");
  out->pids = json_u64(data, "pids", "current");
  cJSON_Delete(doc);
  return 0;
}

/* This release's capability table ends at CAP_AUDIT_READ (37): it refuses
 * a spec naming a newer one ("unknown capability CAP_PERFMON"), which a
 * privileged container on a newer kernel gets.  They are dropped from
 * every set; gVisor would not grant them anyway. */
static void runsc_spec_fixup(cJSON *spec) {
  static const char *const unknown[] = {"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE", NULL};
  cJSON *caps = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(spec, "process"),
                                                 "capabilities");
  cJSON *set;
  cJSON_ArrayForEach(set, caps) {
    if (!cJSON_IsArray(set))
      continue;
    for (int i = cJSON_GetArraySize(set) - 1; i >= 0; i--) {
      const cJSON *c = cJSON_GetArrayItem(set, i);
      for (const char *const *u = unknown; cJSON_IsString(c) && *u; u++)
        if (strcmp(c->valuestring, *u) == 0) {
          cJSON_DeleteItemFromArray(set, i);
          break;
        }
    }
  }
}

/* The ptrace platform needs neither KVM nor a cgroup layout: no host check. */
const struct oci_runtime_ops oci_runtime_runsc = {
    .name = "runsc",
    .default_path = "/usr/bin/runsc",
    .default_root = "/run/runsc",
    .classify = runsc_classify,
    .lacks = OCI_LACKS_FEATURES | OCI_LACKS_UPDATE,
    .start = runsc_start,
    .kill = runsc_kill,
    .exec_argv = runsc_exec_argv,
    .exec_kill = runsc_exec_kill,
    .sandbox_per_pod = true,
    .stats = runsc_stats,
    .spec_fixup = runsc_spec_fixup,
};
