/* `crio wipe --from-host`: for when the database is lost or damaged and
 * the log cannot say what was acquired.  The host still can, because every
 * pod resource is named after the pod id: the pod dir <runroot>/pods/<id>
 * (with infra.pid and the CNI config stashed by ADD), the pins
 * <runroot>/<type>ns/<id>, the cgroup crio-<id> (crio-<id>.scope under
 * systemd).  Only ids that look like ours (64 hex digits) and that the run
 * dir or one of our cgroup parents shows are touched, and each resource
 * goes through the same release functions as the log replay, with the
 * same refusals. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "oci/oci.h"
#include "recovery/internal.h"

#define POD_ID_LEN 64
#define MAX_CGROUP_DEPTH 12

struct host_ids {
  char **ids; /* NULL-terminated */
  size_t n;
};

static void host_ids_add(struct host_ids *set, const char *id) {
  if (strlen(id) != POD_ID_LEN || !crio_is_hex_id(id, POD_ID_LEN))
    return;
  for (size_t i = 0; i < set->n; i++)
    if (strcmp(set->ids[i], id) == 0)
      return;
  recovery_strv_push(&set->ids, &set->n, xstrdup(id));
}

static bool host_ids_has(const struct host_ids *set, const char *id, size_t len) {
  for (size_t i = 0; i < set->n; i++)
    if (len == POD_ID_LEN && strncmp(set->ids[i], id, len) == 0)
      return true;
  return false;
}

static void ids_from_dir(struct host_ids *set, const char *dir) {
  cleanup_dir DIR *d = opendir(dir);
  struct dirent *de;
  while (d && (de = readdir(d)) != NULL)
    host_ids_add(set, de->d_name);
}

/* "crio-<id>" or "crio-<id>.scope": the id's start and length, else NULL. */
static const char *cgroup_pod_id(const char *name, size_t *len) {
  if (strncmp(name, "crio-", 5) != 0)
    return NULL;
  const char *id = name + 5;
  size_t n = strlen(id);
  if (n > 6 && strcmp(id + n - 6, ".scope") == 0)
    n -= 6;
  if (n != POD_ID_LEN || !crio_is_hex_id(id, n))
    return NULL;
  *len = n;
  return id;
}

/* The cgroupfs path of a parent as the daemon's config names it. */
static char *parent_path(const char *parent) {
  if (parent == NULL || parent[0] == '\0')
    return NULL;
  if (parent[0] == '/')
    return xstrdup(parent);
  char *path = NULL;
  cleanup_error crio_error_t slice_err = NULL;
  if (oci_systemd_slice_path(parent, &path, &slice_err) < 0)
    return NULL;
  return path;
}

/* Pods whose cgroups sit under a parent we own count as ours even when
 * the run dir is gone (a tmpfs emptied by hand). */
static void ids_from_parents(struct host_ids *set, const struct recovery_wipe_options *options) {
  size_t n_extra = 0;
  while (options->cgroup_parents && options->cgroup_parents[n_extra])
    n_extra++;
  for (size_t i = 0; i <= n_extra; i++) {
    cleanup_free char *path =
        parent_path(i == 0 ? options->default_cgroup_parent : options->cgroup_parents[i - 1]);
    if (path == NULL)
      continue;
    cleanup_strv char **dirs = recovery_cgroup_dirs(path);
    for (size_t j = 0; dirs[j]; j++) {
      cleanup_dir DIR *d = opendir(dirs[j]);
      struct dirent *de;
      while (d && (de = readdir(d)) != NULL) {
        size_t len = 0;
        const char *id = cgroup_pod_id(de->d_name, &len);
        if (id) {
          cleanup_free char *copy = xstrndup(id, len);
          host_ids_add(set, copy);
        }
      }
    }
  }
}

struct found_cgroup {
  char *path; /* relative to the hierarchy root, "/a/crio-<id>" */
  char *id;
};

struct cgroup_search {
  const struct host_ids *ids;
  struct found_cgroup *found;
  size_t n_found;
};

static void cgroup_found(struct cgroup_search *s, const char *path, const char *id, size_t len) {
  for (size_t i = 0; i < s->n_found; i++)
    if (strcmp(s->found[i].path, path) == 0)
      return;
  s->found = xrealloc(s->found, (s->n_found + 1) * sizeof(*s->found));
  s->found[s->n_found++] = (struct found_cgroup){.path = xstrdup(path), .id = xstrndup(id, len)};
}

static void cgroup_walk(struct cgroup_search *s, const char *root, const char *rel, int depth) {
  if (depth > MAX_CGROUP_DEPTH)
    return;
  cleanup_free char *dir = xasprintf("%s%s", root, rel);
  cleanup_dir DIR *d = opendir(dir);
  struct dirent *de;
  while (d && (de = readdir(d)) != NULL) {
    if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    cleanup_free char *child = xasprintf("%s/%s", rel, de->d_name);
    size_t len = 0;
    const char *id = cgroup_pod_id(de->d_name, &len);
    if (id && host_ids_has(s->ids, id, len))
      cgroup_found(s, child, id, len);
    else
      cgroup_walk(s, root, child, depth + 1);
  }
}

static void cgroup_search_release(struct cgroup_search *s) {
  for (size_t i = 0; i < s->n_found; i++) {
    free(s->found[i].path);
    free(s->found[i].id);
  }
  free(s->found);
}

/* One resource of one pod: printed (dry run) or released. */
static void host_step(const struct recovery_wipe_options *options, const char *pod_id,
                      const char *type, const char *id, const char *detail, bool *failed,
                      struct recovery_wipe_report *report) {
  if (*failed)
    return;
  report->planned++;
  if (options->dry_run) {
    recovery_wipe_say(options, "pod/%s %s %s", pod_id, type, id);
    return;
  }
  const struct recovery_resource_type *t =
      options->types ? recovery_resource_type_in(options->types, options->n_types, type)
                     : recovery_resource_type_find(type);
  store_resource *res = store_resource_new(type, id, detail, detail ? strlen(detail) : 0);
  cleanup_error crio_error_t release_err = NULL;
  int rc = t ? t->release(&options->env, pod_id, res, &release_err)
             : crio_error(&release_err, ENOSYS, "no release for type %s", type);
  store_resource_free(res);
  if (rc < 0) {
    /* As in the log replay, what follows depends on this. */
    *failed = true;
    report->failed++;
    recovery_wipe_say(options, "failed pod/%s %s %s: %s", pod_id, type, id,
                      crio_error_message(&release_err));
    return;
  }
  report->released++;
  recovery_wipe_say(options, "released pod/%s %s %s", pod_id, type, id);
}

static int longer_first(const void *a, const void *b) {
  size_t x = strlen(*(char *const *)a), y = strlen(*(char *const *)b);
  return x < y ? 1 : x > y ? -1 : 0;
}

/* Mount points strictly below `dir`, deepest first (NULL-terminated). */
static char **mounts_below(const char *dir) {
  char **found = xcalloc(1, sizeof(char *));
  size_t n = 0;
  cleanup_free char *text = recovery_read_text("/proc/self/mountinfo");
  if (text == NULL)
    return found;
  size_t len = strlen(dir);
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char *field = recovery_mountinfo_mount_point(line);
    if (field == NULL)
      continue;
    /* An escaped path (a space in it) is not one the daemon makes. */
    if (strchr(field, '\\') || strncmp(field, dir, len) != 0 || field[len] != '/')
      continue;
    bool dup = false;
    for (size_t i = 0; i < n && !dup; i++)
      dup = strcmp(found[i], field) == 0;
    if (dup)
      continue;
    recovery_strv_push(&found, &n, xstrdup(field));
  }
  qsort(found, n, sizeof(char *), longer_first);
  return found;
}

static void wipe_pod(const struct recovery_wipe_options *options, const char *id,
                     const struct cgroup_search *cgroups, struct recovery_wipe_report *report) {
  const char *runroot = options->env.runroot;
  cleanup_free char *pod_dir = xasprintf("%s/pods/%s", runroot, id);
  bool failed = false;

  /* The pause process of a shared PID namespace, by pid and start time. */
  cleanup_free char *pid_file = xasprintf("%s/infra.pid", pod_dir);
  cleanup_free char *pid_text = recovery_read_text(pid_file);
  int pid = 0;
  unsigned long long start_time = 0;
  if (pid_text && sscanf(pid_text, "%d %llu", &pid, &start_time) == 2 && pid > 0) {
    cleanup_free char *proc = xasprintf("%d:%llu", pid, start_time);
    host_step(options, id, "process", proc, NULL, &failed, report);
  }

  /* CNI ADD stashed its config here before it ran; DEL with it gives the
   * IPAM reservation back even without the stored result. */
  cleanup_free char *stash = xasprintf("%s/cni-config.json", pod_dir);
  cleanup_free char *conflist = recovery_read_text(stash);
  cJSON *parsed = conflist ? cJSON_Parse(conflist) : NULL;
  if (parsed) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(parsed, "name");
    cleanup_free char *netns = oci_ns_pin_path(runroot, OCI_NS_NET, id);
    cJSON *detail = cJSON_CreateObject();
    cJSON_AddItemToObject(detail, "conflist", parsed);
    cJSON_AddStringToObject(detail, "netns", netns);
    cJSON_AddStringToObject(detail, "ifname", "eth0");
    cleanup_free char *attachment =
        xasprintf("%s/%s/eth0", cJSON_IsString(name) ? name->valuestring : "", id);
    cleanup_free char *text = cJSON_PrintUnformatted(detail);
    cJSON_Delete(detail);
    host_step(options, id, "cni", attachment, text, &failed, report);
  }

  static const char *const ns_types[] = {"pidns", "utsns", "ipcns", "netns"};
  static const enum oci_ns_type ns_of[] = {OCI_NS_PID, OCI_NS_UTS, OCI_NS_IPC, OCI_NS_NET};
  for (size_t i = 0; i < sizeof(ns_types) / sizeof(ns_types[0]); i++) {
    cleanup_free char *pin = oci_ns_pin_path(runroot, ns_of[i], id);
    struct stat st;
    if (lstat(pin, &st) == 0)
      host_step(options, id, ns_types[i], pin, NULL, &failed, report);
  }

  for (size_t i = 0; i < cgroups->n_found; i++)
    if (strcmp(cgroups->found[i].id, id) == 0)
      host_step(options, id, "cgroup", cgroups->found[i].path, NULL, &failed, report);

  /* Whatever is mounted inside the pod dir (its /dev/shm tmpfs) goes
   * before the dir, deepest first. */
  cleanup_strv char **mounts = mounts_below(pod_dir);
  for (size_t i = 0; mounts[i]; i++)
    host_step(options, id, "mount", mounts[i], NULL, &failed, report);

  struct stat st;
  if (lstat(pod_dir, &st) == 0)
    host_step(options, id, "dir", pod_dir, NULL, &failed, report);
}

int recovery_wipe_from_host(const struct recovery_wipe_options *options,
                            struct recovery_wipe_report *report, crio_error_t *err) {
  memset(report, 0, sizeof(*report));
  const char *runroot = options->env.runroot;
  if (runroot == NULL || runroot[0] != '/')
    return crio_error(err, EINVAL, "wipe --from-host: the run dir must be an absolute path");

  struct host_ids ids = {.ids = xcalloc(1, sizeof(char *))};
  cleanup_free char *pods_dir = xasprintf("%s/pods", runroot);
  ids_from_dir(&ids, pods_dir);
  for (int type = 0; type < OCI_NS_COUNT; type++) {
    cleanup_free char *dir =
        xasprintf("%s/%sns", runroot, oci_ns_type_name((enum oci_ns_type)type));
    ids_from_dir(&ids, dir);
  }
  ids_from_parents(&ids, options);

  struct cgroup_search cgroups = {.ids = &ids};
  cleanup_strv char **roots = recovery_cgroup_roots();
  for (size_t i = 0; roots[i]; i++)
    cgroup_walk(&cgroups, roots[i], "", 0);

  for (size_t i = 0; i < ids.n; i++)
    wipe_pod(options, ids.ids[i], &cgroups, report);
  cgroup_search_release(&cgroups);
  size_t n_pods = ids.n;
  cleanup_strvp(&ids.ids);

  cleanup_free char *db_dir = xasprintf("%s/db", options->env.root);
  if (!options->dry_run)
    recovery_release_pin_dirs(runroot);
  if (options->dry_run) {
    recovery_wipe_say(options,
                      "# dry run (from the host): %zu resource(s) of %zu pod(s) to release",
                      report->planned, n_pods);
    return 0;
  }
  recovery_wipe_say(options,
                    "# wipe (from the host): released %zu of %zu resource(s) of %zu pod(s); "
                    "%zu failed.  The database %s was not read nor changed: move it aside before "
                    "starting crio if it is damaged",
                    report->released, report->planned, n_pods, report->failed, db_dir);
  if (report->failed > 0)
    return crio_error(err, EAGAIN,
                      "wipe --from-host: %zu resource(s) could not be released (see above)",
                      report->failed);
  return 0;
}
