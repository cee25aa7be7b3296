/* What the List handlers (and their Stream forms) share: walking one kind
 * of record in a read txn, matching the filters' id prefixes and label
 * selectors, and collecting what matched in an array in the request's
 * arena. */
#include <errno.h>
#include <string.h>

#include "cri/internal.h"

bool cri_id_has_prefix(const char *id, const char *prefix) {
  return prefix == NULL || *prefix == '\0' || strncmp(id, prefix, strlen(prefix)) == 0;
}

bool cri_record_has_label(const store_record *rec, const char *key, const char *value) {
  for (size_t j = 0; j < rec->n_labels; j++)
    if (strcmp(rec->labels[j]->key, key) == 0 && strcmp(rec->labels[j]->value, value) == 0)
      return true;
  return false;
}

void *cri_array_reserve(struct cri_request *req, void *items, size_t n, size_t *cap, size_t size) {
  if (n < *cap)
    return items;
  size_t grown_cap = *cap ? *cap * 2 : 16;
  void *grown = cri_alloc(req, grown_cap * size);
  if (n)
    memcpy(grown, items, n * size);
  *cap = grown_cap;
  return grown;
}

int cri_records_walk(struct cri_request *req, enum store_kind kind, store_record_visit_fn visit,
                     void *data, crio_error_t *err) {
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(req->ctx->store, STORE_TXN_READ, &txn, err) < 0)
    return -1;
  return store_record_foreach(txn, kind, visit, data, err);
}

/* Ids are 64 hex digits (crio_random_id); a filter naming all of them can
 * only match that record. */
static bool full_id(const char *id) {
  return id != NULL && strlen(id) == 64;
}

static int visit_one(struct store_txn *txn, enum store_kind kind, const char *id,
                     store_record_visit_fn visit, void *data, crio_error_t *err) {
  cleanup_store_record store_record *rec = NULL;
  if (store_record_get(txn, kind, id, &rec, err) < 0) {
    if (crio_error_status(err) != ENOENT)
      return -1;
    crio_error_release(err);
    return 0;
  }
  return visit(rec, data);
}

int cri_records_walk_narrowed(struct cri_request *req, enum store_kind kind, const char *id,
                              const char *pod_id, store_record_visit_fn visit, void *data,
                              crio_error_t *err) {
  if (!full_id(id) && !(kind == STORE_KIND_CONTAINER && full_id(pod_id)))
    return cri_records_walk(req, kind, visit, data, err);
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(req->ctx->store, STORE_TXN_READ, &txn, err) < 0)
    return -1;
  if (full_id(id))
    return visit_one(txn, kind, id, visit, data, err);
  cleanup_strv char **ids = NULL;
  if (store_pod_container_ids(txn, pod_id, &ids, NULL, err) < 0)
    return -1;
  for (char **c = ids; *c; c++) {
    int rc = visit_one(txn, kind, *c, visit, data, err);
    if (rc != 0)
      return rc;
  }
  return 0;
}
