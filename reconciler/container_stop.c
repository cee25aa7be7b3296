/* container.stop and container.stop_created: the stop signal (the image's
 * or the config's, else SIGTERM) to the container's init, SIGKILL to every
 * process of the container once the grace period is over, and the exit
 * status conmon records.
 *
 * A stop can take the whole grace period (30 s is common) and a pod stops
 * all its containers at once; a step that slept through it would hold a
 * reconciler worker each and starve every other object (and delay
 * shutdown).  So the step acts and returns RECONCILE_STEP_WAIT, and each
 * later run (every 20 ms) looks at the host: conmon's exit file says the
 * container ended; the clock says when SIGKILL is due.  What it did so far
 * is kept in the env's stop table (container_steps.h).  A StopContainer
 * that arrives during a stop with a shorter timeout shortens it, as the
 * kubelet's force-kill expects. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "reconciler/container_steps.h"

/* After SIGKILL: how long until a container that will not die (D state)
 * or a conmon that writes no exit file is an error (the teardown step is
 * then retried with backoff). */
#define STOP_KILL_GRACE_NS ((int64_t)(OCI_STOP_KILL_WAIT_MS + CTR_EXIT_FILE_WAIT_MS) * 1000000)

/* ---- the step ------------------------------------------------------------------------- */

enum stop_action { ACT_NONE, ACT_SIGNAL, ACT_KILL, ACT_GIVE_UP };

/* What is due now, and the phase it leads to (under the lock, no I/O). */
static enum stop_action next_action(struct reconciler_container_env *env, const char *id,
                                    bool created, int64_t now) {
  struct container_env_state *st = env->state;
  enum stop_action act = ACT_NONE;
  pthread_mutex_lock(&st->lock);
  struct stop_progress *s = container_stop_find_locked(st, id, true);
  int64_t timeout_s = s->has_timeout                    ? s->timeout_s
                      : env->default_stop_timeout_s > 0 ? env->default_stop_timeout_s
                                                        : CTR_DEFAULT_STOP_TIMEOUT_S;
  /* A created container never ran the user's program: nothing to grace. */
  if (created)
    timeout_s = 0;
  switch (s->phase) {
  case STOP_NOT_SIGNALLED:
    act = timeout_s > 0 ? ACT_SIGNAL : ACT_KILL;
    s->phase = timeout_s > 0 ? STOP_SIGNALLED : STOP_KILLED;
    s->since_ns = now;
    break;
  case STOP_SIGNALLED:
    if (now - s->since_ns >= timeout_s * 1000000000LL) {
      act = ACT_KILL;
      s->phase = STOP_KILLED;
      s->since_ns = now;
    }
    break;
  case STOP_KILLED:
    if (now - s->since_ns >= STOP_KILL_GRACE_NS) {
      act = ACT_GIVE_UP;
      s->phase = STOP_NOT_SIGNALLED; /* the retry starts over */
    }
    break;
  }
  pthread_mutex_unlock(&st->lock);
  return act;
}

/* ESRCH (not running) and ENOENT (unknown) from kill: nothing left to
 * signal; the exit file tells the rest. */
static int kill_tolerant(const struct oci_runtime *rt, const char *id, int sig, bool all,
                         crio_error_t *err) {
  cleanup_error crio_error_t e = NULL;
  if (oci_runtime_kill(rt, id, sig, all, &e) == 0)
    return 0;
  int status = crio_error_status(&e);
  if (status == ESRCH || status == ENOENT)
    return 0;
  *err = steal_pointer(&e);
  return -1;
}

static int stop(struct reconcile_step *step, bool created, crio_error_t *err) {
  store_record *rec = step->record;
  struct reconciler_container_env *env = container_env_of(step);
  const struct oci_runtime *rt = container_runtime(env, rec, err);
  if (rt == NULL)
    return -1;
  /* Ended already (conmon's exit file, or no monitor left to write one):
   * the exit is recorded as an observed one is, and the stop is done. */
  int ended = container_exit_observe(step, rt, err);
  if (ended != 0)
    return ended < 0 ? crio_error_prefix(err, "container %s", rec->id) : 0;

  int signo = rec->container->stop_signal > 0 ? rec->container->stop_signal : SIGTERM;
  switch (next_action(env, rec->id, created, crio_monotonic_ns())) {
  case ACT_SIGNAL:
    log_info("container %s: stopping with signal %d", rec->id, signo);
    if (kill_tolerant(rt, rec->id, signo, false, err) < 0)
      return crio_error_prefix(err, "stop container %s", rec->id);
    break;
  case ACT_KILL:
    /* --all: with a shared (pod) PID namespace the init is not its
     * namespace's init, and its children would outlive it. */
    log_info("container %s: SIGKILL", rec->id);
    if (kill_tolerant(rt, rec->id, SIGKILL, true, err) < 0)
      return crio_error_prefix(err, "stop container %s", rec->id);
    break;
  case ACT_GIVE_UP:
    return crio_error(err, ETIMEDOUT,
                      "stop container %s: no exit file within %lld ms of SIGKILL (a process in "
                      "uninterruptible sleep, or a stuck conmon)",
                      rec->id, (long long)(STOP_KILL_GRACE_NS / 1000000));
  case ACT_NONE:
    break;
  }
  return RECONCILE_STEP_WAIT;
}

int container_step_stop(struct reconcile_step *step, crio_error_t *err) {
  return stop(step, false, err);
}

int container_step_stop_created(struct reconcile_step *step, crio_error_t *err) {
  return stop(step, true, err);
}
