/* StopContainer's side effect: the stop signal, a grace period, SIGKILL.
 * The exit is observed through a pidfd on the container's init, not by
 * polling `runtime state` (one process spawn per poll). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include "common/syscalls.h"
#include "oci/runtime_internal.h"

/* true once the process behind pidfd has exited (a zombie counts: conmon
 * reaps it and writes the exit file on its own time). */
static bool pidfd_wait_exit(int pidfd, int64_t timeout_ms) {
  int64_t deadline = crio_monotonic_ns() + timeout_ms * 1000000;
  for (;;) {
    int64_t left = (deadline - crio_monotonic_ns()) / 1000000;
    struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
    int r = poll(&pfd, 1, left > 0 ? (int)(left > 60000 ? 60000 : left) : 0);
    if (r > 0)
      return true;
    if (r < 0 && errno != EINTR)
      return false;
    if (r == 0 && left <= 0)
      return false;
  }
}

/* ESRCH and ENOENT from kill mean "nothing left to signal". */
static int kill_tolerant(const struct oci_runtime *rt, const char *id, int sig, bool all,
                         bool *gone, crio_error_t *err) {
  crio_error_t e = NULL;
  if (oci_runtime_kill(rt, id, sig, all, &e) == 0)
    return 0;
  int status = crio_error_status(&e);
  if (status == ESRCH || status == ENOENT) {
    crio_error_release(&e);
    *gone = true;
    return 0;
  }
  *err = steal_pointer(&e);
  return -1;
}

/* The init's pidfd, proven to be the container's: opened first, then the
 * runtime asked again, so a pid reused in between cannot be watched.
 * -1 with *gone when there is nothing to stop. */
static int open_init_pidfd(const struct oci_runtime *rt, const char *id, bool *gone,
                           crio_error_t *err) {
  *gone = false;
  struct oci_runtime_state st;
  crio_error_t e = NULL;
  if (oci_runtime_state(rt, id, &st, &e) < 0) {
    if (crio_error_status(&e) == ENOENT) {
      crio_error_release(&e);
      *gone = true;
      return -1;
    }
    *err = steal_pointer(&e);
    return -1;
  }
  if (st.status == OCI_STATUS_STOPPED || st.pid <= 0) {
    *gone = true;
    return -1;
  }
  if (st.status == OCI_STATUS_PAUSED && oci_runtime_resume(rt, id, err) < 0)
    return crio_error_prefix(err, "resume paused container before stopping it");
  int pidfd = crio_pidfd_open(st.pid, 0);
  if (pidfd < 0) {
    if (errno == ESRCH) {
      *gone = true;
      return -1;
    }
    return crio_error_errno(err, errno, "pidfd_open %d", (int)st.pid);
  }
  struct oci_runtime_state again;
  if (oci_runtime_state(rt, id, &again, &e) < 0 || again.pid != st.pid ||
      again.status == OCI_STATUS_STOPPED) {
    int status = crio_error_status(&e);
    close(pidfd);
    if (status != 0 && status != ENOENT) {
      *err = steal_pointer(&e);
      return -1;
    }
    crio_error_release(&e);
    *gone = true;
    return -1;
  }
  return pidfd;
}

/* A sandbox-per-pod runtime's container has no host process to watch:
 * true once `state` says stopped (or the container is gone), polled every
 * 50 ms up to timeout_ms. */
static bool state_wait_stopped(const struct oci_runtime *rt, const char *id, int64_t timeout_ms) {
  for (int64_t waited = 0;; waited += 50) {
    struct oci_runtime_state st;
    crio_error_t e = NULL;
    if (oci_runtime_state(rt, id, &st, &e) < 0) {
      bool gone = crio_error_status(&e) == ENOENT;
      crio_error_release(&e);
      if (gone)
        return true;
    } else if (st.status == OCI_STATUS_STOPPED) {
      return true;
    }
    if (waited >= timeout_ms)
      return false;
    usleep(50 * 1000);
  }
}

static int stop_in_sandbox(const struct oci_runtime *rt, const char *id, int stop_signal,
                           int64_t timeout_ms, crio_error_t *err) {
  bool gone = false;
  if (state_wait_stopped(rt, id, 0))
    return 0;
  if (timeout_ms > 0) {
    if (kill_tolerant(rt, id, stop_signal, false, &gone, err) < 0)
      return crio_error_prefix(err, "stop container %s", id);
    if (gone || state_wait_stopped(rt, id, timeout_ms))
      return 0;
    log_info("container %s: no exit within %lld ms of signal %d: SIGKILL", id,
             (long long)timeout_ms, stop_signal);
  }
  if (kill_tolerant(rt, id, SIGKILL, true, &gone, err) < 0)
    return crio_error_prefix(err, "stop container %s", id);
  if (gone || state_wait_stopped(rt, id, OCI_STOP_KILL_WAIT_MS))
    return 0;
  return crio_error(err, ETIMEDOUT, "stop container %s: still running %d ms after SIGKILL", id,
                    OCI_STOP_KILL_WAIT_MS);
}

int oci_runtime_stop(const struct oci_runtime *rt, const char *id, int stop_signal,
                     int64_t timeout_ms, crio_error_t *err) {
  if (oci_check_container_id(id, err) < 0)
    return -1;
  if (rt->ops->sandbox_per_pod)
    return stop_in_sandbox(rt, id, stop_signal, timeout_ms, err);
  bool gone = false;
  cleanup_close int pidfd = open_init_pidfd(rt, id, &gone, err);
  if (pidfd < 0)
    return gone ? 0 : crio_error_prefix(err, "stop container %s", id);

  if (timeout_ms > 0) {
    if (kill_tolerant(rt, id, stop_signal, false, &gone, err) < 0)
      return crio_error_prefix(err, "stop container %s", id);
    if (gone || pidfd_wait_exit(pidfd, timeout_ms))
      return 0;
    log_info("container %s: no exit within %lld ms of signal %d: SIGKILL", id,
             (long long)timeout_ms, stop_signal);
  }
  /* --all: with a shared (pod) PID namespace the container's init is not
   * its namespace's init, and its children would outlive it. */
  if (kill_tolerant(rt, id, SIGKILL, true, &gone, err) < 0)
    return crio_error_prefix(err, "stop container %s", id);
  if (pidfd_wait_exit(pidfd, OCI_STOP_KILL_WAIT_MS))
    return 0;
  return crio_error(err, ETIMEDOUT,
                    "stop container %s: its init survived SIGKILL for %d ms (uninterruptible "
                    "sleep?)",
                    id, OCI_STOP_KILL_WAIT_MS);
}
