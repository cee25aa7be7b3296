/* Small helpers of the spec builder: exact integers in JSON, clean paths,
 * warnings. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "oci/spec_internal.h"

#define JSON_EXACT_MAX (1LL << 53) /* doubles hold every integer up to here */

cJSON *spec_json_int(int64_t v) {
  if (v >= -JSON_EXACT_MAX && v <= JSON_EXACT_MAX)
    return cJSON_CreateNumber((double)v);
  char buf[32];
  snprintf(buf, sizeof(buf), "%" PRId64, v);
  return cJSON_CreateRaw(buf);
}

cJSON *spec_json_uint(uint64_t v) {
  if (v <= (uint64_t)JSON_EXACT_MAX)
    return cJSON_CreateNumber((double)v);
  char buf[32];
  snprintf(buf, sizeof(buf), "%" PRIu64, v);
  return cJSON_CreateRaw(buf);
}

void spec_add_int(cJSON *obj, const char *key, int64_t v) {
  cJSON_AddItemToObject(obj, key, spec_json_int(v));
}

void spec_add_uint(cJSON *obj, const char *key, uint64_t v) {
  cJSON_AddItemToObject(obj, key, spec_json_uint(v));
}

cJSON *spec_json_strv(const char *const *v, size_t n) {
  cJSON *arr = cJSON_CreateArray();
  for (size_t i = 0; i < n; i++)
    cJSON_AddItemToArray(arr, cJSON_CreateString(v[i]));
  return arr;
}

bool oci_spec_get_int(const cJSON *obj, const char *key, int64_t *value) {
  const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (cJSON_IsNumber(item)) {
    *value = (int64_t)item->valuedouble;
    return true;
  }
  if (cJSON_IsRaw(item) && item->valuestring) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(item->valuestring, &end, 10);
    if (errno == ERANGE && item->valuestring[0] != '-') {
      /* A uint64 beyond INT64_MAX (a hugepage limit): saturate. */
      *value = INT64_MAX;
      return true;
    }
    if (errno != 0 || end == item->valuestring || *end != '\0')
      return false;
    *value = v;
    return true;
  }
  return false;
}

char *spec_clean_abs_path(const char *path) {
  if (path == NULL || path[0] != '/')
    return NULL;
  size_t len = strlen(path);
  char *out = xmalloc(len + 2);
  size_t o = 0;
  const char *p = path;
  while (*p) {
    while (*p == '/')
      p++;
    const char *start = p;
    while (*p && *p != '/')
      p++;
    size_t n = (size_t)(p - start);
    if (n == 0 || (n == 1 && start[0] == '.'))
      continue;
    if (n == 2 && start[0] == '.' && start[1] == '.') {
      free(out);
      return NULL;
    }
    out[o++] = '/';
    memcpy(out + o, start, n);
    o += n;
  }
  if (o == 0)
    out[o++] = '/';
  out[o] = '\0';
  return out;
}

bool spec_path_is_within(const char *child, const char *parent) {
  if (strcmp(parent, "/") == 0)
    return true;
  size_t n = strlen(parent);
  return strncmp(child, parent, n) == 0 && (child[n] == '\0' || child[n] == '/');
}

void spec_warn(struct spec_ctx *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *msg = xvasprintf(fmt, ap);
  va_end(ap);
  if (c->w == NULL) {
    log_warning("container %s: %s", c->in->container_id, msg);
    free(msg);
    return;
  }
  c->w->items = xrealloc(c->w->items, (c->w->n + 1) * sizeof(char *));
  c->w->items[c->w->n++] = msg;
}

void oci_spec_warnings_release(struct oci_spec_warnings *w) {
  if (w == NULL)
    return;
  for (size_t i = 0; i < w->n; i++)
    free(w->items[i]);
  free(w->items);
  w->items = NULL;
  w->n = 0;
}
