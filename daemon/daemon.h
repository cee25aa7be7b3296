/* daemon/: the `crio` program — configuration (defaults, crio.conf, flags),
 * start-up order and shutdown.  It owns the one daemon context every other
 * folder receives pieces of. */
#ifndef CRIO_DAEMON_H
#define CRIO_DAEMON_H

#include <stdbool.h>

#include "common/common.h"
#include "cri/cri.h"

struct daemon_runtime {
  char *name;
  char *runtime_path;
  char *runtime_root;
};

struct daemon_config {
  char *config_path; /* the file that was read, or NULL */
  char *listen;      /* CRI socket */
  char *root;        /* persistent state: database, layers */
  char *runroot;     /* volatile state: pinned namespaces, exit files */
  enum crio_log_level log_level;
  char *default_runtime;
  struct daemon_runtime *runtimes;
  size_t n_runtimes;
  char *conmon_path;
  char *cgroup_manager; /* "cgroupfs" or "systemd" */
  char *cni_config_dir;
  char **cni_plugin_dirs; /* NULL-terminated */
  char *registries_conf;
  /* [crio.image] (CRI-O's keys, plus certs_dir) */
  char *pause_image;           /* pinned like pinned_images */
  char **pinned_images;        /* patterns, NULL-terminated */
  long pull_progress_timeout;  /* seconds; 0: no limit */
  char *image_certs_dir;       /* per-registry certs; NULL: /etc/containers/certs.d */
  char *boot_id_path;          /* /proc/sys/kernel/random/boot_id */
  char *pause_path;            /* crio-pause, the infra process of shared-PID pods */
  char *default_cgroup_parent; /* for pods that name none */
  unsigned reconciler_workers;
  int64_t shutdown_grace_ms;
  bool sync_every_commit;
  bool wipe_dry_run;   /* crio wipe --dry-run */
  bool wipe_from_host; /* crio wipe --from-host */
};

enum daemon_command {
  DAEMON_RUN = 0,
  DAEMON_VERSION,
  DAEMON_HELP,
  DAEMON_WIPE, /* crio wipe */
};

/* Defaults, then the config file (--config, or /etc/crio/crio.conf when it
 * exists), then flags.  Usage errors are EINVAL with a message. */
int daemon_config_load(int argc, char **argv, struct daemon_config *cfg,
                       enum daemon_command *command, crio_error_t *err);
void daemon_config_release(struct daemon_config *cfg);
void daemon_usage(FILE *out);
/* The view of the config that cri/ needs; points into cfg. */
void daemon_config_cri_view(const struct daemon_config *cfg, struct cri_config *view,
                            struct cri_runtime_handler *handlers);

int daemon_run(const struct daemon_config *cfg, crio_error_t *err);
/* crio wipe (daemon/wipe.c); the error's status is EUCLEAN for a damaged
 * database. */
int daemon_wipe(const struct daemon_config *cfg, crio_error_t *err);

#endif
