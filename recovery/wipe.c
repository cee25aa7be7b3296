/* `crio wipe`: a replay of the state log.  Every resource the log says an
 * object acquired and never released is released on the host, newest
 * first, and the releases are logged, so the next wipe (or the daemon)
 * knows they are gone.  The log alone is enough: objects whose records
 * were deleted long ago still have their entries (compaction keeps every
 * entry of an object that holds something).
 *
 * What is kept: image records and what they hold (layers stay usable),
 * and, when a release fails, that object's record and the resources not
 * yet released — the next wipe tries again.  Pod and container records
 * are deleted (their names freed), as after a node reboot nothing they
 * describe exists any more. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/oci.h"
#include "recovery/internal.h"

/* ---- live records ------------------------------------------------------------------ */

struct live_record {
  char *id;
  char *name;
  char *parent_id;
};

struct live_set {
  struct live_record *items; /* in id order, as the store visits them */
  size_t n;
};

static void live_set_release(struct live_set *set) {
  for (size_t i = 0; i < set->n; i++) {
    free(set->items[i].id);
    free(set->items[i].name);
    free(set->items[i].parent_id);
  }
  free(set->items);
  set->items = NULL;
  set->n = 0;
}

static int live_visit(const store_record *rec, void *data) {
  struct live_set *set = data;
  set->items = xrealloc(set->items, (set->n + 1) * sizeof(*set->items));
  set->items[set->n++] = (struct live_record){
      .id = xstrdup(rec->id),
      .name = xstrdup(rec->name ? rec->name : ""),
      .parent_id = xstrdup(rec->parent_id ? rec->parent_id : ""),
  };
  return 0;
}

static int live_cmp(const void *key, const void *item) {
  return strcmp(key, ((const struct live_record *)item)->id);
}

static const struct live_record *live_find(const struct live_set *set, const char *id) {
  return set->n ? bsearch(id, set->items, set->n, sizeof(*set->items), live_cmp) : NULL;
}

/* ---- the plan ------------------------------------------------------------------------ */

enum step_fate {
  FATE_RELEASE = 0,
  FATE_UNKNOWN, /* no entry in the type table: reported, left in the log */
  FATE_SHARED,  /* also held by an object wipe keeps */
};

struct plan_step {
  const store_resource *res; /* borrowed from the ledger */
  const struct recovery_resource_type *type;
  enum step_fate fate;
  const char *kept_by; /* FATE_SHARED: the keeper's id */
};

struct plan_object {
  uint32_t kind;
  const struct recovery_object *obj; /* borrowed from the ledger; NULL if the log has none */
  const struct live_record *live;    /* its record, if it has one */
  struct plan_step *steps;           /* newest acquisition first */
  size_t n_steps;
};

struct plan {
  struct recovery_ledger ledger;
  struct live_set pods, containers, images;
  struct plan_object *objects; /* containers, then pods, then the rest */
  size_t n_objects;
};

static void plan_release(struct plan *plan) {
  for (size_t i = 0; i < plan->n_objects; i++)
    free(plan->objects[i].steps);
  free(plan->objects);
  live_set_release(&plan->pods);
  live_set_release(&plan->containers);
  live_set_release(&plan->images);
  recovery_ledger_release(&plan->ledger);
}

static const struct live_set *live_set_of(const struct plan *plan, uint32_t kind) {
  switch (kind) {
  case STORE_KIND_POD:
    return &plan->pods;
  case STORE_KIND_CONTAINER:
    return &plan->containers;
  case STORE_KIND_IMAGE:
    return &plan->images;
  default:
    return NULL;
  }
}

static int read_state(struct store *store, struct plan *plan, crio_error_t *err) {
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(store, STORE_TXN_READ, &txn, err) < 0)
    return -1;
  if (recovery_ledger_load(txn, &plan->ledger, err) < 0 ||
      store_record_foreach(txn, STORE_KIND_POD, live_visit, &plan->pods, err) < 0 ||
      store_record_foreach(txn, STORE_KIND_CONTAINER, live_visit, &plan->containers, err) < 0 ||
      store_record_foreach(txn, STORE_KIND_IMAGE, live_visit, &plan->images, err) < 0)
    return -1;
  return store_txn_commit(steal_pointer(&txn), err);
}

/* The object that keeps a resource with this type+id, if any: an image
 * with a record (wipe leaves images as they are). */
static const char *kept_by(const struct plan *plan, const struct recovery_wipe_options *options,
                           const store_resource *res) {
  if (options->images)
    return NULL;
  for (size_t i = 0; i < plan->images.n; i++) {
    const struct recovery_object *obj =
        recovery_ledger_find(&plan->ledger, plan->images.items[i].id);
    for (size_t j = 0; obj && j < obj->n_held; j++)
      if (strcmp(obj->held[j].res->type, res->type) == 0 &&
          strcmp(obj->held[j].res->id, res->id) == 0)
        return obj->id;
  }
  return NULL;
}

static void plan_add(struct plan *plan, const struct recovery_wipe_options *options, uint32_t kind,
                     const struct recovery_object *obj, const struct live_record *live) {
  plan->objects = xrealloc(plan->objects, (plan->n_objects + 1) * sizeof(*plan->objects));
  struct plan_object *po = &plan->objects[plan->n_objects++];
  *po = (struct plan_object){.kind = kind, .obj = obj, .live = live};
  if (obj == NULL || obj->n_held == 0)
    return;
  po->steps = xcalloc(obj->n_held, sizeof(*po->steps));
  for (size_t i = obj->n_held; i-- > 0;) {
    struct plan_step *step = &po->steps[po->n_steps++];
    step->res = obj->held[i].res;
    step->type = options->types
                     ? recovery_resource_type_in(options->types, options->n_types, step->res->type)
                     : recovery_resource_type_find(step->res->type);
    step->kept_by = kept_by(plan, options, step->res);
    step->fate = step->type == NULL ? FATE_UNKNOWN : step->kept_by ? FATE_SHARED : FATE_RELEASE;
  }
}

/* Containers first (they live in their pods' namespaces and cgroups),
 * then pods, then whatever else holds something (deleted images).  Live
 * image records are left alone.  A live pod or container record is part
 * of the plan even when it holds nothing: its record goes. */
static void plan_build(struct plan *plan, const struct recovery_wipe_options *options) {
  static const uint32_t order[] = {STORE_KIND_CONTAINER, STORE_KIND_POD, 0};
  for (size_t pass = 0; pass < sizeof(order) / sizeof(order[0]); pass++) {
    uint32_t kind = order[pass];
    for (size_t i = 0; i < plan->ledger.n_objects; i++) {
      const struct recovery_object *obj = &plan->ledger.objects[i];
      bool mine = kind ? obj->kind == kind
                       : obj->kind != STORE_KIND_CONTAINER && obj->kind != STORE_KIND_POD;
      if (!mine)
        continue;
      const struct live_set *set = live_set_of(plan, obj->kind);
      const struct live_record *live = set ? live_find(set, obj->id) : NULL;
      if (obj->kind == STORE_KIND_IMAGE && live && !options->images)
        continue;
      if (obj->n_held == 0 && live == NULL)
        continue;
      plan_add(plan, options, obj->kind, obj, live);
    }
    /* A record the log does not know (written without its entries, or a
     * log damaged by hand) is still deleted. */
    const struct live_set *set = kind              ? live_set_of(plan, kind)
                                 : options->images ? live_set_of(plan, STORE_KIND_IMAGE)
                                                   : NULL;
    for (size_t i = 0; set && i < set->n; i++)
      if (recovery_ledger_find(&plan->ledger, set->items[i].id) == NULL)
        plan_add(plan, options, kind ? kind : STORE_KIND_IMAGE, NULL, &set->items[i]);
  }
}

static const char *kind_of(const struct plan_object *po) {
  const char *name = store_kind_name((enum store_kind)po->kind);
  return name ? name : "object";
}

static const char *id_of(const struct plan_object *po) {
  return po->obj ? po->obj->id : po->live->id;
}

static void print_plan(const struct plan *plan, const struct recovery_wipe_options *options,
                       struct recovery_wipe_report *report) {
  for (size_t i = 0; i < plan->n_objects; i++) {
    const struct plan_object *po = &plan->objects[i];
    for (size_t j = 0; j < po->n_steps; j++) {
      const struct plan_step *s = &po->steps[j];
      if (s->fate == FATE_RELEASE) {
        report->planned++;
        recovery_wipe_say(options, "%s/%s %s %s", kind_of(po), id_of(po), s->res->type, s->res->id);
      } else if (s->fate == FATE_UNKNOWN) {
        report->unknown++;
        recovery_wipe_say(options, "%s/%s %s %s (unknown resource type: would be left in the log)",
                          kind_of(po), id_of(po), s->res->type, s->res->id);
      } else {
        report->shared++;
        recovery_wipe_say(options, "%s/%s %s %s (still held by image %s: would be kept)",
                          kind_of(po), id_of(po), s->res->type, s->res->id, s->kept_by);
      }
    }
    if (po->live) {
      if (po->kind == STORE_KIND_POD)
        report->pods_deleted++;
      else if (po->kind == STORE_KIND_IMAGE)
        report->images_deleted++;
      else
        report->containers_deleted++;
      recovery_wipe_say(options, "%s/%s record %s", kind_of(po), id_of(po),
                        po->live->name[0] ? po->live->name : "-");
    }
  }
}

/* ---- carrying it out ------------------------------------------------------------------- */

/* Logs what one object released and, for a live record, deletes it (or,
 * when something failed, keeps it and logs the releases on it). */
static int commit_object(struct store *store, const struct plan_object *po, uint32_t kind,
                         store_resource *const *released, size_t n_released, bool failed,
                         bool *deleted, crio_error_t *err) {
  *deleted = false;
  if (po->live == NULL && n_released == 0)
    return 0;
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(store, STORE_TXN_WRITE, &txn, err) < 0)
    return -1;
  if (po->live) {
    cleanup_store_record store_record *rec = NULL;
    if (store_record_get(txn, (enum store_kind)kind, po->live->id, &rec, err) < 0)
      return crio_error_prefix(err, "wipe %s %s", store_kind_name((enum store_kind)kind),
                               po->live->id);
    if (failed) {
      if (n_released == 0)
        return 0;
      store_transition(txn, rec, rec->state, "wipe", NULL, 0, released, n_released);
    } else {
      store_delete(txn, rec, "wipe", released, n_released);
      *deleted = true;
    }
  } else {
    /* The record is gone already: a DELETE of the wipe's own says what it
     * released, which also lets compaction drop the whole history. */
    store_log_entry entry = CRIO__STORE__LOG_ENTRY__INIT;
    entry.type = CRIO__STORE__LOG_ENTRY__TYPE__DELETE;
    entry.kind = kind;
    entry.object_id = po->obj->id;
    entry.parent_id = po->obj->parent_id;
    entry.transition = (char *)"wipe";
    entry.message = (char *)"released by crio wipe";
    entry.n_released = n_released;
    entry.released = (store_resource **)released;
    store_log_append(txn, &entry);
  }
  if (store_txn_commit(steal_pointer(&txn), err) < 0)
    return crio_error_prefix(err, "record the wipe of %s", po->obj ? po->obj->id : po->live->id);
  return 0;
}

/* A pod whose container could not be wiped keeps everything: its
 * container may still run in its namespaces. */
static bool pod_blocked(const struct plan *plan, const char *pod_id, const bool *failed_objects) {
  for (size_t i = 0; i < plan->n_objects; i++) {
    const struct plan_object *po = &plan->objects[i];
    if (!failed_objects[i] || po->kind != STORE_KIND_CONTAINER)
      continue;
    const char *parent = po->obj && po->obj->parent_id[0] ? po->obj->parent_id
                         : po->live                       ? po->live->parent_id
                                                          : "";
    if (strcmp(parent, pod_id) == 0)
      return true;
  }
  return false;
}

static int execute(struct store *store, const struct plan *plan,
                   const struct recovery_wipe_options *options, struct recovery_wipe_report *report,
                   crio_error_t *err) {
  cleanup_free bool *failed_objects = xcalloc(plan->n_objects + 1, sizeof(bool));
  size_t objects_touched = 0;
  for (size_t i = 0; i < plan->n_objects; i++) {
    const struct plan_object *po = &plan->objects[i];
    uint32_t kind = po->kind;
    if (kind == STORE_KIND_POD && pod_blocked(plan, id_of(po), failed_objects)) {
      failed_objects[i] = true;
      report->records_kept += po->live != NULL;
      recovery_wipe_say(options, "kept %s/%s: one of its containers could not be wiped",
                        kind_of(po), id_of(po));
      continue;
    }
    cleanup_free store_resource **released = xcalloc(po->n_steps + 1, sizeof(*released));
    size_t n_released = 0;
    bool failed = false;
    for (size_t j = 0; j < po->n_steps && !failed; j++) {
      const struct plan_step *s = &po->steps[j];
      if (s->fate == FATE_UNKNOWN) {
        report->unknown++;
        recovery_wipe_say(options, "left %s/%s %s %s: unknown resource type", kind_of(po),
                          id_of(po), s->res->type, s->res->id);
        continue;
      }
      if (s->fate == FATE_SHARED) {
        report->shared++;
        recovery_wipe_say(options, "kept %s/%s %s %s: still held by image %s", kind_of(po),
                          id_of(po), s->res->type, s->res->id, s->kept_by);
        continue;
      }
      report->planned++;
      cleanup_error crio_error_t release_err = NULL;
      if (s->type->release(&options->env, id_of(po), s->res, &release_err) < 0) {
        /* Later steps depend on this one (a netns is unpinned only after
         * its CNI DEL): stop here; the next wipe resumes. */
        failed = true;
        report->failed++;
        recovery_wipe_say(options, "failed %s/%s %s %s: %s", kind_of(po), id_of(po), s->res->type,
                          s->res->id, crio_error_message(&release_err));
        continue;
      }
      report->released++;
      released[n_released++] = (store_resource *)s->res;
      recovery_wipe_say(options, "released %s/%s %s %s", kind_of(po), id_of(po), s->res->type,
                        s->res->id);
    }
    failed_objects[i] = failed;
    bool deleted = false;
    if (commit_object(store, po, kind, released, n_released, failed, &deleted, err) < 0)
      return -1;
    objects_touched += n_released > 0 || deleted;
    if (deleted) {
      if (kind == STORE_KIND_POD)
        report->pods_deleted++;
      else if (kind == STORE_KIND_IMAGE)
        report->images_deleted++;
      else
        report->containers_deleted++;
      recovery_wipe_say(options, "deleted %s/%s record %s", kind_of(po), id_of(po),
                        po->live->name[0] ? po->live->name : "-");
    } else if (po->live) {
      report->records_kept++;
    }
  }
  if (objects_touched == 0)
    return 0;
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(store, STORE_TXN_WRITE, &txn, err) < 0)
    return -1;
  cleanup_free char *note = xasprintf(
      "crio wipe: released %zu resource(s) of %zu object(s); deleted %zu pod, %zu container "
      "and %zu image record(s); %zu failed, %zu of unknown types left",
      report->released, objects_touched, report->pods_deleted, report->containers_deleted,
      report->images_deleted, report->failed, report->unknown);
  store_log_note(txn, note);
  return store_txn_commit(steal_pointer(&txn), err);
}

/* ---- entry points ------------------------------------------------------------------------- */

int recovery_lock_state_dir(const char *root, int *fd_out, crio_error_t *err) {
  cleanup_free char *path = xasprintf("%s/crio.lock", root);
  cleanup_error crio_error_t lock_err = NULL;
  if (crio_lock_file_try(path, fd_out, &lock_err) == 0)
    return 0;
  if (crio_error_status(&lock_err) == EBUSY)
    return crio_error(err, EBUSY, "crio is running; stop it first (%s is locked)", path);
  return crio_error(err, crio_error_status(&lock_err), "%s", crio_error_message(&lock_err));
}

int recovery_wipe(const struct recovery_wipe_options *options, struct recovery_wipe_report *report,
                  crio_error_t *err) {
  memset(report, 0, sizeof(*report));
  const char *root = options->env.root;
  if (root == NULL || root[0] != '/')
    return crio_error(err, EINVAL, "wipe: the state dir must be an absolute path");
  struct stat st;
  bool have_root = stat(root, &st) == 0;
  if (!have_root) {
    if (errno != ENOENT)
      return crio_error_errno(err, errno, "wipe: %s", root);
    if (!options->from_host) {
      recovery_wipe_say(options, "# no state dir %s: nothing to wipe", root);
      return 0;
    }
  }
  /* Without a state dir no daemon can hold its lock (--from-host only). */
  cleanup_close int lock = -1;
  if (have_root && recovery_lock_state_dir(root, &lock, err) < 0)
    return -1;
  if (options->from_host)
    return recovery_wipe_from_host(options, report, err);

  cleanup_free char *db_dir = xasprintf("%s/db", root);
  cleanup_free char *data = xasprintf("%s/data.mdb", db_dir);
  if (stat(data, &st) < 0) {
    if (errno != ENOENT)
      return crio_error_errno(err, errno, "wipe: %s", data);
    recovery_wipe_say(options,
                      "# no database at %s: nothing in a log to wipe (crio wipe --from-host "
                      "releases what the run dir shows)",
                      db_dir);
    return 0;
  }
  if (recovery_db_check(db_dir, err) < 0) {
    if (crio_error_status(err) != EUCLEAN)
      return -1;
    cleanup_free char *why = xstrdup(crio_error_message(err));
    cleanup_free char *msg = recovery_db_damaged_message(db_dir, why);
    crio_error_release(err);
    return crio_error(err, EUCLEAN, "%s; crio wipe --from-host works without it", msg);
  }
  recovery_db_fault_guard(db_dir);
  struct store_options store_options = {.dir = db_dir, .read_only = options->dry_run};
  cleanup_store struct store *store = NULL;
  if (store_open(&store_options, &store, err) < 0)
    return crio_error_prefix(err, "wipe");

  __attribute__((cleanup(plan_release))) struct plan plan = {0};
  recovery_ledger_init(&plan.ledger);
  if (read_state(store, &plan, err) < 0) {
    if (crio_error_status(err) != EUCLEAN)
      return crio_error_prefix(err, "wipe");
    cleanup_free char *why = xstrdup(crio_error_message(err));
    cleanup_free char *msg = recovery_db_damaged_message(db_dir, why);
    crio_error_release(err);
    return crio_error(err, EUCLEAN, "%s; crio wipe --from-host works without it", msg);
  }
  plan_build(&plan, options);
  if (options->dry_run) {
    print_plan(&plan, options, report);
    recovery_wipe_say(options,
                      "# dry run: %zu resource(s) to release, %zu pod, %zu container and %zu "
                      "image record(s) to delete, %zu left (unknown type), %zu kept (held by "
                      "images)",
                      report->planned, report->pods_deleted, report->containers_deleted,
                      report->images_deleted, report->unknown, report->shared);
    return 0;
  }
  if (execute(store, &plan, options, report, err) < 0)
    return crio_error_prefix(err, "wipe");
  recovery_release_pin_dirs(options->env.runroot);
  recovery_wipe_say(options,
                    "# wipe: released %zu of %zu resource(s), deleted %zu pod, %zu container and "
                    "%zu image record(s); %zu failed, %zu left (unknown type), %zu kept (held by "
                    "images)",
                    report->released, report->planned, report->pods_deleted,
                    report->containers_deleted, report->images_deleted, report->failed,
                    report->unknown, report->shared);
  if (report->failed > 0)
    return crio_error(err, EAGAIN,
                      "wipe: %zu resource(s) could not be released (see above); they stay in the "
                      "log, run crio wipe again once the cause is fixed",
                      report->failed);
  return 0;
}
