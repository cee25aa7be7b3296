#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "daemon/daemon.h"
#include "daemon/internal.h"

static void set_string(char **field, const char *value) {
  free(*field);
  *field = xstrdup(value);
}

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

void daemon_config_add_runtime(struct daemon_config *cfg, const char *name, const char *path,
                               const char *root) {
  for (size_t i = 0; i < cfg->n_runtimes; i++) {
    if (strcmp(cfg->runtimes[i].name, name) == 0) {
      if (path)
        set_string(&cfg->runtimes[i].runtime_path, path);
      if (root)
        set_string(&cfg->runtimes[i].runtime_root, root);
      return;
    }
  }
  cfg->runtimes = xrealloc(cfg->runtimes, (cfg->n_runtimes + 1) * sizeof(*cfg->runtimes));
  struct daemon_runtime *r = &cfg->runtimes[cfg->n_runtimes++];
  r->name = xstrdup(name);
  r->runtime_path = path ? xstrdup(path) : NULL;
  r->runtime_root = root ? xstrdup(root) : NULL;
}

/* crio-pause is installed beside crio (the build puts it there too). */
static char *default_pause_path(void) {
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) {
      *slash = '\0';
      return xasprintf("%s/crio-pause", exe);
    }
  }
  return xstrdup("/usr/libexec/crio/crio-pause");
}

/* runc is the default handler where both exist: crun 1.8 refuses hybrid
 * cgroup v1 hierarchies (as on our CI hosts) while runc runs there; the
 * choice is explained in docs/configuration.md. */
void daemon_strv_append_csv(char ***v, const char *csv) {
  size_t n = 0;
  while ((*v)[n])
    n++;
  cleanup_free char *copy = xstrdup(csv);
  char *save = NULL;
  for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
    while (*item == ' ')
      item++;
    size_t len = strlen(item);
    while (len && item[len - 1] == ' ')
      item[--len] = '\0';
    if (len == 0)
      continue;
    *v = xrealloc(*v, (n + 2) * sizeof(char *));
    (*v)[n++] = xstrdup(item);
    (*v)[n] = NULL;
  }
}

/* Go's time.Duration text as CRI-O's flags and config take it ("1m30s",
 * "500ms", "0s"), or plain seconds; whole seconds, rounded up. */
int daemon_parse_duration_s(const char *text, long *out) {
  if (text == NULL || *text == '\0')
    return -1;
  char *end = NULL;
  errno = 0;
  long plain = strtol(text, &end, 10);
  if (errno == 0 && *end == '\0') {
    if (plain < 0)
      return -1;
    *out = plain;
    return 0;
  }
  double total_ms = 0;
  const char *p = text;
  while (*p) {
    errno = 0;
    double v = strtod(p, &end);
    if (end == p || errno != 0 || v < 0)
      return -1;
    p = end;
    double unit_ms;
    if (strncmp(p, "ms", 2) == 0)
      unit_ms = 1, p += 2;
    else if (*p == 's')
      unit_ms = 1000, p += 1;
    else if (*p == 'm')
      unit_ms = 60 * 1000, p += 1;
    else if (*p == 'h')
      unit_ms = 3600 * 1000, p += 1;
    else
      return -1;
    total_ms += v * unit_ms;
  }
  if (total_ms > (double)LONG_MAX / 2)
    return -1;
  *out = (long)((total_ms + 999) / 1000);
  return 0;
}

static void set_defaults(struct daemon_config *cfg) {
  cfg->listen = xstrdup("/run/crio/crio.sock");
  cfg->root = xstrdup("/var/lib/crio");
  cfg->runroot = xstrdup("/run/crio");
  cfg->log_level = CRIO_LOG_INFO;
  const char *const known[] = {"runc", "crun"};
  for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
    cleanup_free char *path = daemon_find_in_path(known[i]);
    if (path)
      daemon_config_add_runtime(cfg, known[i], path, NULL);
  }
  cfg->default_runtime = xstrdup(cfg->n_runtimes ? cfg->runtimes[0].name : "runc");
  cfg->conmon_path = daemon_find_in_path("conmon");
  if (cfg->conmon_path == NULL)
    cfg->conmon_path = xstrdup("/usr/bin/conmon");
  cfg->cgroup_manager = xstrdup(sd_booted() > 0 ? "systemd" : "cgroupfs");
  cfg->cni_config_dir = xstrdup("/etc/cni/net.d");
  cfg->cni_plugin_dirs = xcalloc(3, sizeof(char *));
  cfg->cni_plugin_dirs[0] = xstrdup("/usr/lib/cni");
  cfg->cni_plugin_dirs[1] = xstrdup("/opt/cni/bin");
  cfg->registries_conf = xstrdup("/etc/containers/registries.conf");
  cfg->pause_image = xstrdup("registry.k8s.io/pause:3.10");
  cfg->pinned_images = xcalloc(1, sizeof(char *));
  cfg->pull_progress_timeout = 60;
  cfg->boot_id_path = xstrdup("/proc/sys/kernel/random/boot_id");
  cfg->reconciler_workers = 8;
  cfg->pause_path = default_pause_path();
  cfg->shutdown_grace_ms = 10000;
}

/* Fills what the defaults and the file left open, once both are known. */
static int finish(struct daemon_config *cfg, crio_error_t *err) {
  for (size_t i = 0; i < cfg->n_runtimes; i++) {
    struct daemon_runtime *r = &cfg->runtimes[i];
    if (r->runtime_path == NULL) {
      r->runtime_path = daemon_find_in_path(r->name);
      if (r->runtime_path == NULL)
        r->runtime_path = xasprintf("/usr/bin/%s", r->name);
    }
    if (r->runtime_root == NULL)
      r->runtime_root = xasprintf("%s/runtimes/%s", cfg->runroot, r->name);
  }
  if (cfg->default_cgroup_parent == NULL)
    cfg->default_cgroup_parent =
        xstrdup(strcmp(cfg->cgroup_manager, "systemd") == 0 ? "system.slice" : "/crio");
  if (strcmp(cfg->cgroup_manager, "cgroupfs") != 0 && strcmp(cfg->cgroup_manager, "systemd") != 0)
    return crio_error(err, EINVAL, "cgroup_manager: \"%s\" is neither \"cgroupfs\" nor \"systemd\"",
                      cfg->cgroup_manager);
  if (cfg->listen[0] != '/' || cfg->root[0] != '/' || cfg->runroot[0] != '/')
    return crio_error(err, EINVAL, "--listen, --root and --runroot must be absolute paths");
  return 0;
}

static const struct option long_options[] = {
    {"config", required_argument, NULL, 'c'},
    {"listen", required_argument, NULL, 'l'},
    {"root", required_argument, NULL, 'r'},
    {"runroot", required_argument, NULL, 'R'},
    {"log-level", required_argument, NULL, 'L'},
    {"default-runtime", required_argument, NULL, 'd'},
    {"conmon", required_argument, NULL, 'm'},
    {"cgroup-manager", required_argument, NULL, 'g'},
    {"cni-config-dir", required_argument, NULL, 'n'},
    {"cni-plugin-dir", required_argument, NULL, 'p'},
    {"registries-conf", required_argument, NULL, 'G'},
    {"pause-image", required_argument, NULL, 'P'},
    {"pinned-images", required_argument, NULL, 'I'},
    {"pull-progress-timeout", required_argument, NULL, 'T'},
    {"version", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    /* crio wipe only */
    {"dry-run", no_argument, NULL, 'D'},
    {"from-host", no_argument, NULL, 'H'},
    {NULL, 0, NULL, 0},
};

void daemon_usage(FILE *out) {
  fputs("Usage: crio [OPTIONS]\n"
        "\n"
        "A Kubernetes container runtime: serves the CRI v1 API on a unix socket.\n"
        "\n"
        "Options (CRI-O's names; flags override the config file):\n"
        "  --config FILE            config file (default /etc/crio/crio.conf if present)\n"
        "  --listen PATH            CRI socket (default /run/crio/crio.sock)\n"
        "  --root DIR               persistent state: database (default /var/lib/crio)\n"
        "  --runroot DIR            volatile state (default /run/crio)\n"
        "  --log-level LEVEL        error, warning, info, debug, trace (default info)\n"
        "  --default-runtime NAME   OCI runtime handler for pods without one\n"
        "  --conmon PATH            conmon binary (default: found on PATH)\n"
        "  --cgroup-manager NAME    cgroupfs or systemd (default: systemd if it is PID 1)\n"
        "  --cni-config-dir DIR     CNI network configs (default /etc/cni/net.d)\n"
        "  --cni-plugin-dir DIR     CNI plugin binaries; repeatable\n"
        "                           (default /usr/lib/cni and /opt/cni/bin)\n"
        "  --registries-conf FILE   registries.conf (default /etc/containers/registries.conf)\n"
        "  --pause-image REF        the pause image, pinned (default registry.k8s.io/pause:3.10)\n"
        "  --pinned-images LIST     comma-separated names or globs of images kubelet GC keeps\n"
        "  --pull-progress-timeout DURATION\n"
        "                           fail a pull that makes no progress this long; 0 disables\n"
        "                           (default 60s; \"90s\", \"2m\", or seconds)\n"
        "  --version                print the version and exit\n"
        "  --help                   print this help and exit\n"
        "\n"
        "Environment (for tests): CRIO_CRASH_AT=<transition>[:before|:after] makes\n"
        "the daemon exit with status 137 at that point of the named transition;\n"
        "CRIO_LOG_COMPACT_THRESHOLD=N compacts the state log at start above N entries.\n"
        "\n"
        "Usage: crio wipe [--dry-run] [--from-host] [OPTIONS]\n"
        "\n"
        "With crio stopped, releases every host resource the state log says was\n"
        "acquired and never released (pinned namespaces, CNI attachments, cgroups,\n"
        "processes, dirs) and deletes the pod and container records; images stay.\n"
        "  --dry-run                print the plan, one line per resource, change nothing\n"
        "  --from-host              without the database (damaged or lost): release what\n"
        "                           the run dir and the cgroup tree show for our pod ids\n"
        "Exit status: 0 done, 1 refused (crio running) or a release failed,\n"
        "3 the database is damaged (see docs/operations.md#damaged-database).\n",
        out);
}

int daemon_config_load(int argc, char **argv, struct daemon_config *cfg,
                       enum daemon_command *command, crio_error_t *err) {
  memset(cfg, 0, sizeof(*cfg));
  set_defaults(cfg);
  *command = DAEMON_RUN;
  /* `crio wipe ...`: the same options, read the same way, after the word. */
  bool wipe = argc > 1 && strcmp(argv[1], "wipe") == 0;
  if (wipe) {
    argc--;
    argv++;
  }

  /* First pass: only --config, --version and --help, so the file is read
   * before the flags that override it. */
  const char *config_path = NULL;
  bool config_explicit = false;
  opterr = 0;
  optind = 1;
  int opt;
  while ((opt = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
    if (opt == 'c') {
      config_path = optarg;
      config_explicit = true;
    } else if (opt == 'v') {
      *command = DAEMON_VERSION;
    } else if (opt == 'h') {
      *command = DAEMON_HELP;
    } else if ((opt == 'D' || opt == 'H') && !wipe) {
      return crio_error(err, EINVAL, "%s is an option of crio wipe", argv[optind - 1]);
    } else if (opt == '?') {
      return crio_error(err, EINVAL, "unknown or incomplete option \"%s\"", argv[optind - 1]);
    }
  }
  if (optind < argc)
    return crio_error(err, EINVAL, "unexpected argument \"%s\"", argv[optind]);
  if (*command != DAEMON_RUN)
    return 0;
  if (wipe)
    *command = DAEMON_WIPE;
  if (config_path == NULL && access("/etc/crio/crio.conf", F_OK) == 0)
    config_path = "/etc/crio/crio.conf";
  if (config_path) {
    if (daemon_config_read_file(cfg, config_path, err) < 0) {
      if (!config_explicit)
        crio_error_prefix(err, "default config file");
      return -1;
    }
    cfg->config_path = xstrdup(config_path);
  }

  bool plugin_dirs_from_flags = false;
  bool pinned_from_flags = false;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
    switch (opt) {
    case 'l':
      set_string(&cfg->listen, optarg);
      break;
    case 'r':
      set_string(&cfg->root, optarg);
      break;
    case 'R':
      set_string(&cfg->runroot, optarg);
      break;
    case 'L':
      if (crio_log_level_parse(optarg, &cfg->log_level) < 0)
        return crio_error(err, EINVAL, "--log-level: unknown level \"%s\"", optarg);
      break;
    case 'd':
      set_string(&cfg->default_runtime, optarg);
      break;
    case 'm':
      set_string(&cfg->conmon_path, optarg);
      break;
    case 'g':
      set_string(&cfg->cgroup_manager, optarg);
      break;
    case 'n':
      set_string(&cfg->cni_config_dir, optarg);
      break;
    case 'p': {
      if (!plugin_dirs_from_flags) {
        cleanup_strvp(&cfg->cni_plugin_dirs);
        cfg->cni_plugin_dirs = xcalloc(1, sizeof(char *));
        plugin_dirs_from_flags = true;
      }
      size_t n = 0;
      while (cfg->cni_plugin_dirs[n])
        n++;
      cfg->cni_plugin_dirs = xrealloc(cfg->cni_plugin_dirs, (n + 2) * sizeof(char *));
      cfg->cni_plugin_dirs[n] = xstrdup(optarg);
      cfg->cni_plugin_dirs[n + 1] = NULL;
      break;
    }
    case 'G':
      set_string(&cfg->registries_conf, optarg);
      break;
    case 'D':
      cfg->wipe_dry_run = true;
      break;
    case 'H':
      cfg->wipe_from_host = true;
      break;
    case 'P':
      set_string(&cfg->pause_image, optarg);
      break;
    case 'I':
      if (!pinned_from_flags) {
        cleanup_strvp(&cfg->pinned_images);
        cfg->pinned_images = xcalloc(1, sizeof(char *));
        pinned_from_flags = true;
      }
      daemon_strv_append_csv(&cfg->pinned_images, optarg);
      break;
    case 'T':
      if (daemon_parse_duration_s(optarg, &cfg->pull_progress_timeout) < 0)
        return crio_error(err, EINVAL,
                          "--pull-progress-timeout: \"%s\" is not a duration (\"90s\", \"2m\", "
                          "or seconds)",
                          optarg);
      break;
    default:
      break;
    }
  }
  return finish(cfg, err);
}

void daemon_config_release(struct daemon_config *cfg) {
  free(cfg->config_path);
  free(cfg->listen);
  free(cfg->root);
  free(cfg->runroot);
  free(cfg->default_runtime);
  for (size_t i = 0; i < cfg->n_runtimes; i++) {
    free(cfg->runtimes[i].name);
    free(cfg->runtimes[i].runtime_path);
    free(cfg->runtimes[i].runtime_root);
  }
  free(cfg->runtimes);
  free(cfg->conmon_path);
  free(cfg->cgroup_manager);
  free(cfg->cni_config_dir);
  cleanup_strvp(&cfg->cni_plugin_dirs);
  free(cfg->registries_conf);
  free(cfg->pause_image);
  cleanup_strvp(&cfg->pinned_images);
  free(cfg->image_certs_dir);
  free(cfg->boot_id_path);
  free(cfg->pause_path);
  free(cfg->default_cgroup_parent);
  memset(cfg, 0, sizeof(*cfg));
}

void daemon_config_cri_view(const struct daemon_config *cfg, struct cri_config *view,
                            struct cri_runtime_handler *handlers) {
  for (size_t i = 0; i < cfg->n_runtimes; i++) {
    handlers[i].name = cfg->runtimes[i].name;
    handlers[i].runtime_path = cfg->runtimes[i].runtime_path;
    handlers[i].runtime_root = cfg->runtimes[i].runtime_root;
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
