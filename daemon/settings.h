/* Internal to daemon/: the table of every setting CRI-O has (its TOML
 * table and key, flag, short flag, environment variable, default), the
 * ones we implement bound to a field of struct daemon_config, the others
 * kept so that `crio config` round-trips them and warned about when set.
 *
 * One table serves the config files, the flags, the environment,
 * `crio config` and docs/configuration.md's key list, so a name is
 * written once. */
#ifndef CRIO_DAEMON_SETTINGS_H
#define CRIO_DAEMON_SETTINGS_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/daemon.h"
#include "toml/toml.h"

enum daemon_setting_type {
  DS_STRING,   /* char * */
  DS_BOOL,     /* bool */
  DS_INT,      /* int64_t */
  DS_STRINGS,  /* char **, NULL-terminated; flags take "a,b" and repeat */
  DS_DURATION, /* int64_t seconds; Go duration text ("1m30s") or seconds */
  DS_LOG_LEVEL /* enum crio_log_level */
};

/* No field: CRI-O's setting is accepted, round-trips through `crio
 * config`, and warns once when set away from its default. */
#define DS_NO_FIELD ((ptrdiff_t)-1)

struct daemon_setting {
  const char *table; /* "crio.runtime"; NULL: a flag with no key */
  const char *key;   /* NULL: a flag with no key */
  enum daemon_setting_type type;
  /* The default in flag text ("a,b" for lists); NULL: computed at start
   * (daemon/config.c) from the host. */
  const char *def;
  const char *flag; /* long flag without "--"; NULL: none */
  char short_flag;  /* 0: none */
  const char *env;  /* CONTAINER_*; NULL: none */
  ptrdiff_t offset; /* into struct daemon_config, or DS_NO_FIELD */
  const char *help;
};

/* Go's time.Duration text as CRI-O takes it ("1m30s", "0s") or plain
 * seconds, in whole seconds rounded up; -1 for anything else. */
int daemon_parse_duration(const char *text, int64_t *seconds);

extern const struct daemon_setting daemon_settings[];
extern const size_t daemon_n_settings;

/* A setting's storage in cfg: its field, or its slot in cfg->extra. */
void *daemon_setting_slot(struct daemon_config *cfg, size_t i);
const void *daemon_setting_slot_const(const struct daemon_config *cfg, size_t i);
size_t daemon_setting_find(const char *table, const char *key); /* SIZE_MAX: none */
size_t daemon_setting_find_flag(const char *flag);              /* SIZE_MAX: none */

/* Sets the value from flag or environment text; EINVAL naming nothing
 * (the caller adds where it came from). */
int daemon_setting_set_text(struct daemon_config *cfg, size_t i, const char *text,
                            crio_error_t *err);
/* Appends "a,b" to a list setting (a repeated flag). */
void daemon_setting_append_text(struct daemon_config *cfg, size_t i, const char *text);
/* Sets the value from a TOML value; the error names file, line and key. */
int daemon_setting_set_toml(struct daemon_config *cfg, size_t i, const struct toml_value *value,
                            crio_error_t *err);
/* The value as TOML text ("\"x\"", "true", "[\n  \"a\",\n]"); malloc'd. */
char *daemon_setting_format(const struct daemon_config *cfg, size_t i);
bool daemon_setting_equal(const struct daemon_config *a, const struct daemon_config *b, size_t i);
void daemon_setting_release(struct daemon_config *cfg, size_t i);
/* Copies setting i of src into dst (dst's old value released). */
void daemon_setting_copy(struct daemon_config *dst, const struct daemon_config *src, size_t i);

/* TOML string quoting for the printer (basic string with escapes). */
char *daemon_toml_quote(const char *s);

#endif
