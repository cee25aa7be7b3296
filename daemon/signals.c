/* The main thread once the daemon serves: it waits for signals (blocked
 * in every thread, so only sigwaitinfo here takes them).
 *
 * SIGTERM, SIGINT: return, to shut down.
 * SIGHUP: read the configuration again and apply what can change without
 *   a restart (daemon/reload.c).
 * SIGUSR1: log the reconciler's backlog (records whose state is not their
 *   goal, with their ids) and the database's statistics.
 * WATCHDOG=1 is not sent from here but from the reconciler's workers
 * (daemon/run.c, watchdog_beat), so that a wedged reconciler, not only a
 * wedged main thread, stops the pings. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"
#include "daemon/internal.h"
#include "daemon/settings.h"
#include "httpd/httpd.h"

struct backlog {
  const char *kind;
  unsigned listed;
};

static int log_pending(const store_record *rec, void *data) {
  struct backlog *b = data;
  if (rec->state == rec->goal)
    return 0;
  if (b->listed++ < 50)
    log_info("SIGUSR1: queue: %s %s state %u goal %u%s%s", b->kind, rec->id, rec->state, rec->goal,
             rec->error_message && rec->error_message[0] ? " last error: " : "",
             rec->error_message ? rec->error_message : "");
  return 0;
}

static void dump(struct daemon_live *live) {
  struct httpd_store_gauges g;
  cleanup_error crio_error_t err = NULL;
  if (httpd_metrics_gauges(live->store, &g, &err) < 0) {
    log_error("SIGUSR1: database statistics: %s", crio_error_message(&err));
    return;
  }
  log_info("SIGUSR1: database: %llu bytes (%llu in use), %llu log entries; records: %llu pods, "
           "%llu containers, %llu images; reconciler backlog: %llu pods, %llu containers, %llu "
           "images",
           (unsigned long long)g.file_bytes, (unsigned long long)g.used_bytes,
           (unsigned long long)g.log_entries, (unsigned long long)g.records[0],
           (unsigned long long)g.records[1], (unsigned long long)g.records[2],
           (unsigned long long)g.pending[0], (unsigned long long)g.pending[1],
           (unsigned long long)g.pending[2]);
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(live->store, STORE_TXN_READ, &txn, &err) < 0)
    return;
  const enum store_kind kinds[] = {STORE_KIND_POD, STORE_KIND_CONTAINER, STORE_KIND_IMAGE};
  for (size_t i = 0; i < 3; i++) {
    struct backlog b = {store_kind_name(kinds[i]), 0};
    if (store_record_foreach(txn, kinds[i], log_pending, &b, &err) < 0)
      break;
  }
}

int daemon_serve_signals(struct daemon_live *live) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGUSR1);
  for (;;) {
    int sig = sigwaitinfo(&set, NULL);
    if (sig < 0)
      continue; /* EINTR */
    if (sig == SIGHUP) {
      crio_sd_notify("RELOADING=1");
      daemon_reload(live);
      crio_sd_notify("READY=1");
    } else if (sig == SIGUSR1) {
      dump(live);
    } else {
      return sig;
    }
  }
}

void daemon_live_release(struct daemon_live *live) {
  for (size_t i = 0; i < live->n_old_names; i++)
    free(live->old_names[i]);
  free(live->old_names);
  free(live->registries_path);
  free(live->registries_text);
  free(live->network_key);
  daemon_config_release(&live->current);
}
