#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"
#include "recovery/recovery.h"

/* Under systemd, stderr is a journal stream and JOURNAL_STREAM names it;
 * logging through sd-journal then keeps priorities. */
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
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  struct daemon_config cfg;
  enum daemon_command command;
  cleanup_error crio_error_t err = NULL;
  if (daemon_config_load(argc, argv, &cfg, &command, &err) < 0) {
    fprintf(stderr, "crio: %s\n", crio_error_message(&err));
    if (crio_error_status(&err) == EINVAL)
      fprintf(stderr, "Try 'crio --help'.\n");
    daemon_config_release(&cfg);
    return 2;
  }
  int status = 0;
  switch (command) {
  case DAEMON_VERSION:
    printf("crio version %s\n", CRIO_VERSION);
    break;
  case DAEMON_HELP:
    daemon_usage(stdout);
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
  daemon_config_release(&cfg);
  return status;
}
