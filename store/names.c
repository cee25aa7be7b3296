/* The names db: namespace byte + name -> id.  A pod name, a container name
 * and an image tag live in separate namespaces, so equal strings of
 * different kinds never collide. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

static const char *ns_name(enum store_name_space ns) {
  switch (ns) {
  case STORE_NAMES_POD:
    return "pod";
  case STORE_NAMES_CONTAINER:
    return "container";
  case STORE_NAMES_IMAGE:
    return "image";
  }
  return NULL;
}

/* The key, or NULL after failing the txn (bad namespace, empty or too long
 * a name). */
static char *name_key(struct store_txn *txn, enum store_name_space ns, const char *name,
                      size_t *key_len) {
  if (store_txn_failed(txn))
    return NULL;
  if (ns_name(ns) == NULL) {
    store_txn_fail(txn, EINVAL, "unknown name namespace %d", (int)ns);
    return NULL;
  }
  size_t len = strlen(name);
  char what[32];
  snprintf(what, sizeof(what), "%s name", ns_name(ns));
  if (store_check_key_len(txn, len + 1, what) < 0)
    return NULL;
  char *key = xmalloc(len + 1);
  key[0] = (char)ns;
  memcpy(key + 1, name, len);
  *key_len = len + 1;
  return key;
}

/* Name lookups fail only on bad input, which the caller must hear about
 * without the txn being poisoned, so the checks are repeated here rather
 * than going through name_key(). */
int store_name_lookup(struct store_txn *txn, enum store_name_space ns, const char *name,
                      char **id_out, crio_error_t *err) {
  if (store_txn_check(txn, err) < 0)
    return -1;
  size_t len = strlen(name);
  if (ns_name(ns) == NULL || len == 0 || len + 1 > (size_t)mdb_env_get_maxkeysize(txn->store->env))
    return crio_error(err, ENOENT, "no %s named \"%s\"", ns_name(ns) ? ns_name(ns) : "object",
                      name);
  cleanup_free char *key = xmalloc(len + 1);
  key[0] = (char)ns;
  memcpy(key + 1, name, len);
  MDB_val val;
  int found = store_db_get(txn, STORE_DB_NAMES, key, len + 1, &val);
  if (found < 0)
    return store_txn_check(txn, err);
  if (found == STORE_ABSENT)
    return crio_error(err, ENOENT, "no %s named \"%s\"", ns_name(ns), name);
  *id_out = xstrndup(val.mv_data, val.mv_size);
  return 0;
}

void store_name_reserve(struct store_txn *txn, enum store_name_space ns, const char *name,
                        const char *id) {
  size_t key_len = 0;
  cleanup_free char *key = name_key(txn, ns, name, &key_len);
  if (key == NULL)
    return;
  MDB_val val;
  int found = store_db_get(txn, STORE_DB_NAMES, key, key_len, &val);
  if (found < 0)
    return;
  if (found == STORE_FOUND) {
    if (val.mv_size == strlen(id) && memcmp(val.mv_data, id, val.mv_size) == 0)
      return; /* already ours: reserving is idempotent */
    cleanup_free char *owner = xstrndup(val.mv_data, val.mv_size);
    store_txn_fail(txn, EEXIST, "%s name \"%s\" is already reserved for %s", ns_name(ns), name,
                   owner);
    return;
  }
  store_db_put(txn, STORE_DB_NAMES, key, key_len, id, strlen(id), 0);
}

void store_name_release(struct store_txn *txn, enum store_name_space ns, const char *name) {
  size_t key_len = 0;
  cleanup_free char *key = name_key(txn, ns, name, &key_len);
  if (key != NULL)
    store_db_del(txn, STORE_DB_NAMES, key, key_len);
}

void store_name_release_for(struct store_txn *txn, enum store_name_space ns, const char *name,
                            const char *id) {
  size_t key_len = 0;
  cleanup_free char *key = name_key(txn, ns, name, &key_len);
  if (key == NULL)
    return;
  MDB_val val;
  if (store_db_get(txn, STORE_DB_NAMES, key, key_len, &val) != STORE_FOUND)
    return;
  if (val.mv_size == strlen(id) && memcmp(val.mv_data, id, val.mv_size) == 0)
    store_db_del(txn, STORE_DB_NAMES, key, key_len);
}

int store_name_foreach(struct store_txn *txn, enum store_name_space ns, store_name_visit_fn visit,
                       void *data, crio_error_t *err) {
  if (store_txn_check(txn, err) < 0)
    return -1;
  if (ns_name(ns) == NULL)
    return crio_error(err, EINVAL, "unknown name namespace %d", (int)ns);
  cleanup_mdb_cursor MDB_cursor *cursor = store_db_cursor(txn, STORE_DB_NAMES);
  if (cursor == NULL)
    return store_txn_check(txn, err);
  const char prefix = (char)ns;
  MDB_val key = {.mv_size = 1, .mv_data = (void *)&prefix}, val;
  MDB_cursor_op op = MDB_SET_RANGE;
  while (store_cursor_get(txn, cursor, STORE_DB_NAMES, &key, &val, op) == STORE_FOUND &&
         store_key_has_prefix(&key, &prefix, 1)) {
    op = MDB_NEXT;
    cleanup_free char *name = xstrndup((const char *)key.mv_data + 1, key.mv_size - 1);
    cleanup_free char *id = xstrndup(val.mv_data, val.mv_size);
    int ret = visit(name, id, data);
    if (ret != 0)
      return ret;
  }
  return store_txn_check(txn, err);
}
