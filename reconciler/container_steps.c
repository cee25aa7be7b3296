/* The container's steps: one idempotent side effect each, named by the
 * transition they implement (statemachine/container.c).  The create step
 * is in container_create.c, the stop steps in container_stop.c, exits in
 * container_exit.c, what they all share in container_env.c.
 * Every resource lives at a path derived from the container id, so a step
 * that crashed before its commit left only what its rerun, its rollback or
 * wipe will find. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "oci/rootfs.h"
#include "images/images.h"
#include "reconciler/container_steps.h"
#include "reconciler/internal.h"
#include "statemachine/statemachine.h"

/* ---- container.mount_rootfs ------------------------------------------------------------ */

static int step_mount_rootfs(struct reconcile_step *step, crio_error_t *err) {
  store_record *rec = step->record;
  struct reconciler_container_env *env = container_env_of(step);
  cleanup_container_paths struct container_paths p;
  container_paths_init(&p, env, rec->id);
  Crio__Store__ContainerBody *c = rec->container;
  cleanup_strv char **lower = NULL;
  if (img_service_layer_dirs(env->images, (const char *const *)c->layers, c->n_layers, &lower,
                             err) < 0)
    return crio_error_prefix(err, "container %s: image layers", rec->id);
  struct oci_rootfs fs = {
      .lower_dirs = (const char *const *)lower,
      .n_lower = c->n_layers,
      .container_dir = p.dir,
      .merged = p.merged,
  };
  reconcile_step_acquire(step, CTR_RES_DIR, p.dir, NULL, 0);
  if (oci_rootfs_mount(&fs, err) < 0)
    return crio_error_prefix(err, "container %s", rec->id);
  reconcile_step_acquire(step, CTR_RES_MOUNT, p.merged, NULL, 0);
  store_string_set(&c->container_dir, p.dir);
  store_string_set(&c->rootfs, p.merged);
  store_string_set(&c->bundle_dir, p.bundle);
  return 0;
}

/* container.unmount_rootfs, and container.rollback_partial_mount: whatever
 * a mount step left (it may have crashed before or after mounting). */
static int step_unmount_rootfs(struct reconcile_step *step, crio_error_t *err) {
  store_record *rec = step->record;
  cleanup_container_paths struct container_paths p;
  container_paths_init(&p, container_env_of(step), rec->id);
  if (oci_rootfs_unmount(p.merged, err) < 0)
    return crio_error_prefix(err, "container %s", rec->id);
  reconcile_step_release(step, CTR_RES_MOUNT, p.merged);
  return 0;
}

/* ---- container.start ------------------------------------------------------------------ */

static int step_start(struct reconcile_step *step, crio_error_t *err) {
  store_record *rec = step->record;
  const struct oci_runtime *rt = container_runtime(container_env_of(step), rec, err);
  if (rt == NULL)
    return -1;
  /* Before the call: the process may run and end before it returns, and
   * finished_at (the exit file's time) must not precede started_at. */
  int64_t started_at = crio_now_ns();
  cleanup_error crio_error_t start_err = NULL;
  if (oci_runtime_start(rt, rec->id, &start_err) < 0) {
    /* Started by a run of this step that crashed before its commit, and
     * already ended: RUNNING is the truth to commit; the exit file's event
     * follows. */
    if (crio_error_status(&start_err) != EALREADY) {
      *err = steal_pointer(&start_err);
      return crio_error_prefix(err, "container %s", rec->id);
    }
    log_info("container %s: already started and ended", rec->id);
  }
  rec->container->started_at = started_at;
  return 0;
}

/* ---- container.runtime_delete, container.rollback_runtime_delete ------------------------- */

/* Whatever the runtime and conmon hold: the runtime's container (delete
 * --force kills what still runs), conmon (as the record knows it and as
 * its pidfile knows it: a create that failed or crashed before its commit
 * left only the latter), the exit file and the attach link. */
static int step_runtime_delete(struct reconcile_step *step, crio_error_t *err) {
  store_record *rec = step->record;
  struct reconciler_container_env *env = container_env_of(step);
  cleanup_container_paths struct container_paths p;
  container_paths_init(&p, env, rec->id);
  const struct oci_runtime *rt = container_runtime(env, rec, err);
  if (rt == NULL)
    return -1;
  if (oci_runtime_delete(rt, rec->id, err) < 0)
    return crio_error_prefix(err, "container %s", rec->id);
  reconcile_step_release(step, CTR_RES_RUNTIME, rec->id);
  /* The delete removed the container's cgroup too (and the stats sampler
   * lets go of the files it kept of it). */
  reconciler_samplers_forget_container_cgroup(step->reconciler, rec);
  for (size_t i = 0; i < rec->n_resources; i++)
    if (strcmp(rec->resources[i]->type, CTR_RES_CGROUP) == 0)
      reconcile_step_release(step, CTR_RES_CGROUP, rec->resources[i]->id);
  Crio__Store__ContainerBody *c = rec->container;
  if (container_conmon_kill_all(rec, &p, err) < 0)
    return -1;
  container_release_conmon(step);
  if (oci_exit_file_remove(p.exits, rec->id, err) < 0 ||
      oci_conmon_remove_attach_link(p.attach, rec->id, err) < 0)
    return crio_error_prefix(err, "container %s", rec->id);
  c->pid = 0;
  c->pid_start_time = 0;
  return 0;
}

/* ---- container.delete_record -------------------------------------------------------------- */

static int step_delete_record(struct reconcile_step *step, crio_error_t *err) {
  store_record *rec = step->record;
  struct reconciler_container_env *env = container_env_of(step);
  cleanup_container_paths struct container_paths p;
  container_paths_init(&p, env, rec->id);
  /* A mount a crash left behind must not be emptied by the removal. */
  if (oci_rootfs_unmount(p.merged, err) < 0 || oci_remove_tree(p.dir, err) < 0)
    return crio_error_prefix(err, "container %s", rec->id);
  reconcile_step_release(step, CTR_RES_DIR, p.dir);
  if (oci_remove_tree(p.bundle, err) < 0)
    return crio_error_prefix(err, "container %s", rec->id);
  reconcile_step_release(step, CTR_RES_DIR, p.bundle);
  container_stop_forget(env, rec->id);
  return 0;
}

/* ---- registration ------------------------------------------------------------------------- */

int reconciler_register_container_steps(struct reconciler *r, struct reconciler_container_env *env,
                                        crio_error_t *err) {
  static const struct {
    const char *transition;
    reconcile_step_fn fn;
  } steps[] = {
      {"container.mount_rootfs", step_mount_rootfs},
      {"container.runtime_create", container_step_runtime_create},
      {"container.start", step_start},
      {"container.stop", container_step_stop},
      {"container.stop_created", container_step_stop_created},
      {"container.runtime_delete", step_runtime_delete},
      {"container.unmount_rootfs", step_unmount_rootfs},
      {"container.delete_record", step_delete_record},
      {"container.rollback_partial_mount", step_unmount_rootfs},
      {"container.rollback_runtime_delete", step_runtime_delete},
  };
  size_t n = sizeof(steps) / sizeof(steps[0]);
  container_env_state_init(env);
  env->state->reconciler = r;
  for (size_t i = 0; i < n; i++)
    if (reconciler_register_step(r, steps[i].transition, steps[i].fn, env, err) < 0)
      return -1;
  /* A transition added to the table without a step here fails start-up,
   * not a container at run time. */
  const struct sm_machine *m = sm_machine(SM_KIND_CONTAINER);
  size_t n_steps = 0;
  for (size_t i = 0; i < m->n_transitions; i++)
    n_steps += m->transitions[i].trigger == SM_TRIGGER_STEP;
  if (n_steps != n)
    return crio_error(err, EINVAL, "container steps: %zu registered for %zu step transitions", n,
                      n_steps);
  r->container_env = env;
  return 0;
}
