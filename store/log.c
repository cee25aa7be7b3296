/* The state log: seq (big-endian u64) -> LogEntry, and its per-object
 * index log_objects: object id + '\0' + seq -> "", so that the history of
 * one object is a prefix walk in seq order. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

void store_log_entry_free(store_log_entry *entry) {
  if (entry)
    crio__store__log_entry__free_unpacked(entry, NULL);
}

void store_log_entry_freep(store_log_entry **entry) {
  store_log_entry_free(*entry);
  *entry = NULL;
}

store_log_entry *store_log_decode(struct store_txn *txn, const MDB_val *val, uint64_t seq) {
  store_log_entry *entry = crio__store__log_entry__unpack(NULL, val->mv_size, val->mv_data);
  if (entry && !store_protobuf_repackable(&entry->base)) {
    store_log_entry_free(entry);
    entry = NULL;
  }
  if (entry == NULL)
    store_txn_fail(txn, EUCLEAN, "log entry %llu does not decode (the database is damaged)",
                   (unsigned long long)seq);
  return entry;
}

/* The newest seq ever assigned.  meta log_seq is the authority, because
 * compaction may drop the newest entries and a seq must never be handed
 * out twice (readers follow the log by seq); the last key is consulted too
 * so that a log written without log_seq can never repeat a seq either. */
static int load_last_seq(struct store_txn *txn) {
  if (txn->seq_loaded)
    return 0;
  uint64_t meta_seq = 0, key_seq = 0;
  if (store_meta_get_u64(txn, STORE_META_LOG_SEQ, &meta_seq) < 0)
    return -1;
  cleanup_mdb_cursor MDB_cursor *cursor = store_db_cursor(txn, STORE_DB_LOG);
  if (cursor) {
    MDB_val key, val;
    int found = store_cursor_get(txn, cursor, STORE_DB_LOG, &key, &val, MDB_LAST);
    if (found < 0)
      return -1;
    if (found == STORE_FOUND && key.mv_size == 8)
      key_seq = store_be64_get(key.mv_data);
  }
  if (store_txn_failed(txn))
    return -1;
  txn->last_seq = meta_seq > key_seq ? meta_seq : key_seq;
  txn->seq_loaded = true;
  return 0;
}

uint64_t store_log_append(struct store_txn *txn, store_log_entry *entry) {
  if (store_txn_failed(txn))
    return 0;
  if (!txn->write) {
    store_txn_fail(txn, EROFS, "append to the log in a read transaction");
    return 0;
  }
  if (load_last_seq(txn) < 0)
    return 0;
  uint64_t seq = txn->last_seq + 1;
  entry->seq = seq;
  entry->time = crio_now_ns();

  uint8_t key[8];
  store_be64_put(key, seq);
  size_t len = protobuf_c_message_get_packed_size(&entry->base);
  cleanup_free uint8_t *buf = xmalloc(len ? len : 1);
  protobuf_c_message_pack(&entry->base, buf);
  /* MDB_APPEND: seqs only grow, and LMDB then checks that they do
   * (MDB_KEYEXIST otherwise) while skipping the search. */
  if (store_db_put(txn, STORE_DB_LOG, key, sizeof(key), buf, len, MDB_APPEND) < 0)
    return 0;
  if (entry->object_id && entry->object_id[0] != '\0') {
    size_t index_len = 0;
    cleanup_free char *index_key = store_pair_key(entry->object_id, key, sizeof(key), &index_len);
    if (store_check_key_len(txn, index_len, "log_objects") < 0 ||
        store_db_put(txn, STORE_DB_LOG_OBJECTS, index_key, index_len, "", 0, 0) < 0)
      return 0;
  }
  store_meta_put_u64(txn, STORE_META_LOG_SEQ, seq);
  if (store_txn_failed(txn))
    return 0;
  txn->last_seq = seq;
  txn->log_appended = true;
  return seq;
}

uint64_t store_log_last_seq(struct store_txn *txn) {
  if (load_last_seq(txn) < 0)
    return 0;
  return txn->last_seq;
}

uint64_t store_log_first_seq(struct store_txn *txn) {
  cleanup_mdb_cursor MDB_cursor *cursor = store_db_cursor(txn, STORE_DB_LOG);
  if (cursor == NULL)
    return 0;
  MDB_val key, val;
  if (store_cursor_get(txn, cursor, STORE_DB_LOG, &key, &val, MDB_FIRST) != STORE_FOUND ||
      key.mv_size != 8)
    return 0;
  return store_be64_get(key.mv_data);
}

uint64_t store_log_count(struct store_txn *txn) {
  int64_t n = store_db_entries(txn, STORE_DB_LOG);
  return n < 0 ? 0 : (uint64_t)n;
}

static int bad_key(struct store_txn *txn, enum store_db db) {
  return store_txn_fail(txn, EUCLEAN, "%s holds a malformed key (the database is damaged)",
                        store_db_name(db));
}

int store_log_foreach(struct store_txn *txn, uint64_t since, store_log_visit_fn visit, void *data,
                      crio_error_t *err) {
  if (store_txn_check(txn, err) < 0)
    return -1;
  if (since == UINT64_MAX)
    return 0;
  cleanup_mdb_cursor MDB_cursor *cursor = store_db_cursor(txn, STORE_DB_LOG);
  if (cursor == NULL)
    return store_txn_check(txn, err);
  uint8_t start[8];
  store_be64_put(start, since + 1);
  MDB_val key = {.mv_size = sizeof(start), .mv_data = start}, val;
  MDB_cursor_op op = MDB_SET_RANGE;
  while (store_cursor_get(txn, cursor, STORE_DB_LOG, &key, &val, op) == STORE_FOUND) {
    op = MDB_NEXT;
    if (key.mv_size != 8) {
      bad_key(txn, STORE_DB_LOG);
      break;
    }
    cleanup_store_log_entry store_log_entry *entry =
        store_log_decode(txn, &val, store_be64_get(key.mv_data));
    if (entry == NULL)
      break;
    int ret = visit(entry, data);
    if (ret != 0)
      return ret;
  }
  return store_txn_check(txn, err);
}

int store_log_foreach_object(struct store_txn *txn, const char *object_id, store_log_visit_fn visit,
                             void *data, crio_error_t *err) {
  if (store_txn_check(txn, err) < 0)
    return -1;
  size_t prefix_len = 0;
  cleanup_free char *prefix = store_pair_key(object_id, NULL, 0, &prefix_len);
  cleanup_mdb_cursor MDB_cursor *cursor = store_db_cursor(txn, STORE_DB_LOG_OBJECTS);
  if (cursor == NULL)
    return store_txn_check(txn, err);
  MDB_val key = {.mv_size = prefix_len, .mv_data = prefix}, val;
  MDB_cursor_op op = MDB_SET_RANGE;
  while (store_cursor_get(txn, cursor, STORE_DB_LOG_OBJECTS, &key, &val, op) == STORE_FOUND &&
         store_key_has_prefix(&key, prefix, prefix_len)) {
    op = MDB_NEXT;
    if (key.mv_size != prefix_len + 8) {
      bad_key(txn, STORE_DB_LOG_OBJECTS);
      break;
    }
    const uint8_t *seq_key = (const uint8_t *)key.mv_data + prefix_len;
    uint64_t seq = store_be64_get(seq_key);
    MDB_val entry_val;
    int found = store_db_get(txn, STORE_DB_LOG, seq_key, 8, &entry_val);
    if (found < 0)
      break;
    if (found == STORE_ABSENT) {
      store_txn_fail(txn, EUCLEAN,
                     "log_objects names entry %llu of %s, which is missing "
                     "(the database is damaged)",
                     (unsigned long long)seq, object_id);
      break;
    }
    cleanup_store_log_entry store_log_entry *entry = store_log_decode(txn, &entry_val, seq);
    if (entry == NULL)
      break;
    int ret = visit(entry, data);
    if (ret != 0)
      return ret;
  }
  return store_txn_check(txn, err);
}
