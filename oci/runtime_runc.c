/* runc (Debian's 1.1.5): how its failures read.  Errors come on stderr as
 * logrus lines: time="..." level=error msg="container does not exist". */
#include <string.h>

#include "oci/runtime_internal.h"

static enum oci_cli_failure runc_classify(const struct oci_runtime *rt, const char *id,
                                          const char *errout) {
  (void)rt, (void)id;
  if (strstr(errout, "container does not exist"))
    return OCI_CLI_NOT_FOUND;
  /* "container not running" (kill, exec); "process already finished" and
   * "no such process" when the init died under a signal being sent. */
  if (strstr(errout, "container not running") || strstr(errout, "process already finished") ||
      strstr(errout, "no such process"))
    return OCI_CLI_NOT_RUNNING;
  if (strstr(errout, "No help topic for"))
    return OCI_CLI_NO_SUBCOMMAND;
  return OCI_CLI_FAILED;
}

static int runc_check_host(const struct oci_runtime *rt, crio_error_t *err) {
  (void)rt, (void)err;
  return 0; /* runc runs on every cgroup layout: legacy, hybrid, unified */
}

static int runc_features(const struct oci_runtime *rt, char **json, crio_error_t *err) {
  return oci_cli_features(rt, runc_classify, json, err);
}
static int runc_state(const struct oci_runtime *rt, const char *id, struct oci_runtime_state *out,
                      crio_error_t *err) {
  return oci_cli_state(rt, runc_classify, id, out, err);
}
static int runc_start(const struct oci_runtime *rt, const char *id, crio_error_t *err) {
  return oci_cli_start(rt, runc_classify, id, err);
}
static int runc_kill(const struct oci_runtime *rt, const char *id, int signal, bool all,
                     crio_error_t *err) {
  return oci_cli_kill(rt, runc_classify, id, signal, all, err);
}
static int runc_delete(const struct oci_runtime *rt, const char *id, crio_error_t *err) {
  return oci_cli_delete(rt, runc_classify, id, err);
}
static int runc_update(const struct oci_runtime *rt, const char *id, const char *resources,
                       crio_error_t *err) {
  return oci_cli_update(rt, runc_classify, id, resources, err);
}
static int runc_pause(const struct oci_runtime *rt, const char *id, crio_error_t *err) {
  return oci_cli_simple(rt, runc_classify, "pause", id, err);
}
static int runc_resume(const struct oci_runtime *rt, const char *id, crio_error_t *err) {
  return oci_cli_simple(rt, runc_classify, "resume", id, err);
}

const struct oci_runtime_ops oci_runtime_runc = {
    .name = "runc",
    .default_path = "/usr/sbin/runc",
    .default_root = "/run/runc",
    .check_host = runc_check_host,
    .version = oci_cli_version,
    .features = runc_features,
    .state = runc_state,
    .start = runc_start,
    .kill = runc_kill,
    .delete = runc_delete,
    .update = runc_update,
    .pause = runc_pause,
    .resume = runc_resume,
    .exec_argv = oci_cli_exec_argv,
    .global_args = oci_cli_global_args,
};
