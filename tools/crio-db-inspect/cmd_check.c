/* check: does the database agree with itself?  Records against the state
 * log (the log must explain every record's state and resources), the name
 * index against the records, containers against their pods.  One line per
 * problem; exit status 1 if there is any.  Records and log are read in one
 * read transaction, so a daemon writing meanwhile cannot make them
 * disagree; the host is not looked at (that is `orphans`). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "statemachine/statemachine.h"
#include "tools/crio-db-inspect/inspect.h"

struct problems {
  cJSON *list; /* [{object, problem}] */
  size_t n;
};

static void problem(struct problems *p, const char *object, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void problem(struct problems *p, const char *object, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cleanup_free char *msg = xvasprintf(fmt, ap);
  va_end(ap);
  cJSON *item = cJSON_CreateObject();
  cJSON_AddStringToObject(item, "object", object);
  cJSON_AddStringToObject(item, "problem", msg);
  cJSON_AddItemToArray(p->list, item);
  p->n++;
}

static char *object_name(uint32_t kind, const char *id) {
  const char *k = inspect_kind_name(kind);
  return xasprintf("%s/%s", k ? k : "object", id);
}

static const char *state_label(uint32_t kind, uint32_t state, char *buf, size_t size) {
  const char *name = inspect_state_name(kind, state);
  if (name)
    return name;
  snprintf(buf, size, "?%u", state);
  return buf;
}

static bool held_by_log(const struct recovery_object *obj, const store_resource *res) {
  for (size_t i = 0; obj && i < obj->n_held; i++)
    if (strcmp(obj->held[i].res->type, res->type) == 0 &&
        strcmp(obj->held[i].res->id, res->id) == 0)
      return true;
  return false;
}

static bool held_by_record(const store_record *rec, const store_resource *res) {
  for (size_t i = 0; i < rec->n_resources; i++)
    if (strcmp(rec->resources[i]->type, res->type) == 0 &&
        strcmp(rec->resources[i]->id, res->id) == 0)
      return true;
  return false;
}

/* The record against what the log says about its object. */
static void check_record_vs_log(const struct inspect_snapshot *s, const store_record *rec,
                                struct problems *p) {
  cleanup_free char *name = object_name(rec->kind, rec->id);
  char a[16], b[16];
  if (!sm_state_valid((enum sm_kind)rec->kind, rec->state))
    problem(p, name, "state %u is not a state of a %s", rec->state,
            inspect_kind_name(rec->kind) ? inspect_kind_name(rec->kind) : "record");
  if (!sm_state_valid((enum sm_kind)rec->kind, rec->goal))
    problem(p, name, "goal %u is not a state of a %s", rec->goal,
            inspect_kind_name(rec->kind) ? inspect_kind_name(rec->kind) : "record");
  const struct recovery_object *obj = recovery_ledger_find(&s->ledger, rec->id);
  if (obj == NULL) {
    problem(p, name, "the log has no entry for it");
    return;
  }
  if (obj->kind != rec->kind)
    problem(p, name, "the log says it is a %s",
            inspect_kind_name(obj->kind) ? inspect_kind_name(obj->kind) : "thing of unknown kind");
  if (obj->deleted)
    problem(p, name, "the log deleted it at seq %" PRIu64 ", yet the record exists",
            obj->state_seq);
  else if (obj->state_seq == 0)
    problem(p, name, "the log has no CREATE or TRANSITION for it");
  else if (obj->state != rec->state)
    problem(p, name,
            "record is in state %s, the log's last transition (seq %" PRIu64 ") left it in %s",
            state_label(rec->kind, rec->state, a, sizeof(a)), obj->state_seq,
            state_label(rec->kind, obj->state, b, sizeof(b)));
  if (rec->last_seq != obj->last_seq)
    problem(p, name, "record's last_seq is %" PRIu64 ", its newest log entry is %" PRIu64,
            rec->last_seq, obj->last_seq);
  for (size_t i = 0; i < rec->n_resources; i++)
    if (!held_by_log(obj, rec->resources[i]))
      problem(p, name, "record holds %s %s, which the log says is not held",
              rec->resources[i]->type, rec->resources[i]->id);
  for (size_t i = 0; i < obj->n_held; i++)
    if (!held_by_record(rec, obj->held[i].res))
      problem(p, name,
              "the log says it holds %s %s (acquired at seq %" PRIu64 "), the record does not",
              obj->held[i].res->type, obj->held[i].res->id, obj->held[i].seq);
}

/* Every log object without a record must end with a DELETE. */
static void check_log_objects(const struct inspect_snapshot *s, struct problems *p) {
  for (size_t i = 0; i < s->ledger.n_objects; i++) {
    const struct recovery_object *obj = &s->ledger.objects[i];
    if (obj->deleted || inspect_snapshot_find(s, obj->kind, obj->id))
      continue;
    cleanup_free char *name = object_name(obj->kind, obj->id);
    problem(p, name, "the log says it exists (last entry seq %" PRIu64 "), but it has no record",
            obj->last_seq);
  }
}

static const char *space_name(char ns) {
  switch (ns) {
  case STORE_NAMES_POD:
    return "pod";
  case STORE_NAMES_CONTAINER:
    return "container";
  default:
    return "image";
  }
}

static uint32_t space_kind(char ns) {
  switch (ns) {
  case STORE_NAMES_POD:
    return STORE_KIND_POD;
  case STORE_NAMES_CONTAINER:
    return STORE_KIND_CONTAINER;
  default:
    return STORE_KIND_IMAGE;
  }
}

static void check_names(const struct inspect_snapshot *s, struct problems *p) {
  for (size_t i = 0; i < s->n_names; i++) {
    const struct inspect_name *n = &s->names[i];
    cleanup_free char *label = xasprintf("name %s:%s", space_name(n->ns), n->name);
    const store_record *rec = inspect_snapshot_find(s, space_kind(n->ns), n->id);
    if (rec == NULL)
      problem(p, label, "points to %s %s, which has no record", space_name(n->ns), n->id);
    else if (n->ns != STORE_NAMES_IMAGE && strcmp(rec->name, n->name) != 0)
      problem(p, label, "points to %s %s, whose record is named \"%s\"", space_name(n->ns), n->id,
              rec->name);
  }
  for (size_t i = 0; i < s->n_records; i++) {
    const store_record *rec = s->records[i];
    if (rec->kind == STORE_KIND_IMAGE || rec->name == NULL || rec->name[0] == '\0')
      continue;
    char ns = rec->kind == STORE_KIND_POD ? STORE_NAMES_POD : STORE_NAMES_CONTAINER;
    const struct inspect_name *n = inspect_snapshot_name(s, ns, rec->name);
    cleanup_free char *name = object_name(rec->kind, rec->id);
    if (n == NULL)
      problem(p, name, "its name \"%s\" is not in the name index", rec->name);
    else if (strcmp(n->id, rec->id) != 0)
      problem(p, name, "its name \"%s\" is reserved for %s", rec->name, n->id);
  }
}

static bool strv_has(char *const *v, const char *s) {
  for (size_t i = 0; v && v[i]; i++)
    if (strcmp(v[i], s) == 0)
      return true;
  return false;
}

static void check_containers(const struct inspect_snapshot *s, struct problems *p) {
  for (size_t i = 0; i < s->n_records; i++) {
    const store_record *rec = s->records[i];
    cleanup_free char *name = object_name(rec->kind, rec->id);
    if (rec->kind == STORE_KIND_CONTAINER) {
      const char *pod_id = inspect_record_parent(rec);
      const store_record *pod = pod_id ? inspect_snapshot_find(s, STORE_KIND_POD, pod_id) : NULL;
      if (pod_id == NULL) {
        problem(p, name, "names no pod");
        continue;
      }
      if (pod == NULL) {
        problem(p, name, "its pod %s has no record", pod_id);
        continue;
      }
      ssize_t pod_index = inspect_snapshot_index(s, STORE_KIND_POD, pod_id);
      if (!strv_has(s->pod_children[pod_index], rec->id))
        problem(p, name, "is missing from pod %s's container index", pod_id);
    } else if (rec->kind == STORE_KIND_POD) {
      for (size_t j = 0; s->pod_children[i] && s->pod_children[i][j]; j++) {
        const char *cid = s->pod_children[i][j];
        const store_record *ctr = inspect_snapshot_find(s, STORE_KIND_CONTAINER, cid);
        if (ctr == NULL)
          problem(p, name, "its container index names %s, which has no record", cid);
        else if (inspect_record_parent(ctr) == NULL ||
                 strcmp(inspect_record_parent(ctr), rec->id) != 0)
          problem(p, name, "its container index names %s, which belongs to pod %s", cid,
                  inspect_record_parent(ctr) ? inspect_record_parent(ctr) : "(none)");
      }
    }
  }
}

static int cmd_check(struct inspect_ctx *ctx, int argc, char **argv, crio_error_t *err) {
  struct store *store = NULL;
  int ret = inspect_open_store_plain(ctx, argc, argv, &store, err);
  if (ret < 0)
    return ret;
  /* The file itself first.  A read txn held meanwhile keeps the daemon
   * from reusing the pages being walked, so a busy daemon cannot make a
   * whole file look damaged. */
  {
    cleanup_store_txn struct store_txn *pin = NULL;
    if (store_txn_begin(store, STORE_TXN_READ, &pin, err) < 0)
      return INSPECT_FAILED;
    if (recovery_db_check(ctx->db_dir, err) < 0) {
      if (crio_error_status(err) != EUCLEAN)
        return crio_error_prefix(err, "check");
      cleanup_free char *why = xstrdup(crio_error_message(err));
      cleanup_free char *msg = recovery_db_damaged_message(ctx->db_dir, why);
      crio_error_release(err);
      return crio_error(err, EUCLEAN, "%s", msg);
    }
  }
  __attribute__((cleanup(inspect_snapshot_release))) struct inspect_snapshot snap = {0};
  if (inspect_snapshot_read(store, &snap, err) < 0)
    return crio_error_prefix(err, "check");

  cleanup_cjson cJSON *list = cJSON_CreateArray();
  struct problems p = {.list = list};
  for (size_t i = 0; i < snap.n_records; i++)
    check_record_vs_log(&snap, snap.records[i], &p);
  check_log_objects(&snap, &p);
  check_names(&snap, &p);
  check_containers(&snap, &p);

  if (ctx->json) {
    cleanup_cjson cJSON *doc = cJSON_CreateObject();
    cJSON_AddBoolToObject(doc, "ok", p.n == 0);
    cJSON_AddNumberToObject(doc, "records", (double)snap.n_records);
    cJSON_AddNumberToObject(doc, "log_entries", (double)snap.ledger.n_entries);
    cJSON_AddItemToObject(doc, "problems", steal_pointer(&list));
    if (inspect_json_print(doc, true, stdout, err) < 0)
      return INSPECT_FAILED;
  } else {
    const cJSON *item;
    cJSON_ArrayForEach(item, list) {
      const char *object = cJSON_GetObjectItemCaseSensitive(item, "object")->valuestring;
      const char *what = cJSON_GetObjectItemCaseSensitive(item, "problem")->valuestring;
      printf("%s: %s\n", object, what);
    }
    if (p.n == 0)
      printf("ok: %zu record(s), %" PRIu64 " log entr%s, no problem found\n", snap.n_records,
             snap.ledger.n_entries, snap.ledger.n_entries == 1 ? "y" : "ies");
  }
  if (p.n > 0)
    return crio_error(err, EBADMSG, "check: %zu problem(s) found", p.n);
  return 0;
}

const struct inspect_command inspect_cmd_check = {
    .name = "check",
    .run = cmd_check,
    .args = "",
    .summary = "check records, names and the log against each other; exit 1 on any problem",
};
