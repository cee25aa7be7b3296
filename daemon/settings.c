/* The values of daemon_settings[]: where each lives, and how it is read
 * from flag text and TOML, compared and printed, by type. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/settings.h"

void *daemon_setting_slot(struct daemon_config *cfg, size_t i) {
  if (daemon_settings[i].offset != DS_NO_FIELD)
    return (char *)cfg + daemon_settings[i].offset;
  return &cfg->extra[i];
}

const void *daemon_setting_slot_const(const struct daemon_config *cfg, size_t i) {
  if (daemon_settings[i].offset != DS_NO_FIELD)
    return (const char *)cfg + daemon_settings[i].offset;
  return &cfg->extra[i];
}

size_t daemon_setting_find(const char *table, const char *key) {
  for (size_t i = 0; i < daemon_n_settings; i++) {
    const struct daemon_setting *s = &daemon_settings[i];
    if (s->table && strcmp(s->table, table) == 0 && strcmp(s->key, key) == 0)
      return i;
  }
  return SIZE_MAX;
}

size_t daemon_setting_find_flag(const char *flag) {
  for (size_t i = 0; i < daemon_n_settings; i++)
    if (daemon_settings[i].flag && strcmp(daemon_settings[i].flag, flag) == 0)
      return i;
  return SIZE_MAX;
}

/* Go's time.Duration text as CRI-O takes it ("1m30s", "500ms", "0s"), or
 * plain seconds; whole seconds, rounded up. */
static int parse_duration_s(const char *text, int64_t *out);

int daemon_parse_duration(const char *text, int64_t *seconds) {
  return parse_duration_s(text, seconds);
}

static int parse_duration_s(const char *text, int64_t *out) {
  if (text == NULL || *text == '\0')
    return -1;
  char *end = NULL;
  errno = 0;
  long long plain = strtoll(text, &end, 10);
  if (errno == 0 && *end == '\0') {
    if (plain < 0)
      return -1;
    *out = plain;
    return 0;
  }
  double total_ms = 0;
  const char *p = text;
  while (*p) {
    errno = 0;
    double v = strtod(p, &end);
    if (end == p || errno != 0 || v < 0)
      return -1;
    p = end;
    double unit_ms;
    if (strncmp(p, "ms", 2) == 0)
      unit_ms = 1, p += 2;
    else if (*p == 's')
      unit_ms = 1000, p += 1;
    else if (*p == 'm')
      unit_ms = 60 * 1000, p += 1;
    else if (*p == 'h')
      unit_ms = 3600 * 1000, p += 1;
    else
      return -1;
    total_ms += v * unit_ms;
  }
  if (total_ms > (double)INT64_MAX / 2)
    return -1;
  *out = (int64_t)((total_ms + 999) / 1000);
  return 0;
}

static int parse_bool(const char *text, bool *out) {
  if (strcmp(text, "true") == 0 || strcmp(text, "1") == 0) {
    *out = true;
    return 0;
  }
  if (strcmp(text, "false") == 0 || strcmp(text, "0") == 0 || *text == '\0') {
    *out = false;
    return 0;
  }
  return -1;
}

/* "a,b" -> a NULL-terminated list, blanks trimmed, empty items dropped. */
static void strv_append_csv(char ***v, const char *csv) {
  size_t n = 0;
  if (*v == NULL)
    *v = xcalloc(1, sizeof(char *));
  while ((*v)[n])
    n++;
  cleanup_free char *copy = xstrdup(csv);
  char *save = NULL;
  for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
    while (*item == ' ')
      item++;
    size_t len = strlen(item);
    while (len && item[len - 1] == ' ')
      item[--len] = '\0';
    if (len == 0)
      continue;
    *v = xrealloc(*v, (n + 2) * sizeof(char *));
    (*v)[n++] = xstrdup(item);
    (*v)[n] = NULL;
  }
}

static char **strv_copy(char *const *v) {
  size_t n = 0;
  while (v && v[n])
    n++;
  char **copy = xcalloc(n + 1, sizeof(char *));
  for (size_t i = 0; i < n; i++)
    copy[i] = xstrdup(v[i]);
  return copy;
}

void daemon_setting_release(struct daemon_config *cfg, size_t i) {
  void *slot = daemon_setting_slot(cfg, i);
  switch (daemon_settings[i].type) {
  case DS_STRING: {
    char **s = slot;
    free(*s);
    *s = NULL;
    break;
  }
  case DS_STRINGS:
    cleanup_strvp(slot);
    break;
  default:
    break;
  }
}

int daemon_setting_set_text(struct daemon_config *cfg, size_t i, const char *text,
                            crio_error_t *err) {
  const struct daemon_setting *s = &daemon_settings[i];
  void *slot = daemon_setting_slot(cfg, i);
  switch (s->type) {
  case DS_STRING:
    free(*(char **)slot);
    *(char **)slot = xstrdup(text);
    return 0;
  case DS_BOOL:
    if (parse_bool(text, slot) < 0)
      return crio_error(err, EINVAL, "\"%s\" is not a boolean (true or false)", text);
    return 0;
  case DS_INT: {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 0);
    if (errno != 0 || end == text || *end != '\0')
      return crio_error(err, EINVAL, "\"%s\" is not an integer", text);
    *(int64_t *)slot = v;
    return 0;
  }
  case DS_STRINGS:
    cleanup_strvp(slot);
    strv_append_csv(slot, text);
    return 0;
  case DS_DURATION:
    if (parse_duration_s(text, slot) < 0)
      return crio_error(err, EINVAL, "\"%s\" is not a duration (\"90s\", \"2m\", or seconds)",
                        text);
    return 0;
  case DS_LOG_LEVEL:
    if (crio_log_level_parse(text, slot) < 0)
      return crio_error(err, EINVAL,
                        "not a valid logrus Level: \"%s\" (error, warn, info, debug, trace)", text);
    return 0;
  }
  return crio_error(err, EINVAL, "unknown setting type");
}

void daemon_setting_append_text(struct daemon_config *cfg, size_t i, const char *text) {
  strv_append_csv(daemon_setting_slot(cfg, i), text);
}

int daemon_setting_set_toml(struct daemon_config *cfg, size_t i, const struct toml_value *value,
                            crio_error_t *err) {
  const struct daemon_setting *s = &daemon_settings[i];
  void *slot = daemon_setting_slot(cfg, i);
  const char *text = NULL;
  switch (s->type) {
  case DS_STRING:
    if (toml_as_string(value, &text, err) < 0)
      return -1;
    free(*(char **)slot);
    *(char **)slot = xstrdup(text);
    return 0;
  case DS_BOOL:
    return toml_as_bool(value, slot, err);
  case DS_INT:
    /* And the other way round: tracing_sampling_rate_per_million = "" in
     * CRI-O's own documentation. */
    if (value->type == TOML_STRING && value->u.string.len == 0)
      return 0;
    return toml_as_int64(value, slot, err);
  case DS_STRINGS: {
    char **list = NULL;
    if (toml_as_string_array(value, &list, err) < 0)
      return -1;
    cleanup_strvp(slot);
    *(char ***)slot = list;
    return 0;
  }
  case DS_DURATION: {
    int64_t seconds = 0;
    if (value->type == TOML_INTEGER && value->u.integer >= 0) {
      *(int64_t *)slot = value->u.integer;
      return 0;
    }
    if (value->type != TOML_STRING || toml_as_string(value, &text, NULL) < 0 ||
        parse_duration_s(text, &seconds) < 0)
      return toml_error(err, value, "expected a duration such as \"60s\"");
    *(int64_t *)slot = seconds;
    return 0;
  }
  case DS_LOG_LEVEL:
    if (toml_as_string(value, &text, err) < 0)
      return -1;
    if (crio_log_level_parse(text, slot) < 0)
      return toml_error(err, value,
                        "not a valid logrus Level: \"%s\" (error, warn, info, debug, trace)", text);
    return 0;
  }
  return toml_error(err, value, "unknown setting type");
}

char *daemon_toml_quote(const char *s) {
  size_t cap = strlen(s) * 6 + 3, n = 0;
  char *out = xmalloc(cap);
  out[n++] = '"';
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') {
      out[n++] = '\\';
      out[n++] = (char)*p;
    } else if (*p == '\n') {
      out[n++] = '\\';
      out[n++] = 'n';
    } else if (*p == '\t') {
      out[n++] = '\\';
      out[n++] = 't';
    } else if (*p < 0x20 || *p == 0x7f) {
      n += (size_t)snprintf(out + n, cap - n, "\\u%04x", *p);
    } else {
      out[n++] = (char)*p;
    }
  }
  out[n++] = '"';
  out[n] = '\0';
  return out;
}

char *daemon_setting_format(const struct daemon_config *cfg, size_t i) {
  const void *slot = daemon_setting_slot_const(cfg, i);
  switch (daemon_settings[i].type) {
  case DS_STRING: {
    const char *v = *(char *const *)slot;
    return daemon_toml_quote(v ? v : "");
  }
  case DS_BOOL:
    return xstrdup(*(const bool *)slot ? "true" : "false");
  case DS_INT:
    return xasprintf("%" PRId64, *(const int64_t *)slot);
  case DS_DURATION:
    return xasprintf("\"%" PRId64 "s\"", *(const int64_t *)slot);
  case DS_LOG_LEVEL:
    return daemon_toml_quote(crio_log_level_name(*(const enum crio_log_level *)slot));
  case DS_STRINGS: {
    char *const *v = *(char **const *)slot;
    if (v == NULL || v[0] == NULL)
      return xstrdup("[]");
    char *out = xstrdup("[");
    for (size_t k = 0; v[k]; k++) {
      cleanup_free char *q = daemon_toml_quote(v[k]);
      char *next = xasprintf("%s\n  %s,", out, q);
      free(out);
      out = next;
    }
    char *done = xasprintf("%s\n]", out);
    free(out);
    return done;
  }
  }
  return xstrdup("\"\"");
}

static bool str_eq(const char *a, const char *b) {
  return strcmp(a ? a : "", b ? b : "") == 0;
}

bool daemon_setting_equal(const struct daemon_config *a, const struct daemon_config *b, size_t i) {
  const void *x = daemon_setting_slot_const(a, i), *y = daemon_setting_slot_const(b, i);
  switch (daemon_settings[i].type) {
  case DS_STRING:
    return str_eq(*(char *const *)x, *(char *const *)y);
  case DS_BOOL:
    return *(const bool *)x == *(const bool *)y;
  case DS_INT:
  case DS_DURATION:
    return *(const int64_t *)x == *(const int64_t *)y;
  case DS_LOG_LEVEL:
    return *(const enum crio_log_level *)x == *(const enum crio_log_level *)y;
  case DS_STRINGS: {
    char *const *v = *(char **const *)x, *const *w = *(char **const *)y;
    size_t k = 0;
    for (; v && w && v[k] && w[k]; k++)
      if (strcmp(v[k], w[k]) != 0)
        return false;
    return (v == NULL || v[k] == NULL) && (w == NULL || w[k] == NULL);
  }
  }
  return false;
}

void daemon_setting_copy(struct daemon_config *dst, const struct daemon_config *src, size_t i) {
  daemon_setting_release(dst, i);
  void *d = daemon_setting_slot(dst, i);
  const void *s = daemon_setting_slot_const(src, i);
  switch (daemon_settings[i].type) {
  case DS_STRING: {
    const char *v = *(char *const *)s;
    *(char **)d = v ? xstrdup(v) : NULL;
    break;
  }
  case DS_BOOL:
    *(bool *)d = *(const bool *)s;
    break;
  case DS_INT:
  case DS_DURATION:
    *(int64_t *)d = *(const int64_t *)s;
    break;
  case DS_LOG_LEVEL:
    *(enum crio_log_level *)d = *(const enum crio_log_level *)s;
    break;
  case DS_STRINGS:
    *(char ***)d = strv_copy(*(char **const *)s);
    break;
  }
}
