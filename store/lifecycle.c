/* The lifecycle calls: each changes a record and appends the log entry
 * that says so, in the caller's txn.  That pairing is the central
 * invariant of the project: after any commit the log tells exactly what
 * happened to every record and which host resources may exist.  So each
 * call appends first (to learn the seq the record points at) and writes
 * the record second; if either fails, the sticky error makes the commit
 * drop both. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

/* The entry's strings and resource arrays are borrowed from the record and
 * the caller: the entry lives on the stack and is only packed, never
 * freed, so nothing is copied. */
static store_log_entry entry_for(const store_record *rec, Crio__Store__LogEntry__Type type) {
  store_log_entry entry = CRIO__STORE__LOG_ENTRY__INIT;
  entry.type = type;
  entry.kind = rec->kind;
  entry.object_id = rec->id;
  entry.parent_id = rec->parent_id;
  entry.from_state = rec->state;
  entry.to_state = rec->state;
  entry.goal = rec->goal;
  return entry;
}

static int check_resources(struct store_txn *txn, const store_record *rec,
                           store_resource *const *list, size_t n, const char *what) {
  if (n > 0 && list == NULL)
    return store_txn_fail(txn, EINVAL, "%s %s: %zu resources but no list",
                          store_kind_name(rec->kind), rec->id, n);
  for (size_t i = 0; i < n; i++) {
    if (list[i] == NULL || list[i]->type == NULL || list[i]->type[0] == '\0' ||
        list[i]->id == NULL || list[i]->id[0] == '\0')
      return store_txn_fail(txn, EINVAL, "%s %s: %s resource %zu lacks a type or an id",
                            store_kind_name(rec->kind), rec->id, what, i);
  }
  return 0;
}

/* Pods and containers own their name; an image's tags are several and move
 * between images on pull, so images/ manages them with the names calls. */
static bool record_name_space(const store_record *rec, enum store_name_space *ns) {
  if (rec->name == NULL || rec->name[0] == '\0')
    return false;
  if (rec->kind == STORE_KIND_POD)
    *ns = STORE_NAMES_POD;
  else if (rec->kind == STORE_KIND_CONTAINER)
    *ns = STORE_NAMES_CONTAINER;
  else
    return false;
  return true;
}

/* Appends the entry and points the record at it.  Each call appends
 * before it changes the record: the entry borrows from the record and
 * from the caller's lists, which may be the record's own list. */
static bool append(struct store_txn *txn, store_record *rec, store_log_entry *entry) {
  uint64_t seq = store_log_append(txn, entry);
  if (seq == 0)
    return false;
  rec->last_seq = seq;
  return true;
}

void store_create(struct store_txn *txn, store_record *rec) {
  enum store_db db = STORE_DB_PODS; /* set by store_kind_db; -O3 cannot tell */
  enum store_name_space ns;
  MDB_val val;
  if (store_record_check(txn, rec, "create") < 0 || store_kind_db(txn, rec->kind, &db) < 0)
    return;
  int found = store_db_get(txn, db, rec->id, strlen(rec->id), &val);
  if (found < 0)
    return;
  if (found == STORE_FOUND) {
    store_txn_fail(txn, EEXIST, "create %s %s: it already exists", store_kind_name(rec->kind),
                   rec->id);
    return;
  }
  if (record_name_space(rec, &ns))
    store_name_reserve(txn, ns, rec->name, rec->id);

  store_log_entry entry = entry_for(rec, CRIO__STORE__LOG_ENTRY__TYPE__CREATE);
  /* from_state 0: the object did not exist.  Resources a record is created
   * with (an image's layers, say) are logged as acquired like any other. */
  entry.from_state = 0;
  entry.n_acquired = rec->n_resources;
  entry.acquired = rec->resources;
  if (append(txn, rec, &entry))
    store_record_write(txn, rec, 0);
}

void store_set_goal(struct store_txn *txn, store_record *rec, uint32_t goal, const char *message) {
  if (store_record_check(txn, rec, "set goal") < 0)
    return;
  store_log_entry entry = entry_for(rec, CRIO__STORE__LOG_ENTRY__TYPE__GOAL);
  entry.goal = goal;
  entry.message = (char *)(message ? message : "");
  if (!append(txn, rec, &entry))
    return;
  rec->goal = goal;
  store_record_write(txn, rec, 0);
}

void store_set_resources_update(struct store_txn *txn, store_record *rec, const void *data,
                                size_t len, const char *message) {
  if (store_record_check(txn, rec, "set resources") < 0)
    return;
  store_log_entry entry = entry_for(rec, CRIO__STORE__LOG_ENTRY__TYPE__GOAL);
  entry.message = (char *)(message ? message : "");
  if (!append(txn, rec, &entry))
    return;
  free(rec->resources_update.data);
  rec->resources_update.data = len ? xmemdup(data, len) : NULL;
  rec->resources_update.len = len;
  store_record_write(txn, rec, 0);
}

void store_log_operation(struct store_txn *txn, store_record *rec, const char *op,
                         const char *message) {
  if (store_record_check(txn, rec, "log operation") < 0)
    return;
  store_log_entry entry = entry_for(rec, CRIO__STORE__LOG_ENTRY__TYPE__OPERATION);
  entry.transition = (char *)op;
  entry.message = (char *)(message ? message : "");
  if (append(txn, rec, &entry))
    store_record_write(txn, rec, 0);
}

static const store_resource *find(const store_resource *res, store_resource *const *list,
                                  size_t n) {
  for (size_t i = 0; i < n; i++)
    if (store_resource_same(res, list[i]))
      return list[i];
  return NULL;
}

/* The record's resources after releasing `released` and then acquiring
 * `acquired` (the order compaction replays in).  Acquiring what is already
 * held (a step repeated after a crash) replaces it in place, so no
 * resource is held twice and the order stays stable.  The lists may alias
 * the record's own, so nothing is freed until every comparison and copy is
 * done. */
static void apply_resources(store_record *rec, store_resource *const *acquired, size_t n_acquired,
                            store_resource *const *released, size_t n_released) {
  store_resource **old = rec->resources;
  size_t n_old = rec->n_resources;
  cleanup_free bool *drop = xcalloc(n_old + 1, sizeof(*drop));
  store_resource **now = xcalloc(n_old + n_acquired + 1, sizeof(*now));
  size_t n_now = 0;
  for (size_t i = 0; i < n_old; i++) {
    const store_resource *again = find(old[i], acquired, n_acquired);
    drop[i] = again != NULL || find(old[i], released, n_released) != NULL;
    if (again)
      now[n_now++] = store_resource_copy(again);
    else if (!drop[i])
      now[n_now++] = old[i];
  }
  for (size_t i = 0; i < n_acquired; i++)
    if (find(acquired[i], now, n_now) == NULL)
      now[n_now++] = store_resource_copy(acquired[i]);
  for (size_t i = 0; i < n_old; i++)
    if (drop[i])
      store_resource_free(old[i]);
  free(old);
  rec->resources = now;
  rec->n_resources = n_now;
}

void store_transition(struct store_txn *txn, store_record *rec, uint32_t to_state,
                      const char *transition, store_resource *const *acquired, size_t n_acquired,
                      store_resource *const *released, size_t n_released) {
  if (store_record_check(txn, rec, "transition") < 0 ||
      check_resources(txn, rec, acquired, n_acquired, "acquired") < 0 ||
      check_resources(txn, rec, released, n_released, "released") < 0)
    return;
  store_log_entry entry = entry_for(rec, CRIO__STORE__LOG_ENTRY__TYPE__TRANSITION);
  entry.to_state = to_state;
  entry.transition = (char *)(transition ? transition : "");
  /* protobuf-c's repeated fields are not const, but packing only reads. */
  entry.n_acquired = n_acquired;
  entry.acquired = (store_resource **)acquired;
  entry.n_released = n_released;
  entry.released = (store_resource **)released;
  if (!append(txn, rec, &entry))
    return;
  rec->state = to_state;
  apply_resources(rec, acquired, n_acquired, released, n_released);
  rec->error_status = 0;
  store_string_set(&rec->error_message, NULL);
  store_record_write(txn, rec, 0);
}

void store_record_failure(struct store_txn *txn, store_record *rec, const char *transition,
                          int status, const char *message) {
  if (store_record_check(txn, rec, "record failure") < 0)
    return;
  store_log_entry entry = entry_for(rec, CRIO__STORE__LOG_ENTRY__TYPE__STEP_FAILED);
  entry.transition = (char *)(transition ? transition : "");
  entry.error_status = status;
  entry.message = (char *)(message ? message : "");
  if (!append(txn, rec, &entry))
    return;
  rec->error_status = status;
  store_string_set(&rec->error_message, message);
  store_record_write(txn, rec, 0);
}

void store_delete(struct store_txn *txn, store_record *rec, const char *transition,
                  store_resource *const *released, size_t n_released) {
  enum store_name_space ns;
  if (store_record_check(txn, rec, "delete") < 0 ||
      check_resources(txn, rec, released, n_released, "released") < 0)
    return;
  /* Deleting a pod first would leave its containers' records pointing at
   * nothing and hide them from the index; the reconciler removes a pod's
   * containers first (the same txn is fine). */
  if (rec->kind == STORE_KIND_POD) {
    cleanup_strv char **children = NULL;
    size_t n_children = 0;
    cleanup_error crio_error_t err = NULL;
    if (store_pod_container_ids(txn, rec->id, &children, &n_children, &err) < 0)
      return;
    if (n_children > 0) {
      store_txn_fail(txn, EBUSY, "delete pod %s: it still has %zu container(s); delete %s first",
                     rec->id, n_children, children[0]);
      return;
    }
  }
  store_log_entry entry = entry_for(rec, CRIO__STORE__LOG_ENTRY__TYPE__DELETE);
  /* to_state 0: the object no longer exists (CREATE's from_state is 0). */
  entry.to_state = 0;
  entry.transition = (char *)(transition ? transition : "");
  entry.n_released = n_released;
  entry.released = (store_resource **)released;
  if (!append(txn, rec, &entry))
    return;
  apply_resources(rec, NULL, 0, released, n_released);
  if (store_record_erase(txn, rec) < 0)
    return;
  if (record_name_space(rec, &ns))
    store_name_release_for(txn, ns, rec->name, rec->id);
  /* Not an error: the log keeps what was never released, so wipe can
   * still release it and compaction will not drop it; but it is a leak
   * until then, worth a line in the journal. */
  if (rec->n_resources > 0)
    log_warning("%s %s deleted while still holding %zu resource(s), first %s %s",
                store_kind_name(rec->kind), rec->id, rec->n_resources, rec->resources[0]->type,
                rec->resources[0]->id);
}

void store_log_note(struct store_txn *txn, const char *message) {
  store_log_entry entry = CRIO__STORE__LOG_ENTRY__INIT;
  entry.type = CRIO__STORE__LOG_ENTRY__TYPE__NOTE;
  entry.message = (char *)(message ? message : "");
  store_log_append(txn, &entry);
}
