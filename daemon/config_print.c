/* `crio config`: the effective configuration as TOML in CRI-O's layout.
 * Every setting is written with its help as a comment; one at its default
 * is commented out (as CRI-O's template does), so reading the output back
 * gives the same configuration, and a CRI-O operator's diff against their
 * own file shows only what they changed.  `crio config --default` writes
 * every setting uncommented, as CRI-O's does (its displayAllConfig), so an
 * operator (or CRI-O's test helpers) can edit a value in place. */
#include <stdio.h>
#include <string.h>

#include "daemon/daemon.h"
#include "daemon/internal.h"
#include "daemon/settings.h"

static const char *const tables[] = {"crio",
                                     "crio.api",
                                     "crio.runtime",
                                     "crio.checkpoint_restore",
                                     "crio.image",
                                     "crio.network",
                                     "crio.metrics",
                                     "crio.tracing",
                                     "crio.stats",
                                     "crio.nri",
                                     NULL};

static bool str_same(const char *a, const char *b) {
  return strcmp(a ? a : "", b ? b : "") == 0;
}

/* A handler exactly as the defaults would configure it (found on PATH,
 * root below runroot) is written commented out, like any default. */
static bool runtime_is_default(const struct daemon_runtime *r, const struct daemon_config *d) {
  for (size_t i = 0; i < d->n_runtimes; i++) {
    const struct daemon_runtime *x = &d->runtimes[i];
    if (strcmp(x->name, r->name) == 0)
      return str_same(x->runtime_path, r->runtime_path) &&
             str_same(x->runtime_root, r->runtime_root) &&
             str_same(x->runtime_type, r->runtime_type) &&
             str_same(x->monitor_path, r->monitor_path) &&
             str_same(x->runtime_config_path, r->runtime_config_path) &&
             x->privileged_without_host_devices == r->privileged_without_host_devices;
  }
  return false;
}

static void print_runtime(const struct daemon_runtime *r, bool is_default, FILE *out) {
  const char *c = is_default ? "# " : "";
  fprintf(out, "%s[crio.runtime.runtimes.%s]\n", c, r->name);
  struct {
    const char *key, *value;
  } strings[] = {{"runtime_path", r->runtime_path},
                 {"runtime_root", r->runtime_root},
                 {"runtime_type", r->runtime_type},
                 {"monitor_path", r->monitor_path},
                 {"runtime_config_path", r->runtime_config_path}};
  for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
    if (strings[i].value == NULL)
      continue;
    cleanup_free char *q = daemon_toml_quote(strings[i].value);
    fprintf(out, "%s%s = %s\n", c, strings[i].key, q);
  }
  if (r->privileged_without_host_devices)
    fprintf(out, "%sprivileged_without_host_devices = true\n", c);
  fputc('\n', out);
}

static void print_comment(const char *text, FILE *out) {
  fputs("# ", out);
  for (const char *p = text; *p; p++) {
    fputc(*p, out);
    if (*p == '\n')
      fputs("# ", out);
  }
  fputc('\n', out);
}

void daemon_config_print(const struct daemon_config *cfg, bool show_all, FILE *out) {
  struct daemon_config defaults;
  daemon_config_defaults(&defaults);
  cleanup_error crio_error_t err = NULL;
  /* The defaults resolved the same way (found on PATH, below root), so
   * a value is "default" exactly when a fresh start would choose it. */
  daemon_config_finish(&defaults, false, &err);
  fputs("# crio.conf as this crio reads it: CRI-O's tables and keys.\n", out);
  fputs(show_all ? "# Every setting at its default (crio config --default); docs/configuration.md\n"
                 : "# A commented-out setting is at its default; docs/configuration.md\n",
        out);
  fputs("# lists every key, and which ones control a feature this daemon lacks.\n\n", out);
  for (size_t t = 0; tables[t]; t++) {
    fprintf(out, "[%s]\n\n", tables[t]);
    for (size_t i = 0; i < daemon_n_settings; i++) {
      const struct daemon_setting *s = &daemon_settings[i];
      if (s->table == NULL || strcmp(s->table, tables[t]) != 0)
        continue;
      cleanup_free char *value = daemon_setting_format(cfg, i);
      bool is_default = !show_all && daemon_setting_equal(cfg, &defaults, i);
      print_comment(s->help, out);
      if (s->offset == DS_NO_FIELD)
        fputs("# (accepted; no effect in this daemon)\n", out);
      /* A multi-line list is commented line by line. */
      fputs(is_default ? "# " : "", out);
      fprintf(out, "%s = ", s->key);
      for (const char *p = value; *p; p++) {
        fputc(*p, out);
        if (*p == '\n' && is_default)
          fputs("# ", out);
      }
      fputs("\n\n", out);
    }
    if (strcmp(tables[t], "crio.runtime") == 0)
      for (size_t r = 0; r < cfg->n_runtimes; r++)
        print_runtime(&cfg->runtimes[r],
                      !show_all && runtime_is_default(&cfg->runtimes[r], &defaults), out);
  }
  daemon_config_release(&defaults);
}
