/* toml/: a TOML 1.0 reader, our own, for the daemon's crio.conf and for
 * containers-registries.conf v2.  This header is the folder's interface.
 *
 * toml_parse() turns a document into a tree of struct toml_value; the
 * lookups and typed getters below read it.  Every error names where it is:
 *
 *   crio.conf:12:5: expected '=' after key
 *   registries.conf:7:1: registry[0].insecure: expected boolean, found string
 *
 * Lines and columns count from 1; a column counts characters (UTF-8 code
 * points), not bytes, so it matches what an editor shows.
 *
 * Scope: all of TOML 1.0, including its rules against redefining keys and
 * tables.  Date-times of all four kinds are validated and kept as their raw
 * text (TOML_DATETIME): neither consumer needs them as numbers.  Nesting of
 * tables and arrays is limited to TOML_MAX_DEPTH levels, so a hostile file
 * is an error rather than a stack overflow.  Where TOML leaves a choice:
 * integers beyond 64 bits and floats beyond double range are errors, not
 * rounded; a leading byte-order mark is skipped; CRLF inside multi-line
 * strings becomes LF.  One refusal TOML does not make: a key holding NUL
 * (from \u0000), which no C caller could look up. */
#ifndef CRIO_TOML_H
#define CRIO_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

/* Levels of tables and arrays below the root.  Real configuration files
 * use fewer than ten. */
#define TOML_MAX_DEPTH 128

enum toml_type {
  TOML_TABLE,
  TOML_ARRAY,
  TOML_STRING,
  TOML_INTEGER,
  TOML_FLOAT,
  TOML_BOOL,
  TOML_DATETIME,
};

/* How the parser came to create a table or array.  TOML's redefinition
 * rules depend on it ([a] may follow [a.b], but not a.b = 1 inside [a]...);
 * consumers can ignore it. */
enum toml_origin {
  TOML_ORIGIN_NONE = 0,        /* scalars, and values built by hand */
  TOML_ORIGIN_IMPLICIT,        /* a parent named by a header: [a.b] makes a */
  TOML_ORIGIN_HEADER,          /* [table], an element of [[array]], the root */
  TOML_ORIGIN_DOTTED,          /* a parent named by a dotted key: a.b = 1 */
  TOML_ORIGIN_INLINE,          /* a { } or [ ] written as a value */
  TOML_ORIGIN_ARRAY_OF_TABLES, /* the array that [[name]] appends to */
};

struct toml_value;

struct toml_entry {
  char *key;
  struct toml_value *value;
};

/* A node of the tree.  Consumers read it through the functions below; the
 * fields are public so the parser (another file) can build it, and are
 * read-only to everyone else. */
struct toml_value {
  enum toml_type type;
  enum toml_origin origin;
  /* Where it was defined: a keyed value at its key, an array item where it
   * starts, a [table] at its '['.  0 for values not from a parse. */
  unsigned line, column;
  struct toml_value *parent; /* NULL for the root */
  union {
    struct {
      struct toml_entry *entries; /* in insertion order */
      size_t len, cap;
      /* Open-addressing index of entry number + 1 (0 = empty slot), built
       * once a table outgrows a linear scan, so that neither parsing nor
       * lookups turn quadratic on a table with many keys. */
      size_t *index;
      size_t index_cap;
      char *label; /* root only: the file name or caller's label */
    } table;
    struct {
      struct toml_value **items;
      size_t len, cap;
    } array;
    /* TOML_STRING and TOML_DATETIME (the raw text).  NUL-terminated; a
     * string may also hold a NUL of its own (from \u0000), which is why
     * toml_as_string() refuses it. */
    struct {
      char *ptr;
      size_t len;
    } string;
    int64_t integer;
    double floating;
    bool boolean;
  } u;
};

/* ---- parsing ------------------------------------------------------------- */

/* Parses len bytes of text (no NUL terminator needed).  label names the
 * source in error messages (a file name; NULL for none).  On success *out is
 * the root table, to be released with toml_free(). */
int toml_parse(const char *text, size_t len, const char *label, struct toml_value **out,
               crio_error_t *err);
/* Reads and parses a file; errors are labelled with path. */
int toml_parse_file(const char *path, struct toml_value **out, crio_error_t *err);

/* Frees a whole tree.  Only ever a root (or a value not yet added to one). */
void toml_free(struct toml_value *value);
void cleanup_tomlp(struct toml_value **value);
#define cleanup_toml __attribute__((cleanup(cleanup_tomlp)))

/* "table", "array", "string", "integer", "float", "boolean", "date-time" */
const char *toml_type_name(enum toml_type type);

/* ---- lookups ----------------------------------------------------------------
 * All accept NULL or a value of the wrong type and answer NULL / 0, so
 * lookups chain:  toml_get(toml_get_path(root, "crio.runtime"), "log_level") */

const struct toml_value *toml_get(const struct toml_value *table, const char *key);
/* Follows tables only, splitting path on '.': "crio.runtime.runtimes".  A
 * key that itself contains a dot ([registries."docker.io"]) cannot be
 * reached this way; use toml_get() for that last step. */
const struct toml_value *toml_get_path(const struct toml_value *root, const char *path);

size_t toml_table_count(const struct toml_value *table);
const char *toml_table_key(const struct toml_value *table, size_t i);
const struct toml_value *toml_table_value(const struct toml_value *table, size_t i);
size_t toml_array_count(const struct toml_value *array);
const struct toml_value *toml_array_item(const struct toml_value *array, size_t i);

/* ---- typed access -----------------------------------------------------------
 * toml_as_*: 0, or -1 with an error naming the value's place and path when
 * it has another type.
 * toml_get_*: look key up in table first; 0 found, 1 absent (not an error:
 * *out is untouched, so defaults set beforehand survive), -1 wrong type.  A
 * NULL table counts as absent; a table argument that is not a table is an
 * error. */

/* Refuses a string holding a NUL: a C consumer would silently truncate it. */
int toml_as_string(const struct toml_value *value, const char **out, crio_error_t *err);
int toml_as_bool(const struct toml_value *value, bool *out, crio_error_t *err);
int toml_as_int64(const struct toml_value *value, int64_t *out, crio_error_t *err);
/* Accepts an integer too: "timeout = 5" where 5.0 was meant is no error. */
int toml_as_double(const struct toml_value *value, double *out, crio_error_t *err);
/* An array whose items are all strings; *out is a malloc'd NULL-terminated
 * vector of malloc'd strings (release with cleanup_strv). */
int toml_as_string_array(const struct toml_value *value, char ***out, crio_error_t *err);

int toml_get_string(const struct toml_value *table, const char *key, const char **out,
                    crio_error_t *err);
int toml_get_bool(const struct toml_value *table, const char *key, bool *out, crio_error_t *err);
int toml_get_int64(const struct toml_value *table, const char *key, int64_t *out,
                   crio_error_t *err);
int toml_get_double(const struct toml_value *table, const char *key, double *out,
                    crio_error_t *err);
int toml_get_string_array(const struct toml_value *table, const char *key, char ***out,
                          crio_error_t *err);
int toml_get_table(const struct toml_value *table, const char *key, const struct toml_value **out,
                   crio_error_t *err);
int toml_get_array(const struct toml_value *table, const char *key, const struct toml_value **out,
                   crio_error_t *err);

/* ---- errors about a value ---------------------------------------------------
 * For consumers' own checks ("log_level: unknown level"), in the same form
 * as the errors above. */

/* The value's path from the root: crio.runtime.runtimes.runc,
 * registry[1].mirror[0].location; keys that are not bare are quoted.  ""
 * for the root.  malloc'd. */
char *toml_value_path(const struct toml_value *value);
/* Sets EINVAL "label:line:col: path: message" and returns -1. */
int toml_error(crio_error_t *err, const struct toml_value *value, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- building ---------------------------------------------------------------
 * The parser's primitives; public for tests and for callers that build a
 * tree of defaults.  Neither checks TOML_MAX_DEPTH. */

/* A zeroed value of the given type (an empty table, array or string is
 * valid as it stands). */
struct toml_value *toml_new(enum toml_type type);
/* Adds key = value to table, taking ownership of value in every case; EEXIST
 * if key is already there. */
int toml_table_add(struct toml_value *table, const char *key, struct toml_value *value,
                   crio_error_t *err);
/* Appends item to array, taking ownership. */
void toml_array_append(struct toml_value *array, struct toml_value *item);

#endif
