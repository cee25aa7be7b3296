/* Start-up order and shutdown of the daemon.
 *
 * Start: signals blocked (before gRPC makes threads, so only the main
 * thread takes them) -> dirs -> state lock -> database -> image service
 * (layer store leftovers and unreferenced layers removed) -> reconciler ->
 * recovery (every record looked at before the socket is served) -> gRPC
 * socket -> READY=1.  Stop (SIGTERM/SIGINT): stop accepting, let calls
 * finish within the grace period, release handlers still waiting on the
 * reconciler, stop the reconciler, close the database.  Containers and
 * conmon keep running: they are not our children to kill. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <grpc/grpc.h>

#include "daemon/daemon.h"
#include "daemon/internal.h"
#include "daemon/settings.h"
#include "httpd/httpd.h"
#include "images/images.h"
#include "oci/oci.h"
#include "oci/runtime.h"
#include "oci/spec.h"
#include "reconciler/reconciler.h"
#include "recovery/recovery.h"
#include "store/store.h"
#include "streaming/streaming.h"

/* One daemon owns a state dir: a second one would run the same records'
 * steps twice.  The lock lives beside the database; wipe takes it too. */
static int lock_state_dir(const char *root, int *fd_out, crio_error_t *err) {
  cleanup_free char *path = xasprintf("%s/crio.lock", root);
  cleanup_error crio_error_t lock_err = NULL;
  if (crio_lock_file_try(path, fd_out, &lock_err) == 0)
    return 0;
  if (crio_error_status(&lock_err) == EBUSY)
    return crio_error(err, EBUSY, "another crio is using state dir %s (%s is locked)", root, path);
  return crio_error(err, crio_error_status(&lock_err), "%s", crio_error_message(&lock_err));
}

static void stop_reconciler(void *data) {
  reconciler_stop(data);
}

/* The runtime handlers as oci/ runs them.  A handler's runtime type is
 * told by its binary's name (runc or crun), else by the handler's. */
struct runtime_table {
  struct oci_runtime *runtimes;
  struct reconciler_runtime_handler *handlers;
  size_t n;
};

static void runtime_table_release(struct runtime_table *t) {
  free(t->runtimes);
  free(t->handlers);
  memset(t, 0, sizeof(*t));
}

static int runtime_table_build(const struct daemon_config *cfg, struct runtime_table *t,
                               crio_error_t *err) {
  t->n = cfg->n_runtimes;
  t->runtimes = xcalloc(t->n ? t->n : 1, sizeof(*t->runtimes));
  t->handlers = xcalloc(t->n ? t->n : 1, sizeof(*t->handlers));
  for (size_t i = 0; i < t->n; i++) {
    const struct daemon_runtime *d = &cfg->runtimes[i];
    const char *base = strrchr(d->runtime_path, '/');
    base = base ? base + 1 : d->runtime_path;
    cleanup_error crio_error_t by_path = NULL;
    const struct oci_runtime_ops *ops = oci_runtime_ops_get(base, &by_path);
    if (ops == NULL)
      ops = oci_runtime_ops_get(d->name, err);
    if (ops == NULL)
      return crio_error_prefix(err, "runtime handler %s (%s)", d->name, d->runtime_path);
    t->runtimes[i] = (struct oci_runtime){
        .ops = ops,
        .path = d->runtime_path,
        .root = d->runtime_root,
        .systemd_cgroup = strcmp(cfg->cgroup_manager, "systemd") == 0,
        .runtime_args = (const char *const *)d->runtime_args,
        .monitor_shim = ops->sandbox_per_pod ? cfg->runsc_shim_path : NULL,
        .monitor_path = d->monitor_path,
        .monitor_env = (const char *const *)d->monitor_env,
        .allowed_annotations = (const char *const *)d->allowed_annotations,
        .privileged_without_host_devices = d->privileged_without_host_devices,
    };
    t->handlers[i] =
        (struct reconciler_runtime_handler){.name = d->name, .runtime = &t->runtimes[i]};
  }
  return 0;
}

static void exit_watch_stopp(struct oci_exit_watch **w) {
  oci_exit_watch_stop(*w);
  *w = NULL;
}

/* A damaged database (EUCLEAN from the check, LMDB or a record that does
 * not decode) gets one message that says where the way out is
 * documented, whatever step found it. */
static int database_damaged(const char *db_dir, crio_error_t *err) {
  if (crio_error_status(err) != EUCLEAN)
    return crio_error_prefix(err, "check database %s", db_dir);
  cleanup_free char *why = xstrdup(crio_error_message(err));
  cleanup_free char *msg = recovery_db_damaged_message(db_dir, why);
  crio_error_release(err);
  return crio_error(err, EUCLEAN, "%s", msg);
}

/* CRIO_LOG_COMPACT_THRESHOLD (tests): compact at start above this many
 * log entries instead of the default. */
static uint64_t compact_threshold(void) {
  const char *v = getenv("CRIO_LOG_COMPACT_THRESHOLD");
  if (v == NULL || *v == '\0')
    return 0;
  char *end = NULL;
  unsigned long long n = strtoull(v, &end, 10);
  return end && *end == '\0' && n > 0 ? (uint64_t)n : 0;
}

/* systemd socket activation (crio.socket): the one listening unix socket
 * passed in LISTEN_FDS, else -1. */
static int socket_activation_fd(void) {
  int n = crio_sd_listen_fds();
  if (n < 1)
    return -1;
  if (n > 1)
    log_warning("socket activation: %d fds passed; using the first", n);
  if (!crio_sd_is_listening_unix_stream(CRIO_SD_LISTEN_FDS_START)) {
    log_warning("socket activation: fd %d is not a listening unix socket; binding instead",
                CRIO_SD_LISTEN_FDS_START);
    return -1;
  }
  return CRIO_SD_LISTEN_FDS_START;
}

static size_t op_stats(void *data, struct httpd_op_stat **out) {
  struct cri_op_stat *ops = NULL;
  size_t n = cri_server_op_stats(data, &ops);
  *out = xcalloc(n ? n : 1, sizeof(**out));
  for (size_t i = 0; i < n; i++)
    (*out)[i] = (struct httpd_op_stat){ops[i].operation, ops[i].total, ops[i].errors,
                                       ops[i].latency_ns_total, ops[i].last_latency_ns};
  free(ops);
  return n;
}

static void grpc_connection(void *data, int fd) {
  cri_server_add_connection(data, fd);
}

static char *config_toml(void *data) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (f == NULL)
    return xstrdup("");
  daemon_config_print(data, false, f);
  fclose(f);
  return text;
}

static const char *setting_string(const struct daemon_config *cfg, const char *table,
                                  const char *key) {
  size_t i = daemon_setting_find(table, key);
  if (i == SIZE_MAX)
    return "";
  const char *const *slot = daemon_setting_slot_const(cfg, i);
  return *slot ? *slot : "";
}

/* systemd's watchdog (WatchdogSec; WATCHDOG_USEC in the environment):
 * pinged by the reconciler's heartbeat every half period, after a database
 * read transaction succeeded, so a wedged reconciler (every worker stuck,
 * or its lock) or a wedged store stops the pings and systemd restarts us. */
static void watchdog_beat(void *data) {
  cleanup_store_txn struct store_txn *txn = NULL;
  cleanup_error crio_error_t err = NULL;
  if (store_txn_begin(data, STORE_TXN_READ, &txn, &err) == 0)
    crio_sd_notify("WATCHDOG=1");
}

/* The streaming server of Exec, Attach and PortForward.  CRIO_STREAM_TOKEN_TTL_MS
 * (tests) shortens the tokens' minute. */
static int start_streaming(const struct daemon_config *cfg, struct reconciler *reconciler,
                           const struct reconciler_container_env *containers,
                           struct stream_server **out, crio_error_t *err) {
  const char *ttl = getenv("CRIO_STREAM_TOKEN_TTL_MS");
  int64_t idle_s = 0;
  if (cfg->stream_idle_timeout && *cfg->stream_idle_timeout &&
      daemon_parse_duration(cfg->stream_idle_timeout, &idle_s) < 0)
    return crio_error(err, EINVAL,
                      "stream_idle_timeout: \"%s\" is not a duration (\"4h\", \"90s\")",
                      cfg->stream_idle_timeout);
  struct stream_server_config config = {
      .address = cfg->stream_address,
      .port = cfg->stream_port,
      .idle_timeout_ms = idle_s * 1000,
      .token_ttl_ms = ttl ? strtoll(ttl, NULL, 10) : 0,
      .tls = cfg->stream_enable_tls,
      .tls_cert = cfg->stream_tls_cert,
      .tls_key = cfg->stream_tls_key,
  };
  struct stream_context context = {.reconciler = reconciler, .containers = containers};
  if (stream_server_start(&config, &context, out, err) < 0)
    return -1;
  log_info("streaming server on %s", stream_server_base_url(*out));
  return 0;
}

int daemon_run(const struct daemon_config *cfg, crio_error_t *err) {
  /* Before any thread exists.  glibc gives each thread that allocates an
   * arena of its own, up to eight per CPU; with the reconciler's workers,
   * the handler pool and gRPC's threads that is a dozen heaps, each keeping
   * its own high-water mark resident.  The daemon's allocations are small
   * and short (one call, one step): two arenas serve them without
   * measurable contention (docs/operations.md, "Memory"). */
  mallopt(M_ARENA_MAX, 2);
  if (crio_mkdir_p(cfg->root, 0700, err) < 0 || crio_mkdir_p(cfg->runroot, 0711, err) < 0)
    return crio_error_prefix(err, "state directories");
  cleanup_close int state_lock = -1;
  if (lock_state_dir(cfg->root, &state_lock, err) < 0)
    return -1;
  /* Present only while no crio runs, after a stop that finished. */
  if (cfg->clean_shutdown_file[0]) {
    if (unlink(cfg->clean_shutdown_file) < 0 && errno != ENOENT)
      log_warning("remove %s: %s", cfg->clean_shutdown_file, strerror(errno));
    /* CRI-O's "<file>.supported": tells crio wipe that a missing clean
     * shutdown file means an unclean stop (daemon/wipe.c). */
    cleanup_free char *supported = xasprintf("%s.supported", cfg->clean_shutdown_file);
    cleanup_error crio_error_t sup_err = NULL;
    if (crio_write_file_atomic(supported, "", 0, 0644, &sup_err) < 0)
      crio_error_warn(&sup_err, "clean shutdown supported file");
  }
  daemon_version_files_write(cfg);

  cleanup_free char *db_dir = xasprintf("%s/db", cfg->root);
  struct store_options store_options = {
      .dir = db_dir,
      .sync_every_commit = cfg->sync_every_commit,
  };
  /* Checked before LMDB maps the file: LMDB faults (SIGBUS) on a file cut
   * short, and a service manager would restart us into the same fault. */
  recovery_db_fault_guard(db_dir);
  if (recovery_db_check(db_dir, err) < 0)
    return database_damaged(db_dir, err);
  cleanup_store struct store *store = NULL;
  if (store_open(&store_options, &store, err) < 0) {
    if (crio_error_status(err) == EUCLEAN)
      return database_damaged(db_dir, err);
    return crio_error_prefix(err, "open database %s", db_dir);
  }

  /* Before the reconciler: its image steps use the service, which must
   * therefore outlive it (cleanup runs in reverse declaration order). */
  struct img_service_options image_options = {
      .root = cfg->root,
      .registries_conf = cfg->registries_conf,
      .certs_dir = cfg->image_certs_dir,
      .pause_image = cfg->pause_image,
      .pinned_images = (const char *const *)cfg->pinned_images,
      .pull_progress_timeout = cfg->pull_progress_timeout,
  };
  cleanup_img_service struct img_service *images = NULL;
  if (img_service_open(&image_options, store, &images, err) < 0)
    return crio_error_prefix(err, "image service");

  /* Before the reconciler, which uses them: freed after it. */
  struct oci_spec_host spec_host;
  __attribute__((cleanup(runtime_table_release))) struct runtime_table runtimes = {0};
  __attribute__((cleanup(
      reconciler_container_env_release))) struct reconciler_container_env container_env = {0};
  struct reconciler_options rec_options = {
      .workers = cfg->reconciler_workers,
      .crash_at = getenv("CRIO_CRASH_AT"),
      .fail_at = getenv("CRIO_FAIL_AT"),
  };
  uint64_t watchdog_usec = crio_sd_watchdog_usec();
  if (watchdog_usec > 0) {
    rec_options.heartbeat = watchdog_beat;
    rec_options.heartbeat_data = store;
    rec_options.heartbeat_ns = (int64_t)(watchdog_usec / 2) * 1000;
  }
  cleanup_reconciler struct reconciler *reconciler = NULL;
  if (reconciler_new(store, &rec_options, &reconciler, err) < 0)
    return crio_error_prefix(err, "reconciler");
  const struct oci_cgroup_manager *cgroups = oci_cgroup_manager_get(cfg->cgroup_manager, err);
  if (cgroups == NULL)
    return crio_error_prefix(err, "cgroup manager");
  if (runtime_table_build(cfg, &runtimes, err) < 0)
    return -1;
  struct reconciler_pod_env pod_env = {
      .runroot = cfg->runroot,
      .cni_config_dir = cfg->cni_config_dir,
      .cni_plugin_dirs = (const char *const *)cfg->cni_plugin_dirs,
      .cgroups = cgroups,
      .default_cgroup_parent = cfg->default_cgroup_parent,
      .pause_path = cfg->pause_path,
      .runtimes = runtimes.handlers,
      .n_runtimes = runtimes.n,
      .conmon_path = cfg->conmon_path,
      .default_sysctls = (const char *const *)cfg->default_sysctls,
  };
  if (reconciler_register_pod_steps(reconciler, &pod_env, err) < 0)
    return crio_error_prefix(err, "pod steps");
  if (reconciler_register_image_steps(reconciler, images, err) < 0)
    return crio_error_prefix(err, "image steps");
  if (oci_spec_host_detect(&spec_host, err) < 0)
    return crio_error_prefix(err, "host facts for OCI specs");
  container_env = (struct reconciler_container_env){
      .root = cfg->root,
      .runroot = cfg->runroot,
      .conmon_path = cfg->conmon_path,
      .runtimes = runtimes.handlers,
      .n_runtimes = runtimes.n,
      .cgroups = cgroups,
      .default_cgroup_parent = cfg->default_cgroup_parent,
      .images = images,
      .host = &spec_host,
  };
  if (reconciler_register_container_steps(reconciler, &container_env, err) < 0)
    return crio_error_prefix(err, "container steps");
  /* No image step runs yet: what a crash left in the layer store (tmp-*
   * dirs, layers of removed images) can go without racing a pull. */
  struct img_gc_report gc_report;
  if (img_service_startup(images, &gc_report, err) < 0)
    return crio_error_prefix(err, "image store start-up");
  if (gc_report.layers_removed || gc_report.names_removed)
    log_info("image store: removed %u unreferenced layer(s) and %u stale name(s)",
             gc_report.layers_removed, gc_report.names_removed);
  if (reconciler_start(reconciler, err) < 0)
    return crio_error_prefix(err, "start reconciler");

  /* CRIO_BOOT_ID_PATH (tests): a file standing in for the kernel's boot
   * id, so a test can make the daemon see a node reboot. */
  const char *boot_id_path = getenv("CRIO_BOOT_ID_PATH");
  struct recovery_options recovery_options = {
      .boot_id_path = boot_id_path && *boot_id_path ? boot_id_path : cfg->boot_id_path,
      .compact_threshold = compact_threshold(),
      .root = cfg->root,
      .runroot = cfg->runroot,
  };
  struct recovery_report report;
  if (recovery_run(store, reconciler, &recovery_options, &report, err) < 0) {
    if (crio_error_status(err) == EUCLEAN)
      return database_damaged(db_dir, err);
    return crio_error_prefix(err, "recovery");
  }
  /* The log stays bounded while the daemon runs (recovery.h's retention). */
  __attribute__((cleanup(recovery_compactor_stopp))) struct recovery_compactor *compactor = NULL;
  if (recovery_compactor_start(store, NULL, &compactor, err) < 0)
    return -1;
  log_info("recovery: %llu pod(s), %llu container(s), %llu image(s) in %.3f ms%s",
           (unsigned long long)report.pods, (unsigned long long)report.containers,
           (unsigned long long)report.images, (double)report.elapsed_ns / 1e6,
           report.first_start ? " (new database)"
           : report.rebooted  ? " (after a reboot)"
                              : "");

  /* Exits that happened while the daemon was down are in the exit dir
   * (the watch's first scan reports them); containers whose conmon died
   * without writing one are looked at by the adoption pass. */
  __attribute__((cleanup(exit_watch_stopp))) struct oci_exit_watch *exit_watch = NULL;
  if (reconciler_container_watch_exits(reconciler, &container_env, &exit_watch, err) < 0)
    return crio_error_prefix(err, "container exit watch");
  if (reconciler_containers_adopt(reconciler, &container_env, err) < 0)
    return crio_error_prefix(err, "adopt containers");

  struct stream_server *streaming = NULL;
  if (start_streaming(cfg, reconciler, &container_env, &streaming, err) < 0)
    return -1;
  struct cri_runtime_handler *handlers =
      xcalloc(cfg->n_runtimes ? cfg->n_runtimes : 1, sizeof(*handlers));
  struct cri_config cri_config;
  daemon_config_cri_view(cfg, &cri_config, handlers);
  struct cri_context context = {
      .config = &cri_config,
      .store = store,
      .reconciler = reconciler,
      .images = images,
      .containers = &container_env,
      .streaming = streaming,
  };
  /* CRIO_STATUS_ENDPOINT=0 (benchmarks): gRPC binds the socket itself,
   * with no HTTP/1.1 beside it, to measure what sharing costs. */
  const char *endpoint_env = getenv("CRIO_STATUS_ENDPOINT");
  bool shared_endpoint = endpoint_env == NULL || strcmp(endpoint_env, "0") != 0;
  int activated_fd = socket_activation_fd();
  struct cri_server_options server_options = {
      .socket_path = cfg->listen,
      .shutdown_grace_ms = cfg->shutdown_grace_ms,
      .external_listener = shared_endpoint || activated_fd >= 0,
      .keep_socket_file = activated_fd >= 0,
  };
  grpc_init();
  struct cri_server *server = NULL;
  if (cri_server_start(&server_options, &context, &server, err) < 0) {
    grpc_shutdown();
    free(handlers);
    stream_server_stop(streaming);
    return -1;
  }
  struct httpd_status_source status_source = {
      .store = store,
      .storage_driver = setting_string(cfg, "crio", "storage_driver"),
      .storage_root = cfg->root,
      .storage_image = setting_string(cfg, "crio", "imagestore"),
      .cgroup_driver = cfg->cgroup_manager,
      .config_toml = config_toml,
      .data = (void *)cfg,
  };
  struct httpd_listener_options listener_options = {
      .socket_path = cfg->listen,
      .inherited_fd = activated_fd,
      .grpc_connection = grpc_connection,
      .grpc_data = server,
      .status = &status_source,
  };
  struct httpd_listener *listener = NULL;
  if (server_options.external_listener &&
      httpd_listener_start(&listener_options, &listener, err) < 0) {
    cri_server_shutdown(server, stop_reconciler, reconciler);
    cri_server_free(server);
    grpc_shutdown();
    free(handlers);
    return crio_error_prefix(err, "listen on %s", cfg->listen);
  }
  log_info("crio %s serving CRI v1 on %s (runtime %s, cgroup manager %s)", CRIO_VERSION,
           cfg->listen, cfg->default_runtime, cfg->cgroup_manager);
  struct httpd_metrics *metrics = NULL;
  if (cfg->enable_metrics) {
    struct httpd_metrics_options metrics_options = {
        .store = store,
        .host = cfg->metrics_host,
        .port = (int)cfg->metrics_port,
        .default_runtime = cfg->default_runtime,
        .recovery_seconds = (double)report.elapsed_ns / 1e9,
        .op_stats = op_stats,
        .op_data = server,
    };
    if (httpd_metrics_start(&metrics_options, &metrics, err) < 0) {
      httpd_listener_stop(listener);
      cri_server_shutdown(server, stop_reconciler, reconciler);
      cri_server_free(server);
      grpc_shutdown();
      free(handlers);
      return -1;
    }
    log_info("metrics on http://%s:%lld/metrics", cfg->metrics_host, (long long)cfg->metrics_port);
  }
  crio_sd_notify("READY=1");

  __attribute__((cleanup(daemon_live_release))) struct daemon_live live = {
      .cfg = cfg,
      .journal = getenv("JOURNAL_STREAM") != NULL,
      .cri_config = &cri_config,
      .store = store,
      .images = images,
      .metrics = metrics,
  };
  daemon_config_defaults(&live.current);
  for (size_t i = 0; i < daemon_n_settings; i++)
    daemon_setting_copy(&live.current, cfg, i);
  daemon_live_note_registries(&live);
  daemon_live_note_network(&live, false);
  int sig = daemon_serve_signals(&live);
  log_info("received %s: shutting down", strsignal(sig));
  crio_sd_notify("STOPPING=1");
  httpd_metrics_stop(metrics);
  /* No new connections, and no HTTP request left reading the store. */
  httpd_listener_stop(listener);
  cri_server_shutdown(server, stop_reconciler, reconciler);
  unsigned long long served = (unsigned long long)cri_server_calls_served(server);
  cri_server_free(server);
  grpc_shutdown();
  stream_server_stop(streaming);
  oci_exit_watch_stop(steal_pointer(&exit_watch));
  reconciler_stop(reconciler);
  free(handlers);
  cleanup_error crio_error_t clean_err = NULL;
  if (cfg->clean_shutdown_file[0] &&
      crio_write_file_atomic(cfg->clean_shutdown_file, "", 0, 0644, &clean_err) < 0)
    crio_error_warn(&clean_err, "clean shutdown file");
  log_info("stopped after serving %llu call(s)", served);
  return 0;
}
