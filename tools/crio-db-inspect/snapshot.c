/* One consistent copy of what check and orphans compare: every record,
 * the name index, the pod -> containers index and the ledger of the whole
 * log, read in a single read transaction (records and log must be of the
 * same moment to be compared) and held in memory once it ends. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "tools/crio-db-inspect/inspect.h"

/* Records are freed after the visit callback: keep a decoded copy. */
static store_record *record_copy(const store_record *rec) {
  size_t len = protobuf_c_message_get_packed_size(&rec->base);
  cleanup_free uint8_t *buf = xmalloc(len ? len : 1);
  protobuf_c_message_pack(&rec->base, buf);
  return crio__store__object_record__unpack(NULL, len, buf);
}

static int record_visit(const store_record *rec, void *data) {
  struct inspect_snapshot *s = data;
  store_record *copy = record_copy(rec);
  if (copy == NULL)
    return 0; /* cannot happen for a record that just decoded */
  s->records = xrealloc(s->records, (s->n_records + 1) * sizeof(*s->records));
  s->records[s->n_records++] = copy;
  return 0;
}

struct name_visit {
  struct inspect_snapshot *s;
  char ns;
};

static int name_visit(const char *name, const char *id, void *data) {
  struct name_visit *v = data;
  struct inspect_snapshot *s = v->s;
  s->names = xrealloc(s->names, (s->n_names + 1) * sizeof(*s->names));
  s->names[s->n_names++] =
      (struct inspect_name){.ns = v->ns, .name = xstrdup(name), .id = xstrdup(id)};
  return 0;
}

static int name_cmp(const void *a, const void *b) {
  const struct inspect_name *x = a, *y = b;
  if (x->ns != y->ns)
    return x->ns < y->ns ? -1 : 1;
  return strcmp(x->name, y->name);
}

int inspect_snapshot_read(struct store *store, struct inspect_snapshot *s, crio_error_t *err) {
  memset(s, 0, sizeof(*s));
  recovery_ledger_init(&s->ledger);
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(store, STORE_TXN_READ, &txn, err) < 0)
    return -1;
  static const enum store_kind kinds[] = {STORE_KIND_POD, STORE_KIND_CONTAINER, STORE_KIND_IMAGE};
  for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
    if (store_record_foreach(txn, kinds[i], record_visit, s, err) < 0)
      return crio_error_prefix(err, "read %s records", store_kind_name(kinds[i]));
  static const char spaces[] = {STORE_NAMES_POD, STORE_NAMES_CONTAINER, STORE_NAMES_IMAGE};
  for (size_t i = 0; i < sizeof(spaces); i++) {
    struct name_visit v = {.s = s, .ns = spaces[i]};
    if (store_name_foreach(txn, (enum store_name_space)spaces[i], name_visit, &v, err) < 0)
      return crio_error_prefix(err, "read the name index");
  }
  s->pod_children = xcalloc(s->n_records + 1, sizeof(char **));
  for (size_t i = 0; i < s->n_records; i++) {
    if (s->records[i]->kind != STORE_KIND_POD)
      continue;
    if (store_pod_container_ids(txn, s->records[i]->id, &s->pod_children[i], NULL, err) < 0)
      return crio_error_prefix(err, "read the containers of pod %s", s->records[i]->id);
  }
  if (recovery_ledger_load(txn, &s->ledger, err) < 0)
    return -1;
  if (store_txn_commit(steal_pointer(&txn), err) < 0)
    return -1;
  if (s->n_names > 1)
    qsort(s->names, s->n_names, sizeof(*s->names), name_cmp);
  return 0;
}

void inspect_snapshot_release(struct inspect_snapshot *s) {
  for (size_t i = 0; i < s->n_records; i++) {
    if (s->pod_children)
      cleanup_strvp(&s->pod_children[i]);
    store_record_free(s->records[i]);
  }
  free(s->pod_children);
  free(s->records);
  for (size_t i = 0; i < s->n_names; i++) {
    free(s->names[i].name);
    free(s->names[i].id);
  }
  free(s->names);
  recovery_ledger_release(&s->ledger);
  memset(s, 0, sizeof(*s));
}

struct record_key {
  uint32_t kind;
  const char *id;
};

/* Records are read kind by kind, each kind in id order (LMDB's byte
 * order, which strcmp agrees with for ids without NUL). */
static int record_cmp(const void *key, const void *item) {
  const struct record_key *k = key;
  const store_record *rec = *(store_record *const *)item;
  if (k->kind != rec->kind)
    return k->kind < rec->kind ? -1 : 1;
  return strcmp(k->id, rec->id);
}

ssize_t inspect_snapshot_index(const struct inspect_snapshot *s, uint32_t kind, const char *id) {
  if (id == NULL || s->n_records == 0)
    return -1;
  struct record_key key = {.kind = kind, .id = id};
  store_record *const *found =
      bsearch(&key, s->records, s->n_records, sizeof(*s->records), record_cmp);
  return found ? found - s->records : -1;
}

const store_record *inspect_snapshot_find(const struct inspect_snapshot *s, uint32_t kind,
                                          const char *id) {
  ssize_t i = inspect_snapshot_index(s, kind, id);
  return i < 0 ? NULL : s->records[i];
}

const struct inspect_name *inspect_snapshot_name(const struct inspect_snapshot *s, char ns,
                                                 const char *name) {
  if (s->n_names == 0)
    return NULL;
  struct inspect_name key = {.ns = ns, .name = (char *)name};
  return bsearch(&key, s->names, s->n_names, sizeof(*s->names), name_cmp);
}

const char *inspect_record_parent(const store_record *rec) {
  if (rec->parent_id && rec->parent_id[0])
    return rec->parent_id;
  if (rec->body_case == CRIO__STORE__OBJECT_RECORD__BODY_CONTAINER && rec->container->pod_id &&
      rec->container->pod_id[0])
    return rec->container->pod_id;
  return NULL;
}
