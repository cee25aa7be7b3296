/* Internal to reconciler/: what the container step files share. */
#ifndef CRIO_RECONCILER_CONTAINER_STEPS_H
#define CRIO_RECONCILER_CONTAINER_STEPS_H

#include <pthread.h>

#include "cri/api.pb-c.h"
#include "oci/oci.h"
#include "oci/runtime.h"
#include "reconciler/reconciler.h"

/* Resource types written to the log (docs/containers.md). */
#define CTR_RES_DIR "dir"         /* a directory the container owns */
#define CTR_RES_MOUNT "mount"     /* the overlay mount point */
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

struct stop_hint {
  struct stop_hint *next;
  char *id;
  int64_t timeout_s;
};

/* What registration adds to the env. */
struct container_env_state {
  pthread_mutex_t lock; /* guards hints */
  struct stop_hint *hints;
  struct reconciler *reconciler; /* for the exit watch's callback */
  struct reconciler_container_env *env;
};

/* ---- paths (container_paths in container_steps.c) ---------------------------------- */
struct container_paths {
  char *dir;     /* <root>/containers/<id> */
  char *merged;  /* <dir>/merged */
  char *bundle;  /* <runroot>/containers/<id> */
  char *exits;   /* <runroot>/exits */
  char *attach;  /* <runroot>/attach */
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
/* Kills conmon as the record knows it and as the pidfile knows it. */
int container_conmon_kill_all(const store_record *rec, const struct container_paths *p,
                              crio_error_t *err);

/* ---- container_create.c ------------------------------------------------------------- */
int container_step_runtime_create(struct reconcile_step *step, crio_error_t *err);

/* ---- container_exit.c --------------------------------------------------------------- */
int container_step_stop(struct reconcile_step *step, crio_error_t *err);
int container_step_stop_created(struct reconcile_step *step, crio_error_t *err);
/* Posts container.exit and container.exit_before_start for an observed
 * exit (the status is copied). */
void container_post_exit(struct reconciler *r, struct reconciler_container_env *env,
                         const struct oci_exit_status *st, bool lost);
/* Removes and returns id's stop hint (default if none), in seconds. */
int64_t container_take_stop_hint(struct reconciler_container_env *env, const char *id);
void container_drop_stop_hint(struct reconciler_container_env *env, const char *id);

#endif
