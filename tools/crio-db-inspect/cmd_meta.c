/* meta: the database's metadata (schema version, boot id, log seq, ...)
 * and what it holds overall (log range and size, file size). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "tools/crio-db-inspect/inspect.h"

#ifndef CRIO_VERSION
#define CRIO_VERSION "unknown"
#endif

/* store.h offers meta by key only, with no walk over the meta db, so the
 * keys shown are the ones this project writes; a key added by a later
 * build needs a line here. */
static const char *const meta_keys[] = {
    "schema_version", /* store/: refused at open when newer than ours */
    "boot_id",        /* recovery/: the boot the daemon last started in */
    "log_seq",        /* store/: newest seq ever assigned */
    "pod_cidr",       /* cri/: from UpdateRuntimeConfig */
};
#define N_META_KEYS (sizeof(meta_keys) / sizeof(meta_keys[0]))

struct meta_snapshot {
  char *values[N_META_KEYS]; /* NULL: not set */
  uint64_t first_seq, last_seq, entries;
  uint64_t file_bytes, used_bytes;
};

static void snapshot_release(struct meta_snapshot *s) {
  for (size_t i = 0; i < N_META_KEYS; i++)
    free(s->values[i]);
}

static int read_snapshot(struct store *store, struct meta_snapshot *s, crio_error_t *err) {
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(store, STORE_TXN_READ, &txn, err) < 0)
    return -1;
  for (size_t i = 0; i < N_META_KEYS; i++) {
    cleanup_error crio_error_t lookup_err = NULL;
    if (store_meta_get(txn, meta_keys[i], &s->values[i], &lookup_err) < 0 &&
        crio_error_status(&lookup_err) != ENOENT)
      return crio_error(err, crio_error_status(&lookup_err), "%s", crio_error_message(&lookup_err));
  }
  s->first_seq = store_log_first_seq(txn);
  s->last_seq = store_log_last_seq(txn);
  s->entries = store_log_count(txn);
  if (store_txn_commit(steal_pointer(&txn), err) < 0)
    return -1;
  return store_stat(store, &s->file_bytes, &s->used_bytes, err);
}

static cJSON *u64_json(uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof(buf), "%" PRIu64, v);
  return cJSON_CreateRaw(buf);
}

static int print_json(const struct inspect_ctx *ctx, const struct meta_snapshot *s,
                      crio_error_t *err) {
  cleanup_cjson cJSON *doc = cJSON_CreateObject();
  cJSON_AddStringToObject(doc, "db", ctx->db_dir);
  cJSON *meta = cJSON_AddObjectToObject(doc, "meta");
  for (size_t i = 0; i < N_META_KEYS; i++)
    cJSON_AddItemToObject(meta, meta_keys[i],
                          s->values[i] ? cJSON_CreateString(s->values[i]) : cJSON_CreateNull());
  cJSON *log = cJSON_AddObjectToObject(doc, "log");
  cJSON_AddItemToObject(log, "first_seq", u64_json(s->first_seq));
  cJSON_AddItemToObject(log, "last_seq", u64_json(s->last_seq));
  cJSON_AddItemToObject(log, "entries", u64_json(s->entries));
  cJSON *file = cJSON_AddObjectToObject(doc, "file");
  cJSON_AddItemToObject(file, "bytes", u64_json(s->file_bytes));
  cJSON_AddItemToObject(file, "used_bytes", u64_json(s->used_bytes));
  cJSON *build = cJSON_AddObjectToObject(doc, "build");
  cJSON_AddStringToObject(build, "version", CRIO_VERSION);
  cJSON_AddNumberToObject(build, "schema_version", STORE_SCHEMA_VERSION);
  return inspect_json_print(doc, true, stdout, err);
}

static void add_pair(struct inspect_table *table, const char *key, const char *value) {
  const char *row[] = {key, value};
  inspect_table_add_row(table, row);
}

static int print_table(const struct inspect_ctx *ctx, const struct meta_snapshot *s,
                       crio_error_t *err) {
  static const char *const headers[] = {"KEY", "VALUE"};
  cleanup_inspect_table struct inspect_table *table = inspect_table_new(2, headers);
  for (size_t i = 0; i < N_META_KEYS; i++)
    add_pair(table, meta_keys[i], s->values[i]);
  /* Derived values get dotted names, so they cannot be mistaken for keys
   * stored in the meta db (which use underscores). */
  char buf[64];
  snprintf(buf, sizeof(buf), "%" PRIu64, s->first_seq);
  add_pair(table, "log.first_seq", buf);
  snprintf(buf, sizeof(buf), "%" PRIu64, s->last_seq);
  add_pair(table, "log.last_seq", buf);
  snprintf(buf, sizeof(buf), "%" PRIu64, s->entries);
  add_pair(table, "log.entries", buf);
  add_pair(table, "db.path", ctx->db_dir);
  char size[32];
  inspect_format_size(s->file_bytes, size, sizeof(size));
  snprintf(buf, sizeof(buf), "%s (%" PRIu64 ")", size, s->file_bytes);
  add_pair(table, "db.file_bytes", buf);
  inspect_format_size(s->used_bytes, size, sizeof(size));
  snprintf(buf, sizeof(buf), "%s (%" PRIu64 ")", size, s->used_bytes);
  add_pair(table, "db.used_bytes", buf);
  snprintf(buf, sizeof(buf), "%d", STORE_SCHEMA_VERSION);
  add_pair(table, "build.schema_version", buf);
  return inspect_table_flush(table, stdout, err);
}

static int cmd_meta(struct inspect_ctx *ctx, int argc, char **argv, crio_error_t *err) {
  struct store *store = NULL;
  int ret = inspect_open_store_plain(ctx, argc, argv, &store, err);
  if (ret < 0)
    return ret;
  __attribute__((cleanup(snapshot_release))) struct meta_snapshot snap = {0};
  if (read_snapshot(store, &snap, err) < 0)
    return crio_error_prefix(err, "read metadata");
  return ctx->json ? print_json(ctx, &snap, err) : print_table(ctx, &snap, err);
}

const struct inspect_command inspect_cmd_meta = {
    .name = "meta",
    .run = cmd_meta,
    .args = "",
    .summary = "print database metadata: schema version, boot id, log seq",
};
