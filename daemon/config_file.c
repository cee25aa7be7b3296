/* crio.conf and its drop-ins: TOML with CRI-O's tables and keys
 * (daemon/settings_table.c).  A key we do not know is warned about once,
 * naming file and key, and ignored, so a CRI-O file works as it is; a known
 * key of the wrong type or value stops start-up naming file, line and key.
 * A later file overrides only the keys it sets. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon/internal.h"
#include "daemon/settings.h"
#include "toml/toml.h"

static void warn_unknown(const char *path, const struct toml_value *value) {
  cleanup_free char *name = toml_value_path(value);
  log_warning("config %s:%u: unknown key %s ignored", path, value->line, name);
}

/* [crio.runtime.runtimes.NAME]: the keys CRI-O's handler tables have. */
static const char *const runtime_keys_accepted[] = {"inherit_default_runtime",
                                                    "container_min_memory",
                                                    "monitor_cgroup",
                                                    "monitor_exec_cgroup",
                                                    "no_sync_log",
                                                    "default_annotations",
                                                    "stream_websockets",
                                                    "seccomp_profile",
                                                    "container_create_timeout",
                                                    "exec_cpu_affinity",
                                                    NULL};

static bool in_list(const char *key, const char *const *list) {
  for (; *list; list++)
    if (strcmp(key, *list) == 0)
      return true;
  return false;
}

static int read_runtime(struct daemon_config *cfg, const char *path, const char *name,
                        const struct toml_value *table, crio_error_t *err) {
  if (table->type != TOML_TABLE)
    return toml_error(err, table, "expected a table of runtime handler settings");
  struct daemon_runtime *r = daemon_config_runtime(cfg, name);
  struct {
    const char *key;
    char **field;
  } strings[] = {{"runtime_path", &r->runtime_path},
                 {"runtime_root", &r->runtime_root},
                 {"runtime_type", &r->runtime_type},
                 {"monitor_path", &r->monitor_path},
                 {"runtime_config_path", &r->runtime_config_path}};
  for (size_t i = 0; i < toml_table_count(table); i++) {
    const char *key = toml_table_key(table, i);
    const struct toml_value *v = toml_table_value(table, i);
    bool done = false;
    for (size_t k = 0; k < sizeof(strings) / sizeof(strings[0]); k++) {
      if (strcmp(key, strings[k].key) != 0)
        continue;
      const char *text = NULL;
      if (toml_as_string(v, &text, err) < 0)
        return -1;
      if (k == 0 && text[0] != '\0' && text[0] != '/')
        return toml_error(err, v, "must be an absolute path, or \"\" to find it on PATH");
      free(*strings[k].field);
      *strings[k].field = xstrdup(text);
      done = true;
    }
    if (done)
      continue;
    int mine = daemon_runtime_read_key(r, key, v, err);
    if (mine < 0)
      return -1;
    if (mine)
      continue;
    if (strcmp(key, "privileged_without_host_devices") == 0) {
      if (toml_as_bool(v, &r->privileged_without_host_devices, err) < 0)
        return -1;
    } else if (in_list(key, runtime_keys_accepted)) {
      cleanup_free char *where = toml_value_path(v);
      log_warning("config %s:%u: %s is accepted but has no effect here (see "
                  "docs/configuration.md)",
                  path, v->line, where);
    } else {
      warn_unknown(path, v);
    }
  }
  return 0;
}

/* A table of CRI-O's we walk key by key; tables below it are handled by
 * the caller. */
static int read_table(struct daemon_config *cfg, const char *path, const char *name,
                      const struct toml_value *table, crio_error_t *err) {
  for (size_t i = 0; i < toml_table_count(table); i++) {
    const char *key = toml_table_key(table, i);
    const struct toml_value *v = toml_table_value(table, i);
    cleanup_free char *sub = xasprintf("%s.%s", name, key);
    if (strcmp(sub, "crio.runtime.runtimes") == 0) {
      if (v->type != TOML_TABLE)
        return toml_error(err, v, "expected a table of runtime handlers");
      for (size_t k = 0; k < toml_table_count(v); k++)
        if (read_runtime(cfg, path, toml_table_key(v, k), toml_table_value(v, k), err) < 0)
          return -1;
      continue;
    }
    size_t s = daemon_setting_find(name, key);
    if (s != SIZE_MAX) {
      if (daemon_setting_set_toml(cfg, s, v, err) < 0)
        return -1;
      free(cfg->origins[s]);
      cfg->origins[s] = xasprintf("%s:%u", path, v->line);
      continue;
    }
    /* Sub-tables of CRI-O's: ours are read recursively; ones whose
     * features we lack (workloads, the NRI validator) are accepted. */
    if (v->type == TOML_TABLE) {
      static const char *const tables[] = {"crio.api",
                                           "crio.runtime",
                                           "crio.image",
                                           "crio.network",
                                           "crio.metrics",
                                           "crio.stats",
                                           "crio.tracing",
                                           "crio.nri",
                                           "crio.checkpoint_restore",
                                           NULL};
      static const char *const accepted[] = {"crio.runtime.workloads", "crio.nri.default_validator",
                                             NULL};
      if (in_list(sub, tables)) {
        if (read_table(cfg, path, sub, v, err) < 0)
          return -1;
        continue;
      }
      if (in_list(sub, accepted)) {
        log_warning("config %s:%u: [%s] is accepted but has no effect here (see "
                    "docs/configuration.md)",
                    path, v->line, sub);
        continue;
      }
    }
    warn_unknown(path, v);
  }
  return 0;
}

int daemon_config_read_file(struct daemon_config *cfg, const char *path, crio_error_t *err) {
  cleanup_toml struct toml_value *root = NULL;
  if (toml_parse_file(path, &root, err) < 0)
    return -1;
  for (size_t i = 0; i < toml_table_count(root); i++) {
    const struct toml_value *v = toml_table_value(root, i);
    if (strcmp(toml_table_key(root, i), "crio") != 0) {
      warn_unknown(path, v);
      continue;
    }
    if (v->type != TOML_TABLE)
      return toml_error(err, v, "expected a table");
    if (read_table(cfg, path, "crio", v, err) < 0)
      return -1;
  }
  return 0;
}

static int name_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file, as CRI-O reads its drop-in dir (names such as
 * "00-default" are common in its own tests), except hidden files and an
 * editor's backups ("x.conf~"). */
static bool is_drop_in(const char *name) {
  size_t len = strlen(name);
  return name[0] != '.' && len > 0 && name[len - 1] != '~';
}

int daemon_config_read_dir(struct daemon_config *cfg, const char *dir, crio_error_t *err) {
  cleanup_dir DIR *d = opendir(dir);
  if (d == NULL) {
    if (errno == ENOENT)
      return 0;
    return crio_error_errno(err, errno, "config dir %s", dir);
  }
  cleanup_strv char **names = xcalloc(1, sizeof(char *));
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (!is_drop_in(e->d_name))
      continue;
    cleanup_free char *path = xasprintf("%s/%s", dir, e->d_name);
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
      continue;
    names = xrealloc(names, (n + 2) * sizeof(char *));
    names[n++] = steal_pointer(&path);
    names[n] = NULL;
  }
  qsort(names, n, sizeof(char *), name_cmp);
  for (size_t i = 0; i < n; i++)
    if (daemon_config_read_file(cfg, names[i], err) < 0)
      return -1;
  return 0;
}
