/* Keeping the state log bounded: compaction at start-up, past a size. */
#include "recovery/recovery.h"

/* Compaction runs at start, before anything else writes, where its one
 * long write txn delays nobody.  It keeps every entry of an object that
 * still holds a resource or still has a record, so wipe loses nothing. */
int recovery_compact_log(struct store *store, uint64_t threshold, uint64_t *entries,
                         uint64_t *dropped, crio_error_t *err) {
  if (threshold == 0)
    threshold = RECOVERY_DEFAULT_COMPACT_THRESHOLD;
  if (dropped)
    *dropped = 0;
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(store, STORE_TXN_WRITE, &txn, err) < 0)
    return -1;
  uint64_t count = store_log_count(txn);
  if (entries)
    *entries = count;
  if (count <= threshold)
    return 0;
  uint64_t n = 0;
  if (store_log_compact(txn, store_log_last_seq(txn) + 1, &n, err) < 0)
    return crio_error_prefix(err, "compact the state log");
  if (store_txn_commit(steal_pointer(&txn), err) < 0)
    return crio_error_prefix(err, "compact the state log");
  if (dropped)
    *dropped = n;
  return 0;
}
