/* process: what runs in the container and as whom — the kubelet's
 * command/args rules, the environment, the user and groups, capabilities,
 * rlimits, oom_score_adj, and the AppArmor/SELinux labels. */
#include <errno.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "oci/spec_internal.h"

/* The PATH Docker and CRI-O give an image that sets none. */
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* CRI-O's and containerd's RLIMIT_NOFILE: the kernel's default nr_open. */
#define DEFAULT_NOFILE 1048576

#define SC_FIELD "config.linux.security_context"

/* ---- args ------------------------------------------------------------------ */
static int add_image_list(cJSON *args, const cJSON *img, const char *key, crio_error_t *err) {
  const cJSON *list = cJSON_GetObjectItemCaseSensitive(img, key);
  if (list == NULL || cJSON_IsNull(list))
    return 0;
  if (!cJSON_IsArray(list))
    return crio_error(err, EINVAL, "image config %s: not a list of strings", key);
  const cJSON *it;
  cJSON_ArrayForEach(it, list) {
    if (!cJSON_IsString(it))
      return crio_error(err, EINVAL, "image config %s: not a list of strings", key);
    cJSON_AddItemToArray(args, cJSON_CreateString(it->valuestring));
  }
  return 0;
}

/* The kubelet's rules (Kubernetes "Define a command and arguments"):
 * command replaces the image's ENTRYPOINT and drops its CMD; args replaces
 * CMD. */
static int process_args(struct spec_ctx *c, cJSON *process, crio_error_t *err) {
  cJSON *args = cJSON_AddArrayToObject(process, "args");
  const Runtime__V1__ContainerConfig *cfg = c->cfg;
  if (cfg->n_command > 0) {
    for (size_t i = 0; i < cfg->n_command; i++)
      cJSON_AddItemToArray(args, cJSON_CreateString(cfg->command[i]));
  } else if (add_image_list(args, c->img, "Entrypoint", err) < 0) {
    return -1;
  }
  if (cfg->n_args > 0) {
    for (size_t i = 0; i < cfg->n_args; i++)
      cJSON_AddItemToArray(args, cJSON_CreateString(cfg->args[i]));
  } else if (cfg->n_command == 0 && add_image_list(args, c->img, "Cmd", err) < 0) {
    return -1;
  }
  if (cJSON_GetArraySize(args) == 0)
    return crio_error(err, EINVAL, "config.command: empty, and the image has no Entrypoint or Cmd");
  const cJSON *first = cJSON_GetArrayItem(args, 0);
  if (first->valuestring[0] == '\0')
    return crio_error(err, EINVAL, "config.command: the program to run is an empty string");
  return 0;
}

/* ---- env --------------------------------------------------------------------- */
struct env_list {
  char **items; /* "KEY=value" */
  size_t n;
};

static size_t key_len(const char *kv) {
  const char *eq = strchr(kv, '=');
  return eq ? (size_t)(eq - kv) : strlen(kv);
}

static ssize_t env_find(const struct env_list *e, const char *key, size_t klen) {
  for (size_t i = 0; i < e->n; i++)
    if (key_len(e->items[i]) == klen && strncmp(e->items[i], key, klen) == 0)
      return (ssize_t)i;
  return -1;
}

/* Sets KEY=value, replacing an earlier KEY in place (later wins). */
static void env_set(struct env_list *e, char *kv) {
  ssize_t i = env_find(e, kv, key_len(kv));
  if (i >= 0) {
    free(e->items[i]);
    e->items[i] = kv;
    return;
  }
  e->items = xrealloc(e->items, (e->n + 1) * sizeof(char *));
  e->items[e->n++] = kv;
}

static void env_default(struct env_list *e, const char *key, const char *value) {
  if (env_find(e, key, strlen(key)) < 0)
    env_set(e, xasprintf("%s=%s", key, value));
}

static void env_release(struct env_list *e) {
  for (size_t i = 0; i < e->n; i++)
    free(e->items[i]);
  free(e->items);
}
#define cleanup_env_list __attribute__((cleanup(env_release)))

static const char *pod_hostname(const struct spec_ctx *c) {
  if (c->host_uts)
    return c->in->host->hostname;
  const char *h = c->in->pod_hostname;
  return h ? h : "";
}

static int process_env(struct spec_ctx *c, const struct oci_user *user, cJSON *process,
                       crio_error_t *err) {
  cleanup_env_list struct env_list e = {0};
  /* CRI-O's order: HOSTNAME first, so that the image or the request may
   * override it; then the image's, then the request's, later winning. */
  env_set(&e, xasprintf("HOSTNAME=%s", pod_hostname(c)));
  const cJSON *img_env = cJSON_GetObjectItemCaseSensitive(c->img, "Env");
  if (img_env && !cJSON_IsNull(img_env) && !cJSON_IsArray(img_env))
    return crio_error(err, EINVAL, "image config Env: not a list of strings");
  const cJSON *it;
  cJSON_ArrayForEach(it, img_env) {
    if (!cJSON_IsString(it))
      return crio_error(err, EINVAL, "image config Env: not a list of strings");
    /* An entry without '=' or with an empty key means nothing to Docker;
     * skipped as CRI-O does. */
    const char *eq = strchr(it->valuestring, '=');
    if (eq == NULL || eq == it->valuestring)
      continue;
    env_set(&e, xstrdup(it->valuestring));
  }
  for (size_t i = 0; i < c->cfg->n_envs; i++) {
    const Runtime__V1__KeyValue *kv = c->cfg->envs[i];
    if (kv->key == NULL || kv->key[0] == '\0' || strchr(kv->key, '='))
      return crio_error(err, EINVAL, "config.envs[%zu].key: \"%s\" is empty or has '='", i,
                        kv->key ? kv->key : "");
    if (kv->value.len > 0 && memchr(kv->value.data, '\0', kv->value.len))
      return crio_error(err, EINVAL, "config.envs[%zu].value: has a NUL byte", i);
    env_set(&e, xasprintf("%s=%.*s", kv->key, (int)kv->value.len,
                          kv->value.len ? (const char *)kv->value.data : ""));
  }
  env_default(&e, "PATH", DEFAULT_PATH);
  if (c->cfg->tty)
    env_default(&e, "TERM", "xterm");
  /* runc would set HOME itself from the passwd it reads; set here so the
   * spec says what the process gets. */
  env_default(&e, "HOME", user->home ? user->home : "/");
  cJSON_AddItemToObject(process, "env", spec_json_strv((const char *const *)e.items, e.n));
  return 0;
}

/* ---- cwd ----------------------------------------------------------------------- */
static int process_cwd(struct spec_ctx *c, cJSON *process, crio_error_t *err) {
  const char *cwd = c->cfg->working_dir;
  const char *field = "config.working_dir";
  if (cwd == NULL || cwd[0] == '\0') {
    cwd = spec_image_string(c->img, "WorkingDir");
    field = "image config WorkingDir";
  }
  if (cwd == NULL || cwd[0] == '\0')
    cwd = "/";
  cleanup_free char *clean = spec_clean_abs_path(cwd);
  if (clean == NULL)
    return crio_error(err, EINVAL, "%s: \"%s\" must be an absolute path without \"..\"", field,
                      cwd);
  cJSON_AddStringToObject(process, "cwd", clean);
  return 0;
}

/* ---- user ------------------------------------------------------------------------ */
static bool valid_id(int64_t v) {
  return v >= 0 && v < (int64_t)UINT32_MAX;
}

static void add_gid(uint32_t **gids, size_t *n, uint32_t gid) {
  for (size_t i = 0; i < *n; i++)
    if ((*gids)[i] == gid)
      return;
  *gids = xrealloc(*gids, (*n + 1) * sizeof(**gids));
  (*gids)[(*n)++] = gid;
}

static int gid_cmp(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* Who the process runs as: the security context's run_as_user or
 * run_as_username (with run_as_group), else the image's USER; names are
 * looked up in the image's own /etc/passwd and /etc/group. */
static int process_user(struct spec_ctx *c, struct oci_user *user, cJSON *process,
                        crio_error_t *err) {
  const Runtime__V1__LinuxContainerSecurityContext *sc = c->sc;
  const Runtime__V1__Int64Value *run_as_user = sc ? sc->run_as_user : NULL;
  const Runtime__V1__Int64Value *run_as_group = sc ? sc->run_as_group : NULL;
  const char *run_as_username =
      sc && sc->run_as_username && sc->run_as_username[0] ? sc->run_as_username : NULL;
  if (run_as_user && run_as_username)
    return crio_error(err, EINVAL, SC_FIELD ".run_as_username: not together with run_as_user");
  if (run_as_group && !run_as_user && !run_as_username)
    return crio_error(err, EINVAL, SC_FIELD ".run_as_group: needs run_as_user or run_as_username");
  if (run_as_group && !valid_id(run_as_group->value))
    return crio_error(err, EINVAL, SC_FIELD ".run_as_group: %lld is not a valid gid",
                      (long long)run_as_group->value);

  cleanup_free char *spec = NULL;
  const char *field;
  if (run_as_user) {
    if (!valid_id(run_as_user->value))
      return crio_error(err, EINVAL, SC_FIELD ".run_as_user: %lld is not a valid uid",
                        (long long)run_as_user->value);
    spec = xasprintf("%lld", (long long)run_as_user->value);
    field = SC_FIELD ".run_as_user";
  } else if (run_as_username) {
    if (strchr(run_as_username, ':'))
      return crio_error(err, EINVAL, SC_FIELD ".run_as_username: \"%s\" has ':'", run_as_username);
    spec = xstrdup(run_as_username);
    field = SC_FIELD ".run_as_username";
  } else {
    const char *u = spec_image_string(c->img, "User");
    spec = xstrdup(u ? u : "");
    field = "image config User";
  }
  if (run_as_group) {
    char *with_group = xasprintf("%s:%lld", spec, (long long)run_as_group->value);
    free(spec);
    spec = with_group;
  }
  if (oci_user_resolve(c->rootfd, spec, user, err) < 0)
    return crio_error_prefix(err, "%s", field);

  /* Merge (the default): the image's /etc/group memberships plus the
   * requested groups (which the kubelet fills with the pod's fsGroup and
   * supplementalGroups).  Strict: the requested groups only. */
  uint32_t *gids = NULL;
  size_t n = 0;
  bool strict =
      sc && sc->supplemental_groups_policy == RUNTIME__V1__SUPPLEMENTAL_GROUPS_POLICY__Strict;
  if (!strict)
    for (size_t i = 0; i < user->n_groups; i++)
      add_gid(&gids, &n, user->groups[i]);
  for (size_t i = 0; sc && i < sc->n_supplemental_groups; i++) {
    if (!valid_id(sc->supplemental_groups[i])) {
      free(gids);
      return crio_error(err, EINVAL, SC_FIELD ".supplemental_groups[%zu]: %lld is not a valid gid",
                        i, (long long)sc->supplemental_groups[i]);
    }
    add_gid(&gids, &n, (uint32_t)sc->supplemental_groups[i]);
  }

  /* In ascending order, as setgroups(2) leaves them on Linux (and as
   * containerd writes them): a runtime with a kernel of its own (gVisor)
   * keeps the order it is given, and getgroups(2) there would otherwise
   * list the image's groups before the requested ones. */
  if (n > 1)
    qsort(gids, n, sizeof(*gids), gid_cmp);

  cJSON *u = cJSON_AddObjectToObject(process, "user");
  spec_add_uint(u, "uid", user->uid);
  spec_add_uint(u, "gid", user->gid);
  if (n > 0) {
    cJSON *arr = cJSON_AddArrayToObject(u, "additionalGids");
    for (size_t i = 0; i < n; i++)
      cJSON_AddItemToArray(arr, spec_json_uint(gids[i]));
  }
  free(gids);
  return 0;
}

/* ---- capabilities ---------------------------------------------------------------- */
static int caps_apply(const char *field, char **names, size_t n, bool add, uint64_t *caps,
                      crio_error_t *err) {
  for (size_t i = 0; i < n; i++) {
    if (strcasecmp(names[i], "ALL") == 0)
      continue; /* handled first, see process_caps */
    int cap = spec_cap_from_name(names[i]);
    if (cap < 0)
      return crio_error(err, EINVAL, "%s[%zu]: unknown capability \"%s\"", field, i, names[i]);
    if (add)
      *caps |= 1ULL << cap;
    else
      *caps &= ~(1ULL << cap);
  }
  return 0;
}

static bool has_all(char **names, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strcasecmp(names[i], "ALL") == 0)
      return true;
  return false;
}

static uint64_t all_known_caps(void) {
  return (2ULL << SPEC_CAP_LAST) - 1;
}

/* CRI-O's rules: the default set, then "ALL" added or dropped, then single
 * capabilities added, then dropped (so add ALL + drop X is all but X, and
 * drop ALL + add X is only X).  Privileged: everything the host has.
 *
 * Ambient (and so inheritable) capabilities are empty, as in CRI-O: pods
 * expect that running as a non-root user leaves no capabilities, and an
 * inheritable set lets file capabilities grant more than the container
 * was given (CVE-2022-27652).  The one exception is CRI's
 * add_ambient_capabilities, which asks for exactly that: those go into
 * every set, inheritable included (the kernel keeps an ambient capability
 * only while it is permitted and inheritable). */
static int process_caps(struct spec_ctx *c, cJSON *process, crio_error_t *err) {
  const struct oci_spec_host *host = c->in->host;
  uint64_t caps, ambient = 0;
  if (c->privileged) {
    caps = host->cap_bounding & all_known_caps();
  } else {
    caps = spec_caps_default();
    const Runtime__V1__Capability *req = c->sc ? c->sc->capabilities : NULL;
    if (req) {
      if (has_all(req->add_capabilities, req->n_add_capabilities))
        caps = all_known_caps();
      if (has_all(req->drop_capabilities, req->n_drop_capabilities))
        caps = 0;
      if (has_all(req->add_ambient_capabilities, req->n_add_ambient_capabilities))
        return crio_error(err, EINVAL,
                          SC_FIELD ".capabilities.add_ambient_capabilities: ALL is not allowed");
      if (caps_apply(SC_FIELD ".capabilities.add_capabilities", req->add_capabilities,
                     req->n_add_capabilities, true, &caps, err) < 0 ||
          caps_apply(SC_FIELD ".capabilities.add_ambient_capabilities",
                     req->add_ambient_capabilities, req->n_add_ambient_capabilities, true, &ambient,
                     err) < 0)
        return -1;
      caps |= ambient;
      if (caps_apply(SC_FIELD ".capabilities.drop_capabilities", req->drop_capabilities,
                     req->n_drop_capabilities, false, &caps, err) < 0)
        return -1;
      ambient &= caps;
    }
    /* A capability outside the host's bounding set cannot be granted (runc
     * would fail to start the container): ask for less, and say so. */
    uint64_t missing = caps & ~host->cap_bounding;
    if (missing) {
      cJSON *names = spec_caps_json(missing);
      char *list = cJSON_PrintUnformatted(names);
      spec_warn(c, "capabilities %s are not in the host's bounding set; not granted", list);
      cJSON_free(list);
      cJSON_Delete(names);
      caps &= host->cap_bounding;
      ambient &= caps;
    }
  }
  c->caps_effective = caps;
  cJSON *obj = cJSON_AddObjectToObject(process, "capabilities");
  cJSON_AddItemToObject(obj, "bounding", spec_caps_json(caps));
  cJSON_AddItemToObject(obj, "effective", spec_caps_json(caps));
  cJSON_AddItemToObject(obj, "permitted", spec_caps_json(caps));
  cJSON_AddItemToObject(obj, "inheritable", spec_caps_json(ambient));
  cJSON_AddItemToObject(obj, "ambient", spec_caps_json(ambient));
  return 0;
}

/* ---- limits ------------------------------------------------------------------------ */
static int process_limits(struct spec_ctx *c, cJSON *process, crio_error_t *err) {
  const struct oci_spec_host *host = c->in->host;
  bool sys_resource = oci_spec_host_has_cap(host, CAP_SYS_RESOURCE);

  /* Raising a hard limit above the daemon's needs CAP_SYS_RESOURCE. */
  uint64_t nofile = DEFAULT_NOFILE;
  if (!sys_resource && host->nofile_hard < nofile) {
    spec_warn(c,
              "RLIMIT_NOFILE %d is above the host's hard limit %llu and the host has no "
              "CAP_SYS_RESOURCE; using %llu",
              DEFAULT_NOFILE, (unsigned long long)host->nofile_hard,
              (unsigned long long)host->nofile_hard);
    nofile = host->nofile_hard;
  }
  cJSON *rlimits = cJSON_AddArrayToObject(process, "rlimits");
  cJSON *nofile_obj = cJSON_CreateObject();
  cJSON_AddStringToObject(nofile_obj, "type", "RLIMIT_NOFILE");
  spec_add_uint(nofile_obj, "hard", nofile);
  spec_add_uint(nofile_obj, "soft", nofile);
  cJSON_AddItemToArray(rlimits, nofile_obj);

  if (c->res == NULL)
    return 0; /* oom_score_adj inherited */
  int64_t adj = c->res->oom_score_adj;
  if (adj < -1000 || adj > 1000)
    return crio_error(err, EINVAL,
                      "config.linux.resources.oom_score_adj: %lld is outside -1000..1000",
                      (long long)adj);
  /* Below the value it inherits, runc init may go only with
   * CAP_SYS_RESOURCE; without it every such container would fail to start
   * (the kubelet asks -997 for Guaranteed pods), so the spec keeps the
   * inherited value and says so. */
  if (adj < host->oom_score_adj && !sys_resource) {
    spec_warn(c,
              "oom_score_adj %lld is below the runtime's %d and the host has no "
              "CAP_SYS_RESOURCE; using %d",
              (long long)adj, host->oom_score_adj, host->oom_score_adj);
    adj = host->oom_score_adj;
  }
  spec_add_int(process, "oomScoreAdj", adj);
  return 0;
}

/* ---- labels ------------------------------------------------------------------------- */
/* AppArmor when the host has it: RuntimeDefault (also meant by an unset
 * profile) is the configured default profile; no AppArmor for privileged
 * containers. */
static int process_apparmor(struct spec_ctx *c, cJSON *process, crio_error_t *err) {
  const Runtime__V1__SecurityProfile *p = c->sc ? c->sc->apparmor : NULL;
  const char *legacy = spec_legacy_apparmor(c->sc);
  enum { DEFAULT, UNCONFINED, LOCALHOST } kind = DEFAULT;
  const char *name = NULL;
  if (p) {
    if (p->profile_type == RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined)
      kind = UNCONFINED;
    else if (p->profile_type == RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost)
      kind = LOCALHOST, name = p->localhost_ref;
  } else if (strcmp(legacy, "unconfined") == 0) {
    kind = UNCONFINED;
  } else if (strncmp(legacy, "localhost/", 10) == 0) {
    kind = LOCALHOST, name = legacy + 10;
  } else if (legacy[0] && strcmp(legacy, "runtime/default") != 0) {
    return crio_error(err, EINVAL,
                      SC_FIELD ".apparmor_profile: \"%s\" is not runtime/default, "
                               "unconfined or localhost/<name>",
                      legacy);
  }
  if (kind == LOCALHOST && (name == NULL || name[0] == '\0'))
    return crio_error(err, EINVAL, SC_FIELD ".apparmor.localhost_ref: empty profile name");

  const struct oci_spec_host *host = c->in->host;
  if (!host->apparmor_enabled) {
    if (kind == LOCALHOST)
      spec_warn(c, "AppArmor profile \"%s\" not applied: AppArmor is not enabled on this host",
                name);
    return 0;
  }
  if (c->privileged || kind == UNCONFINED)
    return 0;
  if (kind == DEFAULT) {
    if (host->apparmor_default_profile == NULL)
      return crio_error(err, ENOSYS, "AppArmor is enabled but no default profile is configured");
    name = host->apparmor_default_profile;
  }
  cJSON_AddStringToObject(process, "apparmorProfile", name);
  return 0;
}

int spec_process(struct spec_ctx *c, cJSON *spec, crio_error_t *err) {
  cJSON *process = cJSON_AddObjectToObject(spec, "process");
  cJSON_AddBoolToObject(process, "terminal", c->cfg->tty);
  cleanup_oci_user struct oci_user user = {0};
  if (process_user(c, &user, process, err) < 0 || process_args(c, process, err) < 0 ||
      process_env(c, &user, process, err) < 0 || process_cwd(c, process, err) < 0 ||
      process_caps(c, process, err) < 0 || process_limits(c, process, err) < 0 ||
      process_apparmor(c, process, err) < 0)
    return -1;
  cJSON_AddBoolToObject(process, "noNewPrivileges", c->sc && c->sc->no_new_privs);
  return 0;
}
