/* Typed access, and errors that say where a value is: consumers report a
 * bad setting as "crio.conf:12:1: crio.runtime.log_level: ...", never as
 * a bare "wrong type". */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "toml/toml.h"

struct path_buf {
  char *data;
  size_t len, cap;
};

static void path_add(struct path_buf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    while (b->len + n + 1 > b->cap)
      b->cap = b->cap ? b->cap * 2 : 64;
    b->data = xrealloc(b->data, b->cap);
  }
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

static bool is_bare_key(const char *key) {
  if (*key == '\0')
    return false;
  for (const char *p = key; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '_' || *p == '-'))
      return false;
  return true;
}

/* Written as TOML would need it, so a path can be pasted back into a file. */
static void path_add_key(struct path_buf *b, const char *key) {
  if (is_bare_key(key)) {
    path_add(b, key, strlen(key));
    return;
  }
  path_add(b, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
    char esc[8];
    if (*p == '"' || *p == '\\') {
      esc[0] = '\\';
      esc[1] = (char)*p;
      path_add(b, esc, 2);
    } else if (*p < 0x20 || *p == 0x7f) {
      snprintf(esc, sizeof(esc), "\\u%04X", *p);
      path_add(b, esc, 6);
    } else {
      path_add(b, (const char *)p, 1);
    }
  }
  path_add(b, "\"", 1);
}

char *toml_value_path(const struct toml_value *value) {
  struct path_buf b = {0};
  path_add(&b, "", 0);
  size_t depth = 0;
  for (const struct toml_value *v = value; v && v->parent; v = v->parent)
    depth++;
  cleanup_free const struct toml_value **chain = xcalloc(depth ? depth : 1, sizeof(*chain));
  size_t n = depth;
  for (const struct toml_value *v = value; v && v->parent; v = v->parent)
    chain[--n] = v;
  /* Finding a child's key or index is a scan of its parent: fine on the
   * error paths this serves. */
  for (size_t i = 0; i < depth; i++) {
    const struct toml_value *parent = chain[i]->parent;
    if (parent->type == TOML_TABLE) {
      for (size_t k = 0; k < parent->u.table.len; k++) {
        if (parent->u.table.entries[k].value != chain[i])
          continue;
        if (i > 0)
          path_add(&b, ".", 1);
        path_add_key(&b, parent->u.table.entries[k].key);
        break;
      }
    } else if (parent->type == TOML_ARRAY) {
      for (size_t k = 0; k < parent->u.array.len; k++) {
        if (parent->u.array.items[k] != chain[i])
          continue;
        char subscript[32];
        int len = snprintf(subscript, sizeof(subscript), "[%zu]", k);
        path_add(&b, subscript, (size_t)len);
        break;
      }
    }
  }
  return b.data;
}

int toml_error(crio_error_t *err, const struct toml_value *value, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cleanup_free char *msg = xvasprintf(fmt, ap);
  va_end(ap);
  const struct toml_value *root = value;
  while (root && root->parent)
    root = root->parent;
  const char *label = root && root->type == TOML_TABLE ? root->u.table.label : NULL;
  cleanup_free char *where = NULL;
  if (value && value->line && label)
    where = xasprintf("%s:%u:%u: ", label, value->line, value->column);
  else if (value && value->line)
    where = xasprintf("%u:%u: ", value->line, value->column);
  else if (label)
    where = xasprintf("%s: ", label);
  else
    where = xstrdup("");
  cleanup_free char *path = toml_value_path(value);
  return crio_error(err, EINVAL, "%s%s%s%s", where, path, *path ? ": " : "", msg);
}

static int wrong_type(crio_error_t *err, const struct toml_value *value, const char *expected) {
  if (value == NULL)
    return crio_error(err, EINVAL, "expected %s, found nothing", expected);
  return toml_error(err, value, "expected %s, found %s", expected, toml_type_name(value->type));
}

int toml_as_string(const struct toml_value *value, const char **out, crio_error_t *err) {
  if (value == NULL || value->type != TOML_STRING)
    return wrong_type(err, value, "string");
  if (memchr(value->u.string.ptr, '\0', value->u.string.len) != NULL)
    return toml_error(err, value, "string contains a NUL character");
  *out = value->u.string.ptr;
  return 0;
}

int toml_as_bool(const struct toml_value *value, bool *out, crio_error_t *err) {
  if (value == NULL || value->type != TOML_BOOL)
    return wrong_type(err, value, "boolean");
  *out = value->u.boolean;
  return 0;
}

int toml_as_int64(const struct toml_value *value, int64_t *out, crio_error_t *err) {
  if (value == NULL || value->type != TOML_INTEGER)
    return wrong_type(err, value, "integer");
  *out = value->u.integer;
  return 0;
}

int toml_as_double(const struct toml_value *value, double *out, crio_error_t *err) {
  if (value && value->type == TOML_INTEGER)
    *out = (double)value->u.integer;
  else if (value && value->type == TOML_FLOAT)
    *out = value->u.floating;
  else
    return wrong_type(err, value, "float");
  return 0;
}

int toml_as_string_array(const struct toml_value *value, char ***out, crio_error_t *err) {
  if (value == NULL || value->type != TOML_ARRAY)
    return wrong_type(err, value, "array of strings");
  size_t len = value->u.array.len;
  cleanup_strv char **strv = xcalloc(len + 1, sizeof(char *));
  for (size_t i = 0; i < len; i++) {
    const char *s = NULL;
    if (toml_as_string(value->u.array.items[i], &s, err) < 0)
      return -1;
    strv[i] = xstrdup(s);
  }
  *out = steal_pointer(&strv);
  return 0;
}

/* 0 with *value set, 1 when absent, -1 when table is not a table. */
static int lookup(const struct toml_value *table, const char *key, const struct toml_value **value,
                  crio_error_t *err) {
  if (table == NULL)
    return 1;
  if (table->type != TOML_TABLE)
    return wrong_type(err, table, "table");
  *value = toml_get(table, key);
  return *value ? 0 : 1;
}

int toml_get_string(const struct toml_value *table, const char *key, const char **out,
                    crio_error_t *err) {
  const struct toml_value *value = NULL;
  int found = lookup(table, key, &value, err);
  if (found != 0)
    return found;
  return toml_as_string(value, out, err);
}

int toml_get_bool(const struct toml_value *table, const char *key, bool *out, crio_error_t *err) {
  const struct toml_value *value = NULL;
  int found = lookup(table, key, &value, err);
  if (found != 0)
    return found;
  return toml_as_bool(value, out, err);
}

int toml_get_int64(const struct toml_value *table, const char *key, int64_t *out,
                   crio_error_t *err) {
  const struct toml_value *value = NULL;
  int found = lookup(table, key, &value, err);
  if (found != 0)
    return found;
  return toml_as_int64(value, out, err);
}

int toml_get_double(const struct toml_value *table, const char *key, double *out,
                    crio_error_t *err) {
  const struct toml_value *value = NULL;
  int found = lookup(table, key, &value, err);
  if (found != 0)
    return found;
  return toml_as_double(value, out, err);
}

int toml_get_string_array(const struct toml_value *table, const char *key, char ***out,
                          crio_error_t *err) {
  const struct toml_value *value = NULL;
  int found = lookup(table, key, &value, err);
  if (found != 0)
    return found;
  return toml_as_string_array(value, out, err);
}

int toml_get_table(const struct toml_value *table, const char *key, const struct toml_value **out,
                   crio_error_t *err) {
  const struct toml_value *value = NULL;
  int found = lookup(table, key, &value, err);
  if (found != 0)
    return found;
  if (value->type != TOML_TABLE)
    return wrong_type(err, value, "table");
  *out = value;
  return 0;
}

int toml_get_array(const struct toml_value *table, const char *key, const struct toml_value **out,
                   crio_error_t *err) {
  const struct toml_value *value = NULL;
  int found = lookup(table, key, &value, err);
  if (found != 0)
    return found;
  if (value == NULL || value->type != TOML_ARRAY)
    return wrong_type(err, value, "array");
  *out = value;
  return 0;
}
