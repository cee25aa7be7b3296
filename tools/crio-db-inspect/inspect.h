/* crio-db-inspect's internal interface: the context a command runs in, the
 * command table entry, and the helpers commands share (output formatting,
 * JSON of records and log entries).
 *
 * The tool only ever opens the store read-only and keeps each read
 * transaction short: a command builds its output in memory inside the
 * transaction and writes it after the transaction ends, because writing to
 * a pipe may block for as long as the reader at the other end likes, and a
 * read transaction held that long pins old pages the daemon cannot reuse. */
#ifndef CRIO_DB_INSPECT_H
#define CRIO_DB_INSPECT_H

#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "common/common.h"
#include "recovery/recovery.h"
#include "store/store.h"

#define INSPECT_PROGRAM "crio-db-inspect"
/* The daemon's persistent state directory; the database is <root>/db. */
#define INSPECT_DEFAULT_ROOT "/var/lib/crio"
/* Ids in tables are cut to this many characters, as crictl does. */
#define INSPECT_SHORT_ID_LEN 13

/* What a command returns: 0, or one of these with *err set.  main() turns
 * INSPECT_USAGE into exit status 2 and INSPECT_FAILED into 1 (3 when the
 * error is EUCLEAN: the database is damaged). */
enum {
  INSPECT_FAILED = -1,
  INSPECT_USAGE = -2,
};

struct inspect_ctx {
  const char *root;
  bool json;
  char *db_dir;        /* <root>/db, set by inspect_open_store() */
  struct store *store; /* opened on first use, read-only */
};

struct inspect_command {
  const char *name;
  /* argv[0] is the command name; getopt is reset for it. */
  int (*run)(struct inspect_ctx *ctx, int argc, char **argv, crio_error_t *err);
  const char *args;    /* synopsis after the name, "" if none */
  const char *summary; /* one line for the program's --help */
  const char *options; /* option lines for the command's --help, or NULL */
};

/* One file per command; main.c lists them in its table. */
extern const struct inspect_command inspect_cmd_pods;
extern const struct inspect_command inspect_cmd_containers;
extern const struct inspect_command inspect_cmd_images;
extern const struct inspect_command inspect_cmd_log;
extern const struct inspect_command inspect_cmd_meta;
extern const struct inspect_command inspect_cmd_history;
extern const struct inspect_command inspect_cmd_stats;
extern const struct inspect_command inspect_cmd_check;
extern const struct inspect_command inspect_cmd_orphans;

/* ---- options.c: shared by every command ------------------------------------ */
/* Opens <root>/db read-only once; later calls return the same store. */
int inspect_open_store(struct inspect_ctx *ctx, struct store **out, crio_error_t *err);
/* Sets *err and returns INSPECT_USAGE. */
int inspect_usage_error(crio_error_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Options every command accepts after its name as well as before it, so
 * `crio-db-inspect pods --json` works like `crio-db-inspect --json pods`. */
#define INSPECT_OPT_JSON 0x100
#define INSPECT_OPT_ROOT 0x101
#define INSPECT_COMMON_OPTIONS                                                                     \
  {"json", no_argument, NULL, INSPECT_OPT_JSON}, {                                                 \
    "root", required_argument, NULL, INSPECT_OPT_ROOT                                              \
  }
/* getopt_long over a command's argv with its short options (a ':' is
 * added so that errors are reported by us, not printed by getopt). */
int inspect_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts);
/* Handles a common option or a getopt error; 0 or INSPECT_USAGE. */
int inspect_common_option(struct inspect_ctx *ctx, int opt, char **argv, crio_error_t *err);
/* INSPECT_USAGE if positional arguments are left after the options. */
int inspect_no_arguments(int argc, char **argv, crio_error_t *err);
/* The options of a command that has none of its own: only the common
 * ones.  0 or INSPECT_USAGE. */
int inspect_common_options_only(struct inspect_ctx *ctx, int argc, char **argv, crio_error_t *err);
/* Once a command without arguments parsed its options: INSPECT_USAGE if
 * arguments are left, else the store opened (INSPECT_FAILED if it cannot
 * be), 0. */
int inspect_open_store_no_arguments(struct inspect_ctx *ctx, int argc, char **argv,
                                    struct store **store, crio_error_t *err);
/* Both, for a command with neither options of its own nor arguments. */
int inspect_open_store_plain(struct inspect_ctx *ctx, int argc, char **argv, struct store **store,
                             crio_error_t *err);

/* ---- output.c: tables for people, JSON for scripts ----------------------- */
struct inspect_table;
struct inspect_table *inspect_table_new(size_t n_cols, const char *const *headers);
void inspect_table_free(struct inspect_table *table);
void inspect_table_freep(struct inspect_table **table);
#define cleanup_inspect_table __attribute__((cleanup(inspect_table_freep)))
/* A column is at least this wide, so later rows of a followed table fit. */
void inspect_table_min_width(struct inspect_table *table, size_t col, size_t width);
/* Copies n_cols cells; NULL or "" shows as "-".  Control characters are
 * replaced so a stored string cannot move the terminal's cursor. */
void inspect_table_add_row(struct inspect_table *table, const char *const *cells);
/* The first call prints the header and the rows added so far, aligned;
 * later calls print only rows added since, at the widths chosen the first
 * time, so a followed table stays under its header. */
int inspect_table_flush(struct inspect_table *table, FILE *out, crio_error_t *err);

/* Prints a document and a newline; compact (one line) unless pretty. */
int inspect_json_print(const cJSON *doc, bool pretty, FILE *out, crio_error_t *err);
void inspect_json_deletep(cJSON **doc);
#define cleanup_cjson __attribute__((cleanup(inspect_json_deletep)))

/* RFC 3339 in UTC with `frac_digits` (0, 3, 6 or 9) digits of seconds,
 * e.g. 2024-05-01T12:00:00.123Z; "-" for 0 (never set). */
void inspect_format_time(int64_t ns, int frac_digits, char *buf, size_t size);
/* Coarse age of a moment, kubectl style: 42s, 7m, 5h, 3d; "-" for 0. */
void inspect_format_age(int64_t ns, int64_t now_ns, char *buf, size_t size);
/* 512B, 4.0KiB, 120.5MiB, ... */
void inspect_format_size(uint64_t bytes, char *buf, size_t size);
/* The first INSPECT_SHORT_ID_LEN characters of an id. */
void inspect_short_id(const char *id, char *buf, size_t size);

/* ---- describe.c: names and JSON of records and log entries ------------------ */
/* NULL when the number is not a kind / not a state of that kind. */
const char *inspect_kind_name(uint32_t kind);
const char *inspect_state_name(uint32_t kind, uint32_t state);
/* runtime.v1 enum name of the CRI view of a state ("SANDBOX_READY",
 * "CONTAINER_EXITED"), NULL for images and unknown states. */
const char *inspect_cri_state_name(uint32_t kind, uint32_t state);
/* The same without its "SANDBOX_" / "CONTAINER_" prefix, for tables. */
const char *inspect_cri_state_short(uint32_t kind, uint32_t state);
/* "TRANSITION", "STEP_FAILED", ...; NULL for an unknown number. */
const char *inspect_log_type_name(int type);
/* Every field of the record / entry, plus the names of its numbers. */
cJSON *inspect_record_json(const store_record *rec);
cJSON *inspect_log_entry_json(const store_log_entry *entry);
/* One-line summary of an entry's state change ("PENDING -> READY") and of
 * its detail (transition, resources, error, message), for tables. */
char *inspect_log_entry_change(const store_log_entry *entry);
char *inspect_log_entry_detail(const store_log_entry *entry);

/* ---- pb_json.c -------------------------------------------------------------- */
/* A protobuf-c message as JSON by walking its descriptor, so a field added
 * to records.proto shows up here without a change to this tool. */
cJSON *inspect_pb_to_json(const ProtobufCMessage *msg);

/* ---- snapshot.c: records, names and the log's ledger of one moment --------- */
struct inspect_name {
  char ns; /* enum store_name_space */
  char *name;
  char *id;
};

struct inspect_snapshot {
  store_record **records; /* pods, then containers, then images; id order */
  size_t n_records;
  char ***pod_children;       /* per record: a pod's pod_containers ids, else NULL */
  struct inspect_name *names; /* sorted by namespace, then name */
  size_t n_names;
  struct recovery_ledger ledger; /* the whole log */
};

/* Everything in one read txn, held in memory after it ends. */
int inspect_snapshot_read(struct store *store, struct inspect_snapshot *s, crio_error_t *err);
void inspect_snapshot_release(struct inspect_snapshot *s);
const store_record *inspect_snapshot_find(const struct inspect_snapshot *s, uint32_t kind,
                                          const char *id);
/* Its index in records (and pod_children), -1 if none. */
ssize_t inspect_snapshot_index(const struct inspect_snapshot *s, uint32_t kind, const char *id);
const struct inspect_name *inspect_snapshot_name(const struct inspect_snapshot *s, char ns,
                                                 const char *name);
/* A container's pod: parent_id, else the body's pod_id; NULL if none. */
const char *inspect_record_parent(const store_record *rec);

#endif
