/* The meta db: small named values (schema_version, log_seq, boot_id,
 * pod_cidr, ...), stored as text without a terminating NUL so that
 * `mdb_dump -p` shows them as they are. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

int store_meta_get(struct store_txn *txn, const char *key, char **value, crio_error_t *err) {
  MDB_val val;
  int found = store_db_get(txn, STORE_DB_META, key, strlen(key), &val);
  if (found < 0)
    return store_txn_check(txn, err);
  if (found == STORE_ABSENT)
    return crio_error(err, ENOENT, "meta %s not set", key);
  *value = xstrndup(val.mv_data, val.mv_size);
  return 0;
}

void store_meta_put(struct store_txn *txn, const char *key, const char *value) {
  if (store_check_key_len(txn, strlen(key), "meta key") < 0)
    return;
  store_db_put(txn, STORE_DB_META, key, strlen(key), value, strlen(value), 0);
}

int store_meta_get_u64(struct store_txn *txn, const char *key, uint64_t *out) {
  MDB_val val;
  int found = store_db_get(txn, STORE_DB_META, key, strlen(key), &val);
  if (found != STORE_FOUND)
    return found;
  cleanup_free char *text = xstrndup(val.mv_data, val.mv_size);
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(text, &end, 10);
  if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0)
    return store_txn_fail(txn, EUCLEAN,
                          "meta %s is \"%s\", not a number (the database is "
                          "damaged)",
                          key, text);
  *out = v;
  return STORE_FOUND;
}

void store_meta_put_u64(struct store_txn *txn, const char *key, uint64_t v) {
  char text[24];
  snprintf(text, sizeof(text), "%llu", (unsigned long long)v);
  store_meta_put(txn, key, text);
}
