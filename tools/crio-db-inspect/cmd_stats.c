/* stats: how big the database is and what it holds — file size, records
 * per kind, names, the log's length and its oldest entry, the schema. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "tools/crio-db-inspect/inspect.h"

struct stats {
  uint64_t records[4]; /* by kind: [1] pods, [2] containers, [3] images */
  uint64_t names[3];   /* pod names, container names, image tags */
  uint64_t log_entries, first_seq, last_seq;
  int64_t first_time;
  char *schema_version;
  uint64_t file_bytes, used_bytes;
};

static int count_record(const store_record *rec, void *data) {
  (*(uint64_t *)data)++;
  return 0;
}

static int count_name(const char *name, const char *id, void *data) {
  (*(uint64_t *)data)++;
  return 0;
}

static int first_entry(const store_log_entry *entry, void *data) {
  *(int64_t *)data = entry->time;
  return 1;
}

static int read_stats(struct store *store, struct stats *st, crio_error_t *err) {
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(store, STORE_TXN_READ, &txn, err) < 0)
    return -1;
  for (uint32_t kind = STORE_KIND_POD; kind <= STORE_KIND_IMAGE; kind++)
    if (store_record_foreach(txn, (enum store_kind)kind, count_record, &st->records[kind], err) < 0)
      return -1;
  static const char spaces[] = {STORE_NAMES_POD, STORE_NAMES_CONTAINER, STORE_NAMES_IMAGE};
  for (size_t i = 0; i < sizeof(spaces); i++)
    if (store_name_foreach(txn, (enum store_name_space)spaces[i], count_name, &st->names[i], err) <
        0)
      return -1;
  st->log_entries = store_log_count(txn);
  st->first_seq = store_log_first_seq(txn);
  st->last_seq = store_log_last_seq(txn);
  if (st->first_seq > 0 &&
      store_log_foreach(txn, st->first_seq - 1, first_entry, &st->first_time, err) < 0)
    return -1;
  cleanup_error crio_error_t meta_err = NULL;
  if (store_meta_get(txn, "schema_version", &st->schema_version, &meta_err) < 0 &&
      crio_error_status(&meta_err) != ENOENT)
    return crio_error(err, crio_error_status(&meta_err), "%s", crio_error_message(&meta_err));
  if (store_txn_commit(steal_pointer(&txn), err) < 0)
    return -1;
  return store_stat(store, &st->file_bytes, &st->used_bytes, err);
}

static cJSON *u64_json(uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof(buf), "%" PRIu64, v);
  return cJSON_CreateRaw(buf);
}

static int print_json(const struct inspect_ctx *ctx, const struct stats *st, crio_error_t *err) {
  cleanup_cjson cJSON *doc = cJSON_CreateObject();
  cJSON_AddStringToObject(doc, "db", ctx->db_dir);
  cJSON *file = cJSON_AddObjectToObject(doc, "file");
  cJSON_AddItemToObject(file, "bytes", u64_json(st->file_bytes));
  cJSON_AddItemToObject(file, "used_bytes", u64_json(st->used_bytes));
  cJSON *records = cJSON_AddObjectToObject(doc, "records");
  cJSON_AddItemToObject(records, "pods", u64_json(st->records[STORE_KIND_POD]));
  cJSON_AddItemToObject(records, "containers", u64_json(st->records[STORE_KIND_CONTAINER]));
  cJSON_AddItemToObject(records, "images", u64_json(st->records[STORE_KIND_IMAGE]));
  cJSON *names = cJSON_AddObjectToObject(doc, "names");
  cJSON_AddItemToObject(names, "pods", u64_json(st->names[0]));
  cJSON_AddItemToObject(names, "containers", u64_json(st->names[1]));
  cJSON_AddItemToObject(names, "image_tags", u64_json(st->names[2]));
  cJSON *log = cJSON_AddObjectToObject(doc, "log");
  cJSON_AddItemToObject(log, "entries", u64_json(st->log_entries));
  cJSON_AddItemToObject(log, "first_seq", u64_json(st->first_seq));
  cJSON_AddItemToObject(log, "last_seq", u64_json(st->last_seq));
  char when[48];
  inspect_format_time(st->first_time, 9, when, sizeof(when));
  cJSON_AddItemToObject(log, "oldest_time",
                        st->first_time ? cJSON_CreateString(when) : cJSON_CreateNull());
  cJSON *schema = cJSON_AddObjectToObject(doc, "schema");
  cJSON_AddItemToObject(schema, "database",
                        st->schema_version ? cJSON_CreateString(st->schema_version)
                                           : cJSON_CreateNull());
  cJSON_AddNumberToObject(schema, "build", STORE_SCHEMA_VERSION);
  return inspect_json_print(doc, true, stdout, err);
}

static void add_u64(struct inspect_table *table, const char *key, uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof(buf), "%" PRIu64, v);
  const char *row[] = {key, buf};
  inspect_table_add_row(table, row);
}

static void add_str(struct inspect_table *table, const char *key, const char *v) {
  const char *row[] = {key, v};
  inspect_table_add_row(table, row);
}

static int print_table(const struct inspect_ctx *ctx, const struct stats *st, crio_error_t *err) {
  static const char *const headers[] = {"STAT", "VALUE"};
  cleanup_inspect_table struct inspect_table *table = inspect_table_new(2, headers);
  char size[32], buf[64], when[48];
  add_str(table, "db.path", ctx->db_dir);
  inspect_format_size(st->file_bytes, size, sizeof(size));
  snprintf(buf, sizeof(buf), "%s (%" PRIu64 ")", size, st->file_bytes);
  add_str(table, "db.file_bytes", buf);
  inspect_format_size(st->used_bytes, size, sizeof(size));
  snprintf(buf, sizeof(buf), "%s (%" PRIu64 ")", size, st->used_bytes);
  add_str(table, "db.used_bytes", buf);
  add_u64(table, "records.pods", st->records[STORE_KIND_POD]);
  add_u64(table, "records.containers", st->records[STORE_KIND_CONTAINER]);
  add_u64(table, "records.images", st->records[STORE_KIND_IMAGE]);
  add_u64(table, "names.pods", st->names[0]);
  add_u64(table, "names.containers", st->names[1]);
  add_u64(table, "names.image_tags", st->names[2]);
  add_u64(table, "log.entries", st->log_entries);
  add_u64(table, "log.first_seq", st->first_seq);
  add_u64(table, "log.last_seq", st->last_seq);
  inspect_format_time(st->first_time, 3, when, sizeof(when));
  add_str(table, "log.oldest_time", when);
  add_str(table, "schema.database", st->schema_version);
  snprintf(buf, sizeof(buf), "%d", STORE_SCHEMA_VERSION);
  add_str(table, "schema.build", buf);
  return inspect_table_flush(table, stdout, err);
}

static int cmd_stats(struct inspect_ctx *ctx, int argc, char **argv, crio_error_t *err) {
  struct store *store = NULL;
  int ret = inspect_open_store_plain(ctx, argc, argv, &store, err);
  if (ret < 0)
    return ret;
  struct stats st = {0};
  ret = read_stats(store, &st, err);
  if (ret == 0)
    ret = ctx->json ? print_json(ctx, &st, err) : print_table(ctx, &st, err);
  else
    crio_error_prefix(err, "read statistics");
  free(st.schema_version);
  return ret < 0 ? INSPECT_FAILED : 0;
}

const struct inspect_command inspect_cmd_stats = {
    .name = "stats",
    .run = cmd_stats,
    .args = "",
    .summary = "print database size, record counts, log length and oldest entry",
};
