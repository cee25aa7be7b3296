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

/* ---- the table (env->state->lock) ----------------------------------------------------- */

static struct stop_progress *find_locked(struct container_env_state *st, const char *id,
                                         bool create) {
  for (struct stop_progress *s = st->stops; s; s = s->next)
    if (strcmp(s->id, id) == 0)
      return s;
  if (!create)
    return NULL;
  struct stop_progress *s = xzalloc(sizeof(*s));
  s->id = xstrdup(id);
  s->next = st->stops;
  st->stops = s;
  return s;
}

void reconciler_container_stop_timeout(struct reconciler_container_env *env, const char *id,
                                       int64_t timeout_s) {
  struct container_env_state *st = env->state;
  pthread_mutex_lock(&st->lock);
  struct stop_progress *s = find_locked(st, id, true);
  /* A stop under way only ever gets shorter. */
  if (!(s->phase == STOP_SIGNALLED && s->has_timeout && timeout_s > s->timeout_s)) {
    s->timeout_s = timeout_s < 0 ? 0 : timeout_s;
    s->has_timeout = true;
  }
  pthread_mutex_unlock(&st->lock);
}

void container_stop_forget(struct reconciler_container_env *env, const char *id) {
  struct container_env_state *st = env->state;
  pthread_mutex_lock(&st->lock);
  for (struct stop_progress **pp = &st->stops; *pp; pp = &(*pp)->next) {
    if (strcmp((*pp)->id, id) == 0) {
      struct stop_progress *s = *pp;
      *pp = s->next;
      free(s->id);
      free(s);
      break;
    }
  }
  pthread_mutex_unlock(&st->lock);
}

void container_stops_free(struct container_env_state *st) {
  while (st->stops) {
    struct stop_progress *s = st->stops;
    st->stops = s->next;
    free(s->id);
    free(s);
  }
}

/* ---- the step ------------------------------------------------------------------------- */

enum stop_action { ACT_NONE, ACT_SIGNAL, ACT_KILL, ACT_GIVE_UP };

/* What is due now, and the phase it leads to (under the lock, no I/O). */
static enum stop_action next_action(struct reconciler_container_env *env, const char *id,
                                    bool created, int64_t now) {
  struct container_env_state *st = env->state;
  enum stop_action act = ACT_NONE;
  pthread_mutex_lock(&st->lock);
  struct stop_progress *s = find_locked(st, id, true);
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

/* 1 if no exit file can come any more: conmon is gone and the runtime
 * says the container ended (or does not know it). */
static int ended_without_monitor(const struct oci_runtime *rt, const store_record *rec,
                                 crio_error_t *err) {
  int alive = container_conmon_alive(rec, err);
  if (alive != 0)
    return alive < 0 ? -1 : 0;
  return container_runtime_ended(rt, rec, err);
}

static int stop(struct reconcile_step *step, bool created, crio_error_t *err) {
  store_record *rec = step->record;
  struct reconciler_container_env *env = container_env_of(step);
  cleanup_container_paths struct container_paths p;
  container_paths_init(&p, env, rec->id);
  const struct oci_runtime *rt = container_runtime(env, rec, err);
  if (rt == NULL)
    return -1;

  struct oci_exit_status st;
  int found = container_read_exit(&p, rec->id, &st, err);
  if (found < 0)
    return crio_error_prefix(err, "container %s", rec->id);
  if (found == 0) {
    int orphan = ended_without_monitor(rt, rec, err);
    if (orphan < 0)
      return crio_error_prefix(err, "container %s", rec->id);
    /* conmon may have written it just before it left. */
    if (orphan && (found = container_read_exit(&p, rec->id, &st, err)) < 0)
      return crio_error_prefix(err, "container %s", rec->id);
    if (orphan && found == 0) {
      container_record_exit(rec, NULL);
      container_release_conmon(step);
      container_stop_forget(env, rec->id);
      return 0;
    }
  }
  if (found == 1) {
    container_record_exit(rec, &st);
    container_release_conmon(step);
    container_stop_forget(env, rec->id);
    return 0;
  }

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
