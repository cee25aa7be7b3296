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

/* runc runs on every cgroup layout (legacy, hybrid, unified) and has every
 * subcommand: nothing else differs from the shared command line. */
const struct oci_runtime_ops oci_runtime_runc = {
    .name = "runc",
    .default_path = "/usr/sbin/runc",
    .default_root = "/run/runc",
    .classify = runc_classify,
};
