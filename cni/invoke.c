/* Running a network configuration list: ADD, DEL, CHECK, STATUS and VERSION
 * as CNI spec section 3 describes (request configuration derived from each
 * plugin's configuration, prevResult, runtimeConfig, the CNI_* parameters). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>

#include "cni/internal.h"

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

/* The environment of a plugin: only the CNI parameters and a PATH for the
 * tools plugins run (iptables, tc, ...).  Nothing of the daemon's own. */
#define CNI_PLUGIN_PATH_ENV "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Spec versions this runtime speaks, newest first; "cniVersions" is
 * resolved to the newest of these it lists. */
static const char *const known_versions[] = {"1.1.0", "1.0.0", "0.4.0", "0.3.1", "0.3.0", NULL};

struct cni_invocation {
  const char *command; /* ADD, DEL, CHECK, STATUS, VERSION */
  const struct cni_runtime_conf *rt;
  const char *const *plugin_dirs;
  const char *netns; /* CNI_NETNS actually passed */
};

static char *join_strv(const char *const *v, const char *sep) {
  size_t len = 1;
  for (const char *const *p = v; p && *p; p++)
    len += strlen(*p) + strlen(sep);
  char *s = xzalloc(len);
  for (const char *const *p = v; p && *p; p++) {
    if (p != v)
      strcat(s, sep);
    strcat(s, *p);
  }
  return s;
}

static int check_runtime_conf(const struct cni_runtime_conf *rt, bool need_netns,
                              crio_error_t *err) {
  const char *id = rt->container_id;
  /* Spec: alphanumeric first, then alphanumerics, '_', '.', '-'. */
  if (id == NULL ||
      !((*id >= 'a' && *id <= 'z') || (*id >= 'A' && *id <= 'Z') || (*id >= '0' && *id <= '9')))
    return crio_error(err, EINVAL, "invalid CNI container id \"%s\"", id ? id : "");
  if (id[strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    "0123456789_.-")] != '\0')
    return crio_error(err, EINVAL, "invalid CNI container id \"%s\"", id);
  const char *ifname = rt->ifname ? rt->ifname : "eth0";
  if (*ifname == '\0' || strlen(ifname) > 15 || strpbrk(ifname, "/: \t\n") != NULL)
    return crio_error(err, EINVAL, "invalid interface name \"%s\"", ifname);
  if (need_netns && (rt->netns_path == NULL || *rt->netns_path == '\0'))
    return crio_error(err, EINVAL, "no network namespace path");
  for (const char *const *a = rt->args; a && *a; a++)
    if (strchr(*a, '=') == NULL || strchr(*a, ';') != NULL)
      return crio_error(err, EINVAL, "invalid CNI_ARGS entry \"%s\"", *a);
  return 0;
}

static char **build_env(const struct cni_invocation *inv) {
  cleanup_free char *cni_path = join_strv(inv->plugin_dirs, ":");
  char **env = xcalloc(9, sizeof(char *));
  int n = 0;
  env[n++] = xasprintf("CNI_COMMAND=%s", inv->command);
  env[n++] = xasprintf("CNI_PATH=%s", cni_path);
  env[n++] = xstrdup(CNI_PLUGIN_PATH_ENV);
  if (inv->rt) {
    cleanup_free char *args = join_strv(inv->rt->args, ";");
    env[n++] = xasprintf("CNI_CONTAINERID=%s", inv->rt->container_id);
    env[n++] = xasprintf("CNI_NETNS=%s", inv->netns ? inv->netns : "");
    env[n++] = xasprintf("CNI_IFNAME=%s", inv->rt->ifname ? inv->rt->ifname : "eth0");
    env[n++] = xasprintf("CNI_ARGS=%s", args);
  }
  return env;
}

/* The message of a failed plugin: its CNI error object when stdout has
 * one, else its stderr, else its exit status. */
static int plugin_failure(const char *type, const char *command, const struct crio_run_result *o,
                          crio_error_t *err) {
  cleanup_cjson cJSON *e = cJSON_Parse(o->out);
  const cJSON *code = e ? cJSON_GetObjectItemCaseSensitive(e, "code") : NULL;
  const char *msg = e ? cni_json_string(e, "msg") : NULL;
  const char *details = e ? cni_json_string(e, "details") : NULL;
  if (cJSON_IsNumber(code) || msg) {
    int c = cJSON_IsNumber(code) ? code->valueint : 0;
    /* 11: try again later; 50/51: STATUS "not available". */
    int status = (c == 11 || c == 50 || c == 51) ? EAGAIN : EIO;
    return crio_error(err, status, "CNI plugin %s %s failed (code %d): %s%s%s", type, command, c,
                      msg ? msg : "", details && *details ? ": " : "", details ? details : "");
  }
  size_t elen = strlen(o->errout);
  while (elen > 0 && (o->errout[elen - 1] == '\n' || o->errout[elen - 1] == ' '))
    o->errout[--elen] = '\0';
  const char *text = elen ? o->errout : o->out;
  return crio_error(err, EIO, "CNI plugin %s %s failed (exit status %d)%s%s", type, command,
                    o->exit_code, *text ? ": " : "", text);
}

/* Runs one plugin; on success *out is its stdout (may be empty). */
static int run_plugin(const struct cni_invocation *inv, const char *type, const cJSON *request,
                      char **stdout_text, crio_error_t *err) {
  cleanup_free char *path = NULL;
  if (cni_find_plugin(type, inv->plugin_dirs, &path, err) < 0)
    return -1;
  cleanup_free char *input = cJSON_PrintUnformatted(request);
  cleanup_strv char **env = build_env(inv);
  unsigned timeout =
      (inv->rt && inv->rt->timeout_sec) ? inv->rt->timeout_sec : CNI_DEFAULT_PLUGIN_TIMEOUT_SEC;
  struct crio_run_result o = {0};
  if (cni_exec(path, env, input, strlen(input), timeout, &o, err) < 0)
    return -1;
  if (o.exit_code != 0) {
    plugin_failure(type, inv->command, &o, err);
    crio_run_result_release(&o);
    return -1;
  }
  *stdout_text = steal_pointer(&o.out);
  crio_run_result_release(&o);
  return 0;
}

/* The version used for the whole list: "cniVersion", or the newest known
 * entry of "cniVersions" (spec 1.1) when that is newer. */
static const char *select_version(const cJSON *list) {
  const char *version = cni_json_string(list, "cniVersion");
  const cJSON *versions = cJSON_GetObjectItemCaseSensitive(list, "cniVersions");
  const cJSON *v;
  cJSON_ArrayForEach(v, versions) {
    if (!cJSON_IsString(v))
      continue;
    for (const char *const *k = known_versions; *k; k++)
      if (strcmp(*k, v->valuestring) == 0 &&
          (version == NULL || cni_version_compare(*k, version) > 0))
        version = *k;
  }
  return version;
}

struct parsed_list {
  cJSON *root;
  const char *name;
  const char *version;
  const cJSON *plugins;
};

static int parse_list(const char *conflist_json, struct parsed_list *out, crio_error_t *err) {
  memset(out, 0, sizeof(*out));
  out->root = cJSON_Parse(conflist_json ? conflist_json : "");
  if (!cJSON_IsObject(out->root))
    return crio_error(err, EINVAL, "CNI network configuration is not a JSON object");
  out->name = cni_json_string(out->root, "name");
  out->version = select_version(out->root);
  out->plugins = cJSON_GetObjectItemCaseSensitive(out->root, "plugins");
  if (out->name == NULL || out->version == NULL)
    return crio_error(err, EINVAL, "CNI network configuration lacks name or cniVersion");
  if (!cJSON_IsArray(out->plugins) || cJSON_GetArraySize(out->plugins) == 0)
    return crio_error(err, EINVAL, "CNI network %s has no plugins", out->name);
  const cJSON *p;
  cJSON_ArrayForEach(p, out->plugins) {
    if (!cJSON_IsObject(p) || cni_json_string(p, "type") == NULL)
      return crio_error(err, EINVAL, "CNI network %s: a plugin has no \"type\"", out->name);
  }
  return 0;
}

/* ADD and CHECK look every binary up before running any, so a missing one
 * leaves nothing half set up. */
static int find_all_plugins(const struct parsed_list *list, const char *const *plugin_dirs,
                            crio_error_t *err) {
  const cJSON *p;
  cJSON_ArrayForEach(p, list->plugins) {
    cleanup_free char *path = NULL;
    if (cni_find_plugin(cni_json_string(p, "type"), plugin_dirs, &path, err) < 0)
      return -1;
  }
  return 0;
}

static void parsed_list_release(struct parsed_list *l) {
  if (l->root)
    cJSON_Delete(l->root);
  memset(l, 0, sizeof(*l));
}
#define cleanup_parsed_list __attribute__((cleanup(parsed_list_release)))

/* Request configuration for one plugin (spec "Deriving request
 * configuration"): its own config with name and cniVersion inserted,
 * runtimeConfig for the declared capabilities that were given, prevResult,
 * and without "capabilities". */
static cJSON *build_request(const struct parsed_list *list, const cJSON *plugin,
                            const cJSON *capability_args, const cJSON *prev_result) {
  cJSON *req = cJSON_Duplicate(plugin, true);
  cJSON_DeleteItemFromObjectCaseSensitive(req, "name");
  cJSON_DeleteItemFromObjectCaseSensitive(req, "cniVersion");
  cJSON_AddStringToObject(req, "name", list->name);
  cJSON_AddStringToObject(req, "cniVersion", list->version);
  const cJSON *caps = cJSON_GetObjectItemCaseSensitive(plugin, "capabilities");
  if (cJSON_IsObject(caps) && cJSON_IsObject(capability_args)) {
    cJSON *runtime_config = cJSON_CreateObject();
    const cJSON *cap;
    cJSON_ArrayForEach(cap, caps) {
      if (!cJSON_IsTrue(cap))
        continue;
      const cJSON *arg = cJSON_GetObjectItemCaseSensitive(capability_args, cap->string);
      if (arg)
        cJSON_AddItemToObject(runtime_config, cap->string, cJSON_Duplicate(arg, true));
    }
    cJSON_DeleteItemFromObjectCaseSensitive(req, "runtimeConfig");
    if (cJSON_GetArraySize(runtime_config) > 0)
      cJSON_AddItemToObject(req, "runtimeConfig", runtime_config);
    else
      cJSON_Delete(runtime_config);
  }
  cJSON_DeleteItemFromObjectCaseSensitive(req, "capabilities");
  cJSON_DeleteItemFromObjectCaseSensitive(req, "prevResult");
  if (prev_result)
    cJSON_AddItemToObject(req, "prevResult", cJSON_Duplicate(prev_result, true));
  return req;
}

static int parse_capability_args(const struct cni_runtime_conf *rt, cJSON **out,
                                 crio_error_t *err) {
  *out = NULL;
  if (rt->capability_args_json == NULL || *rt->capability_args_json == '\0')
    return 0;
  *out = cJSON_Parse(rt->capability_args_json);
  if (!cJSON_IsObject(*out))
    return crio_error(err, EINVAL, "CNI capability arguments are not a JSON object");
  return 0;
}

/* What ADD, DEL and CHECK check and parse first: the runtime conf, the
 * list and the capability arguments; errors say "CNI <command>". */
static int prepare(const char *command, const char *conflist_json,
                   const struct cni_runtime_conf *rt, bool need_netns, struct parsed_list *list,
                   cJSON **caps, crio_error_t *err) {
  if (check_runtime_conf(rt, need_netns, err) < 0 || parse_list(conflist_json, list, err) < 0 ||
      parse_capability_args(rt, caps, err) < 0)
    return crio_error_prefix(err, "CNI %s", command);
  return 0;
}

/* Runs one plugin of the list with its request configuration; *out is
 * its stdout. */
static int run_list_plugin(const struct cni_invocation *inv, const struct parsed_list *list,
                           const cJSON *plugin, const cJSON *caps, const cJSON *prev, char **out,
                           crio_error_t *err) {
  cleanup_cjson cJSON *req = build_request(list, plugin, caps, prev);
  return run_plugin(inv, cni_json_string(plugin, "type"), req, out, err);
}

/* Runs every plugin of the list in order (in reverse for DEL) with the
 * same prevResult, their output unused; the first failure ends the chain,
 * its error prefixed with "<what> <network name>". */
static int run_chain(const struct cni_invocation *inv, const struct parsed_list *list,
                     const cJSON *caps, const cJSON *prev, bool reverse, const char *what,
                     crio_error_t *err) {
  int n = cJSON_GetArraySize(list->plugins);
  for (int k = 0; k < n; k++) {
    const cJSON *plugin = cJSON_GetArrayItem(list->plugins, reverse ? n - 1 - k : k);
    cleanup_free char *out = NULL;
    if (run_list_plugin(inv, list, plugin, caps, prev, &out, err) < 0)
      return crio_error_prefix(err, "%s %s", what, list->name);
  }
  return 0;
}

int cni_add(const struct cni_network *net, const char *const *plugin_dirs,
            const struct cni_runtime_conf *rt, char **result_json, crio_error_t *err) {
  *result_json = NULL;
  cleanup_parsed_list struct parsed_list list = {0};
  cleanup_cjson cJSON *caps = NULL;
  if (prepare("ADD", net->conflist, rt, true, &list, &caps, err) < 0)
    return -1;
  if (cni_version_compare(list.version, "0.3.0") < 0)
    return crio_error(err, EINVAL,
                      "CNI ADD: network %s has cniVersion %s; "
                      "0.3.0 or newer is needed",
                      list.name, list.version);
  if (find_all_plugins(&list, plugin_dirs, err) < 0)
    return crio_error_prefix(err, "CNI ADD to network %s", list.name);
  struct cni_invocation inv = {"ADD", rt, plugin_dirs, rt->netns_path};
  cleanup_cjson cJSON *prev = NULL;
  const cJSON *plugin;
  cJSON_ArrayForEach(plugin, list.plugins) {
    const char *type = cni_json_string(plugin, "type");
    cleanup_free char *out = NULL;
    if (run_list_plugin(&inv, &list, plugin, caps, prev, &out, err) < 0)
      return crio_error_prefix(err, "CNI ADD to network %s", list.name);
    cJSON *result = cJSON_Parse(out);
    if (!cJSON_IsObject(result)) {
      if (result)
        cJSON_Delete(result);
      return crio_error(err, EIO,
                        "CNI ADD to network %s: plugin %s printed no "
                        "JSON result",
                        list.name, type);
    }
    if (prev)
      cJSON_Delete(prev);
    prev = result;
  }
  *result_json = cJSON_PrintUnformatted(prev);
  return 0;
}

/* DEL must work after the netns is gone (pod stopped, node rebooted):
 * then CNI_NETNS is left empty, which DEL allows, rather than naming a
 * stale file the plugins would fail to enter. */
static bool is_netns(const char *path) {
  struct statfs sfs;
  return path && *path && statfs(path, &sfs) == 0 && sfs.f_type == NSFS_MAGIC;
}

int cni_del(const char *conflist_json, const char *const *plugin_dirs,
            const struct cni_runtime_conf *rt, const char *prev_result_json, crio_error_t *err) {
  cleanup_parsed_list struct parsed_list list = {0};
  cleanup_cjson cJSON *caps = NULL;
  cleanup_cjson cJSON *prev = NULL;
  if (prepare("DEL", conflist_json, rt, false, &list, &caps, err) < 0)
    return -1;
  /* prevResult on DEL arrived with spec 0.4.0; older plugins would not
   * expect it. */
  if (prev_result_json && *prev_result_json && cni_version_compare(list.version, "0.4.0") >= 0) {
    prev = cJSON_Parse(prev_result_json);
    if (!cJSON_IsObject(prev))
      return crio_error(err, EINVAL,
                        "CNI DEL from network %s: stored result is "
                        "not a JSON object",
                        list.name);
  }
  const char *netns = is_netns(rt->netns_path) ? rt->netns_path : "";
  struct cni_invocation inv = {"DEL", rt, plugin_dirs, netns};
  /* The spec halts the chain at the first failure; the caller retries the
   * whole DEL, which every plugin must accept. */
  return run_chain(&inv, &list, caps, prev, true, "CNI DEL from network", err);
}

int cni_check(const char *conflist_json, const char *const *plugin_dirs,
              const struct cni_runtime_conf *rt, const char *prev_result_json, crio_error_t *err) {
  cleanup_parsed_list struct parsed_list list = {0};
  cleanup_cjson cJSON *caps = NULL;
  if (prepare("CHECK", conflist_json, rt, true, &list, &caps, err) < 0)
    return -1;
  if (cni_version_compare(list.version, "0.4.0") < 0)
    return crio_error(err, EINVAL,
                      "CNI CHECK: network %s has cniVersion %s; "
                      "CHECK needs 0.4.0 or newer",
                      list.name, list.version);
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(list.root, "disableCheck")))
    return 0;
  cleanup_cjson cJSON *prev = cJSON_Parse(prev_result_json ? prev_result_json : "");
  if (!cJSON_IsObject(prev))
    return crio_error(err, EINVAL, "CNI CHECK in network %s: no valid stored result", list.name);
  if (find_all_plugins(&list, plugin_dirs, err) < 0)
    return crio_error_prefix(err, "CNI CHECK in network %s", list.name);
  struct cni_invocation inv = {"CHECK", rt, plugin_dirs, rt->netns_path};
  return run_chain(&inv, &list, caps, prev, false, "CNI CHECK in network", err);
}

static int plugin_versions(const char *type, const char *const *plugin_dirs, const char *version,
                           cJSON **answer, crio_error_t *err) {
  struct cni_invocation inv = {"VERSION", NULL, plugin_dirs, NULL};
  cleanup_cjson cJSON *req = cJSON_CreateObject();
  cJSON_AddStringToObject(req, "cniVersion", version);
  cleanup_free char *out = NULL;
  if (run_plugin(&inv, type, req, &out, err) < 0)
    return -1;
  *answer = cJSON_Parse(out);
  if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(*answer, "supportedVersions"))) {
    if (*answer)
      cJSON_Delete(steal_pointer(answer));
    return crio_error(err, EIO, "CNI plugin %s: VERSION gave no supportedVersions", type);
  }
  return 0;
}

int cni_plugin_versions(const char *type, const char *const *plugin_dirs,
                        char ***supported_versions, crio_error_t *err) {
  cleanup_cjson cJSON *answer = NULL;
  if (plugin_versions(type, plugin_dirs, "1.0.0", &answer, err) < 0)
    return -1;
  const cJSON *list = cJSON_GetObjectItemCaseSensitive(answer, "supportedVersions");
  char **v = xcalloc((size_t)cJSON_GetArraySize(list) + 1, sizeof(char *));
  size_t n = 0;
  const cJSON *item;
  cJSON_ArrayForEach(item, list) {
    if (cJSON_IsString(item))
      v[n++] = xstrdup(item->valuestring);
  }
  *supported_versions = v;
  return 0;
}

static bool answer_supports(const cJSON *answer, const char *version) {
  const cJSON *item;
  cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(answer, "supportedVersions")) {
    if (cJSON_IsString(item) && strcmp(item->valuestring, version) == 0)
      return true;
  }
  return false;
}

int cni_status(const char *conflist_json, const char *const *plugin_dirs, crio_error_t *err) {
  cleanup_parsed_list struct parsed_list list = {0};
  if (parse_list(conflist_json, &list, err) < 0)
    return crio_error_prefix(err, "CNI STATUS");
  if (cni_version_compare(list.version, "1.1.0") < 0)
    return crio_error(err, ENOSYS,
                      "CNI STATUS needs spec 1.1.0; network %s "
                      "uses cniVersion %s",
                      list.name, list.version);
  /* Every plugin must speak 1.1.0 before any is asked. */
  const cJSON *plugin;
  cJSON_ArrayForEach(plugin, list.plugins) {
    const char *type = cni_json_string(plugin, "type");
    cleanup_cjson cJSON *answer = NULL;
    if (plugin_versions(type, plugin_dirs, list.version, &answer, err) < 0)
      return crio_error_prefix(err, "CNI STATUS of network %s", list.name);
    if (!answer_supports(answer, "1.1.0")) {
      cleanup_free char *supported =
          cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(answer, "supportedVersions"));
      return crio_error(err, ENOSYS,
                        "CNI STATUS of network %s: plugin %s does "
                        "not speak spec 1.1.0 (it supports %s)",
                        list.name, type, supported);
    }
  }
  struct cni_invocation inv = {"STATUS", NULL, plugin_dirs, NULL};
  return run_chain(&inv, &list, NULL, NULL, false, "CNI STATUS of network", err);
}
