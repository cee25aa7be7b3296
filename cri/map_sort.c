/* Map entries sorted by key, for the canonical encoding of the configs a
 * record keeps (pod_record.c, container_record.c). */
#include <stdlib.h>
#include <string.h>

#include "cri/internal.h"

/* Every map entry message protobuf-c generates starts with base, key,
 * value, whatever the map field. */
struct map_entry {
  ProtobufCMessage base;
  char *key;
  char *value;
};

static int compare_entry_keys(const void *a, const void *b) {
  const struct map_entry *ea = *(void *const *)a;
  const struct map_entry *eb = *(void *const *)b;
  return strcmp(ea->key, eb->key);
}

void cri_map_sort_by_key(void *entries, size_t n) {
  if (n > 1)
    qsort(entries, n, sizeof(void *), compare_entry_keys);
}
