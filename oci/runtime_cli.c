/* The command line runc, crun and runsc share: `<runtime> --root <dir>
 * [--systemd-cgroup] <verb> ... <id>`.  What differs per runtime is data
 * in its table (struct oci_runtime_ops): how a failure reads (the
 * classifier), the subcommands it lacks, and the operations it does its
 * own way (start, kill), which the dispatch below hands over to. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "oci/runtime_internal.h"

const char *oci_runtime_path(const struct oci_runtime *rt) {
  return rt->path ? rt->path : rt->ops->default_path;
}

const char *oci_runtime_root(const struct oci_runtime *rt) {
  return rt->root ? rt->root : rt->ops->default_root;
}

int oci_check_container_id(const char *id, crio_error_t *err) {
  size_t len = id ? strlen(id) : 0;
  if (len == 0 || len > 256)
    return crio_error(err, EINVAL, "invalid container id \"%s\": length", id ? id : "");
  for (size_t i = 0; i < len; i++) {
    char c = id[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-' && c != '+')))
      return crio_error(err, EINVAL, "invalid container id \"%s\"", id);
  }
  return 0;
}

char **oci_runtime_global_args(const struct oci_runtime *rt) {
  size_t n = 0;
  while (rt->runtime_args && rt->runtime_args[n])
    n++;
  char **v = xcalloc(n + 2, sizeof(char *));
  v[0] = xasprintf("--root=%s", oci_runtime_root(rt));
  for (size_t i = 0; i < n; i++)
    v[1 + i] = xstrdup(rt->runtime_args[i]);
  return v;
}

/* argv = path, global args, [--systemd-cgroup], args...; malloc'd strv. */
static char **build_argv(const struct oci_runtime *rt, const char *const *args) {
  size_t n = 0;
  while (args[n])
    n++;
  cleanup_strv char **global = oci_runtime_global_args(rt);
  size_t g = 0;
  while (global[g])
    g++;
  char **argv = xcalloc(n + g + 3, sizeof(char *));
  size_t k = 0;
  argv[k++] = xstrdup(oci_runtime_path(rt));
  for (size_t i = 0; i < g; i++)
    argv[k++] = xstrdup(global[i]);
  if (rt->systemd_cgroup)
    argv[k++] = xstrdup("--systemd-cgroup");
  for (size_t i = 0; i < n; i++)
    argv[k++] = xstrdup(args[i]);
  return argv;
}

char **oci_cli_exec_argv(const struct oci_runtime *rt, const char *id, const char *process_file,
                         const char *pid_file, const char *console_socket) {
  if (console_socket) {
    const char *args[] = {"exec",   "--detach",         "--process",    process_file, "--pid-file",
                          pid_file, "--console-socket", console_socket, id,           NULL};
    return build_argv(rt, args);
  }
  const char *args[] = {"exec",       "--detach", "--process", process_file,
                        "--pid-file", pid_file,   id,          NULL};
  return build_argv(rt, args);
}

/* The runtime's message, shortened for an error: its last non-empty line
 * (runc prefixes it with time= level=), at most 1 KiB. */
static char *last_line(const char *text) {
  size_t len = strlen(text);
  while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
    len--;
  size_t start = len;
  while (start > 0 && text[start - 1] != '\n')
    start--;
  if (len - start > 1024)
    len = start + 1024;
  return xstrndup(text + start, len - start);
}

int oci_cli_run(const struct oci_runtime *rt, oci_cli_classify_fn classify, const char *id,
                const char *const *args, const char *input, char **out,
                enum oci_cli_failure *failure, crio_error_t *err) {
  if (failure)
    *failure = OCI_CLI_FAILED;
  cleanup_strv char **argv = build_argv(rt, args);
  struct crio_run p = {
      .spawn = {.argv = (const char *const *)argv},
      .input = input,
      .input_len = input ? strlen(input) : 0,
      .timeout_ms = rt->timeout_ms ? rt->timeout_ms : OCI_RUNTIME_TIMEOUT_MS,
  };
  struct crio_run_result r;
  if (crio_run(&p, &r, err) < 0)
    return crio_error_prefix(err, "%s %s", rt->ops->name, args[0]);
  if (r.timed_out) {
    crio_run_result_release(&r);
    return crio_error(err, ETIMEDOUT, "%s %s%s%s: no answer within %lld ms; killed", rt->ops->name,
                      args[0], id ? " " : "", id ? id : "", (long long)p.timeout_ms);
  }
  if (r.exit_code != 0) {
    enum oci_cli_failure f = classify ? classify(rt, id, r.errout) : OCI_CLI_FAILED;
    if (failure)
      *failure = f;
    int status = f == OCI_CLI_NOT_FOUND       ? ENOENT
                 : f == OCI_CLI_NOT_RUNNING   ? ESRCH
                 : f == OCI_CLI_NO_SUBCOMMAND ? ENOSYS
                                              : EIO;
    cleanup_free char *msg = last_line(r.err_len ? r.errout : r.out);
    int code = r.exit_code;
    crio_run_result_release(&r);
    return crio_error(err, status, "%s %s%s%s: exit status %d: %s", rt->ops->name, args[0],
                      id ? " " : "", id ? id : "", code, msg);
  }
  if (out)
    *out = steal_pointer(&r.out);
  crio_run_result_release(&r);
  return 0;
}

int oci_runtime_version(const struct oci_runtime *rt, char **version, crio_error_t *err) {
  const char *args[] = {"--version", NULL};
  cleanup_free char *out = NULL;
  /* --version needs no --root, but takes it: one way to build argv. */
  if (oci_cli_run(rt, NULL, NULL, args, NULL, &out, NULL, err) < 0)
    return -1;
  /* "runc version 1.1.5+ds1\ncommit: ..." / "crun version 1.8.1\n..." */
  const char *p = strstr(out, "version ");
  if (p == NULL)
    return crio_error(err, EINVAL, "%s --version: unexpected output \"%.80s\"", rt->ops->name, out);
  p += strlen("version ");
  size_t len = strcspn(p, " \n");
  if (len == 0)
    return crio_error(err, EINVAL, "%s --version: no version number", rt->ops->name);
  *version = xstrndup(p, len);
  return 0;
}

int oci_runtime_features(const struct oci_runtime *rt, char **json, crio_error_t *err) {
  if (rt->ops->lacks & OCI_LACKS_FEATURES)
    return crio_error(err, ENOSYS, "%s has no features subcommand", oci_runtime_path(rt));
  const char *args[] = {"features", NULL};
  cleanup_free char *out = NULL;
  if (oci_cli_run(rt, rt->ops->classify, NULL, args, NULL, &out, NULL, err) < 0)
    return -1;
  cJSON *doc = cJSON_Parse(out);
  bool ok = cJSON_IsObject(doc);
  cJSON_Delete(doc);
  if (!ok)
    return crio_error(err, EINVAL, "%s features: output is not a JSON object", rt->ops->name);
  *json = steal_pointer(&out);
  return 0;
}

static enum oci_container_status status_parse(const char *s) {
  static const struct {
    const char *name;
    enum oci_container_status status;
  } names[] = {{"creating", OCI_STATUS_CREATING},
               {"created", OCI_STATUS_CREATED},
               {"running", OCI_STATUS_RUNNING},
               {"paused", OCI_STATUS_PAUSED},
               {"stopped", OCI_STATUS_STOPPED}};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if (strcmp(s, names[i].name) == 0)
      return names[i].status;
  return OCI_STATUS_UNKNOWN;
}

const char *oci_container_status_name(enum oci_container_status status) {
  switch (status) {
  case OCI_STATUS_CREATING:
    return "creating";
  case OCI_STATUS_CREATED:
    return "created";
  case OCI_STATUS_RUNNING:
    return "running";
  case OCI_STATUS_PAUSED:
    return "paused";
  case OCI_STATUS_STOPPED:
    return "stopped";
  default:
    return "unknown";
  }
}

int oci_runtime_state(const struct oci_runtime *rt, const char *id, struct oci_runtime_state *st,
                      crio_error_t *err) {
  if (oci_check_container_id(id, err) < 0)
    return -1;
  const char *args[] = {"state", id, NULL};
  cleanup_free char *out = NULL;
  if (oci_cli_run(rt, rt->ops->classify, id, args, NULL, &out, NULL, err) < 0)
    return -1;
  cJSON *doc = cJSON_Parse(out);
  const cJSON *status = cJSON_GetObjectItemCaseSensitive(doc, "status");
  const cJSON *pid = cJSON_GetObjectItemCaseSensitive(doc, "pid");
  if (!cJSON_IsString(status) || (pid && !cJSON_IsNumber(pid))) {
    cJSON_Delete(doc);
    return crio_error(err, EINVAL, "%s state %s: unexpected output \"%.200s\"", rt->ops->name, id,
                      out);
  }
  st->status = status_parse(status->valuestring);
  st->pid = pid ? (pid_t)pid->valuedouble : 0;
  cJSON_Delete(doc);
  /* runc reports the last pid of a stopped container, runsc -1 once it
   * stopped: neither names a process. */
  if (st->status == OCI_STATUS_STOPPED || st->pid < 0)
    st->pid = 0;
  return 0;
}

int oci_cli_start(const struct oci_runtime *rt, const char *id, crio_error_t *err) {
  if (oci_check_container_id(id, err) < 0)
    return -1;
  const char *args[] = {"start", id, NULL};
  enum oci_cli_failure f;
  crio_error_t e = NULL;
  if (oci_cli_run(rt, rt->ops->classify, id, args, NULL, NULL, &f, &e) == 0)
    return 0;
  if (f == OCI_CLI_NOT_FOUND) {
    *err = steal_pointer(&e);
    return -1;
  }
  /* A step that runs again after a crash finds the container started. */
  struct oci_runtime_state st;
  crio_error_t e2 = NULL;
  if (oci_runtime_state(rt, id, &st, &e2) == 0) {
    if (st.status == OCI_STATUS_RUNNING || st.status == OCI_STATUS_PAUSED) {
      crio_error_release(&e);
      return 0;
    }
    if (st.status == OCI_STATUS_STOPPED) {
      crio_error_release(&e);
      return crio_error(err, EALREADY, "start container %s: it has already stopped", id);
    }
  }
  crio_error_release(&e2);
  *err = steal_pointer(&e);
  return -1;
}

int oci_cli_kill(const struct oci_runtime *rt, const char *id, int signal, bool all,
                 crio_error_t *err) {
  if (oci_check_container_id(id, err) < 0)
    return -1;
  if (signal <= 0 || signal >= 65)
    return crio_error(err, EINVAL, "kill container %s: invalid signal %d", id, signal);
  char sig[16];
  snprintf(sig, sizeof(sig), "%d", signal);
  const char *with_all[] = {"kill", "--all", id, sig, NULL};
  const char *plain[] = {"kill", id, sig, NULL};
  return oci_cli_run(rt, rt->ops->classify, id, all ? with_all : plain, NULL, NULL, NULL, err);
}

int oci_runtime_delete(const struct oci_runtime *rt, const char *id, crio_error_t *err) {
  if (oci_check_container_id(id, err) < 0)
    return -1;
  const char *args[] = {"delete", "--force", id, NULL};
  enum oci_cli_failure f;
  crio_error_t e = NULL;
  if (oci_cli_run(rt, rt->ops->classify, id, args, NULL, NULL, &f, &e) == 0)
    return 0;
  if (f == OCI_CLI_NOT_FOUND) {
    crio_error_release(&e);
    return 0;
  }
  *err = steal_pointer(&e);
  return -1;
}

int oci_runtime_update(const struct oci_runtime *rt, const char *id, const char *resources_json,
                       crio_error_t *err) {
  if (rt->ops->lacks & OCI_LACKS_UPDATE)
    return crio_error(err, ENOSYS, "update container %s: %s has no update subcommand", id,
                      oci_runtime_path(rt));
  if (oci_check_container_id(id, err) < 0)
    return -1;
  cJSON *doc = cJSON_Parse(resources_json ? resources_json : "");
  bool ok = cJSON_IsObject(doc);
  cJSON_Delete(doc);
  if (!ok)
    return crio_error(err, EINVAL, "update container %s: resources are not a JSON object", id);
  /* runc and crun read "-" as stdin. */
  const char *args[] = {"update", "--resources", "-", id, NULL};
  return oci_cli_run(rt, rt->ops->classify, id, args, resources_json, NULL, NULL, err);
}

static int cli_simple(const struct oci_runtime *rt, const char *verb, const char *id,
                      crio_error_t *err) {
  if (oci_check_container_id(id, err) < 0)
    return -1;
  const char *args[] = {verb, id, NULL};
  return oci_cli_run(rt, rt->ops->classify, id, args, NULL, NULL, NULL, err);
}

int oci_runtime_pause(const struct oci_runtime *rt, const char *id, crio_error_t *err) {
  return cli_simple(rt, "pause", id, err);
}

int oci_runtime_resume(const struct oci_runtime *rt, const char *id, crio_error_t *err) {
  return cli_simple(rt, "resume", id, err);
}

/* ---- what a runtime does its own way ---------------------------------------- */

int oci_runtime_start(const struct oci_runtime *rt, const char *id, crio_error_t *err) {
  return rt->ops->start ? rt->ops->start(rt, id, err) : oci_cli_start(rt, id, err);
}

int oci_runtime_kill(const struct oci_runtime *rt, const char *id, int signal, bool all,
                     crio_error_t *err) {
  return rt->ops->kill ? rt->ops->kill(rt, id, signal, all, err)
                       : oci_cli_kill(rt, id, signal, all, err);
}

int oci_runtime_check_host(const struct oci_runtime *rt, crio_error_t *err) {
  return rt->ops->check_host ? rt->ops->check_host(rt, err) : 0;
}

int oci_runtime_stats(const struct oci_runtime *rt, const char *id, struct oci_runtime_stats *out,
                      crio_error_t *err) {
  if (rt->ops->stats == NULL)
    return crio_error(err, ENOSYS, "%s keeps no usage of its own", rt->ops->name);
  memset(out, 0, sizeof(*out));
  return rt->ops->stats(rt, id, out, err);
}

char **oci_runtime_exec_argv(const struct oci_runtime *rt, const char *id, const char *process_file,
                             const char *pid_file, const char *console_socket) {
  return rt->ops->exec_argv ? rt->ops->exec_argv(rt, id, process_file, pid_file, console_socket)
                            : oci_cli_exec_argv(rt, id, process_file, pid_file, console_socket);
}
