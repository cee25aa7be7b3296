/* The value tree: building, freeing, lookups and iteration. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "toml/toml.h"

/* Below this many keys a linear scan beats hashing. */
#define TABLE_INDEX_MIN 8

const char *toml_type_name(enum toml_type type) {
  switch (type) {
  case TOML_TABLE:
    return "table";
  case TOML_ARRAY:
    return "array";
  case TOML_STRING:
    return "string";
  case TOML_INTEGER:
    return "integer";
  case TOML_FLOAT:
    return "float";
  case TOML_BOOL:
    return "boolean";
  case TOML_DATETIME:
    return "date-time";
  }
  return "unknown";
}

struct toml_value *toml_new(enum toml_type type) {
  struct toml_value *value = xzalloc(sizeof(*value));
  value->type = type;
  if (type == TOML_STRING || type == TOML_DATETIME)
    value->u.string.ptr = xstrdup("");
  return value;
}

void toml_free(struct toml_value *value) {
  if (value == NULL)
    return;
  /* Recursion is bounded: the parser refuses trees deeper than
   * TOML_MAX_DEPTH. */
  switch (value->type) {
  case TOML_TABLE:
    for (size_t i = 0; i < value->u.table.len; i++) {
      free(value->u.table.entries[i].key);
      toml_free(value->u.table.entries[i].value);
    }
    free(value->u.table.entries);
    free(value->u.table.index);
    free(value->u.table.label);
    break;
  case TOML_ARRAY:
    for (size_t i = 0; i < value->u.array.len; i++)
      toml_free(value->u.array.items[i]);
    free(value->u.array.items);
    break;
  case TOML_STRING:
  case TOML_DATETIME:
    free(value->u.string.ptr);
    break;
  case TOML_INTEGER:
  case TOML_FLOAT:
  case TOML_BOOL:
    break;
  }
  free(value);
}

void cleanup_tomlp(struct toml_value **value) {
  toml_free(*value);
  *value = NULL;
}

/* FNV-1a: short keys, no adversary worth a keyed hash (the files are
 * root's), and a bad distribution only costs speed. */
static size_t key_hash(const char *key) {
  uint64_t h = 14695981039346656037ULL;
  for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
    h ^= *p;
    h *= 1099511628211ULL;
  }
  return (size_t)h;
}

static void index_insert(struct toml_value *table, size_t entry) {
  size_t mask = table->u.table.index_cap - 1;
  size_t slot = key_hash(table->u.table.entries[entry].key) & mask;
  while (table->u.table.index[slot] != 0)
    slot = (slot + 1) & mask;
  table->u.table.index[slot] = entry + 1;
}

/* Keeps the index at most half full, so probes stay short. */
static void index_update(struct toml_value *table) {
  size_t len = table->u.table.len;
  if (len < TABLE_INDEX_MIN)
    return;
  if (table->u.table.index != NULL && len * 2 <= table->u.table.index_cap) {
    index_insert(table, len - 1);
    return;
  }
  size_t cap = 16;
  while (cap < len * 4)
    cap *= 2;
  free(table->u.table.index);
  table->u.table.index = xcalloc(cap, sizeof(size_t));
  table->u.table.index_cap = cap;
  for (size_t i = 0; i < len; i++)
    index_insert(table, i);
}

int toml_table_add(struct toml_value *table, const char *key, struct toml_value *value,
                   crio_error_t *err) {
  cleanup_toml struct toml_value *owned = value;
  if (table == NULL || table->type != TOML_TABLE)
    return crio_error(err, EINVAL, "add key %s: not a table", key);
  if (toml_get(table, key) != NULL)
    return crio_error(err, EEXIST, "add key %s: already present", key);
  if (table->u.table.len == table->u.table.cap) {
    table->u.table.cap = table->u.table.cap ? table->u.table.cap * 2 : 8;
    table->u.table.entries =
        xrealloc(table->u.table.entries, table->u.table.cap * sizeof(struct toml_entry));
  }
  owned->parent = table;
  struct toml_entry *entry = &table->u.table.entries[table->u.table.len++];
  entry->key = xstrdup(key);
  entry->value = steal_pointer(&owned);
  index_update(table);
  return 0;
}

void toml_array_append(struct toml_value *array, struct toml_value *item) {
  if (array->u.array.len == array->u.array.cap) {
    array->u.array.cap = array->u.array.cap ? array->u.array.cap * 2 : 4;
    array->u.array.items =
        xrealloc(array->u.array.items, array->u.array.cap * sizeof(struct toml_value *));
  }
  item->parent = array;
  array->u.array.items[array->u.array.len++] = item;
}

const struct toml_value *toml_get(const struct toml_value *table, const char *key) {
  if (table == NULL || table->type != TOML_TABLE || key == NULL)
    return NULL;
  const struct toml_entry *entries = table->u.table.entries;
  if (table->u.table.index == NULL) {
    for (size_t i = 0; i < table->u.table.len; i++)
      if (strcmp(entries[i].key, key) == 0)
        return entries[i].value;
    return NULL;
  }
  size_t mask = table->u.table.index_cap - 1;
  for (size_t slot = key_hash(key) & mask; table->u.table.index[slot] != 0;
       slot = (slot + 1) & mask) {
    const struct toml_entry *entry = &entries[table->u.table.index[slot] - 1];
    if (strcmp(entry->key, key) == 0)
      return entry->value;
  }
  return NULL;
}

const struct toml_value *toml_get_path(const struct toml_value *root, const char *path) {
  if (path == NULL)
    return NULL;
  const struct toml_value *value = root;
  cleanup_free char *copy = xstrdup(path);
  char *rest = copy;
  char *part;
  while (value != NULL && (part = strsep(&rest, ".")) != NULL)
    value = toml_get(value, part);
  return value;
}

size_t toml_table_count(const struct toml_value *table) {
  return table && table->type == TOML_TABLE ? table->u.table.len : 0;
}

const char *toml_table_key(const struct toml_value *table, size_t i) {
  return i < toml_table_count(table) ? table->u.table.entries[i].key : NULL;
}

const struct toml_value *toml_table_value(const struct toml_value *table, size_t i) {
  return i < toml_table_count(table) ? table->u.table.entries[i].value : NULL;
}

size_t toml_array_count(const struct toml_value *array) {
  return array && array->type == TOML_ARRAY ? array->u.array.len : 0;
}

const struct toml_value *toml_array_item(const struct toml_value *array, size_t i) {
  return i < toml_array_count(array) ? array->u.array.items[i] : NULL;
}
