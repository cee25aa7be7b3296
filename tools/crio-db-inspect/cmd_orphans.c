/* orphans: the host against the database.  Looks at what the daemon makes
 * on the host — pins under <runroot>/<type>ns/, pod dirs under
 * <runroot>/pods/, cgroups named crio-<id> under the pods' cgroup parents
 * — and at every resource the records and the log name:
 *
 *   orphan    on the host, and nothing in the database knows it
 *   leaked    on the host, held by an object whose record is deleted
 *             (the log still names it: crio wipe releases it)
 *   missing   a live record holds it, and it is gone from the host
 *   unchecked a live record holds it, of a type this build cannot check
 *
 * The database is read in one read txn; the host is looked at after it
 * ended, so a pod created meanwhile may show up as an orphan: run it on a
 * quiet node, or twice. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "oci/oci.h"
#include "tools/crio-db-inspect/inspect.h"

#define INSPECT_DEFAULT_RUNROOT "/run/crio"

struct finding {
  const char *problem;
  char *type, *id, *owner;
};

struct findings {
  struct finding *items;
  size_t n;
};

static void add_finding(struct findings *f, const char *problem, const char *type, const char *id,
                        const char *owner) {
  for (size_t i = 0; i < f->n; i++)
    if (strcmp(f->items[i].type, type) == 0 && strcmp(f->items[i].id, id) == 0)
      return;
  f->items = xrealloc(f->items, (f->n + 1) * sizeof(*f->items));
  f->items[f->n++] = (struct finding){.problem = problem,
                                      .type = xstrdup(type),
                                      .id = xstrdup(id),
                                      .owner = xstrdup(owner ? owner : "")};
}

static void findings_release(struct findings *f) {
  for (size_t i = 0; i < f->n; i++) {
    free(f->items[i].type);
    free(f->items[i].id);
    free(f->items[i].owner);
  }
  free(f->items);
}

static char *owner_name(uint32_t kind, const char *id) {
  const char *k = inspect_kind_name(kind);
  return xasprintf("%s/%s", k ? k : "object", id);
}

/* Everything the database says is held, sorted by type+id so that a
 * host item finds its holder by binary search: live records' resources,
 * and what the log says deleted objects still hold. */
struct held_item {
  const char *type, *id; /* borrowed from the snapshot */
  uint32_t kind;
  const char *owner_id;
  bool live;
};

struct held_index {
  struct held_item *items;
  size_t n;
};

static int held_cmp(const void *a, const void *b) {
  const struct held_item *x = a, *y = b;
  int c = strcmp(x->type, y->type);
  if (c == 0)
    c = strcmp(x->id, y->id);
  if (c == 0 && x->live != y->live)
    c = x->live ? -1 : 1; /* a live holder first */
  return c;
}

static void held_push(struct held_index *h, const store_resource *res, uint32_t kind,
                      const char *owner, bool live) {
  h->items = xrealloc(h->items, (h->n + 1) * sizeof(*h->items));
  h->items[h->n++] = (struct held_item){
      .type = res->type, .id = res->id, .kind = kind, .owner_id = owner, .live = live};
}

static void held_index_build(const struct inspect_snapshot *s, struct held_index *h) {
  for (size_t i = 0; i < s->n_records; i++)
    for (size_t j = 0; j < s->records[i]->n_resources; j++)
      held_push(h, s->records[i]->resources[j], s->records[i]->kind, s->records[i]->id, true);
  for (size_t i = 0; i < s->ledger.n_objects; i++) {
    const struct recovery_object *obj = &s->ledger.objects[i];
    if (inspect_snapshot_find(s, obj->kind, obj->id))
      continue;
    for (size_t j = 0; j < obj->n_held; j++)
      held_push(h, obj->held[j].res, obj->kind, obj->id, false);
  }
  if (h->n > 1)
    qsort(h->items, h->n, sizeof(*h->items), held_cmp);
}

static int held_key_cmp(const void *key, const void *item) {
  const struct held_item *k = key, *x = item;
  int c = strcmp(k->type, x->type);
  return c ? c : strcmp(k->id, x->id);
}

/* Who holds type+id: a live record (*live), or a deleted object whose log
 * never released it.  NULL if nobody. */
static char *holder(const struct held_index *h, const char *type, const char *id, bool *live) {
  *live = false;
  struct held_item key = {.type = type, .id = id};
  const struct held_item *found =
      h->n ? bsearch(&key, h->items, h->n, sizeof(*h->items), held_key_cmp) : NULL;
  if (found == NULL)
    return NULL;
  /* bsearch lands on any equal item: the live one sorts first. */
  while (found > h->items && held_key_cmp(&key, found - 1) == 0)
    found--;
  *live = found->live;
  return owner_name(found->kind, found->owner_id);
}

/* Something found on the host: fine if a live record holds it. */
static void host_item(const struct held_index *h, struct findings *f, const char *type,
                      const char *id) {
  bool live = false;
  cleanup_free char *owner = holder(h, type, id, &live);
  if (live)
    return;
  add_finding(f, owner ? "leaked" : "orphan", type, id, owner);
}

/* Every entry of `dir` (none if it is absent) as a host item of `type`
 * named by its path, but those the snapshot `owned_by_pod` names as pods. */
static void scan_dir(const struct held_index *h, struct findings *f, const char *dir,
                     const char *type, const struct inspect_snapshot *owned_by_pod) {
  cleanup_dir DIR *d = opendir(dir);
  struct dirent *de;
  while (d && (de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    if (owned_by_pod && inspect_snapshot_find(owned_by_pod, STORE_KIND_POD, de->d_name))
      continue;
    cleanup_free char *path = xasprintf("%s/%s", dir, de->d_name);
    host_item(h, f, type, path);
  }
}

static void scan_pins(const struct held_index *h, struct findings *f, const char *runroot) {
  for (int type = 0; type < OCI_NS_COUNT; type++) {
    const char *ns = oci_ns_type_name((enum oci_ns_type)type);
    cleanup_free char *dir = xasprintf("%s/%sns", runroot, ns);
    cleanup_free char *res_type = xasprintf("%sns", ns);
    scan_dir(h, f, dir, res_type, NULL);
  }
}

/* A pod that has not pinned its namespaces yet owns its dir by id. */
static void scan_pod_dirs(const struct inspect_snapshot *s, const struct held_index *h,
                          struct findings *f, const char *runroot) {
  cleanup_free char *dir = xasprintf("%s/pods", runroot);
  scan_dir(h, f, dir, "dir", s);
}

static bool is_crio_cgroup(const char *name) {
  if (strncmp(name, "crio-", 5) != 0)
    return false;
  size_t n = strlen(name + 5);
  if (n > 6 && strcmp(name + 5 + n - 6, ".scope") == 0)
    n -= 6;
  return n == 64 && crio_is_hex_id(name + 5, n);
}

static void parents_add(char ***parents, size_t *n, const char *parent) {
  if (parent == NULL || parent[0] == '\0')
    return;
  char *path = NULL;
  if (parent[0] == '/') {
    path = xstrdup(parent);
  } else {
    cleanup_error crio_error_t slice_err = NULL;
    if (oci_systemd_slice_path(parent, &path, &slice_err) < 0)
      return;
  }
  size_t len = strlen(path);
  while (len > 1 && path[len - 1] == '/')
    path[--len] = '\0';
  for (size_t i = 0; i < *n; i++) {
    if (strcmp((*parents)[i], path) == 0) {
      free(path);
      return;
    }
  }
  *parents = xrealloc(*parents, (*n + 2) * sizeof(char *));
  (*parents)[(*n)++] = path;
  (*parents)[*n] = NULL;
}

static void parents_add_dirname(char ***parents, size_t *n, const char *cgroup) {
  cleanup_free char *copy = xstrdup(cgroup);
  char *slash = strrchr(copy, '/');
  if (slash == NULL || slash == copy)
    return;
  *slash = '\0';
  parents_add(parents, n, copy);
}

static void scan_cgroups(const struct inspect_snapshot *s, const struct held_index *h,
                         struct findings *f, char *const *extra_parents) {
  char **parents = xcalloc(1, sizeof(char *));
  size_t n = 0;
  parents_add(&parents, &n, "/crio"); /* the daemon's default (cgroupfs) */
  for (size_t i = 0; extra_parents && extra_parents[i]; i++)
    parents_add(&parents, &n, extra_parents[i]);
  for (size_t i = 0; i < s->n_records; i++) {
    const store_record *rec = s->records[i];
    if (rec->body_case == CRIO__STORE__OBJECT_RECORD__BODY_POD) {
      parents_add(&parents, &n, rec->pod->cgroup_parent);
      if (rec->pod->cgroup_path && rec->pod->cgroup_path[0])
        parents_add_dirname(&parents, &n, rec->pod->cgroup_path);
    }
  }
  for (size_t i = 0; i < s->ledger.n_objects; i++)
    for (size_t j = 0; j < s->ledger.objects[i].n_held; j++)
      if (strcmp(s->ledger.objects[i].held[j].res->type, "cgroup") == 0)
        parents_add_dirname(&parents, &n, s->ledger.objects[i].held[j].res->id);

  for (size_t i = 0; i < n; i++) {
    cleanup_strv char **dirs = recovery_cgroup_dirs(parents[i]);
    for (size_t j = 0; dirs[j]; j++) {
      cleanup_dir DIR *d = opendir(dirs[j]);
      struct dirent *de;
      while (d && (de = readdir(d)) != NULL) {
        if (de->d_type != DT_DIR || !is_crio_cgroup(de->d_name))
          continue;
        cleanup_free char *path =
            xasprintf("%s/%s", strcmp(parents[i], "/") == 0 ? "" : parents[i], de->d_name);
        host_item(h, f, "cgroup", path);
      }
    }
  }
  cleanup_strvp(&parents);
}

/* What the database holds, looked for on the host. */
static void check_held(const struct inspect_snapshot *s, struct findings *f,
                       const struct recovery_env *env) {
  for (size_t i = 0; i < s->n_records; i++) {
    const store_record *rec = s->records[i];
    for (size_t j = 0; j < rec->n_resources; j++) {
      const store_resource *res = rec->resources[j];
      cleanup_free char *owner = owner_name(rec->kind, rec->id);
      const struct recovery_resource_type *t = recovery_resource_type_find(res->type);
      if (t == NULL) {
        add_finding(f, "unchecked", res->type, res->id, owner);
        continue;
      }
      cleanup_error crio_error_t exists_err = NULL;
      int found = t->exists(env, rec->id, res, &exists_err);
      if (found == 0)
        add_finding(f, "missing", res->type, res->id, owner);
      else if (found < 0)
        add_finding(f, "unchecked", res->type, res->id, owner);
    }
  }
  for (size_t i = 0; i < s->ledger.n_objects; i++) {
    const struct recovery_object *obj = &s->ledger.objects[i];
    if (inspect_snapshot_find(s, obj->kind, obj->id))
      continue;
    for (size_t j = 0; j < obj->n_held; j++) {
      const store_resource *res = obj->held[j].res;
      const struct recovery_resource_type *t = recovery_resource_type_find(res->type);
      cleanup_error crio_error_t exists_err = NULL;
      if (t && t->exists(env, obj->id, res, &exists_err) == 1) {
        cleanup_free char *owner = owner_name(obj->kind, obj->id);
        add_finding(f, "leaked", res->type, res->id, owner);
      }
    }
  }
}

static int cmd_orphans(struct inspect_ctx *ctx, int argc, char **argv, crio_error_t *err) {
  enum { OPT_RUNROOT = 0x300, OPT_CGROUP_PARENT };
  static const struct option options[] = {
      {"runroot", required_argument, NULL, OPT_RUNROOT},
      {"cgroup-parent", required_argument, NULL, OPT_CGROUP_PARENT},
      INSPECT_COMMON_OPTIONS,
      {NULL, 0, NULL, 0},
  };
  const char *runroot = INSPECT_DEFAULT_RUNROOT;
  cleanup_strv char **parents = xcalloc(1, sizeof(char *));
  size_t n_parents = 0;
  int opt;
  while ((opt = inspect_getopt(argc, argv, "", options)) != -1) {
    switch (opt) {
    case OPT_RUNROOT:
      if (*optarg != '/')
        return inspect_usage_error(err, "--runroot needs an absolute directory");
      runroot = optarg;
      break;
    case OPT_CGROUP_PARENT:
      parents = xrealloc(parents, (n_parents + 2) * sizeof(char *));
      parents[n_parents++] = xstrdup(optarg);
      parents[n_parents] = NULL;
      break;
    default:
      if (inspect_common_option(ctx, opt, argv, err) < 0)
        return INSPECT_USAGE;
    }
  }
  struct store *store = NULL;
  int ret = inspect_open_store_no_arguments(ctx, argc, argv, &store, err);
  if (ret < 0)
    return ret;
  __attribute__((cleanup(inspect_snapshot_release))) struct inspect_snapshot snap = {0};
  if (inspect_snapshot_read(store, &snap, err) < 0)
    return crio_error_prefix(err, "orphans");

  struct recovery_env env = {.root = ctx->root, .runroot = runroot};
  __attribute__((cleanup(findings_release))) struct findings f = {0};
  struct held_index held = {0};
  held_index_build(&snap, &held);
  scan_pins(&held, &f, runroot);
  scan_pod_dirs(&snap, &held, &f, runroot);
  scan_cgroups(&snap, &held, &f, parents);
  free(held.items);
  check_held(&snap, &f, &env);

  if (ctx->json) {
    cleanup_cjson cJSON *array = cJSON_CreateArray();
    for (size_t i = 0; i < f.n; i++) {
      cJSON *item = cJSON_CreateObject();
      cJSON_AddStringToObject(item, "problem", f.items[i].problem);
      cJSON_AddStringToObject(item, "type", f.items[i].type);
      cJSON_AddStringToObject(item, "id", f.items[i].id);
      cJSON_AddItemToObject(item, "owner",
                            f.items[i].owner[0] ? cJSON_CreateString(f.items[i].owner)
                                                : cJSON_CreateNull());
      cJSON_AddItemToArray(array, item);
    }
    return inspect_json_print(array, true, stdout, err);
  }
  static const char *const headers[] = {"PROBLEM", "TYPE", "RESOURCE", "OWNER"};
  cleanup_inspect_table struct inspect_table *table = inspect_table_new(4, headers);
  for (size_t i = 0; i < f.n; i++) {
    const char *row[] = {f.items[i].problem, f.items[i].type, f.items[i].id, f.items[i].owner};
    inspect_table_add_row(table, row);
  }
  return inspect_table_flush(table, stdout, err);
}

const struct inspect_command inspect_cmd_orphans = {
    .name = "orphans",
    .run = cmd_orphans,
    .args = "[--runroot DIR] [--cgroup-parent PARENT]...",
    .summary = "compare the host with the database: orphaned, leaked and missing resources",
    .options =
        "  --runroot DIR          the daemon's --runroot (default " INSPECT_DEFAULT_RUNROOT ")\n"
        "  --cgroup-parent PARENT also look for crio-<id> cgroups under PARENT\n"
        "                         (besides /crio and every pod's own parent)\n",
};
