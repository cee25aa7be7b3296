/* crio.conf: TOML with CRI-O's table and key names.  Unknown keys are
 * warned about and ignored, so a CRI-O config file works as it is; a known
 * key with a wrong type or value is an error naming it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/internal.h"
#include "toml/toml.h"

/* Sets *field from table.key when present. */
static int read_string(const struct toml_value *table, const char *key, char **field,
                       crio_error_t *err) {
  const char *value = NULL;
  int rc = toml_get_string(table, key, &value, err);
  if (rc < 0)
    return -1;
  if (rc == 0) {
    free(*field);
    *field = xstrdup(value);
  }
  return 0;
}

static bool key_known(const char *key, const char *const *known) {
  for (; *known; known++)
    if (strcmp(key, *known) == 0)
      return true;
  return false;
}

static void warn_unknown(const struct toml_value *table, const char *const *known) {
  for (size_t i = 0; i < toml_table_count(table); i++) {
    const char *key = toml_table_key(table, i);
    if (key_known(key, known))
      continue;
    cleanup_free char *path = toml_value_path(toml_table_value(table, i));
    log_warning("config: ignoring unknown key %s", path);
  }
}

static int read_runtimes(struct daemon_config *cfg, const struct toml_value *runtimes,
                         crio_error_t *err) {
  static const char *const known[] = {"runtime_path", "runtime_root", NULL};
  for (size_t i = 0; i < toml_table_count(runtimes); i++) {
    const char *name = toml_table_key(runtimes, i);
    const struct toml_value *table = toml_table_value(runtimes, i);
    if (table->type != TOML_TABLE)
      return toml_error(err, table, "expected a table of runtime settings");
    const char *path = NULL, *root = NULL;
    if (toml_get_string(table, "runtime_path", &path, err) < 0 ||
        toml_get_string(table, "runtime_root", &root, err) < 0)
      return -1;
    if (path && path[0] != '/')
      return toml_error(err, toml_get(table, "runtime_path"), "must be an absolute path");
    daemon_config_add_runtime(cfg, name, path, root);
    warn_unknown(table, known);
  }
  return 0;
}

/* [crio.image]: CRI-O's keys, and certs_dir (ours: CRI-O takes the
 * containers default, /etc/containers/certs.d, and has no key for it). */
static int read_image(struct daemon_config *cfg, const struct toml_value *image,
                      crio_error_t *err) {
  static const char *const known[] = {"pause_image", "pinned_images", "pull_progress_timeout",
                                      "certs_dir", NULL};
  warn_unknown(image, known);
  if (read_string(image, "pause_image", &cfg->pause_image, err) < 0 ||
      read_string(image, "certs_dir", &cfg->image_certs_dir, err) < 0)
    return -1;
  char **pinned = NULL;
  int rc = toml_get_string_array(image, "pinned_images", &pinned, err);
  if (rc < 0)
    return -1;
  if (rc == 0) {
    cleanup_strvp(&cfg->pinned_images);
    cfg->pinned_images = pinned;
  }
  /* A Go duration string, as CRI-O writes it ("0s", "1m"), or seconds. */
  const struct toml_value *timeout = toml_get(image, "pull_progress_timeout");
  if (timeout) {
    const char *text = NULL;
    int64_t seconds = 0;
    cleanup_error crio_error_t type_err = NULL;
    if (toml_as_string(timeout, &text, &type_err) == 0) {
      if (daemon_parse_duration_s(text, &cfg->pull_progress_timeout) < 0)
        return toml_error(err, timeout, "\"%s\" is not a duration (\"90s\", \"2m\")", text);
    } else if (toml_as_int64(timeout, &seconds, &type_err) == 0 && seconds >= 0) {
      cfg->pull_progress_timeout = (long)seconds;
    } else {
      return toml_error(err, timeout, "expected a duration such as \"60s\"");
    }
  }
  return 0;
}

int daemon_config_read_file(struct daemon_config *cfg, const char *path, crio_error_t *err) {
  cleanup_toml struct toml_value *root = NULL;
  if (toml_parse_file(path, &root, err) < 0)
    return -1;

  static const char *const known_top[] = {"crio", NULL};
  static const char *const known_crio[] = {"root",    "runroot", "api", "runtime",
                                           "network", "image",   NULL};
  static const char *const known_api[] = {"listen", NULL};
  static const char *const known_runtime[] = {"default_runtime", "conmon",   "cgroup_manager",
                                              "log_level",       "runtimes", NULL};
  static const char *const known_network[] = {"network_dir", "plugin_dirs", NULL};
  warn_unknown(root, known_top);

  const struct toml_value *crio = NULL, *api = NULL, *runtime = NULL, *network = NULL,
                          *runtimes = NULL;
  if (toml_get_table(root, "crio", &crio, err) < 0)
    return -1;
  if (crio == NULL)
    return 0;
  warn_unknown(crio, known_crio);
  if (read_string(crio, "root", &cfg->root, err) < 0 ||
      read_string(crio, "runroot", &cfg->runroot, err) < 0)
    return -1;

  if (toml_get_table(crio, "api", &api, err) < 0)
    return -1;
  if (api) {
    warn_unknown(api, known_api);
    if (read_string(api, "listen", &cfg->listen, err) < 0)
      return -1;
  }

  if (toml_get_table(crio, "runtime", &runtime, err) < 0)
    return -1;
  if (runtime) {
    warn_unknown(runtime, known_runtime);
    if (read_string(runtime, "default_runtime", &cfg->default_runtime, err) < 0 ||
        read_string(runtime, "conmon", &cfg->conmon_path, err) < 0 ||
        read_string(runtime, "cgroup_manager", &cfg->cgroup_manager, err) < 0)
      return -1;
    const char *level = NULL;
    int rc = toml_get_string(runtime, "log_level", &level, err);
    if (rc < 0)
      return -1;
    if (rc == 0 && crio_log_level_parse(level, &cfg->log_level) < 0)
      return toml_error(err, toml_get(runtime, "log_level"), "unknown level \"%s\"", level);
    if (toml_get_table(runtime, "runtimes", &runtimes, err) < 0)
      return -1;
    if (runtimes && read_runtimes(cfg, runtimes, err) < 0)
      return -1;
  }

  const struct toml_value *image = NULL;
  if (toml_get_table(crio, "image", &image, err) < 0)
    return -1;
  if (image && read_image(cfg, image, err) < 0)
    return -1;

  if (toml_get_table(crio, "network", &network, err) < 0)
    return -1;
  if (network) {
    warn_unknown(network, known_network);
    if (read_string(network, "network_dir", &cfg->cni_config_dir, err) < 0)
      return -1;
    char **dirs = NULL;
    int rc = toml_get_string_array(network, "plugin_dirs", &dirs, err);
    if (rc < 0)
      return -1;
    if (rc == 0) {
      cleanup_strvp(&cfg->cni_plugin_dirs);
      cfg->cni_plugin_dirs = dirs;
    }
  }
  return 0;
}
