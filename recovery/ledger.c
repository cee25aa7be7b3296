/* The ledger: what the state log says each object holds.  Replaying the
 * entries in seq order, per object, each entry first releases, then
 * acquires (the order store/ applies them to the record and compaction
 * replays them in), matching resources by type+id.  A resource acquired
 * again after its release is held again; acquiring what is already held
 * (a step repeated after a crash) keeps its place and takes the newer
 * detail.  Pure: no I/O except recovery_ledger_load's walk of the log. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "recovery/recovery.h"

#define LOG_ENTRY(t) CRIO__STORE__LOG_ENTRY__TYPE__##t

void recovery_ledger_init(struct recovery_ledger *ledger) {
  memset(ledger, 0, sizeof(*ledger));
}

static void object_release(struct recovery_object *obj) {
  free(obj->id);
  free(obj->parent_id);
  for (size_t i = 0; i < obj->n_held; i++)
    store_resource_free(obj->held[i].res);
  free(obj->held);
}

void recovery_ledger_release(struct recovery_ledger *ledger) {
  for (size_t i = 0; i < ledger->n_objects; i++)
    object_release(&ledger->objects[i]);
  free(ledger->objects);
  free(ledger->buckets);
  memset(ledger, 0, sizeof(*ledger));
}

/* FNV-1a: ids are random hex or digests, any cheap hash spreads them. */
static size_t hash_id(const char *id) {
  uint64_t h = 1469598103934665603ULL;
  for (const unsigned char *p = (const unsigned char *)id; *p; p++)
    h = (h ^ *p) * 1099511628211ULL;
  return (size_t)h;
}

/* Open addressing over indexes + 1 (0 = empty), at most half full. */
static size_t *bucket_of(const struct recovery_ledger *ledger, const char *id) {
  size_t mask = ledger->n_buckets - 1;
  for (size_t i = hash_id(id) & mask;; i = (i + 1) & mask) {
    size_t *slot = &ledger->buckets[i];
    if (*slot == 0 || strcmp(ledger->objects[*slot - 1].id, id) == 0)
      return slot;
  }
}

static void grow_buckets(struct recovery_ledger *ledger) {
  free(ledger->buckets);
  ledger->n_buckets = ledger->n_buckets ? ledger->n_buckets * 2 : 64;
  ledger->buckets = xcalloc(ledger->n_buckets, sizeof(size_t));
  for (size_t i = 0; i < ledger->n_objects; i++)
    *bucket_of(ledger, ledger->objects[i].id) = i + 1;
}

struct recovery_object *recovery_ledger_find(const struct recovery_ledger *ledger, const char *id) {
  if (ledger->n_buckets == 0 || id == NULL)
    return NULL;
  size_t slot = *bucket_of(ledger, id);
  return slot ? &ledger->objects[slot - 1] : NULL;
}

static struct recovery_object *object_for(struct recovery_ledger *ledger,
                                          const store_log_entry *entry) {
  struct recovery_object *obj = recovery_ledger_find(ledger, entry->object_id);
  if (obj)
    return obj;
  if ((ledger->n_objects + 1) * 2 > ledger->n_buckets)
    grow_buckets(ledger);
  if (ledger->n_objects == ledger->cap_objects) {
    ledger->cap_objects = ledger->cap_objects ? ledger->cap_objects * 2 : 64;
    ledger->objects = xrealloc(ledger->objects, ledger->cap_objects * sizeof(*ledger->objects));
  }
  obj = &ledger->objects[ledger->n_objects++];
  memset(obj, 0, sizeof(*obj));
  obj->id = xstrdup(entry->object_id);
  obj->parent_id = xstrdup(entry->parent_id ? entry->parent_id : "");
  obj->kind = entry->kind;
  obj->first_seq = entry->seq;
  *bucket_of(ledger, obj->id) = ledger->n_objects;
  return obj;
}

static struct recovery_held *held_find(struct recovery_object *obj, const store_resource *res) {
  for (size_t i = 0; i < obj->n_held; i++)
    if (strcmp(obj->held[i].res->type, res->type) == 0 &&
        strcmp(obj->held[i].res->id, res->id) == 0)
      return &obj->held[i];
  return NULL;
}

static store_resource *resource_copy(const store_resource *res) {
  return store_resource_new(res->type, res->id, res->detail.data, res->detail.len);
}

static void held_release(struct recovery_object *obj, const store_resource *res) {
  struct recovery_held *h = held_find(obj, res);
  if (h == NULL)
    return; /* a release of what was never logged as acquired: nothing held */
  store_resource_free(h->res);
  size_t i = (size_t)(h - obj->held);
  /* Keeps acquisition order: wipe releases in reverse of it. */
  memmove(&obj->held[i], &obj->held[i + 1], (obj->n_held - i - 1) * sizeof(*obj->held));
  obj->n_held--;
}

static void held_acquire(struct recovery_object *obj, const store_resource *res, uint64_t seq) {
  struct recovery_held *h = held_find(obj, res);
  if (h) {
    store_resource_free(h->res);
    h->res = resource_copy(res);
    return;
  }
  obj->held = xrealloc(obj->held, (obj->n_held + 1) * sizeof(*obj->held));
  obj->held[obj->n_held++] = (struct recovery_held){.res = resource_copy(res), .seq = seq};
}

static bool named(const char *s) {
  return s != NULL && s[0] != '\0';
}

void recovery_ledger_add(struct recovery_ledger *ledger, const store_log_entry *entry) {
  ledger->n_entries++;
  if (entry->seq > ledger->last_seq)
    ledger->last_seq = entry->seq;
  if (ledger->first_seq == 0 || entry->seq < ledger->first_seq) {
    ledger->first_seq = entry->seq;
    ledger->first_time = entry->time;
  }
  if (!named(entry->object_id))
    return; /* a daemon NOTE */
  struct recovery_object *obj = object_for(ledger, entry);
  obj->last_seq = entry->seq;
  obj->last_type = entry->type;
  if (entry->kind)
    obj->kind = entry->kind;
  if (named(entry->parent_id) && !named(obj->parent_id)) {
    free(obj->parent_id);
    obj->parent_id = xstrdup(entry->parent_id);
  }
  for (size_t i = 0; i < entry->n_released; i++)
    if (entry->released[i] && named(entry->released[i]->type) && named(entry->released[i]->id))
      held_release(obj, entry->released[i]);
  for (size_t i = 0; i < entry->n_acquired; i++)
    if (entry->acquired[i] && named(entry->acquired[i]->type) && named(entry->acquired[i]->id))
      held_acquire(obj, entry->acquired[i], entry->seq);
  switch (entry->type) {
  case LOG_ENTRY(CREATE):
    obj->deleted = false; /* an id used again after a DELETE */
    /* fallthrough */
  case LOG_ENTRY(TRANSITION):
    obj->state = entry->to_state;
    obj->state_seq = entry->seq;
    break;
  case LOG_ENTRY(DELETE):
    obj->deleted = true;
    obj->state = 0;
    obj->state_seq = entry->seq;
    break;
  default:
    break;
  }
}

size_t recovery_ledger_held_total(const struct recovery_ledger *ledger) {
  size_t n = 0;
  for (size_t i = 0; i < ledger->n_objects; i++)
    n += ledger->objects[i].n_held;
  return n;
}

static int load_visit(const store_log_entry *entry, void *data) {
  recovery_ledger_add(data, entry);
  return 0;
}

int recovery_ledger_load(struct store_txn *txn, struct recovery_ledger *ledger, crio_error_t *err) {
  if (store_log_foreach(txn, 0, load_visit, ledger, err) < 0)
    return crio_error_prefix(err, "read the state log");
  return 0;
}
