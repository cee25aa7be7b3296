/* The container lifecycle as a table.
 *
 * Exits are observed, not performed: conmon writes an exit file whenever
 * the process ends, so RUNNING -> EXITED and CREATED -> EXITED exist twice,
 * once as the STEP the reconciler runs to stop a container and once as the
 * EVENT recorded when the exit is seen.  The STEP comes first in the table
 * so sm_find() (first match) names the step. */
#include "statemachine/statemachine.h"

static const char *const container_state_names[] = {
    [SM_CONTAINER_PENDING] = "PENDING",
    [SM_CONTAINER_ROOTFS_MOUNTED] = "ROOTFS_MOUNTED",
    [SM_CONTAINER_CREATED] = "CREATED",
    [SM_CONTAINER_RUNNING] = "RUNNING",
    [SM_CONTAINER_EXITED] = "EXITED",
    [SM_CONTAINER_RUNTIME_DELETED] = "RUNTIME_DELETED",
    [SM_CONTAINER_ROOTFS_UNMOUNTED] = "ROOTFS_UNMOUNTED",
    [SM_CONTAINER_REMOVED] = "REMOVED",
};

#define CONTAINER_TRANSITION(f, t, n, trig, rb, effect)                                            \
  {                                                                                                \
    .kind = SM_KIND_CONTAINER, .from = SM_CONTAINER_##f, .to = SM_CONTAINER_##t, .name = n,        \
    .trigger = SM_TRIGGER_##trig, .rollback = rb, .side_effect = effect                            \
  }

static const struct sm_transition container_transitions[] = {
    /* create and start */
    CONTAINER_TRANSITION(PENDING, ROOTFS_MOUNTED, "container.mount_rootfs", STEP, false,
                         "mount the overlay root filesystem over the image's "
                         "layers"),
    CONTAINER_TRANSITION(ROOTFS_MOUNTED, CREATED, "container.runtime_create", STEP, false,
                         "write the OCI bundle, start conmon and runtime "
                         "create the container"),
    CONTAINER_TRANSITION(CREATED, RUNNING, "container.start", STEP, false,
                         "runtime start the container process"),
    /* stop, or exit on its own */
    CONTAINER_TRANSITION(RUNNING, EXITED, "container.stop", STEP, false,
                         "send the stop signal, SIGKILL after the timeout, "
                         "and wait for conmon's exit file"),
    CONTAINER_TRANSITION(RUNNING, EXITED, "container.exit", EVENT, false,
                         "conmon's exit file appeared: store the exit status "
                         "and time"),
    CONTAINER_TRANSITION(CREATED, EXITED, "container.stop_created", STEP, false,
                         "kill the created, never started, container and "
                         "wait for conmon's exit file"),
    CONTAINER_TRANSITION(CREATED, EXITED, "container.exit_before_start", EVENT, false,
                         "the process died before or during start (exit "
                         "file or failed start): store the status"),
    /* remove */
    CONTAINER_TRANSITION(EXITED, RUNTIME_DELETED, "container.runtime_delete", STEP, false,
                         "runtime delete the container and make sure its "
                         "conmon is gone"),
    CONTAINER_TRANSITION(RUNTIME_DELETED, ROOTFS_UNMOUNTED, "container.unmount_rootfs", STEP, false,
                         "unmount the overlay root filesystem"),
    CONTAINER_TRANSITION(ROOTFS_UNMOUNTED, REMOVED, "container.delete_record", STEP, false,
                         "delete the record, the container's directories and "
                         "its name"),
    /* rollback of a failed or interrupted creation */
    CONTAINER_TRANSITION(PENDING, ROOTFS_UNMOUNTED, "container.rollback_partial_mount", STEP, true,
                         "unmount whatever a failed or interrupted mount "
                         "left"),
    /* A runtime create that failed or was interrupted may have left conmon
     * and a runtime container behind; delete those first (one release per
     * step), then the normal unmount step follows. */
    CONTAINER_TRANSITION(ROOTFS_MOUNTED, RUNTIME_DELETED, "container.rollback_runtime_delete", STEP,
                         true,
                         "runtime delete whatever a failed or interrupted "
                         "create left, and stop its conmon"),
};

const struct sm_machine sm_container_machine = {
    .kind = SM_KIND_CONTAINER,
    .name = "container",
    .state_names = container_state_names,
    .n_states = sizeof container_state_names / sizeof container_state_names[0],
    .initial = SM_CONTAINER_PENDING,
    .terminal = SM_CONTAINER_REMOVED,
    .rollback_goal = SM_CONTAINER_REMOVED,
    .transitions = container_transitions,
    .n_transitions = sizeof container_transitions / sizeof container_transitions[0],
};
