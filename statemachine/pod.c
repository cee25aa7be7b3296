/* The pod sandbox lifecycle as a table.
 *
 * Forward: pin namespaces, create the cgroup, attach the network, ready.
 * Stop releases in reverse; remove drops what stop keeps (containers,
 * cgroup, record) so a stopped pod can still be inspected.  The rollback
 * edges exist because a crash or failure inside a forward step leaves the
 * record in the state before it with that step's resource maybe half made:
 * each rollback undoes exactly that half-made resource and lands on the
 * stop path, which releases everything older. */
#include "statemachine/statemachine.h"

static const char *const pod_state_names[] = {
    [SM_POD_PENDING] = "PENDING",
    [SM_POD_NAMESPACES_PINNED] = "NAMESPACES_PINNED",
    [SM_POD_CGROUP_CREATED] = "CGROUP_CREATED",
    [SM_POD_NETWORK_ATTACHED] = "NETWORK_ATTACHED",
    [SM_POD_READY] = "READY",
    [SM_POD_CONTAINERS_STOPPED] = "CONTAINERS_STOPPED",
    [SM_POD_NETWORK_DETACHED] = "NETWORK_DETACHED",
    [SM_POD_STOPPED] = "STOPPED",
    [SM_POD_CONTAINERS_REMOVED] = "CONTAINERS_REMOVED",
    [SM_POD_CGROUP_REMOVED] = "CGROUP_REMOVED",
    [SM_POD_REMOVED] = "REMOVED",
};

#define POD_STEP(f, t, n, rb, effect)                                                              \
  {                                                                                                \
    .kind = SM_KIND_POD, .from = SM_POD_##f, .to = SM_POD_##t, .name = n,                          \
    .trigger = SM_TRIGGER_STEP, .rollback = rb, .side_effect = effect                              \
  }

static const struct sm_transition pod_transitions[] = {
    /* create */
    POD_STEP(PENDING, NAMESPACES_PINNED, "pod.pin_namespaces", false,
             "create the network, IPC and UTS namespaces and bind-mount them "
             "under the pod's run directory"),
    POD_STEP(NAMESPACES_PINNED, CGROUP_CREATED, "pod.create_cgroup", false,
             "create the pod cgroup under its parent (cgroupfs directory or "
             "systemd slice)"),
    POD_STEP(CGROUP_CREATED, NETWORK_ATTACHED, "pod.cni_add", false,
             "run CNI ADD on the pinned netns and store the result (IPs, "
             "interfaces)"),
    POD_STEP(NETWORK_ATTACHED, READY, "pod.mark_ready", false,
             "start the pause process when the pod shares a PID namespace (pinning that "
             "namespace); otherwise only record the sandbox as ready"),
    /* stop */
    POD_STEP(READY, CONTAINERS_STOPPED, "pod.stop_containers", false,
             "drive every container of the pod to EXITED, each through its "
             "own machine"),
    POD_STEP(CONTAINERS_STOPPED, NETWORK_DETACHED, "pod.cni_del", false,
             "run CNI DEL for the pod's attachment (a DEL of nothing "
             "succeeds)"),
    POD_STEP(NETWORK_DETACHED, STOPPED, "pod.release_namespaces", false,
             "unmount and remove the pinned namespace files"),
    /* remove */
    POD_STEP(STOPPED, CONTAINERS_REMOVED, "pod.remove_containers", false,
             "drive every container of the pod to REMOVED, each through its "
             "own machine"),
    POD_STEP(CONTAINERS_REMOVED, CGROUP_REMOVED, "pod.remove_cgroup", false,
             "remove the pod cgroup and the pod's directories"),
    POD_STEP(CGROUP_REMOVED, REMOVED, "pod.delete_record", false,
             "delete the record and release the pod name"),
    /* rollback of a failed or interrupted creation */
    POD_STEP(PENDING, STOPPED, "pod.rollback_partial_namespaces", true,
             "unmount and remove whatever namespace files a failed or "
             "interrupted pin left"),
    POD_STEP(NAMESPACES_PINNED, STOPPED, "pod.rollback_release_namespaces", true,
             "unmount and remove the pinned namespaces (a half-made cgroup is "
             "left to pod.remove_cgroup)"),
    POD_STEP(CGROUP_CREATED, NETWORK_DETACHED, "pod.rollback_cni_del", true,
             "run CNI DEL, since a failed or interrupted CNI ADD may have half "
             "attached"),
    /* A pod that never became ready has no containers (the kubelet only
     * creates them in a ready sandbox), so there is nothing to stop. */
    POD_STEP(NETWORK_ATTACHED, NETWORK_DETACHED, "pod.rollback_detach_network", true,
             "run CNI DEL for a pod that never became ready"),
};

const struct sm_machine sm_pod_machine = {
    .kind = SM_KIND_POD,
    .name = "pod",
    .state_names = pod_state_names,
    .n_states = sizeof pod_state_names / sizeof pod_state_names[0],
    .initial = SM_POD_PENDING,
    .terminal = SM_POD_REMOVED,
    .rollback_goal = SM_POD_REMOVED,
    .transitions = pod_transitions,
    .n_transitions = sizeof pod_transitions / sizeof pod_transitions[0],
};
