#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cni/internal.h"

static bool has_suffix(const char *s, const char *suffix) {
  size_t ls = strlen(s), lx = strlen(suffix);
  return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

static int compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Candidate files, sorted as libcni sorts them. */
static int list_candidates(const char *dir, char ***out, size_t *n_out, crio_error_t *err) {
  cleanup_dir DIR *d = opendir(dir);
  if (d == NULL)
    return crio_error_errno(err, errno, "open CNI config dir %s", dir);
  size_t n = 0, cap = 8;
  char **names = xcalloc(cap + 1, sizeof(char *));
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.')
      continue;
    if (!has_suffix(de->d_name, ".conflist") && !has_suffix(de->d_name, ".conf") &&
        !has_suffix(de->d_name, ".json"))
      continue;
    if (n == cap) {
      cap *= 2;
      names = xrealloc(names, (cap + 1) * sizeof(char *));
    }
    names[n++] = xstrdup(de->d_name);
  }
  names[n] = NULL;
  qsort(names, n, sizeof(char *), compare_names);
  *out = names;
  *n_out = n;
  return 0;
}

/* Parses one file into a conflist; checks it is usable. */
static int load_file(const char *path, bool is_list, const char *const *plugin_dirs,
                     struct cni_network *out, crio_error_t *err) {
  cleanup_free char *text = NULL;
  if (crio_read_file(path, &text, NULL, err) < 0)
    return -1;
  cleanup_cjson cJSON *root = cJSON_Parse(text);
  if (root == NULL || !cJSON_IsObject(root))
    return crio_error(err, EINVAL, "%s: not a JSON object", path);
  if (!is_list) {
    /* A single plugin config: wrap it the way libcni does. */
    cJSON *plugin = steal_pointer(&root);
    root = cJSON_CreateObject();
    const char *version = cni_json_string(plugin, "cniVersion");
    const char *name = cni_json_string(plugin, "name");
    if (version)
      cJSON_AddStringToObject(root, "cniVersion", version);
    if (name)
      cJSON_AddStringToObject(root, "name", name);
    cJSON *plugins = cJSON_AddArrayToObject(root, "plugins");
    cJSON_AddItemToArray(plugins, plugin);
  }
  const char *name = cni_json_string(root, "name");
  const char *version = cni_json_string(root, "cniVersion");
  if (name == NULL || *name == '\0')
    return crio_error(err, EINVAL, "%s: no network name", path);
  if (version == NULL || *version == '\0')
    return crio_error(err, EINVAL, "%s: no cniVersion", path);
  const cJSON *plugins = cJSON_GetObjectItemCaseSensitive(root, "plugins");
  if (!cJSON_IsArray(plugins) || cJSON_GetArraySize(plugins) == 0)
    return crio_error(err, EINVAL, "%s: no plugins", path);
  const cJSON *plugin;
  cJSON_ArrayForEach(plugin, plugins) {
    const char *type = cni_json_string(plugin, "type");
    cleanup_free char *binary = NULL;
    if (cni_find_plugin(type, plugin_dirs, &binary, err) < 0)
      return crio_error_prefix(err, "%s", path);
  }
  cleanup_free char *printed = cJSON_PrintUnformatted(root);
  out->name = xstrdup(name);
  out->cni_version = xstrdup(version);
  out->path = xstrdup(path);
  out->conflist = steal_pointer(&printed);
  return 0;
}

int cni_network_load(const char *config_dir, const char *const *plugin_dirs,
                     struct cni_network *out, crio_error_t *err) {
  memset(out, 0, sizeof(*out));
  cleanup_strv char **names = NULL;
  size_t n = 0;
  if (list_candidates(config_dir, &names, &n, err) < 0)
    return -1;
  if (n == 0)
    return crio_error(err, ENOENT, "no network config found in %s", config_dir);
  /* libcni picks the first file in order; a broken first file is reported
   * rather than silently skipped, so the operator sees why. */
  cleanup_free char *path = xasprintf("%s/%s", config_dir, names[0]);
  return load_file(path, has_suffix(names[0], ".conflist"), plugin_dirs, out, err);
}

void cni_network_release(struct cni_network *net) {
  free(net->name);
  free(net->cni_version);
  free(net->path);
  free(net->conflist);
  memset(net, 0, sizeof(*net));
}
