/* The daemon's configuration as a value: defaults, runtime handlers, the
 * checks once every source is read, and release.  Reading sources is
 * config_file.c (files) and cli.c (flags, environment); this file calls
 * neither. */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "daemon/internal.h"
#include "daemon/settings.h"

/* First executable `name` on PATH (or the usual sbin/bin dirs when PATH is
 * unset, as under some service managers), else NULL. */
char *daemon_find_in_path(const char *name) {
  const char *path = getenv("PATH");
  if (path == NULL || *path == '\0')
    path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  cleanup_free char *copy = xstrdup(path);
  char *save = NULL;
  for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
    if (*dir == '\0')
      continue;
    cleanup_free char *candidate = xasprintf("%s/%s", dir, name);
    struct stat st;
    if (stat(candidate, &st) == 0 && S_ISREG(st.st_mode) && access(candidate, X_OK) == 0)
      return steal_pointer(&candidate);
  }
  return NULL;
}

struct daemon_runtime *daemon_config_runtime(struct daemon_config *cfg, const char *name) {
  for (size_t i = 0; i < cfg->n_runtimes; i++)
    if (strcmp(cfg->runtimes[i].name, name) == 0)
      return &cfg->runtimes[i];
  cfg->runtimes = xrealloc(cfg->runtimes, (cfg->n_runtimes + 1) * sizeof(*cfg->runtimes));
  struct daemon_runtime *r = &cfg->runtimes[cfg->n_runtimes++];
  memset(r, 0, sizeof(*r));
  r->name = xstrdup(name);
  return r;
}

static void runtime_release(struct daemon_runtime *r) {
  free(r->name);
  free(r->runtime_path);
  free(r->runtime_root);
  free(r->runtime_type);
  free(r->monitor_path);
  free(r->runtime_config_path);
  daemon_runtime_release_keys(r);
}

void daemon_config_clear_runtimes(struct daemon_config *cfg) {
  for (size_t i = 0; i < cfg->n_runtimes; i++)
    runtime_release(&cfg->runtimes[i]);
  free(cfg->runtimes);
  cfg->runtimes = NULL;
  cfg->n_runtimes = 0;
}

/* crio-pause and crio-runsc-shim are installed beside crio (the build puts
 * them there too). */
static char *default_helper_path(const char *name) {
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) {
      *slash = '\0';
      return xasprintf("%s/%s", exe, name);
    }
  }
  return xasprintf("/usr/libexec/crio/%s", name);
}

/* runc is the default handler where both exist: crun 1.8 refuses hybrid
 * cgroup v1 hierarchies (as on our CI hosts) while runc runs there; the
 * choice is explained in docs/configuration.md. */
void daemon_config_defaults(struct daemon_config *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->extra = xcalloc(daemon_n_settings, sizeof(*cfg->extra));
  cfg->origins = xcalloc(daemon_n_settings, sizeof(*cfg->origins));
  for (size_t i = 0; i < daemon_n_settings; i++) {
    const struct daemon_setting *s = &daemon_settings[i];
    if (s->def == NULL)
      continue;
    cleanup_error crio_error_t err = NULL;
    if (daemon_setting_set_text(cfg, i, s->def, &err) < 0)
      abort(); /* a bad default in the table is a bug caught by any test */
  }
  const char *const known[] = {"runc", "crun"};
  for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
    cleanup_free char *path = daemon_find_in_path(known[i]);
    if (path)
      daemon_config_runtime(cfg, known[i])->runtime_path = steal_pointer(&path);
  }
  cfg->default_runtime = xstrdup(cfg->n_runtimes ? cfg->runtimes[0].name : "runc");
  cfg->conmon_path = xstrdup("");
  cfg->cgroup_manager = xstrdup(crio_sd_booted() ? "systemd" : "cgroupfs");
  cfg->boot_id_path = xstrdup("/proc/sys/kernel/random/boot_id");
  cfg->reconciler_workers = 8;
  cfg->pause_path = default_helper_path("crio-pause");
  cfg->runsc_shim_path = default_helper_path("crio-runsc-shim");
  cfg->shutdown_grace_ms = 10000;
}

/* Settings whose feature we lack, set away from their default: one
 * warning each, naming where the value came from. */
static void warn_unimplemented(const struct daemon_config *cfg) {
  struct daemon_config defaults;
  daemon_config_defaults(&defaults);
  for (size_t i = 0; i < daemon_n_settings; i++) {
    const struct daemon_setting *s = &daemon_settings[i];
    if (s->offset != DS_NO_FIELD || daemon_setting_equal(cfg, &defaults, i))
      continue;
    if (s->table)
      log_warning("config: %s.%s (set at %s) is accepted but has no effect here: %s", s->table,
                  s->key, cfg->origins[i] ? cfg->origins[i] : "?", s->help);
    else
      log_warning("config: --%s (set at %s) is accepted but has no effect here: %s", s->flag,
                  cfg->origins[i] ? cfg->origins[i] : "?", s->help);
  }
  daemon_config_release(&defaults);
}

/* default_sysctls CRI-O refuses at start (pkg/config/sysctl.go:
 * "KEY=VALUE", no space around the key or the value;
 * "net.ipv4.ping_group_range=0 1" is fine) are refused too. */
static bool space_around(const char *s, size_t n) {
  return n > 0 && (isspace((unsigned char)s[0]) || isspace((unsigned char)s[n - 1]));
}

static int check_default_sysctls(const struct daemon_config *cfg, crio_error_t *err) {
  char *const *v = cfg->default_sysctls;
  for (size_t k = 0; v && v[k]; k++) {
    if (v[k][0] == '\0')
      continue; /* skipped, as CRI-O does */
    const char *eq = strchr(v[k], '=');
    if (eq == NULL)
      return crio_error(err, EINVAL, "default_sysctls: \"%s\" is not in key=value format", v[k]);
    if (space_around(v[k], (size_t)(eq - v[k])) || space_around(eq + 1, strlen(eq + 1)))
      return crio_error(err, EINVAL,
                        "default_sysctls: '%s' is invalid, extra spaces found: format should be "
                        "key=value",
                        v[k]);
  }
  return 0;
}

int daemon_config_finish(struct daemon_config *cfg, bool warn, crio_error_t *err) {
  if (warn)
    warn_unimplemented(cfg);
  for (size_t i = 0; i < cfg->n_runtimes; i++) {
    struct daemon_runtime *r = &cfg->runtimes[i];
    /* CRI-O: an empty runtime_path means the handler's name on PATH. */
    if (r->runtime_path == NULL || r->runtime_path[0] == '\0') {
      free(r->runtime_path);
      r->runtime_path = daemon_find_in_path(r->name);
      if (r->runtime_path == NULL)
        r->runtime_path = xasprintf("/usr/bin/%s", r->name);
    }
    if (r->runtime_root == NULL || r->runtime_root[0] == '\0') {
      free(r->runtime_root);
      r->runtime_root = xasprintf("%s/runtimes/%s", cfg->runroot, r->name);
    }
    if (r->runtime_type && r->runtime_type[0] && strcmp(r->runtime_type, "oci") != 0)
      return crio_error(err, EINVAL,
                        "runtime handler %s: runtime_type \"%s\" is not supported (only \"oci\")",
                        r->name, r->runtime_type);
  }
  /* Computed only when no source set them: "" is CRI-O's "none" (no
   * version file written, so crio wipe never sees a reboot; no clean
   * shutdown file). */
  if (cfg->version_file == NULL)
    cfg->version_file = xasprintf("%s/version", cfg->runroot);
  if (cfg->clean_shutdown_file == NULL)
    cfg->clean_shutdown_file = xasprintf("%s/clean.shutdown", cfg->root);
  if (cfg->conmon_path == NULL || cfg->conmon_path[0] == '\0') {
    free(cfg->conmon_path);
    cfg->conmon_path = daemon_find_in_path("conmon");
    if (cfg->conmon_path == NULL)
      cfg->conmon_path = xstrdup("/usr/bin/conmon");
  }
  if (cfg->default_cgroup_parent == NULL)
    cfg->default_cgroup_parent =
        xstrdup(strcmp(cfg->cgroup_manager, "systemd") == 0 ? "system.slice" : "/crio");
  if (strcmp(cfg->cgroup_manager, "cgroupfs") != 0 && strcmp(cfg->cgroup_manager, "systemd") != 0)
    return crio_error(err, EINVAL, "cgroup_manager: \"%s\" is neither \"cgroupfs\" nor \"systemd\"",
                      cfg->cgroup_manager);
  if (cfg->listen[0] != '/' || cfg->root[0] != '/' || cfg->runroot[0] != '/')
    return crio_error(err, EINVAL, "--listen, --root and --runroot must be absolute paths");
  if (cfg->metrics_port < 0 || cfg->metrics_port > 65535)
    return crio_error(err, EINVAL, "metrics_port: %lld is not a port",
                      (long long)cfg->metrics_port);
  return check_default_sysctls(cfg, err);
}

void daemon_config_release(struct daemon_config *cfg) {
  if (cfg->extra) {
    for (size_t i = 0; i < daemon_n_settings; i++)
      daemon_setting_release(cfg, i);
  }
  if (cfg->origins) {
    for (size_t i = 0; i < daemon_n_settings; i++)
      free(cfg->origins[i]);
  }
  free(cfg->extra);
  free(cfg->origins);
  free(cfg->config_path);
  free(cfg->config_dir);
  daemon_config_clear_runtimes(cfg);
  free(cfg->boot_id_path);
  free(cfg->pause_path);
  free(cfg->runsc_shim_path);
  free(cfg->default_cgroup_parent);
  memset(cfg, 0, sizeof(*cfg));
}

void daemon_config_cri_view(const struct daemon_config *cfg, struct cri_config *view,
                            struct cri_runtime_handler *handlers) {
  for (size_t i = 0; i < cfg->n_runtimes; i++) {
    handlers[i].name = cfg->runtimes[i].name;
    handlers[i].runtime_path = cfg->runtimes[i].runtime_path;
    handlers[i].runtime_root = cfg->runtimes[i].runtime_root;
    const struct daemon_runtime *r = &cfg->runtimes[i];
    handlers[i].runtime_type = r->runtime_type && *r->runtime_type ? r->runtime_type : "oci";
    handlers[i].runtime_config_path = r->runtime_config_path;
    handlers[i].monitor_path = r->monitor_path;
    handlers[i].monitor_env = (const char *const *)r->monitor_env;
    handlers[i].allowed_annotations = (const char *const *)r->allowed_annotations;
    handlers[i].runtime_args = (const char *const *)r->runtime_args;
    handlers[i].privileged_without_host_devices = r->privileged_without_host_devices;
  }
  *view = (struct cri_config){
      .default_runtime = cfg->default_runtime,
      .runtimes = handlers,
      .n_runtimes = cfg->n_runtimes,
      .conmon_path = cfg->conmon_path,
      .cni_config_dir = cfg->cni_config_dir,
      .cni_plugin_dirs = (const char *const *)cfg->cni_plugin_dirs,
      .cgroup_driver = strcmp(cfg->cgroup_manager, "systemd") == 0 ? CRI_CGROUP_DRIVER_SYSTEMD
                                                                   : CRI_CGROUP_DRIVER_CGROUPFS,
      .root = cfg->root,
      .runroot = cfg->runroot,
  };
}
