/* Transactions with a sticky error (Knot DNS's model), the low-level
 * get/put/del/cursor primitives every other file uses, and the one place
 * where LMDB's return codes become errno-like statuses. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

/* ---- MDB codes -> ours ----------------------------------------------------- */
static const struct {
  int rc;
  int status;
  const char *meaning; /* what the caller or the operator should know */
} mdb_codes[] = {
    {MDB_KEYEXIST, EEXIST, NULL},
    {MDB_NOTFOUND, ENOENT, NULL},
    {MDB_PAGE_NOTFOUND, EUCLEAN, "the database is damaged"},
    {MDB_CORRUPTED, EUCLEAN, "the database is damaged"},
    {MDB_INVALID, EUCLEAN, "the database file is damaged or not LMDB"},
    {MDB_PANIC, EIO, "the environment is unusable until reopened"},
    {MDB_VERSION_MISMATCH, EPROTO, "written by an incompatible LMDB"},
    {MDB_INCOMPATIBLE, EPROTO, "database flags differ from this build's"},
    {MDB_MAP_FULL, ENOSPC, "the database is full; raise the map size"},
    {MDB_DBS_FULL, ENOSPC, "too many named databases"},
    {MDB_TXN_FULL, ENOSPC, "too many changes in one transaction"},
    {MDB_READERS_FULL, EAGAIN, "all reader slots are in use; raise max readers"},
    {MDB_TLS_FULL, EAGAIN, "too many threads hold read transactions"},
    {MDB_MAP_RESIZED, EAGAIN, "another process grew the map; reopen"},
    {MDB_CURSOR_FULL, EIO, "internal LMDB limit"},
    {MDB_PAGE_FULL, EIO, "internal LMDB limit"},
    {MDB_BAD_RSLOT, EINVAL, "reader slot misuse (a bug)"},
    {MDB_BAD_TXN, EINVAL, "transaction unusable after an earlier error"},
    {MDB_BAD_VALSIZE, EINVAL, "key or value too large"},
    {MDB_BAD_DBI, EINVAL, "stale database handle (a bug)"},
};

static int mdb_status(int rc, const char **meaning) {
  *meaning = NULL;
  for (size_t i = 0; i < sizeof(mdb_codes) / sizeof(mdb_codes[0]); i++) {
    if (mdb_codes[i].rc == rc) {
      *meaning = mdb_codes[i].meaning;
      return mdb_codes[i].status;
    }
  }
  /* Anything else LMDB returns is a plain errno from a syscall. */
  return rc > 0 ? rc : EIO;
}

static int error_mdb_v(crio_error_t *err, int rc, const char *fmt, va_list ap) {
  const char *meaning;
  int status = mdb_status(rc, &meaning);
  cleanup_free char *context = xvasprintf(fmt, ap);
  if (meaning)
    return crio_error(err, status, "%s: %s (%s)", context, mdb_strerror(rc), meaning);
  return crio_error(err, status, "%s: %s", context, mdb_strerror(rc));
}

int store_error_mdb(crio_error_t *err, int rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  error_mdb_v(err, rc, fmt, ap);
  va_end(ap);
  return -1;
}

int store_txn_fail_mdb(struct store_txn *txn, int rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  error_mdb_v(&txn->error, rc, fmt, ap);
  va_end(ap);
  return -1;
}

/* ---- transactions ------------------------------------------------------------ */
int store_txn_begin(struct store *store, enum store_txn_mode mode, struct store_txn **out,
                    crio_error_t *err) {
  bool write = mode == STORE_TXN_WRITE;
  if (write && store->read_only)
    return crio_error(err, EROFS, "write transaction on database %s opened read-only", store->dir);
  MDB_txn *mdb_txn = NULL;
  int rc = mdb_txn_begin(store->env, NULL, write ? 0 : MDB_RDONLY, &mdb_txn);
  if (rc != 0)
    return store_error_mdb(err, rc, "begin %s transaction on %s", write ? "write" : "read",
                           store->dir);
  struct store_txn *txn = xzalloc(sizeof(*txn));
  txn->store = store;
  txn->txn = mdb_txn;
  txn->write = write;
  *out = txn;
  return 0;
}

static void txn_free(struct store_txn *txn) {
  crio_error_release(&txn->error);
  free(txn);
}

int store_txn_check(struct store_txn *txn, crio_error_t *err) {
  if (txn->error == NULL)
    return 0;
  return crio_error(err, txn->error->status, "%s", txn->error->msg);
}

int store_txn_commit(struct store_txn *txn, crio_error_t *err) {
  if (txn == NULL)
    return crio_error(err, EINVAL, "commit of no transaction");
  if (txn->error != NULL) {
    store_txn_check(txn, err);
    store_txn_abort(txn);
    return -1;
  }
  /* A read txn has nothing to commit; ending it frees its reader slot. */
  if (!txn->write) {
    store_txn_abort(txn);
    return 0;
  }
  /* mdb_txn_commit frees the txn whether or not it succeeds. */
  int rc = mdb_txn_commit(txn->txn);
  txn->txn = NULL;
  struct store *store = txn->store;
  bool appended = txn->log_appended;
  uint64_t last_seq = txn->last_seq;
  txn_free(txn);
  if (rc != 0)
    return store_error_mdb(err, rc, "commit to %s", store->dir);
  if (appended)
    store_log_notify_commit(store, last_seq);
  return 0;
}

void store_txn_abort(struct store_txn *txn) {
  if (txn == NULL)
    return;
  if (txn->txn)
    mdb_txn_abort(txn->txn);
  txn_free(txn);
}

void store_txn_abortp(struct store_txn **txn) {
  store_txn_abort(*txn);
  *txn = NULL;
}

bool store_txn_failed(const struct store_txn *txn) {
  return txn == NULL || txn->error != NULL;
}

int store_txn_fail(struct store_txn *txn, int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cleanup_free char *msg = xvasprintf(fmt, ap);
  va_end(ap);
  return crio_error(&txn->error, status, "%s", msg);
}

/* ---- primitives ---------------------------------------------------------------- */
static const char *const db_names[STORE_DB_COUNT] = {
    [STORE_DB_PODS] = "pods",
    [STORE_DB_CONTAINERS] = "containers",
    [STORE_DB_IMAGES] = "images",
    [STORE_DB_POD_CONTAINERS] = "pod_containers",
    [STORE_DB_NAMES] = "names",
    [STORE_DB_LOG] = "log",
    [STORE_DB_LOG_OBJECTS] = "log_objects",
    [STORE_DB_META] = "meta",
};

const char *store_db_name(enum store_db db) {
  return db_names[db];
}

/* A key made readable for an error message: the log's binary seq as a
 * number, the '\0' separator of index keys as '/', anything unprintable as
 * '?', and long keys cut short. */
static char *key_describe(enum store_db db, const void *key, size_t len) {
  if (db == STORE_DB_LOG && len == 8)
    return xasprintf("seq %llu", (unsigned long long)store_be64_get(key));
  const unsigned char *k = key;
  size_t shown = len > 100 ? 100 : len;
  char *out = xmalloc(shown + 4);
  for (size_t i = 0; i < shown; i++)
    out[i] = k[i] == '\0' ? '/' : (k[i] < 0x20 || k[i] >= 0x7f) ? '?' : (char)k[i];
  strcpy(out + shown, shown < len ? "..." : "");
  return out;
}

static int fail_key(struct store_txn *txn, int rc, const char *op, enum store_db db,
                    const void *key, size_t key_len) {
  cleanup_free char *shown = key_describe(db, key, key_len);
  return store_txn_fail_mdb(txn, rc, "%s %s/%s", op, db_names[db], shown);
}

static int writable(struct store_txn *txn, const char *op, enum store_db db) {
  if (!txn->write)
    return store_txn_fail(txn, EROFS, "%s %s in a read transaction", op, db_names[db]);
  return 0;
}

int store_db_get(struct store_txn *txn, enum store_db db, const void *key, size_t key_len,
                 MDB_val *val) {
  if (store_txn_failed(txn))
    return -1;
  if (!txn->store->present[db])
    return STORE_ABSENT;
  MDB_val k = {.mv_size = key_len, .mv_data = (void *)key};
  int rc = mdb_get(txn->txn, txn->store->dbi[db], &k, val);
  if (rc == MDB_NOTFOUND)
    return STORE_ABSENT;
  if (rc != 0)
    return fail_key(txn, rc, "read", db, key, key_len);
  return STORE_FOUND;
}

int store_db_put(struct store_txn *txn, enum store_db db, const void *key, size_t key_len,
                 const void *data, size_t data_len, unsigned flags) {
  if (store_txn_failed(txn) || writable(txn, "write", db) < 0)
    return -1;
  MDB_val k = {.mv_size = key_len, .mv_data = (void *)key};
  MDB_val v = {.mv_size = data_len, .mv_data = (void *)data};
  int rc = mdb_put(txn->txn, txn->store->dbi[db], &k, &v, flags);
  if (rc != 0)
    return fail_key(txn, rc, "write", db, key, key_len);
  return 0;
}

int store_db_del(struct store_txn *txn, enum store_db db, const void *key, size_t key_len) {
  if (store_txn_failed(txn) || writable(txn, "delete from", db) < 0)
    return -1;
  MDB_val k = {.mv_size = key_len, .mv_data = (void *)key};
  int rc = mdb_del(txn->txn, txn->store->dbi[db], &k, NULL);
  if (rc == MDB_NOTFOUND)
    return STORE_ABSENT;
  if (rc != 0)
    return fail_key(txn, rc, "delete", db, key, key_len);
  return STORE_FOUND;
}

MDB_cursor *store_db_cursor(struct store_txn *txn, enum store_db db) {
  if (store_txn_failed(txn) || !txn->store->present[db])
    return NULL;
  MDB_cursor *cursor = NULL;
  int rc = mdb_cursor_open(txn->txn, txn->store->dbi[db], &cursor);
  if (rc != 0) {
    store_txn_fail_mdb(txn, rc, "open cursor on %s", db_names[db]);
    return NULL;
  }
  return cursor;
}

int store_cursor_get(struct store_txn *txn, MDB_cursor *cursor, enum store_db db, MDB_val *key,
                     MDB_val *val, MDB_cursor_op op) {
  if (store_txn_failed(txn))
    return -1;
  int rc = mdb_cursor_get(cursor, key, val, op);
  if (rc == MDB_NOTFOUND)
    return STORE_ABSENT;
  if (rc != 0)
    return store_txn_fail_mdb(txn, rc, "walk %s", db_names[db]);
  return STORE_FOUND;
}

int64_t store_db_entries(struct store_txn *txn, enum store_db db) {
  if (store_txn_failed(txn))
    return -1;
  if (!txn->store->present[db])
    return 0;
  MDB_stat st;
  int rc = mdb_stat(txn->txn, txn->store->dbi[db], &st);
  if (rc != 0)
    return store_txn_fail_mdb(txn, rc, "stat %s", db_names[db]);
  return (int64_t)st.ms_entries;
}

int store_check_key_len(struct store_txn *txn, size_t key_len, const char *what) {
  if (store_txn_failed(txn))
    return -1;
  size_t max = (size_t)mdb_env_get_maxkeysize(txn->store->env);
  if (key_len == 0 || key_len > max)
    return store_txn_fail(txn, EINVAL, "%s: key of %zu bytes (1 to %zu allowed)", what, key_len,
                          max);
  return 0;
}

void store_cursor_closep(MDB_cursor **cursor) {
  if (*cursor)
    mdb_cursor_close(*cursor);
  *cursor = NULL;
}

char *store_pair_key(const char *first, const void *second, size_t second_len, size_t *key_len) {
  size_t first_len = strlen(first);
  char *key = xmalloc(first_len + 1 + second_len);
  memcpy(key, first, first_len);
  key[first_len] = '\0';
  if (second_len)
    memcpy(key + first_len + 1, second, second_len);
  *key_len = first_len + 1 + second_len;
  return key;
}
