/* A whole database file (data.mdb) as the daemon finds it at start: the
 * damaged-database check (recovery_db_check), and when that passes, the
 * store opened and every record, name, meta key and log entry read, and the
 * log compacted, as start-up and crio-db-inspect do.  A damaged file must
 * give an error (EUCLEAN from the check, or a failed txn), never a crash:
 * LMDB itself trusts the file, so whatever the check lets through must be
 * safe for LMDB to read. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz/fuzz.h"
#include "recovery/recovery.h"
#include "store/store.h"

static char db_dir[512];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  fuzz_quiet_logs();
  snprintf(db_dir, sizeof(db_dir), "%s/db", fuzz_workdir());
  return 0;
}

static int visit_record(const store_record *rec, void *data) {
  (*(size_t *)data)++;
  return 0;
}
static int visit_name(const char *name, const char *id, void *data) {
  FUZZ_ASSERT(name && id);
  return 0;
}
static int visit_entry(const store_log_entry *e, void *data) {
  (*(size_t *)data)++;
  return 0;
}

static void read_everything(struct store *store) {
  struct store_txn *txn = NULL;
  cleanup_error crio_error_t err = NULL;
  if (store_txn_begin(store, STORE_TXN_READ, &txn, &err) < 0)
    return;
  size_t n = 0;
  for (int kind = STORE_KIND_POD; kind <= STORE_KIND_IMAGE; kind++) {
    cleanup_error crio_error_t kerr = NULL;
    store_record_foreach(txn, (enum store_kind)kind, visit_record, &n, &kerr);
  }
  static const enum store_name_space spaces[] = {STORE_NAMES_POD, STORE_NAMES_CONTAINER,
                                                 STORE_NAMES_IMAGE};
  for (size_t i = 0; i < 3; i++) {
    cleanup_error crio_error_t nerr = NULL;
    store_name_foreach(txn, spaces[i], visit_name, NULL, &nerr);
  }
  cleanup_error crio_error_t lerr = NULL;
  store_log_foreach(txn, 0, visit_entry, &n, &lerr);
  store_log_first_seq(txn);
  store_log_last_seq(txn);
  store_log_count(txn);
  cleanup_free char *boot = NULL;
  cleanup_error crio_error_t merr = NULL;
  store_meta_get(txn, "boot_id", &boot, &merr);
  store_txn_abort(txn);

  /* Compaction replays every object's entries. */
  cleanup_error crio_error_t werr = NULL;
  if (store_txn_begin(store, STORE_TXN_WRITE, &txn, &werr) < 0)
    return;
  uint64_t dropped = 0;
  cleanup_error crio_error_t cerr = NULL;
  if (store_log_compact(txn, UINT64_MAX, &dropped, &cerr) < 0) {
    store_txn_abort(txn);
    return;
  }
  cleanup_error crio_error_t ccerr = NULL;
  store_txn_commit(txn, &ccerr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_rm_rf(db_dir);
  FUZZ_ASSERT(mkdir(db_dir, 0700) == 0);
  char path[600];
  snprintf(path, sizeof(path), "%s/data.mdb", db_dir);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  FUZZ_ASSERT(fd >= 0);
  FUZZ_ASSERT(write(fd, data, size) == (ssize_t)size);
  close(fd);

  cleanup_error crio_error_t err = NULL;
  if (recovery_db_check(db_dir, &err) < 0)
    return 0;
  struct store_options opts = {.dir = db_dir, .map_size = 64 << 20};
  struct store *store = NULL;
  cleanup_error crio_error_t oerr = NULL;
  if (store_open(&opts, &store, &oerr) < 0)
    return 0;
  read_everything(store);
  store_close(store);
  return 0;
}
