/* The names db: namespace byte + name -> id.  A pod name, a container name
 * and an image tag live in separate namespaces, so equal strings of
 * different kinds never collide.
 *
 * LMDB keys are at most 511 bytes, but a CRI name is not bounded by that:
 * a pod's k8s_<name>_<namespace>_<uid>_<attempt> may reach 776 bytes with
 * fields of 253 characters each, which the CRI allows.  A name whose key
 * would not fit is keyed by a prefix of it, a 0xff byte (never in UTF-8)
 * and the SHA-256 of the whole name, and its value carries the whole name
 * after the id and a NUL, so lookups stay exact and listings show it whole.
 * Short names keep the plain key, so databases written before are read
 * unchanged. */
#include <errno.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

#define LONG_NAME_MARK '\xff'

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

/* The key of a non-empty name (see the top of the file); *long_name tells
 * whether it is the hashed form. */
static char *build_key(const struct store_txn *txn, enum store_name_space ns, const char *name,
                       size_t *key_len, bool *long_name) {
  size_t len = strlen(name);
  size_t max = (size_t)mdb_env_get_maxkeysize(txn->store->env);
  *long_name = len + 1 > max;
  if (!*long_name) {
    char *key = xmalloc(len + 1);
    key[0] = (char)ns;
    memcpy(key + 1, name, len);
    *key_len = len + 1;
    return key;
  }
  static const char hex[] = "0123456789abcdef";
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256((const unsigned char *)name, len, digest);
  size_t prefix = max - 1 - 1 - 2 * SHA256_DIGEST_LENGTH;
  char *key = xmalloc(max);
  key[0] = (char)ns;
  memcpy(key + 1, name, prefix);
  key[1 + prefix] = LONG_NAME_MARK;
  for (size_t i = 0; i < SHA256_DIGEST_LENGTH; i++) {
    key[2 + prefix + 2 * i] = hex[digest[i] >> 4];
    key[3 + prefix + 2 * i] = hex[digest[i] & 15];
  }
  *key_len = max;
  return key;
}

/* The id a names value holds: up to its NUL, if it carries a long name. */
static size_t value_id_len(const MDB_val *val) {
  const char *nul = memchr(val->mv_data, '\0', val->mv_size);
  return nul ? (size_t)(nul - (const char *)val->mv_data) : val->mv_size;
}

static bool value_is_id(const MDB_val *val, const char *id) {
  size_t n = value_id_len(val);
  return n == strlen(id) && memcmp(val->mv_data, id, n) == 0;
}

/* The key, or NULL after failing the txn (bad namespace or empty name). */
static char *name_key(struct store_txn *txn, enum store_name_space ns, const char *name,
                      size_t *key_len, bool *long_name) {
  if (store_txn_failed(txn))
    return NULL;
  if (ns_name(ns) == NULL) {
    store_txn_fail(txn, EINVAL, "unknown name namespace %d", (int)ns);
    return NULL;
  }
  if (*name == '\0') {
    store_txn_fail(txn, EINVAL, "%s name: empty", ns_name(ns));
    return NULL;
  }
  return build_key(txn, ns, name, key_len, long_name);
}

/* Name lookups fail only on bad input, which the caller must hear about
 * without the txn being poisoned, so the checks are made here rather than
 * through name_key(). */
int store_name_lookup(struct store_txn *txn, enum store_name_space ns, const char *name,
                      char **id_out, crio_error_t *err) {
  if (store_txn_check(txn, err) < 0)
    return -1;
  if (ns_name(ns) == NULL || *name == '\0')
    return crio_error(err, ENOENT, "no %s named \"%s\"", ns_name(ns) ? ns_name(ns) : "object",
                      name);
  size_t key_len = 0;
  bool long_name = false;
  cleanup_free char *key = build_key(txn, ns, name, &key_len, &long_name);
  MDB_val val;
  int found = store_db_get(txn, STORE_DB_NAMES, key, key_len, &val);
  if (found < 0)
    return store_txn_check(txn, err);
  if (found == STORE_ABSENT)
    return crio_error(err, ENOENT, "no %s named \"%s\"", ns_name(ns), name);
  *id_out = xstrndup(val.mv_data, value_id_len(&val));
  return 0;
}

void store_name_reserve(struct store_txn *txn, enum store_name_space ns, const char *name,
                        const char *id) {
  size_t key_len = 0;
  bool long_name = false;
  cleanup_free char *key = name_key(txn, ns, name, &key_len, &long_name);
  if (key == NULL)
    return;
  MDB_val val;
  int found = store_db_get(txn, STORE_DB_NAMES, key, key_len, &val);
  if (found < 0)
    return;
  if (found == STORE_FOUND) {
    if (value_is_id(&val, id))
      return; /* already ours: reserving is idempotent */
    cleanup_free char *owner = xstrndup(val.mv_data, value_id_len(&val));
    store_txn_fail(txn, EEXIST, "%s name \"%s\" is already reserved for %s", ns_name(ns), name,
                   owner);
    return;
  }
  if (!long_name) {
    store_db_put(txn, STORE_DB_NAMES, key, key_len, id, strlen(id), 0);
    return;
  }
  size_t id_len = strlen(id), name_len = strlen(name);
  cleanup_free char *value = xmalloc(id_len + 1 + name_len);
  memcpy(value, id, id_len);
  value[id_len] = '\0';
  memcpy(value + id_len + 1, name, name_len);
  store_db_put(txn, STORE_DB_NAMES, key, key_len, value, id_len + 1 + name_len, 0);
}

void store_name_release(struct store_txn *txn, enum store_name_space ns, const char *name) {
  size_t key_len = 0;
  bool long_name = false;
  cleanup_free char *key = name_key(txn, ns, name, &key_len, &long_name);
  if (key != NULL)
    store_db_del(txn, STORE_DB_NAMES, key, key_len);
}

void store_name_release_for(struct store_txn *txn, enum store_name_space ns, const char *name,
                            const char *id) {
  size_t key_len = 0;
  bool long_name = false;
  cleanup_free char *key = name_key(txn, ns, name, &key_len, &long_name);
  if (key == NULL)
    return;
  MDB_val val;
  if (store_db_get(txn, STORE_DB_NAMES, key, key_len, &val) != STORE_FOUND)
    return;
  if (value_is_id(&val, id))
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
    size_t id_len = value_id_len(&val);
    cleanup_free char *name =
        id_len < val.mv_size
            ? xstrndup((const char *)val.mv_data + id_len + 1, val.mv_size - id_len - 1)
            : xstrndup((const char *)key.mv_data + 1, key.mv_size - 1);
    cleanup_free char *id = xstrndup(val.mv_data, id_len);
    int ret = visit(name, id, data);
    if (ret != 0)
      return ret;
  }
  return store_txn_check(txn, err);
}
