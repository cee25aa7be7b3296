/* Prometheus metrics (text format 0.0.4) on a TCP address, CRI-O's names
 * where CRI-O has the metric and crio_reconciler_* / crio_store_* /
 * crio_recovery_* for what is ours.
 *
 * Event counters come from the state log, not from hooks in the steps:
 * a follower thread reads every entry committed since the daemon started
 * (woken by store_log_wait), so "a container started" is counted exactly
 * when its transition committed, by whichever path it took.  Gauges
 * (queue depth, database size, log length) are read at scrape time from
 * one read transaction.  Per-RPC operation counts come from the gRPC
 * server through the options' callback. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "httpd/internal.h"

enum { OBJECT_BUCKETS = 1024 };

/* A small string-keyed table: object id -> time of its last log entry,
 * layer chain id -> references. */
struct entry {
  char *key;
  int64_t value;
  struct entry *next;
};
struct table {
  struct entry *buckets[OBJECT_BUCKETS];
};

static size_t hash(const char *s) {
  size_t h = 5381;
  for (; *s; s++)
    h = h * 33 + (unsigned char)*s;
  return h % OBJECT_BUCKETS;
}

static int64_t *table_slot(struct table *t, const char *key) {
  struct entry **b = &t->buckets[hash(key)];
  for (struct entry *e = *b; e; e = e->next)
    if (strcmp(e->key, key) == 0)
      return &e->value;
  struct entry *e = xzalloc(sizeof(*e));
  e->key = xstrdup(key);
  e->next = *b;
  *b = e;
  return &e->value;
}

static void table_remove(struct table *t, const char *key) {
  for (struct entry **p = &t->buckets[hash(key)]; *p; p = &(*p)->next) {
    if (strcmp((*p)->key, key) == 0) {
      struct entry *e = *p;
      *p = e->next;
      free(e->key);
      free(e);
      return;
    }
  }
}

static void table_clear(struct table *t) {
  for (size_t i = 0; i < OBJECT_BUCKETS; i++) {
    while (t->buckets[i]) {
      struct entry *e = t->buckets[i];
      t->buckets[i] = e->next;
      free(e->key);
      free(e);
    }
  }
}

struct step_stat {
  char *transition;
  uint64_t count;
  int64_t sum_ns;
};

/* A container OOM-killed, for container_runtime_crio_containers_oom_count_total{name}: its
 * series goes when its record is deleted, as CRI-O drops it. */
struct oom_container {
  char *id, *name;
  struct oom_container *next;
};

struct httpd_metrics {
  struct httpd_metrics_options opts;
  char *host;
  char *default_runtime; /* under lock: SIGHUP changes it */
  int listen_fd;
  int wake[2];
  pthread_t server_thread, follower_thread;
  bool server_started, follower_started;

  pthread_mutex_t lock; /* the counters below */
  bool stopping;
  uint64_t seen_seq;
  uint64_t containers_created, containers_started, containers_oom;
  uint64_t pulls_success, pulls_failure, pull_bytes, layer_reuse;
  struct step_stat *steps;
  size_t n_steps;
  struct table last_time; /* object id -> ns of its previous entry */
  struct table layers;    /* chain id -> references by image records */
  /* Labelled counters, keyed by their rendered label set. */
  struct table pull_bytes_by; /* mediatype="...",size="..." -> bytes */
  struct table skipped_by;    /* size="..." -> bytes */
  struct table reuse_by;      /* name="<chain id>" -> layers reused */
  struct table oom_by;        /* name="<container name>" -> OOM kills */
  struct oom_container *oom_containers;
};

/* CRI-O's size buckets (server/metrics.GetSizeBucket). */
static const char *size_bucket(uint64_t size) {
  static const struct {
    uint64_t above;
    const char *name;
  } buckets[] = {
      {10ULL * 1000 * 1000 * 1000, ">10 GiB"},
      {1000ULL * 1000 * 1000, ">1 GiB"},
      {500ULL * 1000 * 1000, ">500 MiB"},
      {400ULL * 1000 * 1000, ">400 MiB"},
      {300ULL * 1000 * 1000, ">300 MiB"},
      {200ULL * 1000 * 1000, ">200 MiB"},
      {100ULL * 1000 * 1000, ">100 MiB"},
      {50ULL * 1000 * 1000, ">50 MiB"},
      {10ULL * 1000 * 1000, ">10 MiB"},
      {1000ULL * 1000, ">1 MiB"},
      {1000, ">1 KiB"},
  };
  for (size_t i = 0; i < sizeof(buckets) / sizeof(buckets[0]); i++)
    if (size > buckets[i].above)
      return buckets[i].name;
  return ">0 B";
}

/* A label value as the text format wants it: \\, \" and \n escaped. */
static char *label_value(const char *v) {
  size_t n = 0;
  for (const char *p = v; *p; p++)
    n += (*p == '\\' || *p == '"' || *p == '\n') ? 2 : 1;
  char *out = xmalloc(n + 1), *q = out;
  for (const char *p = v; *p; p++) {
    if (*p == '\\' || *p == '"' || *p == '\n') {
      *q++ = '\\';
      *q++ = *p == '\n' ? 'n' : *p;
    } else {
      *q++ = *p;
    }
  }
  *q = '\0';
  return out;
}

/* ---- following the log ----------------------------------------------------------------- */

static void count_step(struct httpd_metrics *m, const char *transition, int64_t ns) {
  for (size_t i = 0; i < m->n_steps; i++) {
    if (strcmp(m->steps[i].transition, transition) == 0) {
      m->steps[i].count++;
      m->steps[i].sum_ns += ns;
      return;
    }
  }
  m->steps = xrealloc(m->steps, (m->n_steps + 1) * sizeof(*m->steps));
  m->steps[m->n_steps++] = (struct step_stat){xstrdup(transition), 1, ns};
}

struct follow_ctx {
  struct httpd_metrics *m;
  struct store_txn *txn;
};

static uint64_t image_size(struct store_txn *txn, const char *id) {
  cleanup_store_record store_record *rec = NULL;
  cleanup_error crio_error_t err = NULL;
  if (store_record_get(txn, STORE_KIND_IMAGE, id, &rec, &err) < 0 ||
      rec->body_case != CRIO__STORE__OBJECT_RECORD__BODY_IMAGE)
    return 0;
  return rec->image->size;
}

/* Counts an OOM kill, by container name too. */
static void count_oom(struct httpd_metrics *m, struct store_txn *txn, const char *id) {
  cleanup_store_record store_record *rec = NULL;
  cleanup_error crio_error_t err = NULL;
  if (store_record_get(txn, STORE_KIND_CONTAINER, id, &rec, &err) < 0 ||
      rec->body_case != CRIO__STORE__OBJECT_RECORD__BODY_CONTAINER || !rec->container->oom_killed)
    return;
  m->containers_oom++;
  cleanup_free char *name = label_value(rec->name ? rec->name : "");
  cleanup_free char *key = xasprintf("name=\"%s\"", name);
  (*table_slot(&m->oom_by, key))++;
  struct oom_container *c = xzalloc(sizeof(*c));
  c->id = xstrdup(id);
  c->name = steal_pointer(&key);
  c->next = m->oom_containers;
  m->oom_containers = c;
}

static void forget_oom(struct httpd_metrics *m, const char *id) {
  for (struct oom_container **p = &m->oom_containers; *p;) {
    struct oom_container *c = *p;
    if (strcmp(c->id, id) != 0) {
      p = &c->next;
      continue;
    }
    *p = c->next;
    table_remove(&m->oom_by, c->name);
    free(c->id);
    free(c->name);
    free(c);
  }
}

/* An image's layers acquired by its fetch: the manifest's descriptor of
 * each (the record's layers and the manifest's are in the same order)
 * gives its media type and size; a layer another image already held was
 * not downloaded (CRI-O: skipped bytes, layer reuse), the others were. */
static void count_layers(struct httpd_metrics *m, struct store_txn *txn, const store_log_entry *e) {
  cleanup_store_record store_record *rec = NULL;
  cleanup_error crio_error_t err = NULL;
  bool image = store_record_get(txn, STORE_KIND_IMAGE, e->object_id, &rec, &err) == 0 &&
               rec->body_case == CRIO__STORE__OBJECT_RECORD__BODY_IMAGE;
  cJSON *manifest =
      image && rec->image->manifest.len
          ? cJSON_ParseWithLength((const char *)rec->image->manifest.data, rec->image->manifest.len)
          : NULL;
  const cJSON *descs = cJSON_GetObjectItemCaseSensitive(manifest, "layers");
  for (size_t i = 0; i < e->n_acquired; i++) {
    const char *chain = e->acquired[i]->id;
    if (strcmp(e->acquired[i]->type, "layer") != 0)
      continue;
    int64_t *refs = table_slot(&m->layers, chain);
    bool reused = (*refs)++ > 0;
    const cJSON *d = NULL;
    for (size_t k = 0; image && k < rec->image->n_layers; k++)
      if (strcmp(rec->image->layers[k], chain) == 0)
        d = cJSON_GetArrayItem(descs, (int)k);
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(d, "size");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(d, "mediaType");
    uint64_t bytes =
        cJSON_IsNumber(size) && size->valuedouble > 0 ? (uint64_t)size->valuedouble : 0;
    if (reused) {
      m->layer_reuse++;
      cleanup_free char *key = xasprintf("name=\"%s\"", chain);
      (*table_slot(&m->reuse_by, key))++;
      if (d) {
        cleanup_free char *skey = xasprintf("size=\"%s\"", size_bucket(bytes));
        *table_slot(&m->skipped_by, skey) += (int64_t)bytes;
      }
    } else if (d) {
      cleanup_free char *mt = label_value(cJSON_IsString(type) ? type->valuestring : "");
      cleanup_free char *key = xasprintf("mediatype=\"%s\",size=\"%s\"", mt, size_bucket(bytes));
      *table_slot(&m->pull_bytes_by, key) += (int64_t)bytes;
    }
  }
  cJSON_Delete(manifest);
}

static int follow_entry(const store_log_entry *e, void *data) {
  struct follow_ctx *ctx = data;
  struct httpd_metrics *m = ctx->m;
  m->seen_seq = e->seq;
  const char *t = e->transition ? e->transition : "";
  if (e->type == CRIO__STORE__LOG_ENTRY__TYPE__NOTE)
    return 0;
  int64_t *last = table_slot(&m->last_time, e->object_id);
  if (e->type == CRIO__STORE__LOG_ENTRY__TYPE__TRANSITION) {
    /* A step's latency: from the object's previous entry (its goal, or
     * the transition before) to this commit. */
    if (*last > 0 && e->time >= *last)
      count_step(m, t, e->time - *last);
    if (strcmp(t, "container.runtime_create") == 0)
      m->containers_created++;
    else if (strcmp(t, "container.start") == 0)
      m->containers_started++;
    else if (strcmp(t, "container.exit") == 0)
      count_oom(m, ctx->txn, e->object_id);
    else if (strcmp(t, "image.commit") == 0) {
      m->pulls_success++;
      m->pull_bytes += image_size(ctx->txn, e->object_id);
    }
    if (e->n_acquired)
      count_layers(m, ctx->txn, e);
    for (size_t i = 0; i < e->n_released; i++)
      if (strcmp(e->released[i]->type, "layer") == 0) {
        int64_t *refs = table_slot(&m->layers, e->released[i]->id);
        if (*refs > 0 && --*refs == 0)
          table_remove(&m->layers, e->released[i]->id);
      }
  } else if (e->type == CRIO__STORE__LOG_ENTRY__TYPE__STEP_FAILED &&
             strcmp(t, "image.fetch_layers") == 0) {
    m->pulls_failure++;
  }
  if (e->type == CRIO__STORE__LOG_ENTRY__TYPE__DELETE) {
    table_remove(&m->last_time, e->object_id);
    forget_oom(m, e->object_id);
  } else
    *last = e->time;
  return 0;
}

static void follow_once(struct httpd_metrics *m) {
  cleanup_store_txn struct store_txn *txn = NULL;
  cleanup_error crio_error_t err = NULL;
  if (store_txn_begin(m->opts.store, STORE_TXN_READ, &txn, &err) < 0) {
    crio_error_warn(&err, "metrics: read the state log");
    return;
  }
  struct follow_ctx ctx = {m, txn};
  pthread_mutex_lock(&m->lock);
  if (store_log_foreach(txn, m->seen_seq, follow_entry, &ctx, &err) < 0)
    crio_error_warn(&err, "metrics: read the state log");
  pthread_mutex_unlock(&m->lock);
}

static void *follower_main(void *arg) {
  struct httpd_metrics *m = arg;
  for (;;) {
    pthread_mutex_lock(&m->lock);
    bool stop = m->stopping;
    uint64_t seen = m->seen_seq;
    pthread_mutex_unlock(&m->lock);
    if (stop)
      return NULL;
    /* A deadline so that stop is seen within a second. */
    uint64_t newest = store_log_wait(m->opts.store, seen, crio_monotonic_ns() + 1000000000LL);
    if (newest > seen)
      follow_once(m);
  }
}

static int seed_layer(const store_record *rec, void *data) {
  struct httpd_metrics *m = data;
  for (size_t i = 0; rec->image && i < rec->image->n_layers; i++)
    (*table_slot(&m->layers, rec->image->layers[i]))++;
  return 0;
}

/* Counting starts now; layers already referenced count for reuse. */
static int seed(struct httpd_metrics *m, crio_error_t *err) {
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(m->opts.store, STORE_TXN_READ, &txn, err) < 0)
    return -1;
  m->seen_seq = store_log_last_seq(txn);
  return store_record_foreach(txn, STORE_KIND_IMAGE, seed_layer, m, err);
}

/* ---- rendering ---------------------------------------------------------------------------- */

struct buf {
  char *p;
  size_t len, cap;
};

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(struct buf *b, const char *fmt, ...) {
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < b->cap - b->len) {
      b->len += (size_t)n;
      return;
    }
    b->cap = b->cap * 2 + (n > 0 ? (size_t)n : 0) + 256;
    b->p = xrealloc(b->p, b->cap);
  }
}

static void header(struct buf *b, const char *name, const char *type, const char *help) {
  bprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void simple(struct buf *b, const char *name, const char *type, const char *help,
                   double value) {
  header(b, name, type, help);
  bprintf(b, "%s %.17g\n", name, value);
}

/* A labelled counter: one sample per label set of the table. */
static void labelled(struct buf *b, const char *name, const char *help, const struct table *t) {
  header(b, name, "counter", help);
  for (size_t i = 0; i < OBJECT_BUCKETS; i++)
    for (const struct entry *e = t->buckets[i]; e; e = e->next)
      bprintf(b, "%s{%s} %lld\n", name, e->key, (long long)e->value);
}

struct gauges {
  uint64_t records, pending;
};

static int count_pending(const store_record *rec, void *data) {
  struct gauges *g = data;
  g->records++;
  if (rec->state != rec->goal)
    g->pending++;
  return 0;
}

int httpd_metrics_gauges(struct store *store, struct httpd_store_gauges *out, crio_error_t *err) {
  memset(out, 0, sizeof(*out));
  if (store_stat(store, &out->file_bytes, &out->used_bytes, err) < 0)
    return -1;
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(store, STORE_TXN_READ, &txn, err) < 0)
    return -1;
  out->log_entries = store_log_count(txn);
  const enum store_kind kinds[] = {STORE_KIND_POD, STORE_KIND_CONTAINER, STORE_KIND_IMAGE};
  for (size_t i = 0; i < 3; i++) {
    struct gauges g = {0};
    if (store_record_foreach(txn, kinds[i], count_pending, &g, err) < 0)
      return -1;
    out->records[i] = g.records;
    out->pending[i] = g.pending;
  }
  return 0;
}

char *httpd_metrics_render(struct httpd_metrics *m) {
  struct buf b = {xmalloc(4096), 0, 4096};
  /* Entries committed since the follower last woke are counted now, so
   * a scrape right after a call sees it. */
  follow_once(m);

  if (m->opts.op_stats) {
    struct httpd_op_stat *ops = NULL;
    size_t n = m->opts.op_stats(m->opts.op_data, &ops);
    header(&b, "container_runtime_crio_operations_total", "counter",
           "Cumulative number of CRI-O operations by operation type.");
    for (size_t i = 0; i < n; i++)
      bprintf(&b, "container_runtime_crio_operations_total{operation=\"%s\"} %llu\n",
              ops[i].operation, (unsigned long long)ops[i].total);
    header(&b, "container_runtime_crio_operations_errors_total", "counter",
           "Cumulative number of CRI-O operation errors by operation type.");
    for (size_t i = 0; i < n; i++)
      bprintf(&b, "container_runtime_crio_operations_errors_total{operation=\"%s\"} %llu\n",
              ops[i].operation, (unsigned long long)ops[i].errors);
    header(&b, "container_runtime_crio_operations_latency_seconds", "gauge",
           "Latency in seconds of individual CRI calls for CRI-O operations. Broken down by "
           "operation type.");
    for (size_t i = 0; i < n; i++)
      bprintf(&b, "container_runtime_crio_operations_latency_seconds{operation=\"%s\"} %.9f\n",
              ops[i].operation, (double)ops[i].last_latency_ns / 1e9);
    header(&b, "container_runtime_crio_operations_latency_seconds_total", "summary",
           "Latency in seconds of CRI-O operations. Broken down by operation type.");
    for (size_t i = 0; i < n; i++)
      bprintf(
          &b,
          "container_runtime_crio_operations_latency_seconds_total_sum{operation=\"%s\"} %.9f\n"
          "container_runtime_crio_operations_latency_seconds_total_count{operation=\"%s\"} %llu\n",
          ops[i].operation, (double)ops[i].latency_ns_total / 1e9, ops[i].operation,
          (unsigned long long)ops[i].total);
    header(&b, "container_runtime_crio_operations_latency_microseconds", "summary",
           "Latency in microseconds of CRI-O operations (CRI-O's older name). Broken down by "
           "operation type.");
    for (size_t i = 0; i < n; i++)
      bprintf(
          &b,
          "container_runtime_crio_operations_latency_microseconds_sum{operation=\"%s\"} %.3f\n"
          "container_runtime_crio_operations_latency_microseconds_count{operation=\"%s\"} %llu\n",
          ops[i].operation, (double)ops[i].latency_ns_total / 1e3, ops[i].operation,
          (unsigned long long)ops[i].total);
    free(ops);
  }

  pthread_mutex_lock(&m->lock);
  simple(&b, "container_runtime_crio_image_pulls_success_total", "counter",
         "Cumulative number of CRI-O image pull successes.", (double)m->pulls_success);
  header(&b, "container_runtime_crio_image_pulls_failure_total", "counter",
         "Cumulative number of CRI-O image pull failures by error.");
  bprintf(&b, "container_runtime_crio_image_pulls_failure_total{error=\"fetch_layers\"} %llu\n",
          (unsigned long long)m->pulls_failure);
  labelled(&b, "container_runtime_crio_image_pulls_bytes_total",
           "Bytes transferred by CRI-O image pulls by mediatype and size bucket.",
           &m->pull_bytes_by);
  labelled(&b, "container_runtime_crio_image_pulls_skipped_bytes_total",
           "Bytes skipped by CRI-O image pulls (layers already present) by size bucket.",
           &m->skipped_by);
  labelled(&b, "container_runtime_crio_image_layer_reuse_total",
           "Reused (not pulled) local image layer count by name.", &m->reuse_by);
  simple(&b, "crio_image_pulls_unpacked_bytes_total", "counter",
         "Unpacked size of the images pulled since crio started (ours).", (double)m->pull_bytes);
  simple(&b, "crio_image_layer_reuse_count_total", "counter",
         "Reused (not pulled) local image layers, all names (ours).", (double)m->layer_reuse);
  simple(&b, "container_runtime_crio_containers_oom_total", "counter",
         "Amount of containers killed because they ran out of memory (OOM)",
         (double)m->containers_oom);
  labelled(&b, "container_runtime_crio_containers_oom_count_total",
           "Amount of containers killed because they ran out of memory (OOM) by their name",
           &m->oom_by);
  simple(&b, "crio_containers_created_total", "counter",
         "Containers created in the runtime since crio started.", (double)m->containers_created);
  simple(&b, "crio_containers_started_total", "counter", "Containers started since crio started.",
         (double)m->containers_started);
  header(&b, "crio_reconciler_step_latency_seconds", "summary",
         "Time from an object's previous state-log entry to the commit of each transition.");
  for (size_t i = 0; i < m->n_steps; i++)
    bprintf(&b,
            "crio_reconciler_step_latency_seconds_sum{transition=\"%s\"} %.9f\n"
            "crio_reconciler_step_latency_seconds_count{transition=\"%s\"} %llu\n",
            m->steps[i].transition, (double)m->steps[i].sum_ns / 1e9, m->steps[i].transition,
            (unsigned long long)m->steps[i].count);
  pthread_mutex_unlock(&m->lock);

  struct httpd_store_gauges g;
  cleanup_error crio_error_t err = NULL;
  if (httpd_metrics_gauges(m->opts.store, &g, &err) == 0) {
    static const char *const kinds[] = {"pod", "container", "image"};
    header(&b, "crio_reconciler_queue_depth", "gauge",
           "Records whose state differs from their goal: the reconciler's backlog.");
    for (size_t i = 0; i < 3; i++)
      bprintf(&b, "crio_reconciler_queue_depth{kind=\"%s\"} %llu\n", kinds[i],
              (unsigned long long)g.pending[i]);
    header(&b, "crio_store_records", "gauge", "Records in the database by kind.");
    for (size_t i = 0; i < 3; i++)
      bprintf(&b, "crio_store_records{kind=\"%s\"} %llu\n", kinds[i],
              (unsigned long long)g.records[i]);
    simple(&b, "crio_store_database_bytes", "gauge", "Size of the database file.",
           (double)g.file_bytes);
    simple(&b, "crio_store_database_used_bytes", "gauge", "Bytes of the database in use.",
           (double)g.used_bytes);
    simple(&b, "crio_store_log_entries", "gauge", "Entries in the state log.",
           (double)g.log_entries);
  } else {
    crio_error_warn(&err, "metrics: database gauges");
  }
  simple(&b, "crio_recovery_seconds", "gauge", "Time start-up recovery took.",
         m->opts.recovery_seconds);
  header(&b, "container_runtime_crio_default_runtime", "gauge",
         "Default container runtime configured. Value is always 1.");
  pthread_mutex_lock(&m->lock);
  bprintf(&b, "container_runtime_crio_default_runtime{runtime=\"%s\"} 1\n", m->default_runtime);
  pthread_mutex_unlock(&m->lock);
  return b.p;
}

/* ---- serving -------------------------------------------------------------------------------- */

static int answer(void *data, const char *path, char **body, const char **type) {
  if (strcmp(path, "/metrics") != 0 && strcmp(path, "/") != 0) {
    *type = "text/plain";
    *body = xstrdup("404 page not found\n");
    return 404;
  }
  *type = "text/plain; version=0.0.4; charset=utf-8";
  *body = httpd_metrics_render(data);
  return 200;
}

static void *server_main(void *arg) {
  struct httpd_metrics *m = arg;
  for (;;) {
    struct pollfd pfds[2] = {{.fd = m->wake[0], .events = POLLIN},
                             {.fd = m->listen_fd, .events = POLLIN}};
    if (poll(pfds, 2, -1) < 0 && errno != EINTR)
      break;
    if (pfds[0].revents)
      break;
    if (!(pfds[1].revents & POLLIN))
      continue;
    int fd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
      continue;
    /* Scrapes are rare and short: one at a time, on this thread. */
    httpd_exchange(fd, answer, m);
    close(fd);
  }
  return NULL;
}

static int listen_tcp(const char *host, int port, int *fd_out, crio_error_t *err) {
  struct addrinfo hints = {
      .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  struct addrinfo *res = NULL;
  char service[16];
  snprintf(service, sizeof(service), "%d", port);
  int rc = getaddrinfo(host[0] ? host : NULL, service, &hints, &res);
  if (rc != 0)
    return crio_error(err, EINVAL, "metrics address %s:%d: %s", host, port, gai_strerror(rc));
  int saved = 0;
  for (struct addrinfo *a = res; a; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      saved = errno;
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 16) == 0) {
      freeaddrinfo(res);
      *fd_out = fd;
      return 0;
    }
    saved = errno;
    close(fd);
  }
  freeaddrinfo(res);
  return crio_error_errno(err, saved, "metrics: listen on %s:%d", host, port);
}

int httpd_metrics_start(const struct httpd_metrics_options *options, struct httpd_metrics **out,
                        crio_error_t *err) {
  struct httpd_metrics *m = xzalloc(sizeof(*m));
  m->opts = *options;
  m->host = xstrdup(options->host ? options->host : "127.0.0.1");
  m->default_runtime = xstrdup(options->default_runtime ? options->default_runtime : "");
  m->listen_fd = -1;
  m->wake[0] = m->wake[1] = -1;
  pthread_mutex_init(&m->lock, NULL);
  if (seed(m, err) < 0 || listen_tcp(m->host, options->port, &m->listen_fd, err) < 0 ||
      pipe2(m->wake, O_CLOEXEC) < 0) {
    if (!crio_error_status(err))
      crio_error_errno(err, errno, "pipe");
    httpd_metrics_stop(m);
    return -1;
  }
  int rc = pthread_create(&m->follower_thread, NULL, follower_main, m);
  if (rc == 0) {
    m->follower_started = true;
    rc = pthread_create(&m->server_thread, NULL, server_main, m);
    m->server_started = rc == 0;
  }
  if (rc != 0) {
    crio_error_errno(err, rc, "metrics threads");
    httpd_metrics_stop(m);
    return -1;
  }
  *out = m;
  return 0;
}

void httpd_metrics_stop(struct httpd_metrics *m) {
  if (m == NULL)
    return;
  pthread_mutex_lock(&m->lock);
  m->stopping = true;
  pthread_mutex_unlock(&m->lock);
  if (m->server_started) {
    ssize_t w;
    do
      w = write(m->wake[1], "x", 1);
    while (w < 0 && errno == EINTR);
    pthread_join(m->server_thread, NULL);
  }
  if (m->follower_started)
    pthread_join(m->follower_thread, NULL);
  if (m->listen_fd >= 0)
    close(m->listen_fd);
  for (int i = 0; i < 2; i++)
    if (m->wake[i] >= 0)
      close(m->wake[i]);
  for (size_t i = 0; i < m->n_steps; i++)
    free(m->steps[i].transition);
  free(m->steps);
  table_clear(&m->last_time);
  table_clear(&m->layers);
  pthread_mutex_destroy(&m->lock);
  free(m->host);
  free(m->default_runtime);
  table_clear(&m->pull_bytes_by);
  table_clear(&m->skipped_by);
  table_clear(&m->reuse_by);
  table_clear(&m->oom_by);
  while (m->oom_containers) {
    struct oom_container *c = m->oom_containers;
    m->oom_containers = c->next;
    free(c->id);
    free(c->name);
    free(c);
  }
  free(m);
}

void httpd_metrics_set_default_runtime(struct httpd_metrics *m, const char *name) {
  if (m == NULL)
    return;
  pthread_mutex_lock(&m->lock);
  free(m->default_runtime);
  m->default_runtime = xstrdup(name);
  pthread_mutex_unlock(&m->lock);
}
