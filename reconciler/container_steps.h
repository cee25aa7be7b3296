/* Internal to reconciler/: what the container step files share. */
#ifndef CRIO_RECONCILER_CONTAINER_STEPS_H
#define CRIO_RECONCILER_CONTAINER_STEPS_H

#include <pthread.h>

#include "api/api.pb-c.h"
#include "oci/oci.h"
#include "oci/runtime.h"
#include "reconciler/reconciler.h"

/* Resource types written to the log (docs/containers.md). */
#define CTR_RES_DIR "dir"         /* a directory the container owns */
#define CTR_RES_MOUNT "mount"     /* the overlay mount point */
#define CTR_RES_CGROUP "cgroup"   /* the container's cgroup, which the runtime made */
#define CTR_RES_RUNTIME "runtime" /* the runtime's container; detail: JSON handler */
#define CTR_RES_CONMON "conmon"   /* "pid:start_time"; detail: the bundle dir */

#define CTR_DEFAULT_STOP_TIMEOUT_S 10
/* How long the stop step waits for conmon's exit file after the process
 * ended (conmon drains the output first). */
#define CTR_EXIT_FILE_WAIT_MS 10000
/* Termination message cap, the kubelet's (4 KiB), and the log tail used
 * with FallbackToLogsOnError (80 lines, 2 KiB). */
#define CTR_TERMINATION_MESSAGE_MAX 4096
#define CTR_LOG_TAIL_LINES 80
#define CTR_LOG_TAIL_MAX 2048
/* Kubernetes' reason for a status nobody could observe. */
#define CTR_REASON_STATUS_UNKNOWN "ContainerStatusUnknown"

/* A stop in progress, or the timeout StopContainer gave for the next one.
 * The stop steps never block a worker for the grace period: they signal,
 * answer RECONCILE_STEP_WAIT and look again (the exit file, the clock)
 * until the container ended; this is where they remember what they did.
 * In memory only: a restart mid-stop signals again, which is harmless. */
enum stop_phase {
  STOP_NOT_SIGNALLED = 0,
  STOP_SIGNALLED, /* the stop signal went to the init; SIGKILL at since_ns + timeout */
  STOP_KILLED,    /* SIGKILL went to every process of the container */
};
struct stop_progress {
  struct stop_progress *next;
  char *id;
  bool has_timeout; /* StopContainer said; else the env's default */
  int64_t timeout_s;
  enum stop_phase phase;
  int64_t since_ns; /* CLOCK_MONOTONIC of the phase's signal */
};

/* What registration adds to the env. */
struct container_env_state {
  pthread_mutex_t lock; /* guards stops */
  struct stop_progress *stops;
  struct reconciler *reconciler; /* for the exit watch's callback */
  struct reconciler_container_env *env;
};

/* ---- container_env.c: what every container file shares --------------------------------- */
struct container_paths {
  char *dir;             /* <root>/containers/<id> */
  char *merged;          /* <dir>/merged */
  char *bundle;          /* <runroot>/containers/<id> */
  char *exits;           /* <runroot>/exits */
  char *attach;          /* <runroot>/attach */
  char *termination_log; /* <dir>/termination-log */
};
void container_paths_init(struct container_paths *p, const struct reconciler_container_env *env,
                          const char *id);
void container_paths_release(struct container_paths *p);
#define cleanup_container_paths __attribute__((cleanup(container_paths_release)))
char *container_persist_root(const struct reconciler_container_env *env);

static inline struct reconciler_container_env *container_env_of(const struct reconcile_step *step) {
  return step->data;
}

/* The handler the record names; EINVAL if it is not configured. */
const struct oci_runtime *container_runtime(const struct reconciler_container_env *env,
                                            const store_record *rec, crio_error_t *err);

/* The record's stored ContainerConfig. */
Runtime__V1__ContainerConfig *container_config(const store_record *rec, crio_error_t *err);
void container_config_freep(Runtime__V1__ContainerConfig **config);
#define cleanup_container_config __attribute__((cleanup(container_config_freep)))

/* The conmon that <bundle>/conmon-pidfile names, if it is alive and is
 * conmon watching `id` (its command line says so): *pid and *start_time,
 * else *pid = 0. */
int container_conmon_from_pidfile(const char *bundle, const char *id, pid_t *pid,
                                  uint64_t *start_time, crio_error_t *err);
/* Where a new conmon goes before it starts the runtime (oci_conmon_config's
 * before_start, arg a struct conmon_placement): the pod's cgroup, CRI-O's
 * conmon_cgroup = "pod", so the pod is charged for its monitors.  systemd:
 * a pod's scope holds one process tree started with it, so conmon stays
 * where it is.  Shared by app containers and a runsc pod's sandbox. */
struct conmon_placement {
  const struct oci_cgroup_manager *cgroups;
  const char *parent;
  const char *pod_id;
};
int container_place_conmon(pid_t pid, void *arg, crio_error_t *err);
/* The JSON detail a "runtime" resource carries in the log: the handler
 * and the runtime that knows the container, so recovery and wipe can
 * release it with the same runtime. */
char *container_runtime_detail(const char *handler, const struct oci_runtime *rt);
/* Kills conmon as the record knows it and as the pidfile knows it. */
int container_conmon_kill_all(const store_record *rec, const struct container_paths *p,
                              crio_error_t *err);
/* conmon leaves on its own once it has written the exit file: a step or
 * event that records the exit releases it in the log (if the record still
 * holds it), so the log and orphans agree with the host. */
void container_release_conmon(struct reconcile_step *step);

/* The stop table (env->state->lock held for find). */
struct stop_progress *container_stop_find_locked(struct container_env_state *st, const char *id,
                                                 bool create);
/* Forgets id's stop (an exit recorded, the record deleted). */
void container_stop_forget(struct reconciler_container_env *env, const char *id);
/* Frees the table (env release). */
void container_stops_free(struct container_env_state *state);
/* Registration: the env's state, once. */
void container_env_state_init(struct reconciler_container_env *env);

/* ---- container_create.c ------------------------------------------------------------- */
int container_step_runtime_create(struct reconcile_step *step, crio_error_t *err);

/* ---- container_exit.c: the one path of an exit --------------------------------------- */
/* 1 and *out when an exit status exists (the run dir's exit file, else
 * the persist dir's copy), 0 when none does, -1 on error. */
int container_read_exit(const struct container_paths *p, const char *id,
                        struct oci_exit_status *out, crio_error_t *err);
/* Fills the record's end from an exit status (NULL: none survived):
 * code, finish time, OOM, reason, message. */
void container_record_exit(store_record *rec, const struct oci_exit_status *st);
/* Whether the conmon the record knows still runs: 1, 0 (none, or gone),
 * -1 on error. */
int container_conmon_alive(const store_record *rec, crio_error_t *err);
/* 1 if the runtime says the container ended (or does not know it), 0 if
 * it still runs, -1 on error. */
int container_runtime_ended(const struct oci_runtime *rt, const store_record *rec,
                            crio_error_t *err);
/* For the stop steps: 1 when the container has ended (its exit file, or
 * no monitor left to write one), its end recorded on step->record as an
 * exit event records it; 0 while it runs; -1 on error. */
int container_exit_observe(struct reconcile_step *step, const struct oci_runtime *rt,
                           crio_error_t *err);
/* Posts the exit of a container (the status is copied) as one
 * observation; lost: no status survived (start-up). */
void container_post_exit(struct reconciler *r, struct reconciler_container_env *env,
                         const struct oci_exit_status *st, bool lost);

/* ---- container_stop.c --------------------------------------------------------------- */
int container_step_stop(struct reconcile_step *step, crio_error_t *err);
int container_step_stop_created(struct reconcile_step *step, crio_error_t *err);

#endif
