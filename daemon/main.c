#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"
#include "recovery/recovery.h"

/* Under systemd, stderr is a journal stream and JOURNAL_STREAM names it;
 * logging through journald's native protocol then keeps priorities. */
static bool stderr_is_journal(void) {
  return getenv("JOURNAL_STREAM") != NULL;
}

int main(int argc, char **argv) {
  /* Block before any thread exists (gRPC's included) so only the main
   * thread's sigwait() takes these. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  struct daemon_config cfg;
  struct daemon_invocation inv;
  cleanup_error crio_error_t err = NULL;
  if (daemon_config_load(argc, argv, &cfg, &inv, &err) < 0) {
    fprintf(stderr, "crio: %s\n", crio_error_message(&err));
    if (crio_error_status(&err) == EINVAL)
      fprintf(stderr, "Try 'crio --help'.\n");
    daemon_config_release(&cfg);
    daemon_invocation_release(&inv);
    return 1; /* CRI-O's CLI exits 1 on any error */
  }
  int status = 0;
  switch (inv.command) {
  case DAEMON_VERSION:
    if (inv.version_short)
      printf("crio version %s\n", CRIO_VERSION);
    else
      daemon_version_print(inv.version_json, stdout);
    break;
  case DAEMON_HELP:
    daemon_usage(stdout);
    break;
  case DAEMON_MARKDOWN:
    daemon_settings_markdown(stdout);
    break;
  case DAEMON_CONFIG:
    daemon_config_print(&cfg, inv.config_default, stdout);
    break;
  case DAEMON_STATUS:
    if (daemon_status_client(&cfg, &inv, stdout, &err) < 0) {
      fprintf(stderr, "crio status: %s\n", crio_error_message(&err));
      status = 1;
    }
    break;
  case DAEMON_RUN:
    crio_log_init(cfg.log_level, stderr_is_journal());
    if (daemon_run(&cfg, &err) < 0) {
      log_error("%s", crio_error_message(&err));
      /* A damaged database gets its own status so that a service manager
       * can be told not to restart into it (see docs/operations.md). */
      status = crio_error_status(&err) == EUCLEAN ? RECOVERY_EXIT_DB_DAMAGED : 1;
    }
    break;
  case DAEMON_WIPE:
    crio_log_init(cfg.log_level == CRIO_LOG_INFO ? CRIO_LOG_WARNING : cfg.log_level, false);
    if (daemon_wipe(&cfg, &err) < 0) {
      fprintf(stderr, "crio wipe: %s\n", crio_error_message(&err));
      status = crio_error_status(&err) == EUCLEAN ? RECOVERY_EXIT_DB_DAMAGED : 1;
    }
    break;
  }
  daemon_invocation_release(&inv);
  daemon_config_release(&cfg);
  return status;
}
