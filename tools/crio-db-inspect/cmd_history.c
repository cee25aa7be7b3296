/* history ID: every log entry of one object, oldest first, whether its
 * record still exists or not.  ID may be a prefix: of a record's id, or
 * of an id the log names (deleted objects keep their entries until
 * compaction).  A prefix naming several objects is an error listing them. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "tools/crio-db-inspect/inspect.h"

#define HISTORY_BATCH 1024 /* entries visited per read txn of a prefix scan */

struct id_scan {
  const char *prefix;
  char **ids; /* distinct ids with the prefix, NULL-terminated */
  size_t n_ids;
  uint64_t cursor;
  size_t visited;
};

static int scan_visit(const store_log_entry *entry, void *data) {
  struct id_scan *scan = data;
  scan->cursor = entry->seq;
  scan->visited++;
  const char *id = entry->object_id;
  if (id && *id && strncmp(id, scan->prefix, strlen(scan->prefix)) == 0) {
    bool known = false;
    for (size_t i = 0; i < scan->n_ids && !known; i++)
      known = strcmp(scan->ids[i], id) == 0;
    if (!known) {
      scan->ids = xrealloc(scan->ids, (scan->n_ids + 2) * sizeof(char *));
      scan->ids[scan->n_ids++] = xstrdup(id);
      scan->ids[scan->n_ids] = NULL;
    }
  }
  return scan->visited >= HISTORY_BATCH ? 1 : 0;
}

static int collect_entry(const store_log_entry *entry, void *data) {
  cJSON *entries = data;
  cJSON_AddItemToArray(entries, inspect_log_entry_json(entry));
  return 0;
}

static int count_visit(const store_log_entry *entry, void *data) {
  (*(size_t *)data)++;
  return 1; /* one is enough */
}

/* The full id for `prefix`: an object whose entries the log holds.  A
 * full id is found through the per-object index; a prefix needs a walk of
 * the log, in batches. */
static int resolve(struct store *store, const char *prefix, char **id_out, crio_error_t *err) {
  size_t exact = 0;
  {
    cleanup_store_txn struct store_txn *txn = NULL;
    if (store_txn_begin(store, STORE_TXN_READ, &txn, err) < 0 ||
        store_log_foreach_object(txn, prefix, count_visit, &exact, err) < 0 ||
        store_txn_commit(steal_pointer(&txn), err) < 0)
      return -1;
  }
  if (exact > 0) {
    *id_out = xstrdup(prefix);
    return 0;
  }
  struct id_scan scan = {.prefix = prefix, .ids = xcalloc(1, sizeof(char *))};
  int ret = 0;
  for (;;) {
    cleanup_store_txn struct store_txn *txn = NULL;
    scan.visited = 0;
    if (store_txn_begin(store, STORE_TXN_READ, &txn, err) < 0 ||
        store_log_foreach(txn, scan.cursor, scan_visit, &scan, err) < 0 ||
        store_txn_commit(steal_pointer(&txn), err) < 0) {
      ret = -1;
      break;
    }
    if (scan.visited < HISTORY_BATCH)
      break;
  }
  if (ret == 0 && scan.n_ids == 0)
    ret = crio_error(err, ENOENT, "no object in the log has an id starting with \"%s\"", prefix);
  if (ret == 0 && scan.n_ids > 1) {
    cleanup_free char *list = xstrdup("");
    for (size_t i = 0; i < scan.n_ids && i < 5; i++) {
      char *joined = xasprintf("%s%s%s", list, i ? ", " : "", scan.ids[i]);
      free(list);
      list = joined;
    }
    ret = crio_error(err, EINVAL, "id prefix \"%s\" is ambiguous: %zu objects (%s%s)", prefix,
                     scan.n_ids, list, scan.n_ids > 5 ? ", ..." : "");
  }
  if (ret == 0)
    *id_out = xstrdup(scan.ids[0]);
  cleanup_strvp(&scan.ids);
  return ret;
}

static void add_row(struct inspect_table *table, const store_log_entry *entry) {
  char seq[24], when[48];
  snprintf(seq, sizeof(seq), "%" PRIu64, entry->seq);
  inspect_format_time(entry->time, 3, when, sizeof(when));
  cleanup_free char *change = inspect_log_entry_change(entry);
  cleanup_free char *detail = inspect_log_entry_detail(entry);
  cleanup_free char *type_num = xasprintf("?%d", (int)entry->type);
  const char *type = inspect_log_type_name(entry->type);
  const char *row[] = {
      seq,   when, type ? type : type_num, change, inspect_state_name(entry->kind, entry->goal),
      detail};
  inspect_table_add_row(table, row);
}

struct table_fill {
  struct inspect_table *table;
  uint32_t kind;
  size_t n;
};

static int table_visit(const store_log_entry *entry, void *data) {
  struct table_fill *fill = data;
  if (entry->kind)
    fill->kind = entry->kind;
  fill->n++;
  add_row(fill->table, entry);
  return 0;
}

struct record_probe {
  bool live;
  cJSON *json;
};

static int probe_record(struct store_txn *txn, const char *id, uint32_t kind,
                        struct record_probe *probe, bool want_json, crio_error_t *err) {
  cleanup_store_record store_record *rec = NULL;
  cleanup_error crio_error_t get_err = NULL;
  if (kind < STORE_KIND_POD || kind > STORE_KIND_IMAGE)
    return 0;
  if (store_record_get(txn, (enum store_kind)kind, id, &rec, &get_err) < 0) {
    if (crio_error_status(&get_err) == ENOENT)
      return 0;
    return crio_error(err, crio_error_status(&get_err), "%s", crio_error_message(&get_err));
  }
  probe->live = true;
  if (want_json)
    probe->json = inspect_record_json(rec);
  return 0;
}

static int cmd_history(struct inspect_ctx *ctx, int argc, char **argv, crio_error_t *err) {
  if (inspect_common_options_only(ctx, argc, argv, err) < 0)
    return INSPECT_USAGE;
  if (optind + 1 != argc)
    return inspect_usage_error(err,
                               optind >= argc ? "missing object id" : "expected one object id");
  const char *prefix = argv[optind];
  if (*prefix == '\0')
    return inspect_usage_error(err, "the object id is empty");

  struct store *store = NULL;
  if (inspect_open_store(ctx, &store, err) < 0)
    return INSPECT_FAILED;
  cleanup_free char *id = NULL;
  if (resolve(store, prefix, &id, err) < 0)
    return INSPECT_FAILED;

  /* The history itself: one read txn (one object's entries are few), the
   * output written after it ends. */
  cleanup_cjson cJSON *entries = ctx->json ? cJSON_CreateArray() : NULL;
  static const char *const headers[] = {"SEQ", "TIME", "TYPE", "STATE", "GOAL", "DETAIL"};
  cleanup_inspect_table struct inspect_table *table =
      ctx->json ? NULL : inspect_table_new(sizeof(headers) / sizeof(headers[0]), headers);
  struct table_fill fill = {.table = table};
  struct record_probe probe = {0};
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(store, STORE_TXN_READ, &txn, err) < 0)
    return INSPECT_FAILED;
  int rc = ctx->json ? store_log_foreach_object(txn, id, collect_entry, entries, err)
                     : store_log_foreach_object(txn, id, table_visit, &fill, err);
  if (rc < 0)
    return crio_error_prefix(err, "read the history of %s", id);
  uint32_t kind = fill.kind;
  if (ctx->json && cJSON_GetArraySize(entries) > 0) {
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(entries, 0), "kind");
    kind = cJSON_IsNumber(k) ? (uint32_t)k->valuedouble : 0;
  }
  if (probe_record(txn, id, kind, &probe, ctx->json, err) < 0 ||
      store_txn_commit(steal_pointer(&txn), err) < 0) {
    cJSON_Delete(probe.json);
    return INSPECT_FAILED;
  }

  const char *kind_name = inspect_kind_name(kind);
  if (ctx->json) {
    cleanup_cjson cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "id", id);
    cJSON_AddItemToObject(doc, "kind_name",
                          kind_name ? cJSON_CreateString(kind_name) : cJSON_CreateNull());
    cJSON_AddItemToObject(doc, "record", probe.json ? probe.json : cJSON_CreateNull());
    cJSON_AddItemToObject(doc, "entries", steal_pointer(&entries));
    return inspect_json_print(doc, true, stdout, err);
  }
  printf("%s %s: %zu log entr%s, record %s\n", kind_name ? kind_name : "object", id, fill.n,
         fill.n == 1 ? "y" : "ies", probe.live ? "present" : "deleted");
  return inspect_table_flush(table, stdout, err);
}

const struct inspect_command inspect_cmd_history = {
    .name = "history",
    .run = cmd_history,
    .args = "ID",
    .summary = "print every log entry of one object (id or unique id prefix)",
};
