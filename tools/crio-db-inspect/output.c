/* Output helpers: aligned tables for people, JSON for scripts, and the
 * formats of times, ages, sizes and ids that both use. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/crio-db-inspect/inspect.h"

#define COLUMN_GAP 3

struct inspect_table {
  size_t n_cols;
  char **headers;
  size_t *widths;
  char **cells; /* n_rows * n_cols, rows not yet printed */
  size_t n_rows, cap_rows;
  bool header_printed;
};

/* Terminal columns of a UTF-8 string, near enough: one per code point. */
static size_t display_width(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    if (((unsigned char)*s & 0xc0) != 0x80)
      n++;
  return n;
}

static char *safe_cell(const char *s) {
  if (s == NULL || *s == '\0')
    return xstrdup("-");
  char *copy = xstrdup(s);
  for (char *p = copy; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      *p = (*p == '\n' || *p == '\t') ? ' ' : '?';
  return copy;
}

struct inspect_table *inspect_table_new(size_t n_cols, const char *const *headers) {
  struct inspect_table *t = xzalloc(sizeof(*t));
  t->n_cols = n_cols;
  t->headers = xcalloc(n_cols, sizeof(char *));
  t->widths = xcalloc(n_cols, sizeof(size_t));
  for (size_t i = 0; i < n_cols; i++)
    t->headers[i] = xstrdup(headers[i]);
  return t;
}

static void drop_rows(struct inspect_table *t) {
  for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
    free(t->cells[i]);
  t->n_rows = 0;
}

void inspect_table_free(struct inspect_table *t) {
  if (t == NULL)
    return;
  drop_rows(t);
  for (size_t i = 0; i < t->n_cols; i++)
    free(t->headers[i]);
  free(t->headers);
  free(t->widths);
  free(t->cells);
  free(t);
}

void inspect_table_freep(struct inspect_table **t) {
  inspect_table_free(*t);
  *t = NULL;
}

void inspect_table_min_width(struct inspect_table *t, size_t col, size_t width) {
  if (col < t->n_cols && t->widths[col] < width)
    t->widths[col] = width;
}

void inspect_table_add_row(struct inspect_table *t, const char *const *cells) {
  if (t->n_rows == t->cap_rows) {
    t->cap_rows = t->cap_rows ? t->cap_rows * 2 : 16;
    t->cells = xrealloc(t->cells, t->cap_rows * t->n_cols * sizeof(char *));
  }
  for (size_t i = 0; i < t->n_cols; i++)
    t->cells[t->n_rows * t->n_cols + i] = safe_cell(cells[i]);
  t->n_rows++;
}

static void print_row(const struct inspect_table *t, char *const *cells, FILE *out) {
  for (size_t i = 0; i < t->n_cols; i++) {
    fputs(cells[i], out);
    if (i + 1 == t->n_cols)
      break;
    /* A cell wider than its column (a late row of a followed table)
     * still gets one space, so cells never run together. */
    size_t w = display_width(cells[i]);
    size_t pad = w <= t->widths[i] ? t->widths[i] - w + COLUMN_GAP : 1;
    fprintf(out, "%*s", (int)pad, "");
  }
  fputc('\n', out);
}

int inspect_table_flush(struct inspect_table *t, FILE *out, crio_error_t *err) {
  if (!t->header_printed) {
    for (size_t c = 0; c < t->n_cols; c++) {
      inspect_table_min_width(t, c, display_width(t->headers[c]));
      for (size_t r = 0; r < t->n_rows; r++)
        inspect_table_min_width(t, c, display_width(t->cells[r * t->n_cols + c]));
    }
    print_row(t, t->headers, out);
    t->header_printed = true;
  }
  for (size_t r = 0; r < t->n_rows; r++)
    print_row(t, &t->cells[r * t->n_cols], out);
  drop_rows(t);
  if (ferror(out))
    return crio_error_errno(err, errno ? errno : EIO, "write output");
  return 0;
}

int inspect_json_print(const cJSON *doc, bool pretty, FILE *out, crio_error_t *err) {
  cleanup_free char *text = pretty ? cJSON_Print(doc) : cJSON_PrintUnformatted(doc);
  if (text == NULL)
    return crio_error(err, ENOMEM, "format JSON");
  fputs(text, out);
  fputc('\n', out);
  if (ferror(out))
    return crio_error_errno(err, errno ? errno : EIO, "write output");
  return 0;
}

void inspect_json_deletep(cJSON **doc) {
  cJSON_Delete(*doc);
  *doc = NULL;
}

void inspect_format_time(int64_t ns, int frac_digits, char *buf, size_t size) {
  if (ns == 0) {
    snprintf(buf, size, "-");
    return;
  }
  /* Floor division, so a moment before 1970 still formats correctly. */
  int64_t sec = ns / 1000000000;
  int64_t frac = ns % 1000000000;
  if (frac < 0) {
    frac += 1000000000;
    sec--;
  }
  time_t t = (time_t)sec;
  struct tm tm;
  if (gmtime_r(&t, &tm) == NULL) {
    snprintf(buf, size, "%" PRId64, ns);
    return;
  }
  char date[32];
  strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
  switch (frac_digits) {
  case 3:
    snprintf(buf, size, "%s.%03" PRId64 "Z", date, frac / 1000000);
    break;
  case 6:
    snprintf(buf, size, "%s.%06" PRId64 "Z", date, frac / 1000);
    break;
  case 9:
    snprintf(buf, size, "%s.%09" PRId64 "Z", date, frac);
    break;
  default:
    snprintf(buf, size, "%sZ", date);
    break;
  }
}

void inspect_format_age(int64_t ns, int64_t now_ns, char *buf, size_t size) {
  if (ns == 0) {
    snprintf(buf, size, "-");
    return;
  }
  /* A clock stepped back makes the moment look future: call it new. */
  int64_t s = now_ns > ns ? (now_ns - ns) / 1000000000 : 0;
  if (s < 120)
    snprintf(buf, size, "%" PRId64 "s", s);
  else if (s < 120 * 60)
    snprintf(buf, size, "%" PRId64 "m", s / 60);
  else if (s < 48 * 3600)
    snprintf(buf, size, "%" PRId64 "h", s / 3600);
  else
    snprintf(buf, size, "%" PRId64 "d", s / 86400);
}

void inspect_format_size(uint64_t bytes, char *buf, size_t size) {
  static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) {
    snprintf(buf, size, "%" PRIu64 "B", bytes);
    return;
  }
  double v = (double)bytes / 1024;
  size_t u = 0;
  while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
    v /= 1024;
    u++;
  }
  snprintf(buf, size, "%.1f%s", v, units[u]);
}

void inspect_short_id(const char *id, char *buf, size_t size) {
  if (id == NULL)
    id = "";
  /* Image ids may carry their digest algorithm; the hex is what tells
   * them apart. */
  if (strncmp(id, "sha256:", 7) == 0)
    id += 7;
  snprintf(buf, size, "%.*s", INSPECT_SHORT_ID_LEN, id);
}
