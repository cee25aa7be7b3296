/* log: the state log, oldest first, filtered by object, kind and seq, and
 * with --follow the entries committed from then on.
 *
 * The log is read in batches, each in its own short read txn; a batch is
 * written out only after its txn ends, and --follow sleeps with no txn
 * open.  So however slow the reader of our output, the daemon's writers
 * never find old pages pinned by us.  Entries are append-only and keyed by
 * seq, so resuming after the last seq seen loses nothing (compaction only
 * drops entries, which a later batch then simply does not see). */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "statemachine/statemachine.h"
#include "tools/crio-db-inspect/inspect.h"

#define LOG_BATCH 1024                  /* entries visited per read txn */
#define FOLLOW_POLL_NS (200 * 1000000L) /* between polls for new entries */

/* Set from the signal handler, so it cannot live in the context. */
static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int signo) {
  (void)signo;
  stop_requested = 1;
}

struct log_filter {
  const char *object_prefix; /* NULL: any object */
  uint32_t kind;             /* 0: any kind */
};

struct log_reader {
  struct log_filter filter;
  uint64_t cursor; /* seq of the last entry visited */
  size_t visited;  /* in the current batch */
  cJSON *pending;  /* --json: entries of the current batch */
  struct inspect_table *table;
};

static const char *const log_headers[] = {"SEQ",   "TIME", "TYPE",  "OBJECT",
                                          "STATE", "GOAL", "DETAIL"};
enum { COL_SEQ, COL_TIME, COL_TYPE, COL_OBJECT, COL_STATE, COL_GOAL };

static size_t name_len(const char *name) {
  return name ? strlen(name) : 0;
}

/* With --follow the header is printed before the rows it heads exist, so
 * the columns are made wide enough for any value up front: the STATE and
 * GOAL widths come from the state machines' own tables. */
static void set_follow_widths(struct inspect_table *table) {
  size_t state = 0, change = 0;
  for (size_t i = 0; i < sm_transition_count(); i++) {
    const struct sm_transition *t = sm_transition_at(i);
    size_t from = name_len(sm_state_name(t->kind, t->from));
    size_t to = name_len(sm_state_name(t->kind, t->to));
    if (from + strlen(" -> ") + to > change)
      change = from + strlen(" -> ") + to;
    if (from > state)
      state = from;
    if (to > state)
      state = to;
  }
  inspect_table_min_width(table, COL_SEQ, 6);
  inspect_table_min_width(table, COL_TIME, strlen("2006-01-02T15:04:05.000Z"));
  inspect_table_min_width(table, COL_TYPE, strlen("STEP_FAILED"));
  inspect_table_min_width(table, COL_OBJECT, strlen("container/") + INSPECT_SHORT_ID_LEN);
  inspect_table_min_width(table, COL_STATE, change);
  inspect_table_min_width(table, COL_GOAL, state);
}

static bool entry_matches(const struct log_filter *filter, const store_log_entry *entry) {
  if (filter->kind != 0 && entry->kind != filter->kind)
    return false;
  if (filter->object_prefix != NULL &&
      (entry->object_id == NULL ||
       strncmp(entry->object_id, filter->object_prefix, strlen(filter->object_prefix)) != 0))
    return false;
  return true;
}

static void add_row(struct inspect_table *table, const store_log_entry *entry) {
  char seq[24], when[48], id[INSPECT_SHORT_ID_LEN + 1];
  snprintf(seq, sizeof(seq), "%" PRIu64, entry->seq);
  inspect_format_time(entry->time, 3, when, sizeof(when));
  inspect_short_id(entry->object_id, id, sizeof(id));
  const char *kind = inspect_kind_name(entry->kind);
  cleanup_free char *object = *id == '\0' ? xstrdup("")
                              : kind      ? xasprintf("%s/%s", kind, id)
                                          : xstrdup(id);
  cleanup_free char *change = inspect_log_entry_change(entry);
  cleanup_free char *detail = inspect_log_entry_detail(entry);
  cleanup_free char *type_num = xasprintf("?%d", (int)entry->type);
  const char *type = inspect_log_type_name(entry->type);
  const char *row[] = {seq,    when,   type ? type : type_num,
                       object, change, inspect_state_name(entry->kind, entry->goal),
                       detail};
  inspect_table_add_row(table, row);
}

static int visit_entry(const store_log_entry *entry, void *data) {
  struct log_reader *r = data;
  r->cursor = entry->seq;
  r->visited++;
  if (entry_matches(&r->filter, entry)) {
    if (r->pending)
      cJSON_AddItemToArray(r->pending, inspect_log_entry_json(entry));
    else
      add_row(r->table, entry);
  }
  /* Non-zero stops the walk: the batch is full, end the txn. */
  return r->visited >= LOG_BATCH ? 1 : 0;
}

/* One batch in one read txn.  *more: the batch was full, so there may be
 * entries after it already. */
static int read_batch(struct store *store, struct log_reader *r, bool *more, crio_error_t *err) {
  cleanup_store_txn struct store_txn *txn = NULL;
  r->visited = 0;
  if (store_txn_begin(store, STORE_TXN_READ, &txn, err) < 0 ||
      store_log_foreach(txn, r->cursor, visit_entry, r, err) < 0 ||
      store_txn_commit(steal_pointer(&txn), err) < 0)
    return crio_error_prefix(err, "read state log after seq %" PRIu64, r->cursor);
  *more = r->visited >= LOG_BATCH;
  return 0;
}

/* JSON without --follow is one array, written element by element as
 * batches arrive so that a long log is never held in memory whole. */
struct json_array_stream {
  bool open;
};

static int write_pending(struct log_reader *r, bool follow, struct json_array_stream *stream,
                         crio_error_t *err) {
  if (r->pending == NULL)
    return inspect_table_flush(r->table, stdout, err);
  for (;;) {
    cleanup_cjson cJSON *owned = cJSON_DetachItemFromArray(r->pending, 0);
    if (owned == NULL)
      break;
    if (follow) {
      if (inspect_json_print(owned, false, stdout, err) < 0)
        return -1;
      continue;
    }
    fputs(stream->open ? ",\n" : "[\n", stdout);
    stream->open = true;
    cleanup_free char *text = cJSON_Print(owned);
    fputs(text, stdout);
  }
  if (ferror(stdout))
    return crio_error_errno(err, errno ? errno : EIO, "write output");
  return 0;
}

static int parse_seq(const char *s, uint64_t *out) {
  if (*s < '0' || *s > '9')
    return -1;
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0')
    return -1;
  *out = v;
  return 0;
}

static void install_stop_handlers(void) {
  struct sigaction sa = {.sa_handler = on_stop_signal};
  sigemptyset(&sa.sa_mask);
  /* SA_RESTART keeps a write to a slow pipe from failing with EINTR; the
   * poll's nanosleep returns on a signal regardless. */
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

static void sleep_poll_interval(void) {
  struct timespec ts = {.tv_sec = 0, .tv_nsec = FOLLOW_POLL_NS};
  /* An interrupting signal ends the sleep early, which is what we want. */
  nanosleep(&ts, NULL);
}

static int cmd_log(struct inspect_ctx *ctx, int argc, char **argv, crio_error_t *err) {
  enum { OPT_OBJECT = 'o', OPT_KIND = 'k', OPT_SINCE = 's', OPT_FOLLOW = 'f' };
  static const struct option options[] = {
      {"object", required_argument, NULL, OPT_OBJECT},
      {"kind", required_argument, NULL, OPT_KIND},
      {"since", required_argument, NULL, OPT_SINCE},
      {"follow", no_argument, NULL, OPT_FOLLOW},
      INSPECT_COMMON_OPTIONS,
      {NULL, 0, NULL, 0},
  };
  struct log_filter filter = {0};
  uint64_t since = 0;
  bool follow = false;
  int opt;
  while ((opt = inspect_getopt(argc, argv, "f", options)) != -1) {
    switch (opt) {
    case OPT_OBJECT:
      if (*optarg == '\0')
        return inspect_usage_error(err, "--object needs an id or id prefix");
      filter.object_prefix = optarg;
      break;
    case OPT_KIND: {
      enum sm_kind kind;
      if (!sm_kind_from_name(optarg, &kind))
        return inspect_usage_error(err, "--kind '%s': expected pod, container or image", optarg);
      filter.kind = (uint32_t)kind;
      break;
    }
    case OPT_SINCE:
      if (parse_seq(optarg, &since) < 0)
        return inspect_usage_error(err, "--since '%s': expected a seq number", optarg);
      break;
    case OPT_FOLLOW:
      follow = true;
      break;
    default:
      if (inspect_common_option(ctx, opt, argv, err) < 0)
        return INSPECT_USAGE;
    }
  }
  struct store *store = NULL;
  int ret = inspect_open_store_no_arguments(ctx, argc, argv, &store, err);
  if (ret < 0)
    return ret;

  cleanup_cjson cJSON *pending = ctx->json ? cJSON_CreateArray() : NULL;
  cleanup_inspect_table struct inspect_table *table = NULL;
  if (!ctx->json) {
    table = inspect_table_new(sizeof(log_headers) / sizeof(char *), log_headers);
    if (follow)
      set_follow_widths(table);
  }
  struct log_reader reader = {
      .filter = filter, .cursor = since, .pending = pending, .table = table};
  struct json_array_stream stream = {0};
  if (follow)
    install_stop_handlers();

  while (!stop_requested) {
    bool more = false;
    ret = read_batch(store, &reader, &more, err);
    if (ret == 0)
      ret = write_pending(&reader, follow, &stream, err);
    if (ret < 0)
      break;
    if (more)
      continue;
    if (!follow)
      break;
    fflush(stdout);
    sleep_poll_interval();
  }
  if (ctx->json && !follow && ret == 0)
    fputs(stream.open ? "\n]\n" : "[]\n", stdout);
  /* Stopping --follow by SIGINT/SIGTERM is its normal end. */
  return ret < 0 ? INSPECT_FAILED : 0;
}

const struct inspect_command inspect_cmd_log = {
    .name = "log",
    .run = cmd_log,
    .args = "[--object ID] [--kind KIND] [--since SEQ] [--follow]",
    .summary = "print the state log, oldest entry first",
    .options = "  --object ID   only entries of objects whose id starts with ID\n"
               "  --kind KIND   only entries of pod, container or image objects\n"
               "  --since SEQ   only entries after seq SEQ\n"
               "  -f, --follow  then wait for new entries and print each as it\n"
               "                commits, until SIGINT or SIGTERM\n",
};
