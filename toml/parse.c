/* The TOML 1.0 parser: one pass over the text, building the tree as it
 * goes.  Values are parsed by recursive descent, bounded by TOML_MAX_DEPTH;
 * key = value lines and [headers] walk the tree with TOML's rules about
 * what may be defined where. */
#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "toml/toml.h"

struct parser {
  const char *text;
  size_t len;
  size_t pos;
  size_t begin; /* past a byte-order mark */
  const char *label;
  crio_error_t *err;
  struct toml_value *root;
  struct toml_value *current; /* the table key = value lines go into */
  unsigned current_depth;
  /* Line and column of offset loc_off.  Positions are asked for in
   * increasing order, so counting on from the last answer keeps the parse
   * linear; only an error message (once) looks back. */
  size_t loc_off;
  unsigned loc_line, loc_col;
  locale_t c_locale; /* for strtod_l; made on the first float */
};

static void parser_release(struct parser *p) {
  if (p->c_locale != (locale_t)0)
    freelocale(p->c_locale);
}

/* ---- positions and errors ------------------------------------------------ */

static void locate(struct parser *p, size_t off, unsigned *line, unsigned *col) {
  if (off < p->loc_off) {
    p->loc_off = p->begin;
    p->loc_line = 1;
    p->loc_col = 1;
  }
  for (; p->loc_off < off; p->loc_off++) {
    unsigned char c = (unsigned char)p->text[p->loc_off];
    if (c == '\n') {
      p->loc_line++;
      p->loc_col = 1;
    } else if ((c & 0xC0) != 0x80) {
      p->loc_col++;
    }
  }
  *line = p->loc_line;
  *col = p->loc_col;
}

__attribute__((format(printf, 3, 4))) static int fail_at(struct parser *p, size_t off,
                                                         const char *fmt, ...) {
  unsigned line, col;
  locate(p, off, &line, &col);
  va_list ap;
  va_start(ap, fmt);
  cleanup_free char *msg = xvasprintf(fmt, ap);
  va_end(ap);
  if (p->label)
    return crio_error(p->err, EINVAL, "%s:%u:%u: %s", p->label, line, col, msg);
  return crio_error(p->err, EINVAL, "%u:%u: %s", line, col, msg);
}

static int fail_depth(struct parser *p, size_t off) {
  return fail_at(p, off, "nesting deeper than %d levels", TOML_MAX_DEPTH);
}

static const char *describe(const struct toml_value *v) {
  switch (v->type) {
  case TOML_TABLE:
    return v->origin == TOML_ORIGIN_INLINE ? "an inline table" : "a table";
  case TOML_ARRAY:
    return v->origin == TOML_ORIGIN_ARRAY_OF_TABLES ? "an array of tables" : "an array";
  case TOML_STRING:
    return "a string";
  case TOML_INTEGER:
    return "an integer";
  case TOML_FLOAT:
    return "a float";
  case TOML_BOOL:
    return "a boolean";
  case TOML_DATETIME:
    return "a date-time";
  }
  return "a value";
}

/* A key names something that exists as another kind than needed. */
static int conflict(struct parser *p, size_t off, const struct toml_value *existing,
                    const char *wanted) {
  cleanup_free char *path = toml_value_path(existing);
  return fail_at(p, off, "%s is %s (defined at %u:%u), not %s", path, describe(existing),
                 existing->line, existing->column, wanted);
}

/* ---- characters ---------------------------------------------------------- */

static int peek_at(const struct parser *p, size_t off) {
  return off < p->len ? (unsigned char)p->text[off] : -1;
}

static int peek(const struct parser *p) {
  return peek_at(p, p->pos);
}

static bool looking_at(const struct parser *p, const char *s) {
  size_t n = strlen(s);
  return p->len - p->pos >= n && memcmp(p->text + p->pos, s, n) == 0;
}

static bool is_digit(int c) {
  return c >= '0' && c <= '9';
}

static bool is_bare_key_char(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' || c == '-';
}

static int hex_value(int c) {
  if (is_digit(c))
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* 1 for LF, 2 for CRLF, 0 otherwise: a lone CR is no newline in TOML. */
static size_t newline_len(const struct parser *p, size_t off) {
  int c = peek_at(p, off);
  if (c == '\n')
    return 1;
  if (c == '\r' && peek_at(p, off + 1) == '\n')
    return 2;
  return 0;
}

/* Length of the valid UTF-8 sequence at off, 0 if invalid (overlong forms,
 * surrogates and code points past U+10FFFF included). */
static size_t utf8_sequence(const struct parser *p, size_t off) {
  const unsigned char *s = (const unsigned char *)p->text + off;
  size_t n;
  uint32_t cp, min;
  if (s[0] < 0x80)
    return 1;
  if ((s[0] & 0xE0) == 0xC0) {
    n = 2, cp = s[0] & 0x1F, min = 0x80;
  } else if ((s[0] & 0xF0) == 0xE0) {
    n = 3, cp = s[0] & 0x0F, min = 0x800;
  } else if ((s[0] & 0xF8) == 0xF0) {
    n = 4, cp = s[0] & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (p->len - off < n)
    return 0;
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    cp = cp << 6 | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

static void skip_ws(struct parser *p) {
  while (peek(p) == ' ' || peek(p) == '\t')
    p->pos++;
}

/* At '#': up to, not including, the newline. */
static int skip_comment(struct parser *p) {
  p->pos++;
  while (p->pos < p->len && newline_len(p, p->pos) == 0) {
    unsigned char c = (unsigned char)p->text[p->pos];
    if (c == '\t' || (c >= 0x20 && c < 0x7f)) {
      p->pos++;
    } else if (c < 0x80) {
      return fail_at(p, p->pos, "control character U+%04X in comment", c);
    } else {
      size_t n = utf8_sequence(p, p->pos);
      if (n == 0)
        return fail_at(p, p->pos, "invalid UTF-8");
      p->pos += n;
    }
  }
  return 0;
}

/* Inside arrays, where values may spread over lines with comments. */
static int skip_ws_comments_newlines(struct parser *p) {
  for (;;) {
    skip_ws(p);
    size_t nl = newline_len(p, p->pos);
    if (nl > 0)
      p->pos += nl;
    else if (peek(p) == '#') {
      if (skip_comment(p) < 0)
        return -1;
    } else
      return 0;
  }
}

static int expect_line_end(struct parser *p, const char *after) {
  skip_ws(p);
  if (peek(p) == '#' && skip_comment(p) < 0)
    return -1;
  if (p->pos == p->len)
    return 0;
  size_t nl = newline_len(p, p->pos);
  if (nl == 0)
    return fail_at(p, p->pos, "expected end of line after %s", after);
  p->pos += nl;
  return 0;
}

/* ---- strings ------------------------------------------------------------- */

struct buf {
  char *data;
  size_t len, cap;
};

static void buf_add(struct buf *b, const void *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 32;
    while (b->len + n + 1 > cap)
      cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
  }
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

static void buf_addc(struct buf *b, char c) {
  buf_add(b, &c, 1);
}

static void buf_release(struct buf *b) {
  free(b->data);
  b->data = NULL;
}
#define cleanup_buf __attribute__((cleanup(buf_release)))

static void buf_add_codepoint(struct buf *b, uint32_t cp) {
  unsigned char out[4];
  size_t n;
  if (cp < 0x80) {
    out[0] = (unsigned char)cp, n = 1;
  } else if (cp < 0x800) {
    out[0] = (unsigned char)(0xC0 | cp >> 6), n = 2;
  } else if (cp < 0x10000) {
    out[0] = (unsigned char)(0xE0 | cp >> 12), n = 3;
  } else {
    out[0] = (unsigned char)(0xF0 | cp >> 18), n = 4;
  }
  for (size_t i = 1; i < n; i++)
    out[i] = (unsigned char)(0x80 | ((cp >> (6 * (n - 1 - i))) & 0x3F));
  buf_add(b, out, n);
}

/* At a backslash inside a basic string. */
static int scan_escape(struct parser *p, struct buf *b, bool multiline) {
  static const char from[] = "btnfr\"\\";
  static const char to[] = "\b\t\n\f\r\"\\";
  size_t start = p->pos;
  int c = peek_at(p, start + 1);
  const char *simple = c > 0 ? strchr(from, c) : NULL;
  if (simple != NULL) {
    buf_addc(b, to[simple - from]);
    p->pos = start + 2;
    return 0;
  }
  if (c == 'u' || c == 'U') {
    unsigned digits = c == 'u' ? 4 : 8;
    uint32_t cp = 0;
    for (unsigned i = 0; i < digits; i++) {
      int h = hex_value(peek_at(p, start + 2 + i));
      if (h < 0)
        return fail_at(p, start, "\\%c escape needs %u hex digits", c, digits);
      cp = cp << 4 | (uint32_t)h;
    }
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return fail_at(p, start, "\\%c%.*s is not a Unicode scalar value", c, (int)digits,
                     p->text + start + 2);
    buf_add_codepoint(b, cp);
    p->pos = start + 2 + digits;
    return 0;
  }
  if (multiline) {
    /* A backslash that ends a line swallows it and the blanks after. */
    size_t i = start + 1;
    while (peek_at(p, i) == ' ' || peek_at(p, i) == '\t')
      i++;
    if (newline_len(p, i) > 0) {
      p->pos = i;
      for (;;) {
        size_t nl = newline_len(p, p->pos);
        if (peek(p) == ' ' || peek(p) == '\t')
          p->pos++;
        else if (nl > 0)
          p->pos += nl;
        else
          return 0;
      }
    }
  }
  if (c > 0x20 && c < 0x7f)
    return fail_at(p, start, "invalid escape sequence '\\%c'", c);
  return fail_at(p, start, "invalid escape sequence");
}

/* A string of any of TOML's four kinds, p->pos at its opening quote. */
static int scan_string(struct parser *p, struct buf *b, bool is_key) {
  size_t start = p->pos;
  char quote = p->text[start];
  const char triple[] = {quote, quote, quote, '\0'};
  bool multiline = looking_at(p, triple);
  if (multiline && is_key)
    return fail_at(p, start, "a multi-line string cannot be a key");
  p->pos += multiline ? 3 : 1;
  if (multiline) /* a newline right after the delimiter is not content */
    p->pos += newline_len(p, p->pos);
  buf_add(b, "", 0);
  for (;;) {
    if (p->pos >= p->len)
      return fail_at(p, start,
                     multiline ? "unterminated multi-line string" : "unterminated string");
    unsigned char c = (unsigned char)p->text[p->pos];
    if (c == (unsigned char)quote) {
      if (!multiline) {
        p->pos++;
        return 0;
      }
      size_t run = 1;
      while (peek_at(p, p->pos + run) == quote)
        run++;
      if (run < 3) {
        buf_add(b, p->text + p->pos, run);
        p->pos += run;
        continue;
      }
      /* Up to two quotes may end the content, just before the delimiter:
       * """a""""" is a"".  Any more are left for the caller to refuse. */
      size_t content = run - 3 > 2 ? 2 : run - 3;
      buf_add(b, p->text + p->pos, content);
      p->pos += content + 3;
      return 0;
    }
    if (c == '\\' && quote == '"') {
      if (scan_escape(p, b, multiline) < 0)
        return -1;
      continue;
    }
    size_t nl = newline_len(p, p->pos);
    if (nl > 0) {
      if (!multiline)
        return fail_at(p, start, "unterminated string");
      buf_addc(b, '\n'); /* CRLF too: one newline convention in values */
      p->pos += nl;
    } else if (c == '\t' || (c >= 0x20 && c < 0x7f)) {
      buf_addc(b, (char)c);
      p->pos++;
    } else if (c < 0x80) {
      return fail_at(p, p->pos, "control character U+%04X in string", c);
    } else {
      size_t n = utf8_sequence(p, p->pos);
      if (n == 0)
        return fail_at(p, p->pos, "invalid UTF-8");
      buf_add(b, p->text + p->pos, n);
      p->pos += n;
    }
  }
}

/* ---- keys ---------------------------------------------------------------- */

struct key_part {
  char *name;
  size_t off;
  unsigned line, column;
};

struct key {
  struct key_part *parts;
  size_t n, cap;
};

static void key_release(struct key *k) {
  for (size_t i = 0; i < k->n; i++)
    free(k->parts[i].name);
  free(k->parts);
}
#define cleanup_key __attribute__((cleanup(key_release)))

/* A key, dotted or not, and the blanks after it. */
static int scan_key(struct parser *p, struct key *k) {
  for (;;) {
    size_t off = p->pos;
    int c = peek(p);
    cleanup_free char *name = NULL;
    if (c == '"' || c == '\'') {
      cleanup_buf struct buf b = {0};
      if (scan_string(p, &b, true) < 0)
        return -1;
      if (memchr(b.data, '\0', b.len) != NULL)
        return fail_at(p, off, "key contains a NUL character");
      name = steal_pointer(&b.data);
    } else if (is_bare_key_char(c)) {
      while (is_bare_key_char(peek(p)))
        p->pos++;
      name = xstrndup(p->text + off, p->pos - off);
    } else {
      return fail_at(p, off, "expected a key");
    }
    if (k->n == TOML_MAX_DEPTH)
      return fail_depth(p, off);
    if (k->n == k->cap) {
      k->cap = k->cap ? k->cap * 2 : 4;
      k->parts = xrealloc(k->parts, k->cap * sizeof(*k->parts));
    }
    struct key_part *part = &k->parts[k->n++];
    part->name = steal_pointer(&name);
    part->off = off;
    locate(p, off, &part->line, &part->column);
    skip_ws(p);
    if (peek(p) != '.')
      return 0;
    p->pos++;
    skip_ws(p);
  }
}

/* ---- scalars ------------------------------------------------------------- */

static struct toml_value *new_value(struct parser *p, enum toml_type type, enum toml_origin origin,
                                    size_t off) {
  struct toml_value *value = toml_new(type);
  value->origin = origin;
  locate(p, off, &value->line, &value->column);
  return value;
}

static bool all_digits(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!is_digit(s[i]))
      return false;
  return true;
}

static int two_digits(const char *s) {
  return (s[0] - '0') * 10 + s[1] - '0';
}

/* HH:MM:SS[.fraction]: the length matched, 0 if none.  Seconds are
 * required in TOML 1.0; 60 is a leap second. */
static size_t match_time(const char *s, size_t n) {
  if (n < 8 || !all_digits(s, 2) || s[2] != ':' || !all_digits(s + 3, 2) || s[5] != ':' ||
      !all_digits(s + 6, 2))
    return 0;
  if (two_digits(s) > 23 || two_digits(s + 3) > 59 || two_digits(s + 6) > 60)
    return 0;
  size_t i = 8;
  if (i < n && s[i] == '.') {
    size_t first = ++i;
    while (i < n && is_digit(s[i]))
      i++;
    if (i == first)
      return 0;
  }
  return i;
}

/* YYYY-MM-DD in the first 10 of s's bytes, with a real day of the month. */
static bool match_date(const char *s) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (!all_digits(s, 4) || s[4] != '-' || !all_digits(s + 5, 2) || s[7] != '-' ||
      !all_digits(s + 8, 2))
    return false;
  int year = two_digits(s) * 100 + two_digits(s + 2);
  int month = two_digits(s + 5), day = two_digits(s + 8);
  if (month < 1 || month > 12 || day < 1)
    return false;
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return day <= (month == 2 && leap ? 29 : days[month - 1]);
}

static bool match_offset(const char *s, size_t n) {
  if (n == 1)
    return s[0] == 'Z' || s[0] == 'z';
  return n == 6 && (s[0] == '+' || s[0] == '-') && all_digits(s + 1, 2) && s[3] == ':' &&
         all_digits(s + 4, 2) && two_digits(s + 1) <= 23 && two_digits(s + 4) <= 59;
}

static bool looks_like_datetime(const char *s, size_t n) {
  return (n >= 5 && all_digits(s, 4) && s[4] == '-') || (n >= 3 && all_digits(s, 2) && s[2] == ':');
}

/* Offset date-time, local date-time, local date or local time. */
static bool valid_datetime(const char *s, size_t n) {
  if (s[2] == ':')
    return match_time(s, n) == n;
  if (n < 10 || !match_date(s))
    return false;
  if (n == 10)
    return true;
  if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
    return false;
  size_t time = match_time(s + 11, n - 11);
  if (time == 0)
    return false;
  size_t used = 11 + time;
  return used == n || match_offset(s + used, n - used);
}

/* DIGIT *( ["_"] DIGIT ) in radix from s[*i], digits copied to out[*o]:
 * the number of digits.  A misplaced underscore stops the scan, and the
 * caller refuses the leftover. */
static size_t scan_digits(const char *s, size_t n, size_t *i, int radix, char *out, size_t *o) {
  size_t count = 0;
  while (*i < n) {
    int d = hex_value(s[*i]);
    if (d >= 0 && d < radix) {
      out[(*o)++] = s[(*i)++];
      count++;
    } else if (s[*i] == '_' && count > 0 && *i + 1 < n && hex_value(s[*i + 1]) >= 0 &&
               hex_value(s[*i + 1]) < radix) {
      (*i)++;
    } else {
      break;
    }
  }
  return count;
}

static bool digits_to_int64(const char *digits, size_t n, int radix, bool negative, int64_t *out) {
  uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    uint64_t d = (uint64_t)hex_value(digits[i]);
    if (v > (limit - d) / (uint64_t)radix)
      return false;
    v = v * (uint64_t)radix + d;
  }
  if (!negative)
    *out = (int64_t)v;
  else
    *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
  return true;
}

/* Messages quote at most this much of a bad token. */
#define SHOWN(n) ((int)((n) > 40 ? 40 : (n)))

static int parse_number(struct parser *p, size_t start, const char *s, size_t n,
                        struct toml_value **out) {
  size_t i = 0;
  bool negative = false;
  if (s[0] == '+' || s[0] == '-') {
    negative = s[0] == '-';
    i = 1;
  }
  if (n - i == 3 && (memcmp(s + i, "inf", 3) == 0 || memcmp(s + i, "nan", 3) == 0)) {
    struct toml_value *v = new_value(p, TOML_FLOAT, TOML_ORIGIN_NONE, start);
    v->u.floating = s[i] == 'i' ? (double)INFINITY : (double)NAN;
    if (negative)
      v->u.floating = -v->u.floating;
    *out = v;
    return 0;
  }
  if (i == 0 && ((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
    return fail_at(p, start, "invalid value '%.*s' (strings need quotes)", SHOWN(n), s);
  /* clean: sign, then the digits, '.', 'e' and exponent sign without
   * underscores; never longer than the token plus the sign and a NUL. */
  cleanup_free char *clean = xmalloc(n + 2);
  size_t o = 1;
  clean[0] = negative ? '-' : '+';
  int radix = 10;
  bool is_float = false;
  if (i == 0 && n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o' || s[1] == 'b'))
    radix = s[1] == 'x' ? 16 : s[1] == 'o' ? 8 : 2;
  if (radix != 10) {
    i = 2;
    if (scan_digits(s, n, &i, radix, clean, &o) == 0 || i != n)
      return fail_at(p, start, "invalid number '%.*s'", SHOWN(n), s);
  } else {
    size_t digits = scan_digits(s, n, &i, 10, clean, &o);
    if (digits == 0)
      return fail_at(p, start, "invalid number '%.*s'", SHOWN(n), s);
    if (digits > 1 && clean[1] == '0')
      return fail_at(p, start, "leading zeros are not allowed: '%.*s'", SHOWN(n), s);
    if (i < n && s[i] == '.') {
      is_float = true;
      clean[o++] = s[i++];
      if (scan_digits(s, n, &i, 10, clean, &o) == 0)
        return fail_at(p, start, "invalid number '%.*s'", SHOWN(n), s);
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
      is_float = true;
      clean[o++] = s[i++];
      if (i < n && (s[i] == '+' || s[i] == '-'))
        clean[o++] = s[i++];
      if (scan_digits(s, n, &i, 10, clean, &o) == 0)
        return fail_at(p, start, "invalid number '%.*s'", SHOWN(n), s);
    }
    if (i != n)
      return fail_at(p, start, "invalid number '%.*s'", SHOWN(n), s);
  }
  clean[o] = '\0';
  if (!is_float) {
    int64_t v = 0;
    if (!digits_to_int64(clean + 1, o - 1, radix, negative, &v))
      return fail_at(p, start, "integer out of range: '%.*s'", SHOWN(n), s);
    *out = new_value(p, TOML_INTEGER, TOML_ORIGIN_NONE, start);
    (*out)->u.integer = v;
    return 0;
  }
  /* strtod() follows LC_NUMERIC, and a daemon may have set a locale whose
   * decimal point is a comma. */
  if (p->c_locale == (locale_t)0) {
    p->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (p->c_locale == (locale_t)0)
      return crio_error_errno(p->err, errno, "newlocale C");
  }
  errno = 0;
  double d = strtod_l(clean, NULL, p->c_locale);
  if (errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL))
    return fail_at(p, start, "float out of range: '%.*s'", SHOWN(n), s);
  *out = new_value(p, TOML_FLOAT, TOML_ORIGIN_NONE, start);
  (*out)->u.floating = d;
  return 0;
}

/* A value that is not a string, array or inline table: a run of the
 * characters numbers, date-times and booleans are made of. */
static int parse_bare_value(struct parser *p, struct toml_value **out) {
  size_t start = p->pos;
  while (is_bare_key_char(peek(p)) || peek(p) == '+' || peek(p) == '.' || peek(p) == ':')
    p->pos++;
  if (p->pos == start)
    return fail_at(p, start, "expected a value");
  const char *s = p->text + start;
  /* RFC 3339 allows a space between date and time: 1979-05-27 07:32:00 */
  if (p->pos - start == 10 && looks_like_datetime(s, 10) && peek(p) == ' ' &&
      is_digit(peek_at(p, p->pos + 1)) && is_digit(peek_at(p, p->pos + 2)) &&
      peek_at(p, p->pos + 3) == ':') {
    p->pos++;
    while (is_bare_key_char(peek(p)) || peek(p) == '+' || peek(p) == '.' || peek(p) == ':')
      p->pos++;
  }
  size_t n = p->pos - start;
  if ((n == 4 && memcmp(s, "true", 4) == 0) || (n == 5 && memcmp(s, "false", 5) == 0)) {
    *out = new_value(p, TOML_BOOL, TOML_ORIGIN_NONE, start);
    (*out)->u.boolean = n == 4;
    return 0;
  }
  if (looks_like_datetime(s, n)) {
    if (!valid_datetime(s, n))
      return fail_at(p, start, "invalid date-time '%.*s'", SHOWN(n), s);
    *out = new_value(p, TOML_DATETIME, TOML_ORIGIN_NONE, start);
    free((*out)->u.string.ptr);
    (*out)->u.string.ptr = xstrndup(s, n);
    (*out)->u.string.len = n;
    return 0;
  }
  return parse_number(p, start, s, n, out);
}

/* ---- values -------------------------------------------------------------- */

static int parse_value(struct parser *p, unsigned depth, struct toml_value *parent,
                       const struct key_part *key);
static int parse_keyval(struct parser *p, struct toml_value *table, unsigned depth);

/* The items of an array already in the tree, p->pos at its '['. */
static int parse_array(struct parser *p, unsigned depth, struct toml_value *array) {
  size_t start = p->pos;
  p->pos++;
  for (;;) {
    if (skip_ws_comments_newlines(p) < 0)
      return -1;
    if (peek(p) == ']')
      break;
    if (peek(p) == -1)
      return fail_at(p, start, "unterminated array");
    if (parse_value(p, depth + 1, array, NULL) < 0)
      return -1;
    if (skip_ws_comments_newlines(p) < 0)
      return -1;
    if (peek(p) == ']')
      break;
    if (peek(p) == -1)
      return fail_at(p, start, "unterminated array");
    if (peek(p) != ',')
      return fail_at(p, p->pos, "expected ',' or ']' in array");
    p->pos++;
  }
  p->pos++;
  return 0;
}

/* The keys of an inline table already in the tree, p->pos at its '{'.
 * TOML 1.0 keeps an inline table on one line, without a trailing comma
 * (values inside it, like arrays, may still span lines). */
static int parse_inline_table(struct parser *p, unsigned depth, struct toml_value *table) {
  size_t start = p->pos;
  p->pos++;
  skip_ws(p);
  bool first = true;
  while (peek(p) != '}') {
    if (!first) {
      if (peek(p) != ',')
        return fail_at(p, p->pos, "expected ',' or '}' in inline table");
      p->pos++;
      skip_ws(p);
      if (peek(p) == '}')
        return fail_at(p, p->pos, "trailing comma in inline table");
    }
    first = false;
    if (peek(p) == -1)
      return fail_at(p, start, "unterminated inline table");
    if (newline_len(p, p->pos) > 0)
      return fail_at(p, p->pos, "newline in inline table");
    if (parse_keyval(p, table, depth) < 0)
      return -1;
    skip_ws(p);
    if (peek(p) == -1)
      return fail_at(p, start, "unterminated inline table");
    if (newline_len(p, p->pos) > 0)
      return fail_at(p, p->pos, "newline in inline table");
  }
  p->pos++;
  return 0;
}

static int parse_string(struct parser *p, struct toml_value **out) {
  size_t start = p->pos;
  cleanup_buf struct buf b = {0};
  if (scan_string(p, &b, false) < 0)
    return -1;
  *out = new_value(p, TOML_STRING, TOML_ORIGIN_NONE, start);
  free((*out)->u.string.ptr);
  (*out)->u.string.len = b.len;
  (*out)->u.string.ptr = steal_pointer(&b.data);
  return 0;
}

/* Parses a value and adds it to parent: as key in a table, or at the end
 * of an array when key is NULL.  depth is where the value sits (the root
 * table is 0).  An array or inline table joins the tree before its
 * contents are parsed, so errors inside it name its whole path. */
static int parse_value(struct parser *p, unsigned depth, struct toml_value *parent,
                       const struct key_part *key) {
  size_t start = p->pos;
  int c = peek(p);
  cleanup_toml struct toml_value *value = NULL;
  if (c == '[' || c == '{') {
    if (depth > TOML_MAX_DEPTH)
      return fail_depth(p, start);
    value = new_value(p, c == '[' ? TOML_ARRAY : TOML_TABLE, TOML_ORIGIN_INLINE, start);
  } else if (c == '"' || c == '\'') {
    if (parse_string(p, &value) < 0)
      return -1;
  } else if (parse_bare_value(p, &value) < 0) {
    return -1;
  }
  struct toml_value *added = value;
  if (key != NULL) {
    value->line = key->line;
    value->column = key->column;
    if (toml_table_add(parent, key->name, steal_pointer(&value), p->err) < 0)
      return -1;
  } else {
    toml_array_append(parent, steal_pointer(&value));
  }
  if (c == '[')
    return parse_array(p, depth, added);
  if (c == '{')
    return parse_inline_table(p, depth, added);
  return 0;
}

/* ---- where keys go ----------------------------------------------------------
 * The parser owns the tree it builds, so it casts away the const that
 * toml_get() promises consumers. */

/* One step along a dotted key (a.b.c = 1): into a table an earlier dotted
 * key made, or a new one.  TOML 1.0 forbids reaching into a [table] or an
 * inline table this way (toml-lang/toml#846).  A table only implied by a
 * header ([a.b.c] implies a.b) may be, and is then defined by the dotted
 * key, so a later [a.b] is a redefinition: what toml-test and Python's
 * tomllib do. */
static int descend_dotted(struct parser *p, struct toml_value **table, unsigned *depth,
                          const struct key_part *part) {
  struct toml_value *child = (struct toml_value *)toml_get(*table, part->name);
  if (child == NULL) {
    if (*depth + 1 > TOML_MAX_DEPTH)
      return fail_depth(p, part->off);
    child = toml_new(TOML_TABLE);
    child->origin = TOML_ORIGIN_DOTTED;
    child->line = part->line;
    child->column = part->column;
    if (toml_table_add(*table, part->name, child, p->err) < 0)
      return -1;
  } else if (child->type != TOML_TABLE) {
    return conflict(p, part->off, child, "a table");
  } else if (child->origin == TOML_ORIGIN_IMPLICIT) {
    child->origin = TOML_ORIGIN_DOTTED;
    child->line = part->line;
    child->column = part->column;
  } else if (child->origin != TOML_ORIGIN_DOTTED) {
    cleanup_free char *path = toml_value_path(child);
    if (child->origin == TOML_ORIGIN_INLINE)
      return fail_at(p, part->off, "cannot add keys to inline table %s (defined at %u:%u)", path,
                     child->line, child->column);
    return fail_at(p, part->off,
                   "cannot add keys to table %s with dotted keys: it is "
                   "defined by a header at %u:%u",
                   path, child->line, child->column);
  }
  *table = child;
  (*depth)++;
  return 0;
}

static int parse_keyval(struct parser *p, struct toml_value *table, unsigned depth) {
  cleanup_key struct key k = {0};
  if (scan_key(p, &k) < 0)
    return -1;
  if (peek(p) != '=')
    return fail_at(p, p->pos, "expected '=' after key");
  p->pos++;
  skip_ws(p);
  for (size_t i = 0; i + 1 < k.n; i++)
    if (descend_dotted(p, &table, &depth, &k.parts[i]) < 0)
      return -1;
  const struct key_part *last = &k.parts[k.n - 1];
  const struct toml_value *existing = toml_get(table, last->name);
  if (existing != NULL) {
    cleanup_free char *path = toml_value_path(existing);
    return fail_at(p, last->off, "duplicate key %s (first defined at %u:%u)", path, existing->line,
                   existing->column);
  }
  return parse_value(p, depth + 1, table, last);
}

/* One step along a header's name ([a.b.c]): into any table that is not
 * inline, into the last table of an array of tables, or a new table that
 * a later [header] may still define. */
static int descend_header(struct parser *p, struct toml_value **table, unsigned *depth,
                          const struct key_part *part, size_t header) {
  struct toml_value *child = (struct toml_value *)toml_get(*table, part->name);
  if (child == NULL) {
    if (*depth + 1 > TOML_MAX_DEPTH)
      return fail_depth(p, header);
    child = toml_new(TOML_TABLE);
    child->origin = TOML_ORIGIN_IMPLICIT;
    child->line = part->line;
    child->column = part->column;
    if (toml_table_add(*table, part->name, child, p->err) < 0)
      return -1;
  } else if (child->type == TOML_ARRAY && child->origin == TOML_ORIGIN_ARRAY_OF_TABLES) {
    child = child->u.array.items[child->u.array.len - 1];
    (*depth)++;
  } else if (child->type != TOML_TABLE) {
    return conflict(p, header, child, "a table");
  } else if (child->origin == TOML_ORIGIN_INLINE) {
    cleanup_free char *path = toml_value_path(child);
    return fail_at(p, header, "cannot add keys to inline table %s (defined at %u:%u)", path,
                   child->line, child->column);
  }
  *table = child;
  (*depth)++;
  return 0;
}

/* [table] or [[array of tables]]: sets where the next key = value lines go. */
static int parse_header(struct parser *p) {
  size_t start = p->pos;
  unsigned line, column;
  locate(p, start, &line, &column);
  bool array = looking_at(p, "[[");
  p->pos += array ? 2 : 1;
  skip_ws(p);
  cleanup_key struct key k = {0};
  if (scan_key(p, &k) < 0)
    return -1;
  if (array ? !looking_at(p, "]]") : peek(p) != ']')
    return fail_at(p, p->pos,
                   array ? "expected ']]' to close the array of tables header"
                         : "expected ']' to close the table header");
  p->pos += array ? 2 : 1;

  struct toml_value *table = p->root;
  unsigned depth = 0;
  for (size_t i = 0; i + 1 < k.n; i++)
    if (descend_header(p, &table, &depth, &k.parts[i], start) < 0)
      return -1;
  const char *name = k.parts[k.n - 1].name;
  struct toml_value *existing = (struct toml_value *)toml_get(table, name);
  struct toml_value *target = existing;
  if (array) {
    if (depth + 2 > TOML_MAX_DEPTH)
      return fail_depth(p, start);
    if (existing == NULL) {
      struct toml_value *tables = toml_new(TOML_ARRAY);
      tables->origin = TOML_ORIGIN_ARRAY_OF_TABLES;
      tables->line = line;
      tables->column = column;
      if (toml_table_add(table, name, tables, p->err) < 0)
        return -1;
      existing = tables;
    } else if (existing->type != TOML_ARRAY || existing->origin != TOML_ORIGIN_ARRAY_OF_TABLES) {
      return conflict(p, start, existing, "an array of tables");
    }
    target = toml_new(TOML_TABLE);
    toml_array_append(existing, target);
    depth += 2;
  } else if (existing == NULL) {
    if (depth + 1 > TOML_MAX_DEPTH)
      return fail_depth(p, start);
    target = toml_new(TOML_TABLE);
    if (toml_table_add(table, name, target, p->err) < 0)
      return -1;
    depth += 1;
  } else if (existing->type == TOML_TABLE && existing->origin == TOML_ORIGIN_IMPLICIT) {
    depth += 1; /* [a] after [a.b]: defining what was only implied */
  } else if (existing->type == TOML_TABLE) {
    cleanup_free char *path = toml_value_path(existing);
    return fail_at(p, start, "table %s defined twice (first at %u:%u)", path, existing->line,
                   existing->column);
  } else {
    return conflict(p, start, existing, "a table");
  }
  target->origin = TOML_ORIGIN_HEADER;
  target->line = line;
  target->column = column;
  p->current = target;
  p->current_depth = depth;
  return 0;
}

/* ---- documents ----------------------------------------------------------- */

int toml_parse(const char *text, size_t len, const char *label, struct toml_value **out,
               crio_error_t *err) {
  /* Line and column counters are unsigned ints. */
  if (len > INT_MAX)
    return crio_error(err, EFBIG, "%s: too large to parse", label ? label : "TOML document");
  cleanup_toml struct toml_value *root = toml_new(TOML_TABLE);
  root->origin = TOML_ORIGIN_HEADER;
  root->u.table.label = label ? xstrdup(label) : NULL;
  __attribute__((cleanup(parser_release))) struct parser p = {
      .text = text,
      .len = len,
      .label = label,
      .err = err,
      .root = root,
      .current = root,
      .loc_line = 1,
      .loc_col = 1,
  };
  /* A byte-order mark is not part of the document, nor of column 1. */
  if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
    p.begin = p.pos = p.loc_off = 3;
  while (p.pos < p.len) {
    skip_ws(&p);
    int c = peek(&p);
    int r;
    if (c == '[')
      r = parse_header(&p) < 0 ? -1 : expect_line_end(&p, "table header");
    else if (c == '#' || c == -1 || newline_len(&p, p.pos) > 0)
      r = expect_line_end(&p, "comment");
    else
      r = parse_keyval(&p, p.current, p.current_depth) < 0 ? -1 : expect_line_end(&p, "value");
    if (r < 0)
      return -1;
  }
  *out = steal_pointer(&root);
  return 0;
}

int toml_parse_file(const char *path, struct toml_value **out, crio_error_t *err) {
  cleanup_free char *text = NULL;
  size_t len = 0;
  if (crio_read_file(path, &text, &len, err) < 0)
    return -1;
  return toml_parse(text, len, path, out, err);
}
