/* cri/: the CRI v1 gRPC server on the gRPC C core API and one handler per
 * RPC.  Handlers translate protobuf to records and intents and back; the
 * work itself happens in the reconciler.  This header is what the daemon
 * needs to run the server. */
#ifndef CRIO_CRI_H
#define CRIO_CRI_H

#include <stdbool.h>
#include <stdint.h>

#include "common/common.h"

struct store;
struct reconciler;
struct img_service;
struct reconciler_container_env;
struct stream_server;

enum cri_cgroup_driver {
  CRI_CGROUP_DRIVER_SYSTEMD = 0, /* runtime.v1.CgroupDriver numbers */
  CRI_CGROUP_DRIVER_CGROUPFS = 1,
};

struct cri_runtime_handler {
  const char *name;         /* RuntimeClass handler name, e.g. "runc" */
  const char *runtime_path; /* absolute path of the OCI runtime binary */
  const char *runtime_root; /* --root passed to the runtime */
  /* The rest of [crio.runtime.runtimes.<name>], for Status (verbose). */
  const char *runtime_type;        /* "oci" */
  const char *runtime_config_path; /* may be NULL */
  const char *monitor_path;        /* may be NULL: the daemon's conmon */
  const char *const *monitor_env;  /* may be NULL */
  const char *const *allowed_annotations;
  const char *const *runtime_args;
  bool privileged_without_host_devices;
};

/* What the handlers need to know of the daemon's configuration.  Owned by
 * the daemon; read-only while the server runs. */
struct cri_config {
  const char *default_runtime;
  const struct cri_runtime_handler *runtimes;
  size_t n_runtimes;
  const char *conmon_path;
  const char *cni_config_dir;
  const char *const *cni_plugin_dirs; /* NULL-terminated */
  enum cri_cgroup_driver cgroup_driver;
  const char *root;    /* persistent state dir */
  const char *runroot; /* run dir */
};

/* The daemon as the handlers see it. */
struct cri_context {
  const struct cri_config *config;
  struct store *store;
  struct reconciler *reconciler;
  struct img_service *images; /* the image service (images/images.h) */
  /* The container steps' env (reconciler/reconciler.h): StopContainer's
   * timeouts, default log paths. */
  struct reconciler_container_env *containers;
  /* Where Exec, Attach and PortForward send their clients
   * (streaming/streaming.h); NULL: those RPCs fail. */
  struct stream_server *streaming;
};

struct cri_server_options {
  const char *socket_path;      /* e.g. /run/crio/crio.sock */
  unsigned max_handler_threads; /* 0: default */
  int64_t shutdown_grace_ms;    /* in-flight calls get this long to finish */
  /* The caller owns the listening socket (httpd/: HTTP/1.1 beside gRPC on
   * one socket, or systemd's) and hands gRPC's connections on with
   * cri_server_add_connection; the server takes the lock, binds nothing. */
  bool external_listener;
  /* The socket file is systemd's (socket activation): left in place at
   * shutdown so the next start is activated through it. */
  bool keep_socket_file;
};

struct cri_server;

/* Takes the socket's lock file (<socket>.lock) — failing with EBUSY if
 * another daemon holds it — then binds the socket (mode 0660) and starts
 * serving.  Call with every signal the daemon handles blocked, before any
 * other thread exists that could take them. */
int cri_server_start(const struct cri_server_options *options, const struct cri_context *context,
                     struct cri_server **out, crio_error_t *err);
/* Stops accepting calls; in-flight calls get the grace period, then are
 * cancelled; `before_cancel` (may be NULL) runs when the grace period ends
 * so the daemon can release handlers blocked on the reconciler.  Removes
 * the socket and releases the lock. */
void cri_server_shutdown(struct cri_server *server, void (*before_cancel)(void *data), void *data);
void cri_server_free(struct cri_server *server);
/* CRI-O's operation metrics: per RPC (operation "Version", as CRI-O
 * names them), calls ended, those ended with an error, and latency. */
struct cri_op_stat {
  const char *operation; /* points into the server; valid while it lives */
  uint64_t total, errors;
  uint64_t latency_ns_total, last_latency_ns;
};
/* The RPCs served at least once; *out malloc'd. */
size_t cri_server_op_stats(const struct cri_server *server, struct cri_op_stat **out);
/* A connected socket whose client speaks HTTP/2 (gRPC); the server owns
 * it from here. */
void cri_server_add_connection(struct cri_server *server, int fd);

/* Calls served since start (for logs and tests). */
uint64_t cri_server_calls_served(const struct cri_server *server);

#endif
