/* crio-pause: PID 1 of a pod's shared PID namespace.  It holds the
 * namespace open, reaps the orphans the kernel hands to it, and exits 0 on
 * SIGTERM or SIGINT.  Nothing else: no allocation, no output.
 *
 * Signals are blocked and taken with sigwaitinfo.  The kernel drops a
 * signal sent to a namespace's init when its disposition is the default,
 * but never one that is blocked, so blocking is enough to receive SIGTERM
 * from the host; handlers are installed anyway so that a SIGCHLD or SIGTERM
 * left ignored by whoever exec'd us does not stay ignored. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void noop(int sig) {
  (void)sig;
}

int main(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
    return 2;
  struct sigaction sa = {.sa_handler = noop};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGCHLD, &sa, NULL);

  for (;;) {
    int sig = sigwaitinfo(&set, NULL);
    if (sig < 0) {
      if (errno == EINTR)
        continue;
      return 2;
    }
    if (sig == SIGTERM || sig == SIGINT)
      return 0;
    /* SIGCHLD: signals coalesce, so reap everything that is ready. */
    while (waitpid(-1, NULL, WNOHANG) > 0)
      ;
  }
}
