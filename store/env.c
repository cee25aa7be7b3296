/* The LMDB environment: open (create, flags, named dbs, schema check,
 * stale readers, close-on-exec), close, reader check and sizes. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/internal.h"

#define DEFAULT_MAP_SIZE ((size_t)4 << 30)
/* One slot per concurrently open read txn across every process that opens
 * the environment (MDB_NOTLS: per txn, not per thread).  510 fills the
 * lock file's pages exactly and leaves room for the daemon's worker and
 * CRI threads plus a few crio-db-inspect runs; LMDB's own default, 126, is
 * too few for a daemon that answers List* calls from many threads. */
#define DEFAULT_MAX_READERS 510u
/* The eight named dbs plus room for later ones without a rebuild of the
 * lock file (maxdbs is per open, not stored). */
#define MAX_DBS 16

void store_close(struct store *store) {
  if (store == NULL)
    return;
  if (store->env)
    mdb_env_close(store->env);
  store_log_notify_release(store);
  free(store->dir);
  free(store);
}

void store_closep(struct store **store) {
  store_close(*store);
  *store = NULL;
}

int store_dead_readers_at_open(const struct store *store) {
  return store->dead_readers_at_open;
}

/* LMDB opens lock.mdb (and the O_DSYNC fd it writes meta pages through)
 * with O_CLOEXEC but data.mdb without it, so every conmon, OCI runtime and
 * CNI plugin the daemon execs would otherwise inherit an open database
 * file.  The window between mdb_env_open and this call is harmless because
 * the store is opened before the daemon starts anything. */
static int set_data_fd_cloexec(struct store *store, crio_error_t *err) {
  mdb_filehandle_t fd;
  int rc = mdb_env_get_fd(store->env, &fd);
  if (rc != 0)
    return store_error_mdb(err, rc, "get data fd of %s", store->dir);
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
    return crio_error_errno(err, errno, "set close-on-exec on %s/data.mdb", store->dir);
  return 0;
}

/* A read-only env cannot create named dbs, and the daemon may not have
 * created them yet (or a newer build added one): those read as empty. */
static int open_dbs(struct store_txn *txn) {
  struct store *store = txn->store;
  for (int db = 0; db < STORE_DB_COUNT; db++) {
    int rc = mdb_dbi_open(txn->txn, store_db_name(db), store->read_only ? 0 : MDB_CREATE,
                          &store->dbi[db]);
    if (rc == MDB_NOTFOUND && store->read_only)
      continue;
    if (rc != 0)
      return store_txn_fail_mdb(txn, rc, "open database %s in %s", store_db_name(db), store->dir);
    store->present[db] = true;
  }
  return 0;
}

static int check_schema(struct store_txn *txn) {
  uint64_t version = 0;
  int found = store_meta_get_u64(txn, STORE_META_SCHEMA_VERSION, &version);
  if (found < 0)
    return -1;
  if (found == STORE_ABSENT) {
    /* A new database (or, read-only, one whose writer has not finished
     * creating it): it is ours. */
    if (txn->write)
      store_meta_put_u64(txn, STORE_META_SCHEMA_VERSION, STORE_SCHEMA_VERSION);
    return store_txn_failed(txn) ? -1 : 0;
  }
  if (version > STORE_SCHEMA_VERSION)
    return store_txn_fail(txn, EPROTO,
                          "database schema version %llu is newer than this build supports "
                          "(%d); run a build that knows version %llu, or move %s aside to "
                          "start empty",
                          (unsigned long long)version, STORE_SCHEMA_VERSION,
                          (unsigned long long)version, txn->store->dir);
  /* Older versions would be migrated here, one explicit step per version
   * with its own test.  Version 1 is the first, so anything below it is
   * not a value this project ever wrote. */
  if (version < STORE_SCHEMA_VERSION)
    return store_txn_fail(txn, EUCLEAN,
                          "database schema version %llu is not valid (the "
                          "database is damaged)",
                          (unsigned long long)version);
  return 0;
}

static int check_dir(const struct store_options *options, crio_error_t *err) {
  if (!options->read_only)
    return crio_mkdir_p(options->dir, 0700, err);
  struct stat st;
  if (stat(options->dir, &st) < 0)
    return crio_error_errno(err, errno, "no database at %s", options->dir);
  if (!S_ISDIR(st.st_mode))
    return crio_error(err, ENOTDIR, "no database at %s: not a directory", options->dir);
  return 0;
}

static int open_env(struct store *store, const struct store_options *options, crio_error_t *err) {
  int rc = mdb_env_create(&store->env);
  if (rc != 0)
    return store_error_mdb(err, rc, "create LMDB environment");
  rc = mdb_env_set_maxdbs(store->env, MAX_DBS);
  if (rc == 0)
    rc = mdb_env_set_maxreaders(store->env,
                                options->max_readers ? options->max_readers : DEFAULT_MAX_READERS);
  /* A read-only open without an explicit size adopts the size the writer
   * recorded, so it can map everything the writer may have written. */
  if (rc == 0 && (options->map_size || !options->read_only))
    rc = mdb_env_set_mapsize(store->env, options->map_size ? options->map_size : DEFAULT_MAP_SIZE);
  if (rc != 0)
    return store_error_mdb(err, rc, "configure LMDB environment for %s", store->dir);

  /* MDB_NOTLS: a read txn owns its reader slot, not its thread, so a
   * thread may hold several and txns are not tied to the thread that began
   * them.  MDB_NOMETASYNC: commits write everything but fsync the meta
   * page only at the next commit's data sync, so a power loss may lose the
   * newest commit and a daemon crash loses nothing (see store.h). */
  unsigned flags = MDB_NOTLS;
  if (options->read_only)
    flags |= MDB_RDONLY;
  else if (!options->sync_every_commit)
    flags |= MDB_NOMETASYNC;
  rc = mdb_env_open(store->env, store->dir, flags, 0600);
  if (rc == ENOENT && options->read_only)
    return crio_error(err, ENOENT, "no database at %s (data.mdb missing)", store->dir);
  if (rc != 0)
    return store_error_mdb(err, rc, "open database %s", store->dir);
  return 0;
}

int store_open(const struct store_options *options, struct store **out, crio_error_t *err) {
  if (options == NULL || options->dir == NULL || options->dir[0] == '\0')
    return crio_error(err, EINVAL, "open database: no directory given");
  if (check_dir(options, err) < 0)
    return -1;

  cleanup_store struct store *store = xzalloc(sizeof(*store));
  store->dir = xstrdup(options->dir);
  store->read_only = options->read_only;
  store_log_notify_init(store);
  if (open_env(store, options, err) < 0 || set_data_fd_cloexec(store, err) < 0)
    return -1;

  /* Slots of processes that died inside a read txn would otherwise stay
   * taken and pin old pages (the file grows) until someone checks. */
  if (store_reader_check(store, &store->dead_readers_at_open, err) < 0)
    return -1;
  if (store->dead_readers_at_open > 0)
    log_info("database %s: cleared %d stale reader slot(s) of dead processes", store->dir,
             store->dead_readers_at_open);

  /* The dbs are opened (and, writable, created) in one txn whose commit
   * publishes the handles to every later txn of every thread. */
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(store, store->read_only ? STORE_TXN_READ : STORE_TXN_WRITE, &txn, err) < 0)
    return -1;
  if (open_dbs(txn) == 0)
    check_schema(txn);
  if (store_txn_failed(txn))
    return store_txn_commit(steal_pointer(&txn), err);
  /* Even a read txn is committed, not aborted: aborting would close the
   * dbi handles it opened. */
  int rc = mdb_txn_commit(txn->txn);
  txn->txn = NULL;
  if (rc != 0)
    return store_error_mdb(err, rc, "open databases in %s", store->dir);

  *out = steal_pointer(&store);
  return 0;
}

int store_reader_check(struct store *store, int *dead, crio_error_t *err) {
  int n = 0;
  int rc = mdb_reader_check(store->env, &n);
  if (rc != 0)
    return store_error_mdb(err, rc, "check readers of %s", store->dir);
  if (dead)
    *dead = n;
  return 0;
}

int store_stat(struct store *store, uint64_t *file_bytes, uint64_t *used_bytes, crio_error_t *err) {
  MDB_envinfo info;
  MDB_stat st;
  int rc = mdb_env_info(store->env, &info);
  if (rc == 0)
    rc = mdb_env_stat(store->env, &st);
  if (rc != 0)
    return store_error_mdb(err, rc, "stat %s", store->dir);
  mdb_filehandle_t fd;
  struct stat fst;
  rc = mdb_env_get_fd(store->env, &fd);
  if (rc != 0)
    return store_error_mdb(err, rc, "get data fd of %s", store->dir);
  if (fstat(fd, &fst) < 0)
    return crio_error_errno(err, errno, "stat %s/data.mdb", store->dir);
  if (file_bytes)
    *file_bytes = (uint64_t)fst.st_size;
  if (used_bytes)
    *used_bytes = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
  return 0;
}
