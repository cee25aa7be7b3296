/* Layer collection.  A layer is referenced by every image record that
 * lists it, in any state but LAYERS_RELEASED; the others are deleted.
 *
 * The race to close: a collection reads the records, then deletes what is
 * unreferenced.  A pull whose record appears in between may find a layer
 * present (and skip it) that the collection is about to delete.  So a
 * fetch step holds each chain id before it looks at the store, and a
 * collection skips held chain ids — including those held and released
 * since it read the records (struct layer_hold) — and marks the one it is
 * deleting, so a step wanting to hold it waits and then sees it gone. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "images/service_internal.h"
#include "statemachine/statemachine.h"

/* ---- holds (svc->mu held for the *_locked helpers) ------------------------------ */

static struct layer_hold *hold_find_locked(struct img_service *svc, const char *chain_id) {
  for (size_t i = 0; i < svc->n_holds; i++)
    if (strcmp(svc->holds[i].chain_id, chain_id) == 0)
      return &svc->holds[i];
  return NULL;
}

static bool collecting_locked(struct img_service *svc, const char *chain_id) {
  for (size_t i = 0; i < svc->n_collecting; i++)
    if (strcmp(svc->collecting[i], chain_id) == 0)
      return true;
  return false;
}

static void holds_purge_locked(struct img_service *svc) {
  size_t kept = 0;
  for (size_t i = 0; i < svc->n_holds; i++) {
    if (svc->holds[i].refs == 0)
      free(svc->holds[i].chain_id);
    else
      svc->holds[kept++] = svc->holds[i];
  }
  svc->n_holds = kept;
}

void img_service_hold(struct img_service *svc, char *const *chain_ids, size_t n) {
  pthread_mutex_lock(&svc->mu);
  for (size_t i = 0; i < n; i++) {
    while (collecting_locked(svc, chain_ids[i]))
      pthread_cond_wait(&svc->cv, &svc->mu);
    struct layer_hold *h = hold_find_locked(svc, chain_ids[i]);
    if (h == NULL) {
      svc->holds = xrealloc(svc->holds, (svc->n_holds + 1) * sizeof(*svc->holds));
      h = &svc->holds[svc->n_holds++];
      h->chain_id = xstrdup(chain_ids[i]);
      h->refs = 0;
    }
    h->refs++;
  }
  pthread_mutex_unlock(&svc->mu);
}

void img_service_unhold(struct img_service *svc, char *const *chain_ids, size_t n) {
  pthread_mutex_lock(&svc->mu);
  for (size_t i = 0; i < n; i++) {
    struct layer_hold *h = hold_find_locked(svc, chain_ids[i]);
    if (h && h->refs > 0)
      h->refs--;
  }
  if (svc->collections_running == 0)
    holds_purge_locked(svc);
  pthread_mutex_unlock(&svc->mu);
}

static void collection_begin(struct img_service *svc) {
  pthread_mutex_lock(&svc->mu);
  svc->collections_running++;
  pthread_mutex_unlock(&svc->mu);
}

static void collection_end(struct img_service *svc) {
  pthread_mutex_lock(&svc->mu);
  if (--svc->collections_running == 0)
    holds_purge_locked(svc);
  pthread_mutex_unlock(&svc->mu);
}

/* Deletes one unreferenced layer unless a pull holds (or held) it.
 * 1 deleted, 0 skipped or already gone, -1 error. */
static int collect_one(struct img_service *svc, const char *chain_id, crio_error_t *err) {
  pthread_mutex_lock(&svc->mu);
  if (hold_find_locked(svc, chain_id) || collecting_locked(svc, chain_id)) {
    pthread_mutex_unlock(&svc->mu);
    log_debug("layer %s: in use by a pull, not collected", chain_id);
    return 0;
  }
  svc->collecting = xrealloc(svc->collecting, (svc->n_collecting + 1) * sizeof(char *));
  char *mine = xstrdup(chain_id);
  svc->collecting[svc->n_collecting++] = mine;
  pthread_mutex_unlock(&svc->mu);

  cleanup_error crio_error_t rm_err = NULL;
  int rc = img_layer_store_remove(svc->layers, chain_id, &rm_err);

  pthread_mutex_lock(&svc->mu);
  for (size_t i = 0; i < svc->n_collecting; i++) {
    if (svc->collecting[i] == mine) {
      svc->collecting[i] = svc->collecting[--svc->n_collecting];
      break;
    }
  }
  pthread_cond_broadcast(&svc->cv);
  pthread_mutex_unlock(&svc->mu);
  free(mine);

  if (rc < 0) {
    if (crio_error_status(&rm_err) == ENOENT)
      return 0;
    return crio_error(err, crio_error_status(&rm_err), "%s", crio_error_message(&rm_err));
  }
  log_info("layer %s: no image uses it; removed", chain_id);
  return 1;
}

/* ---- what the records reference -------------------------------------------------- */

struct references {
  const char *exclude_id; /* the record being deleted, or NULL */
  char **chain_ids;
  size_t n, cap;
};

static int add_references(const store_record *rec, void *data) {
  struct references *refs = data;
  if (rec->image == NULL || rec->state == SM_IMAGE_LAYERS_RELEASED)
    return 0;
  if (refs->exclude_id && strcmp(rec->id, refs->exclude_id) == 0)
    return 0;
  for (size_t i = 0; i < rec->image->n_layers; i++) {
    if (refs->n == refs->cap) {
      refs->cap = refs->cap ? 2 * refs->cap : 64;
      refs->chain_ids = xrealloc(refs->chain_ids, refs->cap * sizeof(char *));
    }
    refs->chain_ids[refs->n++] = xstrdup(rec->image->layers[i]);
  }
  return 0;
}

static int str_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void references_clear(struct references *refs) {
  for (size_t i = 0; i < refs->n; i++)
    free(refs->chain_ids[i]);
  free(refs->chain_ids);
}

static bool referenced(const struct references *refs, const char *chain_id) {
  /* bsearch and qsort want a non-NULL base even for no elements. */
  return refs->n > 0 &&
         bsearch(&chain_id, refs->chain_ids, refs->n, sizeof(char *), str_cmp) != NULL;
}

static int read_references(struct img_service *svc, struct references *refs, crio_error_t *err) {
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(svc->store, STORE_TXN_READ, &txn, err) < 0)
    return -1;
  if (store_record_foreach(txn, STORE_KIND_IMAGE, add_references, refs, err) < 0)
    return -1;
  if (refs->n)
    qsort(refs->chain_ids, refs->n, sizeof(char *), str_cmp);
  return 0;
}

/* Collects each candidate that no record references. */
static int collect(struct img_service *svc, char *const *candidates, size_t n,
                   const char *exclude_id, struct img_gc_report *report, crio_error_t *err) {
  struct references refs = {.exclude_id = exclude_id};
  collection_begin(svc);
  int rc = read_references(svc, &refs, err);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    if (referenced(&refs, candidates[i]))
      continue;
    int r = collect_one(svc, candidates[i], err);
    if (r < 0)
      rc = -1;
    else if (report)
      report->layers_removed += (unsigned)r;
  }
  collection_end(svc);
  references_clear(&refs);
  return rc;
}

int img_service_gc(struct img_service *svc, struct img_gc_report *report, crio_error_t *err) {
  cleanup_strv char **published = NULL;
  if (img_layer_store_list(svc->layers, &published, err) < 0)
    return crio_error_prefix(err, "layer gc");
  size_t n = 0;
  while (published[n])
    n++;
  if (collect(svc, published, n, NULL, report, err) < 0)
    return crio_error_prefix(err, "layer gc");
  return 0;
}

int img_service_collect_layers(struct img_service *svc, const store_record *rec,
                               crio_error_t *err) {
  if (rec->image == NULL || rec->image->n_layers == 0)
    return 0;
  if (collect(svc, rec->image->layers, rec->image->n_layers, rec->id, NULL, err) < 0)
    return crio_error_prefix(err, "image %s: collect its layers", rec->id);
  return 0;
}

/* ---- start-up ------------------------------------------------------------------------ */

struct dangling {
  struct store_txn *txn;
  char **names;
  size_t n;
};

static int find_dangling(const char *name, const char *id, void *data) {
  struct dangling *d = data;
  cleanup_store_record store_record *rec = NULL;
  cleanup_error crio_error_t err = NULL;
  if (store_record_get(d->txn, STORE_KIND_IMAGE, id, &rec, &err) == 0)
    return 0;
  d->names = xrealloc(d->names, (d->n + 1) * sizeof(char *));
  d->names[d->n++] = xstrdup(name);
  return 0;
}

/* A removal releases names before its record goes, so a name without a
 * record is only left by a crash at an unlucky moment, or by a database
 * edited by hand. */
static int sweep_dangling_names(struct img_service *svc, struct img_gc_report *report,
                                crio_error_t *err) {
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(svc->store, STORE_TXN_WRITE, &txn, err) < 0)
    return -1;
  struct dangling d = {.txn = txn};
  int rc = store_name_foreach(txn, STORE_NAMES_IMAGE, find_dangling, &d, err);
  for (size_t i = 0; i < d.n; i++) {
    if (rc == 0) {
      log_info("image name %s names no image; released", d.names[i]);
      store_name_release(txn, STORE_NAMES_IMAGE, d.names[i]);
    }
    free(d.names[i]);
  }
  free(d.names);
  if (rc < 0)
    return -1;
  if (d.n == 0)
    return 0;
  if (report)
    report->names_removed += (unsigned)d.n;
  cleanup_free char *note = xasprintf("released %zu image name(s) of removed images", d.n);
  store_log_note(txn, note);
  return store_txn_commit(steal_pointer(&txn), err);
}

int img_service_startup(struct img_service *svc, struct img_gc_report *report, crio_error_t *err) {
  if (report)
    memset(report, 0, sizeof(*report));
  if (img_layer_store_cleanup_temp(svc->layers, err) < 0)
    return crio_error_prefix(err, "layer store cleanup");
  if (sweep_dangling_names(svc, report, err) < 0)
    return crio_error_prefix(err, "image names");
  return img_service_gc(svc, report, err);
}
