/* Log compaction.  The log is what `crio wipe` and recovery replay to find
 * host resources that may still exist, so an entry may go only when it can
 * no longer tell anyone anything: every entry of an object that is deleted
 * and holds nothing (replaying its entries in order, each acquisition was
 * followed by a release of the same type+id), and daemon NOTEs.  Only
 * whole histories are dropped, all of it older than before_seq, so the log
 * never holds half of an object's story. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

struct candidate {
  char *id;
  uint32_t kind;
};

struct compaction {
  struct store_txn *txn;
  uint64_t before_seq;
  struct candidate *candidates; /* objects with a DELETE before before_seq */
  size_t n_candidates;
  uint64_t *notes; /* seqs of NOTE entries before before_seq */
  size_t n_notes;
};

static void compaction_release(struct compaction *c) {
  for (size_t i = 0; i < c->n_candidates; i++)
    free(c->candidates[i].id);
  free(c->candidates);
  free(c->notes);
}

/* Pass 1: one walk over the old part of the log. */
static int collect(struct compaction *c) {
  cleanup_mdb_cursor MDB_cursor *cursor = store_db_cursor(c->txn, STORE_DB_LOG);
  if (cursor == NULL)
    return store_txn_failed(c->txn) ? -1 : 0;
  MDB_val key, val;
  MDB_cursor_op op = MDB_FIRST;
  while (store_cursor_get(c->txn, cursor, STORE_DB_LOG, &key, &val, op) == STORE_FOUND) {
    op = MDB_NEXT;
    if (key.mv_size != 8)
      return store_txn_fail(c->txn, EUCLEAN,
                            "log holds a malformed key (the "
                            "database is damaged)");
    uint64_t seq = store_be64_get(key.mv_data);
    if (seq >= c->before_seq)
      break;
    cleanup_store_log_entry store_log_entry *entry = store_log_decode(c->txn, &val, seq);
    if (entry == NULL)
      return -1;
    if (entry->type == CRIO__STORE__LOG_ENTRY__TYPE__NOTE) {
      c->notes = xrealloc(c->notes, (c->n_notes + 1) * sizeof(*c->notes));
      c->notes[c->n_notes++] = seq;
    } else if (entry->type == CRIO__STORE__LOG_ENTRY__TYPE__DELETE && entry->object_id[0] != '\0') {
      c->candidates = xrealloc(c->candidates, (c->n_candidates + 1) * sizeof(*c->candidates));
      c->candidates[c->n_candidates++] =
          (struct candidate){.id = xstrdup(entry->object_id), .kind = entry->kind};
    }
  }
  return store_txn_failed(c->txn) ? -1 : 0;
}

struct held {
  const store_resource **items; /* borrowed from the entries being replayed */
  size_t n;
};

static void held_acquire(struct held *h, const store_resource *res) {
  for (size_t i = 0; i < h->n; i++)
    if (store_resource_same(h->items[i], res))
      return;
  h->items = xrealloc(h->items, (h->n + 1) * sizeof(*h->items));
  h->items[h->n++] = res;
}

static void held_release(struct held *h, const store_resource *res) {
  for (size_t i = 0; i < h->n; i++) {
    if (store_resource_same(h->items[i], res)) {
      h->items[i] = h->items[--h->n];
      return;
    }
  }
}

/* Pass 2 for one object: its seqs in *seqs if the whole history may go,
 * *n_seqs = 0 if it must stay. */
static int object_history(struct compaction *c, const struct candidate *cand, uint64_t **seqs,
                          size_t *n_seqs) {
  *n_seqs = 0;
  enum store_db db = STORE_DB_PODS; /* set by store_kind_db; -O3 cannot tell */
  MDB_val val;
  if (store_kind_db(c->txn, cand->kind, &db) < 0)
    return -1;
  /* A DELETE entry and a live record cannot both exist unless something
   * rewrote the record afterwards: keep everything of such an object. */
  int found = store_db_get(c->txn, db, cand->id, strlen(cand->id), &val);
  if (found != STORE_ABSENT)
    return found < 0 ? -1 : 0;

  size_t prefix_len = 0;
  cleanup_free char *prefix = store_pair_key(cand->id, NULL, 0, &prefix_len);
  cleanup_mdb_cursor MDB_cursor *cursor = store_db_cursor(c->txn, STORE_DB_LOG_OBJECTS);
  if (cursor == NULL)
    return store_txn_failed(c->txn) ? -1 : 0;
  /* Entries stay decoded until the replay is done: held borrows from them. */
  store_log_entry **entries = NULL;
  size_t n_entries = 0;
  struct held held = {0};
  bool whole_history_old = true;
  MDB_val key = {.mv_size = prefix_len, .mv_data = prefix};
  MDB_cursor_op op = MDB_SET_RANGE;
  while (store_cursor_get(c->txn, cursor, STORE_DB_LOG_OBJECTS, &key, &val, op) == STORE_FOUND &&
         store_key_has_prefix(&key, prefix, prefix_len)) {
    op = MDB_NEXT;
    if (key.mv_size != prefix_len + 8) {
      store_txn_fail(c->txn, EUCLEAN,
                     "log_objects holds a malformed key for "
                     "%s (the database is damaged)",
                     cand->id);
      break;
    }
    const uint8_t *seq_key = (const uint8_t *)key.mv_data + prefix_len;
    uint64_t seq = store_be64_get(seq_key);
    if (seq >= c->before_seq) {
      whole_history_old = false;
      break;
    }
    MDB_val entry_val;
    if (store_db_get(c->txn, STORE_DB_LOG, seq_key, 8, &entry_val) != STORE_FOUND) {
      store_txn_fail(c->txn, EUCLEAN,
                     "log_objects names entry %llu of %s, which is missing "
                     "(the database is damaged)",
                     (unsigned long long)seq, cand->id);
      break;
    }
    store_log_entry *entry = store_log_decode(c->txn, &entry_val, seq);
    if (entry == NULL)
      break;
    entries = xrealloc(entries, (n_entries + 1) * sizeof(*entries));
    entries[n_entries++] = entry;
    for (size_t i = 0; i < entry->n_released; i++)
      held_release(&held, entry->released[i]);
    for (size_t i = 0; i < entry->n_acquired; i++)
      held_acquire(&held, entry->acquired[i]);
  }

  bool droppable = !store_txn_failed(c->txn) && whole_history_old && held.n == 0 && n_entries > 0;
  if (droppable) {
    *seqs = xcalloc(n_entries, sizeof(**seqs));
    for (size_t i = 0; i < n_entries; i++)
      (*seqs)[i] = entries[i]->seq;
    *n_seqs = n_entries;
  }
  for (size_t i = 0; i < n_entries; i++)
    store_log_entry_free(entries[i]);
  free(entries);
  free(held.items);
  return store_txn_failed(c->txn) ? -1 : 0;
}

static int drop_entry(struct compaction *c, const char *object_id, uint64_t seq) {
  uint8_t key[8];
  store_be64_put(key, seq);
  if (store_db_del(c->txn, STORE_DB_LOG, key, sizeof(key)) < 0)
    return -1;
  if (object_id == NULL)
    return 0;
  size_t index_len = 0;
  cleanup_free char *index_key = store_pair_key(object_id, key, sizeof(key), &index_len);
  return store_db_del(c->txn, STORE_DB_LOG_OBJECTS, index_key, index_len) < 0 ? -1 : 0;
}

int store_log_compact(struct store_txn *txn, uint64_t before_seq, uint64_t *dropped,
                      crio_error_t *err) {
  if (store_txn_check(txn, err) < 0)
    return -1;
  if (!txn->write)
    return crio_error(err, EROFS, "compact the log in a read transaction");
  struct compaction c = {.txn = txn, .before_seq = before_seq};
  uint64_t n_dropped = 0;
  if (collect(&c) == 0) {
    for (size_t i = 0; i < c.n_candidates && !store_txn_failed(txn); i++) {
      cleanup_free uint64_t *seqs = NULL;
      size_t n_seqs = 0;
      if (object_history(&c, &c.candidates[i], &seqs, &n_seqs) < 0)
        break;
      for (size_t j = 0; j < n_seqs; j++)
        if (drop_entry(&c, c.candidates[i].id, seqs[j]) == 0)
          n_dropped++;
    }
    for (size_t i = 0; i < c.n_notes && !store_txn_failed(txn); i++)
      if (drop_entry(&c, NULL, c.notes[i]) == 0)
        n_dropped++;
  }
  compaction_release(&c);
  if (store_txn_check(txn, err) < 0)
    return -1;
  if (dropped)
    *dropped = n_dropped;
  return 0;
}
