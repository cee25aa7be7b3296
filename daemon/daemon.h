/* daemon/: the `crio` program — configuration (defaults, crio.conf, flags),
 * start-up order and shutdown.  It owns the one daemon context every other
 * folder receives pieces of. */
#ifndef CRIO_DAEMON_H
#define CRIO_DAEMON_H

#include <stdbool.h>

#include "common/common.h"
#include "cri/cri.h"

/* [crio.runtime.runtimes.NAME]: a handler a RuntimeClass may name. */
struct daemon_runtime {
  char *name;
  char *runtime_path; /* "" or absent in a file: found on PATH */
  char *runtime_root;
  char *runtime_type;        /* "oci": the only type we run */
  char *monitor_path;        /* conmon for this handler; NULL: crio.runtime.conmon */
  char *runtime_config_path; /* CRI-O: VM runtimes only; kept and reported */
  bool privileged_without_host_devices;
  /* daemon/config_runtimes.c: the handler keys that reach the runtime. */
  char **monitor_env; /* conmon's environment ("KEY=value") */
  char **allowed_annotations;
  char **runtime_args; /* ours: global options after --root (runsc --platform=...) */
};

/* Storage of a CRI-O setting we accept but do not implement
 * (daemon/settings.h). */
union daemon_setting_value {
  char *s;
  bool b;
  int64_t i;
  char **v;
  enum crio_log_level level;
};

struct daemon_config {
  char *config_path;          /* the file that was read, or NULL */
  char *config_dir;           /* the drop-in dir that was read, or NULL */
  char *listen;               /* CRI socket */
  char *root;                 /* persistent state: database, layers */
  char *runroot;              /* volatile state: pinned namespaces, exit files */
  char *log_dir;              /* [crio] log_dir */
  char *version_file;         /* written at start; in a tmpfs, so gone after a reboot */
  char *version_file_persist; /* written at start; "" none */
  char *clean_shutdown_file;  /* written at a clean stop, removed at start */
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
  char *pause_image;             /* pinned like pinned_images */
  char **pinned_images;          /* patterns, NULL-terminated */
  char **default_sysctls;        /* KEY=VALUE, NULL-terminated */
  int64_t pull_progress_timeout; /* seconds; 0: no limit */
  char *image_certs_dir;         /* per-registry certs; NULL: /etc/containers/certs.d */
  /* [crio.metrics] */
  bool enable_metrics;
  char *metrics_host;
  int64_t metrics_port;
  char *boot_id_path;          /* /proc/sys/kernel/random/boot_id */
  char *pause_path;            /* crio-pause, the infra process of shared-PID pods */
  char *runsc_shim_path;       /* crio-runsc-shim, conmon's runtime for gVisor handlers */
  char *default_cgroup_parent; /* for pods that name none */
  unsigned reconciler_workers;
  int64_t shutdown_grace_ms;
  bool sync_every_commit;
  /* [crio.api] streaming server (CRI-O's keys; docs/streaming.md) */
  char *stream_address;      /* NULL: 127.0.0.1 */
  char *stream_port;         /* NULL or "0": the kernel picks */
  char *stream_idle_timeout; /* a duration; "": 4 h (CRI-O's "" default) */
  bool stream_enable_tls;
  char *stream_tls_cert, *stream_tls_key;
  bool wipe_dry_run;   /* crio wipe --dry-run */
  bool wipe_from_host; /* crio wipe --from-host */
  bool wipe_force;     /* crio wipe --force: no version-file check */
  /* The settings with no field, indexed like daemon_settings[], and where
   * each setting got its value ("file:line", "--flag", "$ENV"; NULL: the
   * default). */
  union daemon_setting_value *extra;
  char **origins;
  /* The command line it was read from, to read again on SIGHUP. */
  int argc;
  char **argv;
};

enum daemon_command {
  DAEMON_RUN = 0,
  DAEMON_VERSION, /* crio version, crio --version */
  DAEMON_HELP,
  DAEMON_WIPE,     /* crio wipe */
  DAEMON_CONFIG,   /* crio config */
  DAEMON_STATUS,   /* crio status */
  DAEMON_MARKDOWN, /* crio markdown (md) */
};

/* What the command line asked for besides the configuration. */
struct daemon_invocation {
  enum daemon_command command;
  bool config_default; /* crio config --default */
  bool version_json;   /* crio version -j */
  bool version_short;  /* crio --version: one line */
  char *status_socket; /* crio status --socket */
  char *status_what;   /* info, config, containers */
  char *status_id;     /* crio status containers --id */
};
void daemon_invocation_release(struct daemon_invocation *inv);

/* CRI-O's command line: crio [global flags] [wipe|config|version|status
 * [flags]].  Defaults, then the config file (--config, or
 * /etc/crio/crio.conf when it exists), then its drop-in dir (--config-dir,
 * /etc/crio/crio.conf.d), then CONTAINER_* variables, then flags.  Usage
 * errors are EINVAL with a message. */
int daemon_config_load(int argc, char **argv, struct daemon_config *cfg,
                       struct daemon_invocation *inv, crio_error_t *err);
void daemon_config_release(struct daemon_config *cfg);
void daemon_usage(FILE *out);
/* crio markdown: the settings table of docs/configuration.md. */
void daemon_settings_markdown(FILE *out);
/* The view of the config that cri/ needs; points into cfg. */
void daemon_config_cri_view(const struct daemon_config *cfg, struct cri_config *view,
                            struct cri_runtime_handler *handlers);
/* crio config: the configuration as commented TOML that reads back into
 * the same configuration; settings at their default are commented out
 * unless show_all (crio config --default, which CRI-O writes uncommented). */
void daemon_config_print(const struct daemon_config *cfg, bool show_all, FILE *out);
/* crio status info|config|containers: GET over the socket's HTTP
 * endpoint, the answer printed as it came. */
int daemon_status_client(const struct daemon_config *cfg, const struct daemon_invocation *inv,
                         FILE *out, crio_error_t *err);
/* crio version [-j] */
void daemon_version_print(bool json, FILE *out);

int daemon_run(const struct daemon_config *cfg, crio_error_t *err);
/* crio wipe (daemon/wipe.c); the error's status is EUCLEAN for a damaged
 * database. */
int daemon_wipe(const struct daemon_config *cfg, crio_error_t *err);

#endif
