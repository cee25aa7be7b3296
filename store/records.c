/* Object records: encoding (protobuf ObjectRecord), the per-kind dbs
 * (id -> record), the pod_containers index and id prefix resolution. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

const char *store_kind_name(enum store_kind kind) {
  switch (kind) {
  case STORE_KIND_POD:
    return "pod";
  case STORE_KIND_CONTAINER:
    return "container";
  case STORE_KIND_IMAGE:
    return "image";
  }
  return "unknown";
}

static bool kind_db(uint32_t kind, enum store_db *db) {
  switch (kind) {
  case STORE_KIND_POD:
    *db = STORE_DB_PODS;
    return true;
  case STORE_KIND_CONTAINER:
    *db = STORE_DB_CONTAINERS;
    return true;
  case STORE_KIND_IMAGE:
    *db = STORE_DB_IMAGES;
    return true;
  }
  return false;
}

int store_kind_db(struct store_txn *txn, uint32_t kind, enum store_db *db) {
  if (store_txn_failed(txn))
    return -1;
  if (!kind_db(kind, db))
    return store_txn_fail(txn, EINVAL, "unknown record kind %u", kind);
  return 0;
}

/* ---- memory ------------------------------------------------------------------ */
/* Records are freed with protobuf-c's free_unpacked and the system
 * allocator, whether they were decoded or built by store_record_new(), so
 * every field a caller sets must be malloc'd (see store_string_set()). */
void store_record_free(store_record *rec) {
  if (rec)
    crio__store__object_record__free_unpacked(rec, NULL);
}

void store_record_freep(store_record **rec) {
  store_record_free(*rec);
  *rec = NULL;
}

void store_string_set(char **field, const char *value) {
  if (*field && *field != protobuf_c_empty_string)
    free(*field);
  *field = (value && value[0]) ? xstrdup(value) : (char *)protobuf_c_empty_string;
}

store_record *store_record_new(enum store_kind kind, const char *id) {
  store_record *rec = xmalloc(sizeof(*rec));
  crio__store__object_record__init(rec);
  rec->schema_version = STORE_SCHEMA_VERSION;
  rec->kind = kind;
  store_string_set(&rec->id, id);
  rec->created_at = rec->updated_at = crio_now_ns();
  switch (kind) {
  case STORE_KIND_POD:
    rec->body_case = CRIO__STORE__OBJECT_RECORD__BODY_POD;
    rec->pod = xmalloc(sizeof(*rec->pod));
    crio__store__pod_sandbox_body__init(rec->pod);
    break;
  case STORE_KIND_CONTAINER:
    rec->body_case = CRIO__STORE__OBJECT_RECORD__BODY_CONTAINER;
    rec->container = xmalloc(sizeof(*rec->container));
    crio__store__container_body__init(rec->container);
    break;
  case STORE_KIND_IMAGE:
    rec->body_case = CRIO__STORE__OBJECT_RECORD__BODY_IMAGE;
    rec->image = xmalloc(sizeof(*rec->image));
    crio__store__image_body__init(rec->image);
    break;
  }
  return rec;
}

store_resource *store_resource_new(const char *type, const char *id, const void *detail,
                                   size_t detail_len) {
  store_resource *res = xmalloc(sizeof(*res));
  crio__store__resource__init(res);
  store_string_set(&res->type, type);
  store_string_set(&res->id, id);
  if (detail && detail_len) {
    res->detail.data = xmemdup(detail, detail_len);
    res->detail.len = detail_len;
  }
  return res;
}

void store_resource_free(store_resource *res) {
  if (res)
    crio__store__resource__free_unpacked(res, NULL);
}

store_resource *store_resource_copy(const store_resource *res) {
  return store_resource_new(res->type, res->id, res->detail.data, res->detail.len);
}

bool store_resource_same(const store_resource *a, const store_resource *b) {
  return strcmp(a->type, b->type) == 0 && strcmp(a->id, b->id) == 0;
}

/* ---- reading and writing --------------------------------------------------- */
int store_record_check(struct store_txn *txn, const store_record *rec, const char *what) {
  enum store_db db = STORE_DB_PODS; /* set by store_kind_db; -O3 cannot tell */
  if (store_txn_failed(txn))
    return -1;
  if (rec == NULL)
    return store_txn_fail(txn, EINVAL, "%s: no record", what);
  if (!kind_db(rec->kind, &db))
    return store_txn_fail(txn, EINVAL, "%s %s: unknown record kind %u", what,
                          rec->id ? rec->id : "", rec->kind);
  if (rec->id == NULL || rec->id[0] == '\0')
    return store_txn_fail(txn, EINVAL, "%s %s: record without an id", what,
                          store_kind_name(rec->kind));
  return store_check_key_len(txn, strlen(rec->id), what);
}

static char *pod_index_key(const store_record *rec, size_t *key_len) {
  return store_pair_key(rec->parent_id, rec->id, strlen(rec->id), key_len);
}

static bool indexed_under_pod(const store_record *rec) {
  return rec->kind == STORE_KIND_CONTAINER && rec->parent_id && rec->parent_id[0] != '\0';
}

int store_record_write(struct store_txn *txn, store_record *rec, unsigned flags) {
  enum store_db db = STORE_DB_PODS; /* set by store_kind_db; -O3 cannot tell */
  if (store_record_check(txn, rec, "write record") < 0 || store_kind_db(txn, rec->kind, &db) < 0)
    return -1;
  rec->schema_version = STORE_SCHEMA_VERSION;
  rec->generation++;
  rec->updated_at = crio_now_ns();
  size_t len = protobuf_c_message_get_packed_size(&rec->base);
  cleanup_free uint8_t *buf = xmalloc(len ? len : 1);
  protobuf_c_message_pack(&rec->base, buf);
  if (store_db_put(txn, db, rec->id, strlen(rec->id), buf, len, flags) < 0)
    return -1;
  /* Writing the index entry on every write (not only at create) keeps it
   * right for records written with store_record_put() too; a pod never
   * changes, so there is no stale entry to remove. */
  if (indexed_under_pod(rec)) {
    size_t key_len = 0;
    cleanup_free char *key = pod_index_key(rec, &key_len);
    if (store_check_key_len(txn, key_len, "pod_containers") < 0 ||
        store_db_put(txn, STORE_DB_POD_CONTAINERS, key, key_len, "", 0, 0) < 0)
      return -1;
  }
  return 0;
}

void store_record_put(struct store_txn *txn, store_record *rec) {
  store_record_write(txn, rec, 0);
}

/* Deletes the record and its pod_containers entry (lifecycle.c's
 * store_delete does the name and the log). */
int store_record_erase(struct store_txn *txn, const store_record *rec) {
  enum store_db db = STORE_DB_PODS; /* set by store_kind_db; -O3 cannot tell */
  if (store_kind_db(txn, rec->kind, &db) < 0)
    return -1;
  int found = store_db_del(txn, db, rec->id, strlen(rec->id));
  if (found < 0)
    return -1;
  if (found == STORE_ABSENT)
    return store_txn_fail(txn, ENOENT, "delete %s %s: no such record", store_kind_name(rec->kind),
                          rec->id);
  if (indexed_under_pod(rec)) {
    size_t key_len = 0;
    cleanup_free char *key = pod_index_key(rec, &key_len);
    if (store_db_del(txn, STORE_DB_POD_CONTAINERS, key, key_len) < 0)
      return -1;
  }
  return 0;
}

static store_record *decode(struct store_txn *txn, enum store_kind kind, const MDB_val *key,
                            const MDB_val *val) {
  store_record *rec = crio__store__object_record__unpack(NULL, val->mv_size, val->mv_data);
  if (rec && !store_protobuf_repackable(&rec->base)) {
    store_record_free(rec);
    rec = NULL;
  }
  if (rec == NULL) {
    cleanup_free char *id = xstrndup(key->mv_data, key->mv_size);
    store_txn_fail(txn, EUCLEAN, "%s %s: record does not decode (the database is damaged)",
                   store_kind_name(kind), id);
  }
  return rec;
}

int store_record_get(struct store_txn *txn, enum store_kind kind, const char *id,
                     store_record **out, crio_error_t *err) {
  enum store_db db = STORE_DB_PODS; /* set by store_kind_db; -O3 cannot tell */
  if (store_txn_check(txn, err) < 0)
    return -1;
  if (!kind_db(kind, &db))
    return crio_error(err, EINVAL, "unknown record kind %d", (int)kind);
  size_t len = strlen(id);
  /* An id no key could have is simply absent, not a failure of the txn. */
  if (len == 0 || len > (size_t)mdb_env_get_maxkeysize(txn->store->env))
    return crio_error(err, ENOENT, "%s %s not found", store_kind_name(kind), id);
  MDB_val key = {.mv_size = len, .mv_data = (void *)id}, val;
  int found = store_db_get(txn, db, id, len, &val);
  if (found < 0)
    return store_txn_check(txn, err);
  if (found == STORE_ABSENT)
    return crio_error(err, ENOENT, "%s %s not found", store_kind_name(kind), id);
  store_record *rec = decode(txn, kind, &key, &val);
  if (rec == NULL)
    return store_txn_check(txn, err);
  *out = rec;
  return 0;
}

int store_record_foreach(struct store_txn *txn, enum store_kind kind, store_record_visit_fn visit,
                         void *data, crio_error_t *err) {
  enum store_db db = STORE_DB_PODS; /* set by store_kind_db; -O3 cannot tell */
  if (store_txn_check(txn, err) < 0)
    return -1;
  if (!kind_db(kind, &db))
    return crio_error(err, EINVAL, "unknown record kind %d", (int)kind);
  cleanup_mdb_cursor MDB_cursor *cursor = store_db_cursor(txn, db);
  if (cursor == NULL)
    return store_txn_check(txn, err);
  MDB_val key, val;
  MDB_cursor_op op = MDB_FIRST;
  int found;
  while ((found = store_cursor_get(txn, cursor, db, &key, &val, op)) == STORE_FOUND) {
    op = MDB_NEXT;
    cleanup_store_record store_record *rec = decode(txn, kind, &key, &val);
    if (rec == NULL)
      break;
    int ret = visit(rec, data);
    if (ret != 0)
      return ret;
  }
  return store_txn_check(txn, err);
}

int store_pod_container_ids(struct store_txn *txn, const char *pod_id, char ***ids_out,
                            size_t *n_out, crio_error_t *err) {
  if (store_txn_check(txn, err) < 0)
    return -1;
  size_t prefix_len = 0;
  cleanup_free char *prefix = store_pair_key(pod_id, NULL, 0, &prefix_len);
  cleanup_strv char **ids = xcalloc(1, sizeof(char *));
  size_t n = 0;
  cleanup_mdb_cursor MDB_cursor *cursor = store_db_cursor(txn, STORE_DB_POD_CONTAINERS);
  if (cursor != NULL) {
    MDB_val key = {.mv_size = prefix_len, .mv_data = prefix}, val;
    MDB_cursor_op op = MDB_SET_RANGE;
    while (store_cursor_get(txn, cursor, STORE_DB_POD_CONTAINERS, &key, &val, op) == STORE_FOUND &&
           store_key_has_prefix(&key, prefix, prefix_len)) {
      op = MDB_NEXT;
      ids = xrealloc(ids, (n + 2) * sizeof(char *));
      ids[n++] = xstrndup((char *)key.mv_data + prefix_len, key.mv_size - prefix_len);
      ids[n] = NULL;
    }
  }
  if (store_txn_check(txn, err) < 0)
    return -1;
  *ids_out = steal_pointer(&ids);
  if (n_out)
    *n_out = n;
  return 0;
}

int store_record_resolve_prefix(struct store_txn *txn, enum store_kind kind, const char *prefix,
                                char **id_out, crio_error_t *err) {
  enum store_db db = STORE_DB_PODS; /* set by store_kind_db; -O3 cannot tell */
  if (store_txn_check(txn, err) < 0)
    return -1;
  if (!kind_db(kind, &db))
    return crio_error(err, EINVAL, "unknown record kind %d", (int)kind);
  size_t len = strlen(prefix);
  if (len == 0)
    return crio_error(err, EINVAL, "empty %s id", store_kind_name(kind));
  if (len > (size_t)mdb_env_get_maxkeysize(txn->store->env))
    return crio_error(err, ENOENT, "no %s with id %s", store_kind_name(kind), prefix);
  cleanup_mdb_cursor MDB_cursor *cursor = store_db_cursor(txn, db);
  if (cursor == NULL && store_txn_failed(txn))
    return store_txn_check(txn, err);
  MDB_val key = {.mv_size = len, .mv_data = (void *)prefix}, val;
  int found = cursor ? store_cursor_get(txn, cursor, db, &key, &val, MDB_SET_RANGE) : STORE_ABSENT;
  if (found < 0)
    return store_txn_check(txn, err);
  if (found == STORE_ABSENT || !store_key_has_prefix(&key, prefix, len))
    return crio_error(err, ENOENT, "no %s with id %s", store_kind_name(kind), prefix);
  cleanup_free char *id = xstrndup(key.mv_data, key.mv_size);
  /* SET_RANGE lands on the smallest key >= prefix, so an exact match comes
   * first and wins even when longer ids share it as a prefix. */
  if (key.mv_size != len) {
    found = store_cursor_get(txn, cursor, db, &key, &val, MDB_NEXT);
    if (found < 0)
      return store_txn_check(txn, err);
    if (found == STORE_FOUND && store_key_has_prefix(&key, prefix, len))
      return crio_error(err, EINVAL, "%s id prefix %s is ambiguous", store_kind_name(kind), prefix);
  }
  *id_out = steal_pointer(&id);
  return 0;
}
