/* CRI-O's command line: crio [global flags] [command [flags] [args]].
 *
 * Global flags come before the command, as CRI-O's CLI (urfave/cli) takes
 * them; `crio wipe` also takes them after the word, as this daemon always
 * did.  Flags and CONTAINER_* variables are read first and applied after
 * the files, so that they override them. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "daemon/internal.h"
#include "daemon/settings.h"

/* getopt values of flags that are not settings. */
enum {
  OPT_CONFIG = 'c',
  OPT_CONFIG_DIR = 'd',
  OPT_HELP = 'h',
  OPT_VERSION = 'v',
  OPT_RUNTIMES = 0x100,
  OPT_DRY_RUN,
  OPT_FROM_HOST,
  OPT_FORCE,
  OPT_SETTING = 0x1000, /* + index in daemon_settings[] */
};

struct flag_use {
  int opt;
  const char *arg;
};

struct parsed {
  struct flag_use *uses;
  size_t n_uses;
  const char *config_path; /* NULL: the default, if it exists */
  const char *config_dir;  /* NULL: the default */
  bool config_set;
};

static struct option *global_options(bool with_wipe) {
  size_t n = 0;
  struct option *opts = xcalloc(daemon_n_settings + 16, sizeof(*opts));
  for (size_t i = 0; i < daemon_n_settings; i++) {
    const struct daemon_setting *s = &daemon_settings[i];
    if (s->flag == NULL)
      continue;
    /* Booleans as urfave/cli takes them: --flag or --flag=false. */
    opts[n++] = (struct option){s->flag, s->type == DS_BOOL ? optional_argument : required_argument,
                                NULL, OPT_SETTING + (int)i};
  }
  opts[n++] = (struct option){"config", required_argument, NULL, OPT_CONFIG};
  opts[n++] = (struct option){"config-dir", required_argument, NULL, OPT_CONFIG_DIR};
  opts[n++] = (struct option){"runtimes", required_argument, NULL, OPT_RUNTIMES};
  opts[n++] = (struct option){"help", no_argument, NULL, OPT_HELP};
  opts[n++] = (struct option){"version", no_argument, NULL, OPT_VERSION};
  if (with_wipe) {
    opts[n++] = (struct option){"dry-run", no_argument, NULL, OPT_DRY_RUN};
    opts[n++] = (struct option){"from-host", no_argument, NULL, OPT_FROM_HOST};
    opts[n++] = (struct option){"force", no_argument, NULL, OPT_FORCE};
  }
  return opts;
}

static int short_to_opt(int c) {
  for (size_t i = 0; i < daemon_n_settings; i++)
    if (daemon_settings[i].short_flag && daemon_settings[i].short_flag == c)
      return OPT_SETTING + (int)i;
  return c;
}

static int collect(int argc, char **argv, bool with_wipe, struct parsed *p,
                   struct daemon_config *cfg, struct daemon_invocation *inv, crio_error_t *err) {
  cleanup_free struct option *opts = global_options(with_wipe);
  /* '+': stop at the first word that is not a flag (the command). */
  const char *shorts = with_wipe ? "+c:d:r:l:s:hvf" : "+c:d:r:l:s:hv";
  opterr = 0;
  int opt;
  while ((opt = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
    if (opt == 'r' || opt == 'l' || opt == 's')
      opt = short_to_opt(opt);
    switch (opt) {
    case OPT_CONFIG:
      p->config_path = optarg;
      p->config_set = true;
      break;
    case OPT_CONFIG_DIR:
      p->config_dir = optarg;
      break;
    case OPT_HELP:
      inv->command = DAEMON_HELP;
      break;
    case OPT_VERSION:
      inv->command = DAEMON_VERSION;
      inv->version_short = true;
      break;
    case OPT_DRY_RUN:
      cfg->wipe_dry_run = true;
      break;
    case OPT_FROM_HOST:
      cfg->wipe_from_host = true;
      break;
    case OPT_FORCE:
    case 'f':
      cfg->wipe_force = true;
      break;
    case '?':
    case ':':
      if (optopt && optopt < 0x100)
        return crio_error(err, EINVAL, "unknown or incomplete flag \"-%c\"", optopt);
      return crio_error(err, EINVAL, "unknown or incomplete flag \"%s\"", argv[optind - 1]);
    default:
      p->uses = xrealloc(p->uses, (p->n_uses + 1) * sizeof(*p->uses));
      p->uses[p->n_uses++] = (struct flag_use){opt, optarg};
      break;
    }
  }
  return 0;
}

/* CONTAINER_RUNTIMES / --runtimes: "name:path:root:type:privileged:config"
 * items separated by commas, as CRI-O's helpers.bash sets it. */
static int apply_runtimes(struct daemon_config *cfg, const char *text, crio_error_t *err) {
  cleanup_free char *copy = xstrdup(text);
  char *save = NULL;
  for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
    char *fields[6] = {0};
    size_t n = 0;
    for (char *f = item; f && n < 6; n++) {
      fields[n] = f;
      f = strchr(f, ':');
      if (f)
        *f++ = '\0';
    }
    if (fields[0] == NULL || fields[0][0] == '\0')
      return crio_error(err, EINVAL, "--runtimes: \"%s\" has no handler name", item);
    struct daemon_runtime *r = daemon_config_runtime(cfg, fields[0]);
    char **targets[] = {NULL, &r->runtime_path, &r->runtime_root, &r->runtime_type};
    for (size_t k = 1; k < 4 && k < n; k++) {
      free(*targets[k]);
      *targets[k] = xstrdup(fields[k]);
    }
    if (n > 4)
      r->privileged_without_host_devices = strcmp(fields[4], "true") == 0;
    if (n > 5) {
      free(r->runtime_config_path);
      r->runtime_config_path = xstrdup(fields[5]);
    }
  }
  return 0;
}

static int apply_flag(struct daemon_config *cfg, int opt, const char *arg, bool *list_from_flags,
                      crio_error_t *err) {
  if (opt == OPT_RUNTIMES)
    return apply_runtimes(cfg, arg, err);
  size_t i = (size_t)(opt - OPT_SETTING);
  const struct daemon_setting *s = &daemon_settings[i];
  /* A repeated list flag adds to what the first one set. */
  if (s->type == DS_STRINGS && list_from_flags[i]) {
    daemon_setting_append_text(cfg, i, arg);
  } else {
    if (daemon_setting_set_text(cfg, i, arg ? arg : "true", err) < 0)
      return crio_error_prefix(err, "--%s", s->flag);
    list_from_flags[i] = true;
  }
  free(cfg->origins[i]);
  cfg->origins[i] = xasprintf("--%s", s->flag);
  return 0;
}

static int apply_env(struct daemon_config *cfg, crio_error_t *err) {
  for (size_t i = 0; i < daemon_n_settings; i++) {
    const struct daemon_setting *s = &daemon_settings[i];
    const char *v = s->env ? getenv(s->env) : NULL;
    if (v == NULL || *v == '\0')
      continue;
    if (daemon_setting_set_text(cfg, i, v, err) < 0)
      return crio_error_prefix(err, "$%s", s->env);
    free(cfg->origins[i]);
    cfg->origins[i] = xasprintf("$%s", s->env);
  }
  const char *runtimes = getenv("CONTAINER_RUNTIMES");
  if (runtimes && *runtimes && apply_runtimes(cfg, runtimes, err) < 0)
    return -1;
  return 0;
}

static int read_files(struct daemon_config *cfg, const struct parsed *p, crio_error_t *err) {
  const char *path = "/etc/crio/crio.conf";
  bool use_file = true; /* the default file only when it exists */
  if (p->config_set)
    path = p->config_path;
  else if (getenv("CONTAINER_CONFIG"))
    path = getenv("CONTAINER_CONFIG");
  else
    use_file = access(path, F_OK) == 0;
  /* -c "" (as CRI-O's tests pass it): no file at all. */
  if (use_file && *path) {
    if (daemon_config_read_file(cfg, path, err) < 0)
      return -1;
    cfg->config_path = xstrdup(path);
  }
  const char *dir = p->config_dir;
  if (dir == NULL)
    dir = getenv("CONTAINER_CONFIG_DIR");
  if (dir == NULL)
    dir = "/etc/crio/crio.conf.d";
  if (*dir) {
    if (daemon_config_read_dir(cfg, dir, err) < 0)
      return -1;
    cfg->config_dir = xstrdup(dir);
  }
  return 0;
}

static int parse_command(int argc, char **argv, struct daemon_config *cfg,
                         struct daemon_invocation *inv, struct parsed *p, crio_error_t *err) {
  const char *word = argv[0];
  if (strcmp(word, "wipe") == 0) {
    inv->command = DAEMON_WIPE;
    optind = 1;
    if (collect(argc, argv, true, p, cfg, inv, err) < 0)
      return -1;
    if (optind < argc)
      return crio_error(err, EINVAL, "crio wipe: unexpected argument \"%s\"", argv[optind]);
    if (inv->command == DAEMON_VERSION)
      return crio_error(err, EINVAL, "crio wipe: unknown flag --version");
    return 0;
  }
  if (strcmp(word, "help") == 0 || strcmp(word, "h") == 0) {
    inv->command = DAEMON_HELP;
    return 0;
  }
  if (strcmp(word, "markdown") == 0 || strcmp(word, "md") == 0) {
    inv->command = DAEMON_MARKDOWN;
    return 0;
  }
  static const struct option config_opts[] = {{"default", no_argument, NULL, 'D'},
                                              {"migrate-defaults", required_argument, NULL, 'm'},
                                              {"help", no_argument, NULL, 'h'},
                                              {NULL, 0, NULL, 0}};
  static const struct option version_opts[] = {{"json", no_argument, NULL, 'j'},
                                               {"verbose", no_argument, NULL, 'v'},
                                               {"help", no_argument, NULL, 'h'},
                                               {NULL, 0, NULL, 0}};
  static const struct option status_opts[] = {{"socket", required_argument, NULL, 's'},
                                              {"id", required_argument, NULL, 'i'},
                                              {"help", no_argument, NULL, 'h'},
                                              {NULL, 0, NULL, 0}};
  const struct option *opts;
  const char *shorts;
  if (strcmp(word, "config") == 0) {
    inv->command = DAEMON_CONFIG;
    opts = config_opts, shorts = "+m:h";
  } else if (strcmp(word, "version") == 0) {
    inv->command = DAEMON_VERSION;
    opts = version_opts, shorts = "+jvh";
  } else if (strcmp(word, "status") == 0) {
    inv->command = DAEMON_STATUS;
    opts = status_opts, shorts = "s:i:h";
  } else {
    return crio_error(err, EINVAL, "unknown command \"%s\"", word);
  }
  optind = 1;
  opterr = 0;
  int opt;
  while ((opt = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
    switch (opt) {
    case 'D':
      inv->config_default = true;
      break;
    case 'm':
      break; /* --migrate-defaults: there is no older default set of ours */
    case 'j':
      inv->version_json = true;
      break;
    case 'v':
      break; /* --verbose: we have no dependency list to add */
    case 's':
      free(inv->status_socket);
      inv->status_socket = xstrdup(optarg);
      break;
    case 'i':
      free(inv->status_id);
      inv->status_id = xstrdup(optarg);
      break;
    case 'h':
      inv->command = DAEMON_HELP;
      return 0;
    default:
      return crio_error(err, EINVAL, "crio %s: unknown or incomplete flag \"%s\"", word,
                        argv[optind - 1]);
    }
  }
  if (inv->command == DAEMON_STATUS) {
    if (optind >= argc)
      return 0; /* usage, exit 0, as CRI-O */
    const char *what = argv[optind++];
    if (strcmp(what, "i") == 0 || strcmp(what, "info") == 0)
      what = "info";
    else if (strcmp(what, "c") == 0 || strcmp(what, "config") == 0)
      what = "config";
    else if (strcmp(what, "containers") == 0 || strcmp(what, "container") == 0 ||
             strcmp(what, "cs") == 0 || strcmp(what, "s") == 0)
      what = "containers";
    else
      return crio_error(err, EINVAL, "crio status: unknown command \"%s\"", what);
    inv->status_what = xstrdup(what);
    /* The id as a flag (-i ID, CRI-O's) or as a word after it. */
    while (optind < argc) {
      const char *a = argv[optind++];
      if ((strcmp(a, "-i") == 0 || strcmp(a, "--id") == 0) && optind < argc)
        a = argv[optind++];
      else if (strncmp(a, "--id=", 5) == 0)
        a += 5;
      free(inv->status_id);
      inv->status_id = xstrdup(a);
    }
    if (strcmp(what, "containers") == 0 && inv->status_id == NULL)
      return crio_error(err, EINVAL, "crio status containers: needs a container id (--id)");
    return 0;
  }
  if (optind < argc)
    return crio_error(err, EINVAL, "crio %s: unexpected argument \"%s\"", word, argv[optind]);
  return 0;
}

void daemon_invocation_release(struct daemon_invocation *inv) {
  free(inv->status_socket);
  free(inv->status_what);
  free(inv->status_id);
  memset(inv, 0, sizeof(*inv));
}

int daemon_config_load(int argc, char **argv, struct daemon_config *cfg,
                       struct daemon_invocation *inv, crio_error_t *err) {
  return daemon_config_load_sources(argc, argv, cfg, inv, DAEMON_LOAD_ALL, err);
}

int daemon_config_load_sources(int argc, char **argv, struct daemon_config *cfg,
                               struct daemon_invocation *inv, enum daemon_load_mode mode,
                               crio_error_t *err) {
  bool warn = mode == DAEMON_LOAD_ALL;
  daemon_config_defaults(cfg);
  cfg->argc = argc;
  cfg->argv = argv;
  memset(inv, 0, sizeof(*inv));
  struct parsed p = {0};
  cleanup_free struct flag_use *uses = NULL;
  optind = 1;
  int rc = collect(argc, argv, false, &p, cfg, inv, err);
  if (rc == 0 && optind < argc && inv->command == DAEMON_RUN) {
    int first = optind;
    rc = parse_command(argc - first, argv + first, cfg, inv, &p, err);
  }
  uses = p.uses;
  if (rc < 0)
    return -1;
  if (inv->command == DAEMON_HELP || inv->command == DAEMON_MARKDOWN ||
      (inv->command == DAEMON_VERSION && inv->version_short))
    return 0;
  /* crio config --default: the defaults, whatever files and flags say. */
  if (inv->command == DAEMON_CONFIG && inv->config_default)
    return daemon_config_finish(cfg, false, err);
  if (read_files(cfg, &p, err) < 0)
    return -1;
  if (mode == DAEMON_LOAD_FILES)
    return daemon_config_finish(cfg, false, err);
  if (apply_env(cfg, err) < 0)
    return -1;
  cleanup_free bool *list_from_flags = xcalloc(daemon_n_settings, sizeof(bool));
  for (size_t i = 0; i < p.n_uses; i++)
    if (apply_flag(cfg, p.uses[i].opt, p.uses[i].arg, list_from_flags, err) < 0)
      return -1;
  return daemon_config_finish(cfg, warn && inv->command == DAEMON_RUN, err);
}
