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

const struct oci_runtime_ops oci_runtime_runc = {
    .name = "runc",
    .default_path = "/usr/sbin/runc",
    .default_root = "/run/runc",
    .check_host = runc_check_host,
    .version = oci_cli_version,
    .features = oci_cli_features,
    .state = oci_cli_state,
    .start = oci_cli_start,
    .kill = oci_cli_kill,
    .delete = oci_cli_delete,
    .update = oci_cli_update,
    .pause = oci_cli_pause,
    .resume = oci_cli_resume,
    .exec_argv = oci_cli_exec_argv,
    .global_args = oci_cli_global_args,
    .classify = runc_classify,
};
