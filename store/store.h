/* store/: the LMDB environment — named databases, record encoding, the
 * state log and transactions.  This header is the folder's interface.
 *
 * Databases (all in one environment under <root>/db):
 *   pods, containers, images   id -> ObjectRecord (protobuf, records.proto)
 *   pod_containers             pod id + '\0' + container id -> "" (prefix
 *                              walks; the '\0' keeps pod "a" from matching
 *                              pod "ab")
 *   names                      namespace byte + name -> id
 *   log                        seq (big-endian u64) -> LogEntry
 *   log_objects                object id + '\0' + seq (BE u64) -> ""
 *   meta                       key -> value, text without NUL
 *                              (schema_version and log_seq as decimal,
 *                              boot_id, pod_cidr, ...)
 *
 * Transactions carry a sticky error (Knot DNS's model): after the first
 * failure every further operation on the txn is a no-op, so code is
 * straight-line and checks once, at commit.
 *
 * Threads: one struct store serves every thread.  Any number of read txns
 * may be open at once (MDB_NOTLS: a read txn is not tied to its thread and
 * one thread may hold several); write txns are serialised by LMDB, so
 * store_txn_begin(WRITE) blocks while another thread's write txn is open.
 * Hence: never begin a write txn while holding one on the same thread
 * (self-deadlock), hold no txn across blocking I/O (an old read txn pins
 * pages and the file grows; a write txn stalls every writer), and use one
 * store_txn from one thread at a time.
 *
 * Processes: open an environment at most once per process.  LMDB's
 * liveness locks are POSIX fcntl locks, which a process loses entirely
 * when it closes any fd of the file: a second open-and-close in the same
 * process would make its live readers look dead to other processes.
 * crio-db-inspect is a separate process, which is fine.  A child of fork()
 * must not use its parent's store. */
#ifndef CRIO_STORE_H
#define CRIO_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "store/records.pb-c.h"

/* Bumped when a record change must not be read by an older build.  A
 * database written by a newer schema is refused at open. */
#define STORE_SCHEMA_VERSION 1

typedef Crio__Store__ObjectRecord store_record;
typedef Crio__Store__LogEntry store_log_entry;
typedef Crio__Store__Resource store_resource;

/* Records, entries and resources are freed with protobuf-c's free_unpacked
 * and the system allocator, whether decoded or built here: every string,
 * bytes field, body and array a caller puts into one must be malloc'd (or
 * protobuf_c_empty_string for "").  store_string_set() replaces a string
 * field (freeing the old value) with a copy of value; NULL or "" set the
 * shared empty string. */
void store_string_set(char **field, const char *value);

/* Numerically equal to enum sm_kind. */
enum store_kind {
  STORE_KIND_POD = 1,
  STORE_KIND_CONTAINER = 2,
  STORE_KIND_IMAGE = 3,
};

/* Name index namespaces: a pod name, a container name and an image tag
 * may be equal strings without colliding. */
enum store_name_space {
  STORE_NAMES_POD = 'p',
  STORE_NAMES_CONTAINER = 'c',
  STORE_NAMES_IMAGE = 'i', /* repo tags and repo digests */
};

struct store;
struct store_txn;

struct store_options {
  const char *dir;      /* directory of data.mdb / lock.mdb; created */
  size_t map_size;      /* 0: default (4 GiB; sparse, grows lazily) */
  unsigned max_readers; /* 0: default (sized for daemon + tools) */
  bool read_only;       /* crio-db-inspect: never writes, never creates */
  /* Durability against power loss: see docs/architecture.md.  false uses
   * MDB_NOMETASYNC (a crash of the daemon never loses a commit either way;
   * a power loss may lose the newest commits but never corrupts). */
  bool sync_every_commit;
};

/* Opens (creating when allowed) the environment and its databases; checks
 * the schema version (refuses a newer one with EPROTO and a clear message),
 * clears stale reader slots, and makes the data fd close-on-exec. */
int store_open(const struct store_options *options, struct store **out, crio_error_t *err);
void store_close(struct store *store);
#define cleanup_store __attribute__((cleanup(store_closep)))
void store_closep(struct store **store);

/* Reader slots freed because their process died. */
int store_reader_check(struct store *store, int *dead, crio_error_t *err);
/* How many such slots store_open() freed (it also logs them). */
int store_dead_readers_at_open(const struct store *store);
/* Size of the data file and of the used map, for inspect and bench. */
int store_stat(struct store *store, uint64_t *file_bytes, uint64_t *used_bytes, crio_error_t *err);

/* ---- transactions ---------------------------------------------------------- */
enum store_txn_mode { STORE_TXN_READ = 0, STORE_TXN_WRITE = 1 };

int store_txn_begin(struct store *store, enum store_txn_mode mode, struct store_txn **out,
                    crio_error_t *err);
/* Commits (write) or ends (read) and frees the txn.  Returns the sticky
 * error if any operation failed, in which case nothing was committed. */
int store_txn_commit(struct store_txn *txn, crio_error_t *err);
void store_txn_abort(struct store_txn *txn); /* NULL is fine */
void store_txn_abortp(struct store_txn **txn);
#define cleanup_store_txn __attribute__((cleanup(store_txn_abortp)))
bool store_txn_failed(const struct store_txn *txn);
/* Records a failure on the txn from the caller's own check (e.g. a
 * validation done inside the txn); returns -1. */
int store_txn_fail(struct store_txn *txn, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- records --------------------------------------------------------------- */
void store_record_free(store_record *rec);
void store_record_freep(store_record **rec);
#define cleanup_store_record __attribute__((cleanup(store_record_freep)))
/* A new, empty record of `kind` with the body set, schema version filled. */
store_record *store_record_new(enum store_kind kind, const char *id);

/* 0 and *out set; -1 with ENOENT if absent (the txn stays usable: absence
 * is not sticky). */
int store_record_get(struct store_txn *txn, enum store_kind kind, const char *id,
                     store_record **out, crio_error_t *err);
/* Writes the record as is (no log entry): for callers that already logged
 * in the same txn, and for tests.  Prefer the lifecycle calls below. */
void store_record_put(struct store_txn *txn, store_record *rec);

/* Visit records of one kind in id order; a callback returning non-zero
 * stops the walk and is returned.  The record is freed after the callback
 * (copy what you keep); the callback must not write records of this kind
 * in the same txn. */
typedef int (*store_record_visit_fn)(const store_record *rec, void *data);
int store_record_foreach(struct store_txn *txn, enum store_kind kind, store_record_visit_fn visit,
                         void *data, crio_error_t *err);
/* Container ids of one pod, via the pod_containers index, in id order.
 * *ids_out is NULL-terminated (free with cleanup_strv); n_out may be NULL. */
int store_pod_container_ids(struct store_txn *txn, const char *pod_id, char ***ids_out,
                            size_t *n_out, crio_error_t *err);
/* The unique id with this prefix (a full id resolves to itself): ENOENT
 * if none, EINVAL ("ambiguous") if several.  Not sticky. */
int store_record_resolve_prefix(struct store_txn *txn, enum store_kind kind, const char *prefix,
                                char **id_out, crio_error_t *err);

/* ---- lifecycle: every call writes the record AND its log entry ------------- */
/* A new object: state = rec->state, goal = rec->goal, name reserved (if
 * rec->name is non-empty and kind is pod or container; image tags are
 * managed with store_name_* by images/); EEXIST (sticky) if the name is
 * taken or the id exists.  A container with parent_id is indexed under its
 * pod.  Log: CREATE, from_state 0, acquired = rec->resources.
 *
 * Every lifecycle call sets rec->last_seq to its entry's seq, bumps
 * rec->generation and updated_at, and leaves rec as written. */
void store_create(struct store_txn *txn, store_record *rec);
/* Goal change.  Log: GOAL. */
void store_set_goal(struct store_txn *txn, store_record *rec, uint32_t goal, const char *message);
/* Intent besides the goal, changed on a live object by a CRI call: the
 * resources UpdateContainerResources applied (rec->resources_update gets
 * a copy of data; len 0 clears it).  The reconciler's commits keep the
 * stored value, as they keep the goal.  Log: GOAL, with the goal as it is
 * and `message` naming what changed (the desired state moved; no state
 * and no resource did). */
void store_set_resources_update(struct store_txn *txn, store_record *rec, const void *data,
                                size_t len, const char *message);
/* An operation on a live object (reconciler_run_op) was done on the host;
 * the record keeps its state, goal and body, only its bookkeeping moves.
 * Log: OPERATION, `op` as its transition. */
void store_log_operation(struct store_txn *txn, store_record *rec, const char *op,
                         const char *message);
/* State change by a step or event; `acquired` resources are added to the
 * record's resource list, `released` ones (matched by type+id) removed.
 * Either list may be rec->resources itself ("release all I hold").
 * Clears the record's error.  Log: TRANSITION. */
void store_transition(struct store_txn *txn, store_record *rec, uint32_t to_state,
                      const char *transition, store_resource *const *acquired, size_t n_acquired,
                      store_resource *const *released, size_t n_released);
/* A failed step: the record keeps its state, stores the error.  Log:
 * STEP_FAILED. */
void store_record_failure(struct store_txn *txn, store_record *rec, const char *transition,
                          int status, const char *message);
/* The terminal transition: deletes the record, its name (if it still maps
 * to this id) and index entries, releases the listed resources.  Sticky
 * ENOENT if the record is not in the db; sticky EBUSY for a pod that still
 * has containers (delete them first, the same txn is fine).  Resources the
 * record still holds stay in the log for wipe (and are logged as a
 * warning).  Log: DELETE, from_state = rec->state, to_state 0. */
void store_delete(struct store_txn *txn, store_record *rec, const char *transition,
                  store_resource *const *released, size_t n_released);
/* A daemon-level fact (start, reboot, wipe).  Log: NOTE. */
void store_log_note(struct store_txn *txn, const char *message);

/* ---- names ----------------------------------------------------------------- */
/* 0 and *id_out (malloc'd) or -1/ENOENT (not sticky). */
int store_name_lookup(struct store_txn *txn, enum store_name_space ns, const char *name,
                      char **id_out, crio_error_t *err);
/* Sticky EEXIST if the name maps to another id. */
void store_name_reserve(struct store_txn *txn, enum store_name_space ns, const char *name,
                        const char *id);
void store_name_release(struct store_txn *txn, enum store_name_space ns, const char *name);
/* Visits every name of one namespace in byte order, with the id it maps
 * to (both NUL-terminated copies, valid during the call).  A callback
 * returning non-zero stops the walk and is returned; it must not write
 * names in the same txn.  Image tags are listed this way (the names index
 * is their only home). */
typedef int (*store_name_visit_fn)(const char *name, const char *id, void *data);
int store_name_foreach(struct store_txn *txn, enum store_name_space ns, store_name_visit_fn visit,
                       void *data, crio_error_t *err);

/* ---- the state log ----------------------------------------------------------- */
void store_log_entry_free(store_log_entry *entry);
void store_log_entry_freep(store_log_entry **entry);
#define cleanup_store_log_entry __attribute__((cleanup(store_log_entry_freep)))
/* Appends an entry (seq and time are assigned here), indexed by object.
 * Returns the seq, 0 if the txn failed.  Seqs are never reused, not even
 * after compaction dropped the newest entries (meta log_seq keeps the
 * last one assigned). */
uint64_t store_log_append(struct store_txn *txn, store_log_entry *entry);
uint64_t store_log_last_seq(struct store_txn *txn);
uint64_t store_log_first_seq(struct store_txn *txn); /* 0 if empty */
uint64_t store_log_count(struct store_txn *txn);
typedef int (*store_log_visit_fn)(const store_log_entry *entry, void *data);
/* Entries with seq > since, oldest first. */
int store_log_foreach(struct store_txn *txn, uint64_t since, store_log_visit_fn visit, void *data,
                      crio_error_t *err);
/* Entries of one object, oldest first. */
int store_log_foreach_object(struct store_txn *txn, const char *object_id, store_log_visit_fn visit,
                             void *data, crio_error_t *err);
/* Commit notification, for readers that follow the log (an event stream):
 * blocks until a write txn of THIS process that appended entries has
 * committed a seq greater than `seen`, or until deadline_ns
 * (CLOCK_MONOTONIC; 0: no deadline) passes.  Returns the newest seq such a
 * commit published (<= seen on timeout; 0 before the first).  Entries are
 * not queued anywhere: the follower reads them from the log with
 * store_log_foreach(since), so a slow follower never holds anyone back.
 * Other processes' commits wake nobody: wait with a deadline and read the
 * log anyway when it passes. */
uint64_t store_log_wait(struct store *store, uint64_t seen, int64_t deadline_ns);
/* Drops entries of objects that are deleted and whose every acquired
 * resource was released (replaying their entries in order: each
 * acquisition was followed by a release of the same type+id), when all of
 * the object's entries are older than `before_seq`; and NOTE entries older
 * than before_seq.  Never drops others.  Write txn only. */
int store_log_compact(struct store_txn *txn, uint64_t before_seq, uint64_t *dropped,
                      crio_error_t *err);

/* ---- metadata ---------------------------------------------------------------- */
/* 0 and malloc'd NUL-terminated value, or -1/ENOENT (not sticky). */
int store_meta_get(struct store_txn *txn, const char *key, char **value, crio_error_t *err);
void store_meta_put(struct store_txn *txn, const char *key, const char *value);

/* Resource helper: a malloc'd resource for lifecycle calls. */
store_resource *store_resource_new(const char *type, const char *id, const void *detail,
                                   size_t detail_len);
void store_resource_free(store_resource *res);

const char *store_kind_name(enum store_kind kind);

/* Whether a decoded protobuf message (a record, a log entry, or a CRI
 * message stored in one) packs to bytes that decode again: false when it
 * carries field number 0, which protobuf-c accepts in a long tag but
 * cannot write back (pb_check.c).  Decoders treat such a message as one
 * that does not decode. */
bool store_protobuf_repackable(const ProtobufCMessage *m);

#endif
