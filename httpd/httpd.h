/* httpd/: the daemon's HTTP side.
 *
 * - The CRI socket's listener: it accepts every connection itself, peeks
 *   at the first bytes, hands HTTP/2 (gRPC's preface) to gRPC core as a
 *   connected fd and answers HTTP/1.1 GETs itself: CRI-O's status endpoint
 *   (/info, /config, /containers/{id}) that cAdvisor and `crio status` read
 *   over the same socket.  gRPC's own calls never pass through us after
 *   the first bytes, so their latency does not change.
 * - The Prometheus metrics endpoint on a TCP address, and the counters
 *   behind it (httpd/metrics.h).
 *
 * Depends on store (read transactions) and common; the daemon wires the
 * gRPC hand-off and the configuration text in as callbacks. */
#ifndef CRIO_HTTPD_H
#define CRIO_HTTPD_H

#include <stdbool.h>
#include <stdint.h>

#include "common/common.h"
#include "store/store.h"

struct httpd_status_source {
  struct store *store;
  /* /info, as CRI-O's types.CrioInfo. */
  const char *storage_driver;
  const char *storage_root;
  const char *storage_image;
  const char *cgroup_driver;
  /* /config: the effective configuration as TOML (malloc'd). */
  char *(*config_toml)(void *data);
  void *data;
};

struct httpd_listener_options {
  const char *socket_path;
  /* A listening socket to use instead of binding socket_path (systemd
   * socket activation); -1: bind. */
  int inherited_fd;
  /* Takes a connected fd whose first bytes are gRPC's (and owns it). */
  void (*grpc_connection)(void *data, int fd);
  void *grpc_data;
  const struct httpd_status_source *status;
};

struct httpd_listener;

/* Binds (unlinking what is at the path: the caller holds the socket's
 * lock, so nothing of ours is there) with mode 0660, and starts accepting. */
int httpd_listener_start(const struct httpd_listener_options *options, struct httpd_listener **out,
                         crio_error_t *err);
/* Stops accepting and waits for HTTP/1.1 requests in progress; the gRPC
 * connections already handed on are gRPC's to close. */
void httpd_listener_stop(struct httpd_listener *l);

/* For tests and the metrics: the HTTP/1.1 requests answered. */
uint64_t httpd_listener_requests(const struct httpd_listener *l);

/* The answer to GET path on the status endpoint: status code, content
 * type and body (malloc'd). */
int httpd_status_answer(const struct httpd_status_source *src, const char *path, char **body,
                        const char **content_type);

/* ---- metrics ---------------------------------------------------------------------------- */

/* httpd's view of the gRPC server's per-RPC counters (the daemon adapts
 * cri's; httpd sits below cri and does not include it). */
struct httpd_op_stat {
  const char *operation;
  uint64_t total, errors;
  uint64_t latency_ns_total, last_latency_ns;
};

struct httpd_metrics_options {
  struct store *store;
  const char *host; /* metrics_host; a name is resolved ("localhost") */
  int port;
  const char *default_runtime;
  double recovery_seconds;
  /* The RPCs served so far; *out malloc'd.  NULL: no operation metrics. */
  size_t (*op_stats)(void *data, struct httpd_op_stat **out);
  void *op_data;
};

struct httpd_metrics;

/* Listens on host:port and follows the state log from its current end. */
int httpd_metrics_start(const struct httpd_metrics_options *options, struct httpd_metrics **out,
                        crio_error_t *err);
void httpd_metrics_stop(struct httpd_metrics *m);
/* The Prometheus text of every metric; malloc'd. */
char *httpd_metrics_render(struct httpd_metrics *m);
/* SIGHUP: crio_default_runtime{runtime} names the new one.  m may be NULL. */
void httpd_metrics_set_default_runtime(struct httpd_metrics *m, const char *name);

/* What the database holds right now (the metrics' gauges, and SIGUSR1's
 * dump): records and records whose state differs from their goal (the
 * reconciler's backlog) by kind (pod, container, image), file and used
 * bytes, log entries. */
struct httpd_store_gauges {
  uint64_t records[3], pending[3];
  uint64_t file_bytes, used_bytes, log_entries;
};
int httpd_metrics_gauges(struct store *store, struct httpd_store_gauges *out, crio_error_t *err);

#endif
