/* store/internal.h: what the files of store/ share with each other.  Not
 * part of the folder's interface (that is store.h); nothing outside store/
 * includes it. */
#ifndef CRIO_STORE_INTERNAL_H
#define CRIO_STORE_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>
#include <string.h>

#include "store/store.h"

enum store_db {
  STORE_DB_PODS,
  STORE_DB_CONTAINERS,
  STORE_DB_IMAGES,
  STORE_DB_POD_CONTAINERS,
  STORE_DB_NAMES,
  STORE_DB_LOG,
  STORE_DB_LOG_OBJECTS,
  STORE_DB_META,
  STORE_DB_COUNT
};

/* Everything here is set by store_open() before the struct is handed out
 * and never written afterwards, which is what lets many threads share one
 * struct store without a lock: LMDB itself serialises writers and, with
 * MDB_NOTLS, gives each read txn its own reader slot. */
struct store {
  MDB_env *env;
  char *dir;
  bool read_only;
  int dead_readers_at_open;
  MDB_dbi dbi[STORE_DB_COUNT];
  /* false only in a read-only open of a database whose writer has not
   * created this named db yet (a read-only env cannot create it): the db
   * reads as empty. */
  bool present[STORE_DB_COUNT];
  /* Commit notification (log_notify.c): the one part that changes after
   * open, under its own lock.  notify_seq is the newest log seq a write
   * txn of this process has committed. */
  bool notify_ready;
  pthread_mutex_t notify_lock;
  pthread_cond_t notify_cond; /* CLOCK_MONOTONIC */
  uint64_t notify_seq;
};

struct store_txn {
  struct store *store;
  MDB_txn *txn;
  bool write;
  crio_error_t error; /* sticky: the first failure, NULL while healthy */
  /* The newest assigned log seq, loaded on the first append of the txn;
   * write txns are serialised, so nobody else assigns seqs meanwhile. */
  bool seq_loaded;
  uint64_t last_seq;
  bool log_appended; /* a commit then wakes store_log_wait()ers */
};

/* Name of a db as LMDB knows it ("pods", ...). */
const char *store_db_name(enum store_db db);

/* ---- MDB error mapping (txn.c, the one place MDB codes become ours) ---- */
/* Sets *err from an MDB return code: errno-like status and a message
 * "<context>: <what LMDB said> (<what it means for us>)".  Returns -1. */
int store_error_mdb(crio_error_t *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same, recorded as the txn's sticky error.  Returns -1. */
int store_txn_fail_mdb(struct store_txn *txn, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* When the txn has failed: copies its sticky error into *err, returns -1.
 * Otherwise returns 0. */
int store_txn_check(struct store_txn *txn, crio_error_t *err);

/* ---- sticky primitives (txn.c) --------------------------------------------
 * Each is a no-op returning -1 once the txn has failed, records a failure
 * (other than absence) as the sticky error, and names the db and key in
 * its message.  A db missing in a read-only open reads as empty. */
enum { STORE_FOUND = 0, STORE_ABSENT = 1 };
/* STORE_FOUND and *val (valid until the txn writes to db or ends),
 * STORE_ABSENT, or -1. */
int store_db_get(struct store_txn *txn, enum store_db db, const void *key, size_t key_len,
                 MDB_val *val);
/* 0 or -1.  flags: MDB_NOOVERWRITE, MDB_APPEND, ... */
int store_db_put(struct store_txn *txn, enum store_db db, const void *key, size_t key_len,
                 const void *data, size_t data_len, unsigned flags);
/* STORE_FOUND (deleted), STORE_ABSENT (nothing to delete), or -1. */
int store_db_del(struct store_txn *txn, enum store_db db, const void *key, size_t key_len);
/* A cursor on db, or NULL: the db is missing (reads as empty) or the txn
 * failed (store_txn_failed() tells which). */
MDB_cursor *store_db_cursor(struct store_txn *txn, enum store_db db);
/* STORE_FOUND, STORE_ABSENT (walk ended), or -1. */
int store_cursor_get(struct store_txn *txn, MDB_cursor *cursor, enum store_db db, MDB_val *key,
                     MDB_val *val, MDB_cursor_op op);
/* Entries in db (0 if missing), or -1 on failure. */
int64_t store_db_entries(struct store_txn *txn, enum store_db db);
/* Fails the txn with EINVAL when a key would exceed LMDB's key limit
 * (511 bytes by default) instead of letting MDB_BAD_VALSIZE say it less
 * clearly.  Returns 0 or -1. */
int store_check_key_len(struct store_txn *txn, size_t key_len, const char *what);

void store_cursor_closep(MDB_cursor **cursor);
#define cleanup_mdb_cursor __attribute__((cleanup(store_cursor_closep)))

/* ---- keys ---------------------------------------------------------------- */
static inline void store_be64_put(uint8_t out[8], uint64_t v) {
  for (int i = 7; i >= 0; i--) {
    out[i] = (uint8_t)(v & 0xff);
    v >>= 8;
  }
}
static inline uint64_t store_be64_get(const uint8_t in[8]) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = (v << 8) | in[i];
  return v;
}
/* prefix + '\0' + suffix: the key layout of the two index dbs, so that a
 * prefix walk for one id never matches a longer id that starts with it. */
char *store_pair_key(const char *first, const void *second, size_t second_len, size_t *key_len);
static inline bool store_key_has_prefix(const MDB_val *key, const void *prefix, size_t prefix_len) {
  return key->mv_size >= prefix_len && memcmp(key->mv_data, prefix, prefix_len) == 0;
}

/* ---- records (records.c) --------------------------------------------------- */
/* The db of a kind; fails the txn with EINVAL for an unknown kind. */
int store_kind_db(struct store_txn *txn, uint32_t kind, enum store_db *db);
/* Bumps generation and updated_at, stamps the schema version, packs and
 * writes the record, and indexes a container under its pod.  0 or -1. */
int store_record_write(struct store_txn *txn, store_record *rec, unsigned flags);
/* Fails the txn with EINVAL unless rec has a known kind and an id. */
int store_record_check(struct store_txn *txn, const store_record *rec, const char *what);
store_resource *store_resource_copy(const store_resource *res);
bool store_resource_same(const store_resource *a, const store_resource *b);
/* Deletes the record and its pod_containers entry; ENOENT (sticky) if it
 * is not there. */
int store_record_erase(struct store_txn *txn, const store_record *rec);

/* ---- names (names.c) ----------------------------------------------------- */
/* Releases the name only while it still maps to id, so that deleting an
 * object never frees a name another object has since taken. */
void store_name_release_for(struct store_txn *txn, enum store_name_space ns, const char *name,
                            const char *id);

/* ---- meta (meta.c) --------------------------------------------------------- */
/* Decimal text values.  STORE_FOUND, STORE_ABSENT or -1 (a value that is
 * not a number fails the txn: the database is damaged). */
int store_meta_get_u64(struct store_txn *txn, const char *key, uint64_t *out);
void store_meta_put_u64(struct store_txn *txn, const char *key, uint64_t v);
#define STORE_META_SCHEMA_VERSION "schema_version"
#define STORE_META_LOG_SEQ "log_seq"

/* ---- log (log.c) ------------------------------------------------------------- */
/* Unpacks a log value; fails the txn (database damaged) if it does not
 * decode.  NULL on failure. */
store_log_entry *store_log_decode(struct store_txn *txn, const MDB_val *val, uint64_t seq);

/* ---- commit notification (log_notify.c) ----------------------------------- */
void store_log_notify_init(struct store *store);
void store_log_notify_release(struct store *store);
/* After a write txn that appended up to `seq` has committed. */
void store_log_notify_commit(struct store *store, uint64_t seq);

#endif
