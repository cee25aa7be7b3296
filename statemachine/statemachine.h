/* statemachine/: the lifecycles of pod sandboxes, containers and images as
 * data.  Each machine is a table of states and a table of allowed
 * transitions; nothing here does I/O or allocates except the diagram
 * renderer.  The reconciler walks these tables; the docs' diagrams are
 * generated from them; the crash tests enumerate them.
 *
 * Depends on nothing (not even common/). */
#ifndef CRIO_STATEMACHINE_H
#define CRIO_STATEMACHINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Numerically equal to enum store_kind (store/store.h); the reconciler
 * checks that at compile time. */
enum sm_kind {
  SM_KIND_POD = 1,
  SM_KIND_CONTAINER = 2,
  SM_KIND_IMAGE = 3,
};
#define SM_KIND_FIRST SM_KIND_POD
#define SM_KIND_LAST SM_KIND_IMAGE

typedef uint32_t sm_state_t; /* 0 is never a valid state */

/* ---- pod sandbox ----------------------------------------------------------
 * A state is an upper bound on what may exist on the host: every step is
 * idempotent, so a crash inside a step leaves the record in the state
 * before it and the step is simply run again (or its rollback). */
enum sm_pod_state {
  SM_POD_PENDING = 1,        /* record and name written; nothing acquired */
  SM_POD_NAMESPACES_PINNED,  /* netns/ipc/uts created and bind-mounted */
  SM_POD_CGROUP_CREATED,     /* pod cgroup exists under its parent */
  SM_POD_NETWORK_ATTACHED,   /* CNI ADD done, result stored */
  SM_POD_READY,              /* CRI SANDBOX_READY */
  SM_POD_CONTAINERS_STOPPED, /* every container of the pod exited */
  SM_POD_NETWORK_DETACHED,   /* CNI DEL done */
  SM_POD_STOPPED,            /* namespaces released; CRI SANDBOX_NOTREADY */
  SM_POD_CONTAINERS_REMOVED, /* every container record of the pod gone */
  SM_POD_CGROUP_REMOVED,     /* pod cgroup and dirs removed */
  SM_POD_REMOVED,            /* terminal: record and name deleted */
};

enum sm_container_state {
  SM_CONTAINER_PENDING = 1,      /* record and name written */
  SM_CONTAINER_ROOTFS_MOUNTED,   /* overlay mounted */
  SM_CONTAINER_CREATED,          /* conmon + runtime create done: CRI CREATED */
  SM_CONTAINER_RUNNING,          /* runtime start done: CRI RUNNING */
  SM_CONTAINER_EXITED,           /* process gone, exit status stored: CRI EXITED */
  SM_CONTAINER_RUNTIME_DELETED,  /* runtime delete done, conmon gone */
  SM_CONTAINER_ROOTFS_UNMOUNTED, /* overlay unmounted */
  SM_CONTAINER_REMOVED,          /* terminal: record, dirs and name deleted */
};

enum sm_image_state {
  SM_IMAGE_PENDING = 1,     /* pull requested; record written */
  SM_IMAGE_LAYERS_FETCHED,  /* every layer published in the layer store */
  SM_IMAGE_READY,           /* image usable; listed by ListImages */
  SM_IMAGE_LAYERS_RELEASED, /* layer references dropped, gc may collect */
  SM_IMAGE_REMOVED,         /* terminal: record and tags deleted */
};

/* How a transition happens. */
enum sm_trigger {
  SM_TRIGGER_STEP = 1, /* the reconciler runs a step toward the goal */
  SM_TRIGGER_EVENT,    /* something observed on the host (an exit file) */
};

struct sm_transition {
  enum sm_kind kind;
  sm_state_t from;
  sm_state_t to;
  /* Unique across all machines, "<kind>.<verb>" (e.g. "pod.cni_add"); the
   * crash hook (CRIO_CRASH_AT=<name>:before|after) and the log use it. */
  const char *name;
  enum sm_trigger trigger;
  bool rollback;           /* undoes a partial creation rather than a requested stop */
  const char *side_effect; /* one line for docs and inspect */
};

struct sm_machine {
  enum sm_kind kind;
  const char *name;               /* "pod", "container", "image" */
  const char *const *state_names; /* indexed by state; [0] unused (NULL) */
  size_t n_states;                /* highest state + 1 */
  sm_state_t initial;
  sm_state_t terminal;
  /* The goal a creation falls back to when one of its steps fails: the
   * reconciler rolls the object back to here instead of leaving it half
   * made. */
  sm_state_t rollback_goal;
  const struct sm_transition *transitions;
  size_t n_transitions;
};

const struct sm_machine *sm_machine(enum sm_kind kind); /* NULL if unknown */
const char *sm_kind_name(enum sm_kind kind);            /* NULL if unknown */
bool sm_kind_from_name(const char *name, enum sm_kind *out);
/* "READY"-style upper-case name, or NULL if state is not a state of kind. */
const char *sm_state_name(enum sm_kind kind, sm_state_t state);
bool sm_state_from_name(enum sm_kind kind, const char *name, sm_state_t *out);
bool sm_state_valid(enum sm_kind kind, sm_state_t state);
bool sm_is_terminal(enum sm_kind kind, sm_state_t state);

/* The transition from -> to (any trigger), or NULL if forbidden.  A pair
 * may have both a STEP and an EVENT (a container is stopped, or exits on
 * its own); sm_find returns the first in table order, which is the STEP. */
const struct sm_transition *sm_find(enum sm_kind kind, sm_state_t from, sm_state_t to);
/* The transition from -> to with that trigger, or NULL: what the reconciler
 * logs when it records an observed exit (an EVENT). */
const struct sm_transition *sm_find_trigger(enum sm_kind kind, sm_state_t from, sm_state_t to,
                                            enum sm_trigger trigger);
static inline bool sm_allowed(enum sm_kind kind, sm_state_t from, sm_state_t to) {
  return sm_find(kind, from, to) != NULL;
}

/* The first STEP transition on a shortest path of STEP transitions from
 * `current` to `goal` (ties broken by table order).  NULL when current ==
 * goal or when goal cannot be reached (e.g. a stopped pod asked to be
 * ready again). */
const struct sm_transition *sm_next_step(enum sm_kind kind, sm_state_t current, sm_state_t goal);
bool sm_reachable(enum sm_kind kind, sm_state_t current, sm_state_t goal);

/* Every transition of every machine, in a stable order. */
size_t sm_transition_count(void);
const struct sm_transition *sm_transition_at(size_t index);
const struct sm_transition *sm_transition_by_name(const char *name);

/* The CRI view of a state: runtime.v1 PodSandboxState / ContainerState
 * enum numbers (SANDBOX_READY = 0, SANDBOX_NOTREADY = 1; CONTAINER_CREATED
 * = 0, CONTAINER_RUNNING = 1, CONTAINER_EXITED = 2, CONTAINER_UNKNOWN = 3). */
int sm_pod_cri_state(sm_state_t state);
int sm_container_cri_state(sm_state_t state);

/* A mermaid stateDiagram-v2 of one machine, malloc'd (NULL on ENOMEM).
 * docs/state-diagrams.md embeds exactly this text; a test checks it. */
char *sm_render_mermaid(enum sm_kind kind);

#endif
