/* `crio wipe`: the daemon's configuration handed to recovery_wipe. */
#include "daemon/daemon.h"
#include "recovery/recovery.h"

int daemon_wipe(const struct daemon_config *cfg, crio_error_t *err) {
  struct recovery_wipe_options options = {
      .env =
          {
              .root = cfg->root,
              .runroot = cfg->runroot,
              .cni_plugin_dirs = (const char *const *)cfg->cni_plugin_dirs,
              .cgroup_manager = cfg->cgroup_manager,
          },
      .dry_run = cfg->wipe_dry_run,
      .from_host = cfg->wipe_from_host,
      .default_cgroup_parent = cfg->default_cgroup_parent,
  };
  struct recovery_wipe_report report;
  return recovery_wipe(&options, &report, err);
}
