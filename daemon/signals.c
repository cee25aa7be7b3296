/* The main thread once the daemon serves: it waits for signals (blocked
 * in every thread, so only sigtimedwait here takes them) and keeps
 * systemd's watchdog fed.
 *
 * SIGTERM, SIGINT: return, to shut down.
 * SIGHUP: read the configuration again from the same sources (files,
 *   environment, the command line) and apply what can change without a
 *   restart: the log level and the default runtime handler for new pods.
 *   Every other setting that changed is logged as needing a restart.
 * SIGUSR1: log the reconciler's backlog (records whose state is not their
 *   goal, with their ids) and the database's statistics.
 * WATCHDOG=1: every half WatchdogSec, after a database read transaction
 *   succeeded, so a wedged store stops the pings and systemd restarts us. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "daemon/daemon.h"
#include "daemon/internal.h"
#include "daemon/settings.h"
#include "httpd/httpd.h"

static bool runtime_known(const struct daemon_config *cfg, const char *name) {
  for (size_t i = 0; i < cfg->n_runtimes; i++)
    if (strcmp(cfg->runtimes[i].name, name) == 0)
      return true;
  return false;
}

static void reload(struct daemon_live *live) {
  struct daemon_config next;
  struct daemon_invocation inv;
  cleanup_error crio_error_t err = NULL;
  int rc = daemon_config_load_sources(live->cfg->argc, live->cfg->argv, &next, &inv, false, &err);
  daemon_invocation_release(&inv);
  if (rc < 0) {
    log_error("SIGHUP: configuration not reloaded: %s", crio_error_message(&err));
    daemon_config_release(&next);
    return;
  }
  unsigned changed = 0;
  for (size_t i = 0; i < daemon_n_settings; i++) {
    const struct daemon_setting *s = &daemon_settings[i];
    if (daemon_setting_equal(&next, &live->current, i))
      continue;
    cleanup_free char *value = daemon_setting_format(&next, i);
    changed++;
    if (s->offset == offsetof(struct daemon_config, log_level)) {
      crio_log_init(next.log_level, live->journal);
      log_info("SIGHUP: log_level is now %s", value);
    } else if (s->offset == offsetof(struct daemon_config, default_runtime)) {
      if (!runtime_known(live->cfg, next.default_runtime)) {
        log_warning("SIGHUP: default_runtime %s names no configured handler; kept %s", value,
                    live->cri_config->default_runtime);
        continue;
      }
      /* Handlers may be reading the old name: it stays allocated (in the
       * live config's history) until the daemon exits. */
      live->old_names = xrealloc(live->old_names, (live->n_old_names + 1) * sizeof(char *));
      live->old_names[live->n_old_names++] = xstrdup(next.default_runtime);
      __atomic_store_n(&live->cri_config->default_runtime, live->old_names[live->n_old_names - 1],
                       __ATOMIC_RELEASE);
      log_info("SIGHUP: default_runtime for new pods is now %s", value);
    } else if (s->offset == DS_NO_FIELD) {
      log_info("SIGHUP: %s%s%s is now %s (accepted; no effect here)", s->table ? s->table : "",
               s->table ? "." : "--", s->key, value);
    } else {
      log_warning("SIGHUP: %s%s%s changed to %s; restart crio to apply it",
                  s->table ? s->table : "", s->table ? "." : "--", s->key, value);
    }
    daemon_setting_copy(&live->current, &next, i);
  }
  if (changed == 0)
    log_info("SIGHUP: configuration reloaded; nothing changed");
  daemon_config_release(&next);
}

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

static bool store_alive(struct store *store) {
  cleanup_store_txn struct store_txn *txn = NULL;
  cleanup_error crio_error_t err = NULL;
  return store_txn_begin(store, STORE_TXN_READ, &txn, &err) == 0;
}

int daemon_serve_signals(struct daemon_live *live) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGUSR1);
  uint64_t watchdog_usec = 0;
  if (sd_watchdog_enabled(0, &watchdog_usec) <= 0)
    watchdog_usec = 0;
  for (;;) {
    struct timespec timeout = {.tv_sec = 3600};
    if (watchdog_usec) {
      uint64_t half = watchdog_usec / 2;
      timeout = (struct timespec){(time_t)(half / 1000000), (long)(half % 1000000) * 1000};
    }
    int sig = sigtimedwait(&set, NULL, &timeout);
    if (sig < 0) {
      if (errno == EAGAIN && watchdog_usec && store_alive(live->store))
        sd_notify(0, "WATCHDOG=1");
      continue;
    }
    if (sig == SIGHUP) {
      sd_notify(0, "RELOADING=1");
      reload(live);
      sd_notify(0, "READY=1");
    } else if (sig == SIGUSR1) {
      dump(live);
    } else {
      return sig;
    }
    if (watchdog_usec && store_alive(live->store))
      sd_notify(0, "WATCHDOG=1");
  }
}

void daemon_live_release(struct daemon_live *live) {
  for (size_t i = 0; i < live->n_old_names; i++)
    free(live->old_names[i]);
  free(live->old_names);
  daemon_config_release(&live->current);
}
