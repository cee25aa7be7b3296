/* The generic half of statemachine/: lookups over the per-kind tables
 * (pod.c, container.c, image.c), the path search the reconciler uses to
 * pick its next step, and the CRI view of states. */
#include "statemachine/statemachine.h"

#include <string.h>

/* Defined in pod.c, container.c and image.c.  Declared here rather than in
 * a second header because nothing outside this folder may reach a table
 * except through sm_machine(). */
extern const struct sm_machine sm_pod_machine;
extern const struct sm_machine sm_container_machine;
extern const struct sm_machine sm_image_machine;

/* Bounds the path search's arrays, which live on the stack so that the
 * search never allocates; a machine with more states fails the search
 * (and the unit test) instead of overflowing. */
#define SM_MAX_STATES 32

const struct sm_machine *sm_machine(enum sm_kind kind) {
  switch (kind) {
  case SM_KIND_POD:
    return &sm_pod_machine;
  case SM_KIND_CONTAINER:
    return &sm_container_machine;
  case SM_KIND_IMAGE:
    return &sm_image_machine;
  }
  return NULL;
}

const char *sm_kind_name(enum sm_kind kind) {
  const struct sm_machine *m = sm_machine(kind);
  return m ? m->name : NULL;
}

bool sm_kind_from_name(const char *name, enum sm_kind *out) {
  if (name == NULL)
    return false;
  for (int k = SM_KIND_FIRST; k <= SM_KIND_LAST; k++) {
    const struct sm_machine *m = sm_machine((enum sm_kind)k);
    if (strcmp(m->name, name) == 0) {
      if (out)
        *out = m->kind;
      return true;
    }
  }
  return false;
}

bool sm_state_valid(enum sm_kind kind, sm_state_t state) {
  const struct sm_machine *m = sm_machine(kind);
  return m != NULL && state != 0 && state < m->n_states && m->state_names[state] != NULL;
}

const char *sm_state_name(enum sm_kind kind, sm_state_t state) {
  if (!sm_state_valid(kind, state))
    return NULL;
  return sm_machine(kind)->state_names[state];
}

bool sm_state_from_name(enum sm_kind kind, const char *name, sm_state_t *out) {
  const struct sm_machine *m = sm_machine(kind);
  if (m == NULL || name == NULL)
    return false;
  for (sm_state_t s = 1; s < m->n_states; s++) {
    if (m->state_names[s] != NULL && strcmp(m->state_names[s], name) == 0) {
      if (out)
        *out = s;
      return true;
    }
  }
  return false;
}

bool sm_is_terminal(enum sm_kind kind, sm_state_t state) {
  return sm_state_valid(kind, state) && sm_machine(kind)->terminal == state;
}

const struct sm_transition *sm_find(enum sm_kind kind, sm_state_t from, sm_state_t to) {
  const struct sm_machine *m = sm_machine(kind);
  if (m == NULL)
    return NULL;
  for (size_t i = 0; i < m->n_transitions; i++) {
    const struct sm_transition *t = &m->transitions[i];
    if (t->from == from && t->to == to)
      return t;
  }
  return NULL;
}

const struct sm_transition *sm_find_trigger(enum sm_kind kind, sm_state_t from, sm_state_t to,
                                            enum sm_trigger trigger) {
  const struct sm_machine *m = sm_machine(kind);
  if (m == NULL)
    return NULL;
  for (size_t i = 0; i < m->n_transitions; i++) {
    const struct sm_transition *t = &m->transitions[i];
    if (t->from == from && t->to == to && t->trigger == trigger)
      return t;
  }
  return NULL;
}

/* Breadth-first search over STEP transitions from `current`.  Each state
 * reached remembers the first hop of the path that reached it first;
 * because neighbours are queued in table order, the queue at every depth
 * is ordered by the table index of its first hop, so of several shortest
 * paths the one whose first hop comes first in the table wins.  EVENT
 * transitions are never followed: the reconciler cannot make a container
 * exit by itself, it can only stop it. */
const struct sm_transition *sm_next_step(enum sm_kind kind, sm_state_t current, sm_state_t goal) {
  const struct sm_machine *m = sm_machine(kind);
  if (m == NULL || m->n_states > SM_MAX_STATES || !sm_state_valid(kind, current) ||
      !sm_state_valid(kind, goal) || current == goal)
    return NULL;

  const struct sm_transition *first_hop[SM_MAX_STATES] = {NULL};
  bool seen[SM_MAX_STATES] = {false};
  sm_state_t queue[SM_MAX_STATES];
  size_t head = 0, tail = 0;

  seen[current] = true;
  queue[tail++] = current;
  while (head < tail) {
    sm_state_t s = queue[head++];
    for (size_t i = 0; i < m->n_transitions; i++) {
      const struct sm_transition *t = &m->transitions[i];
      if (t->from != s || t->trigger != SM_TRIGGER_STEP || !sm_state_valid(kind, t->to) ||
          seen[t->to])
        continue;
      seen[t->to] = true;
      first_hop[t->to] = s == current ? t : first_hop[s];
      if (t->to == goal)
        return first_hop[goal];
      queue[tail++] = t->to;
    }
  }
  return NULL;
}

bool sm_reachable(enum sm_kind kind, sm_state_t current, sm_state_t goal) {
  if (!sm_state_valid(kind, current) || !sm_state_valid(kind, goal))
    return false;
  return current == goal || sm_next_step(kind, current, goal) != NULL;
}

size_t sm_transition_count(void) {
  size_t n = 0;
  for (int k = SM_KIND_FIRST; k <= SM_KIND_LAST; k++)
    n += sm_machine((enum sm_kind)k)->n_transitions;
  return n;
}

const struct sm_transition *sm_transition_at(size_t index) {
  for (int k = SM_KIND_FIRST; k <= SM_KIND_LAST; k++) {
    const struct sm_machine *m = sm_machine((enum sm_kind)k);
    if (index < m->n_transitions)
      return &m->transitions[index];
    index -= m->n_transitions;
  }
  return NULL;
}

const struct sm_transition *sm_transition_by_name(const char *name) {
  if (name == NULL)
    return NULL;
  for (int k = SM_KIND_FIRST; k <= SM_KIND_LAST; k++) {
    const struct sm_machine *m = sm_machine((enum sm_kind)k);
    for (size_t i = 0; i < m->n_transitions; i++)
      if (strcmp(m->transitions[i].name, name) == 0)
        return &m->transitions[i];
  }
  return NULL;
}

/* runtime.v1 enum numbers; spelled out here so this folder needs no
 * generated protobuf code. */
enum {
  CRI_SANDBOX_READY = 0,
  CRI_SANDBOX_NOTREADY = 1,
  CRI_CONTAINER_CREATED = 0,
  CRI_CONTAINER_RUNNING = 1,
  CRI_CONTAINER_EXITED = 2,
  CRI_CONTAINER_UNKNOWN = 3,
};

int sm_pod_cri_state(sm_state_t state) {
  return state == SM_POD_READY ? CRI_SANDBOX_READY : CRI_SANDBOX_NOTREADY;
}

int sm_container_cri_state(sm_state_t state) {
  switch ((enum sm_container_state)state) {
  case SM_CONTAINER_PENDING:
  case SM_CONTAINER_ROOTFS_MOUNTED:
  case SM_CONTAINER_CREATED:
    return CRI_CONTAINER_CREATED;
  case SM_CONTAINER_RUNNING:
    return CRI_CONTAINER_RUNNING;
  /* Once exited a container stays exited to the kubelet while it is torn
   * down: it never runs again, and its exit status is still stored. */
  case SM_CONTAINER_EXITED:
  case SM_CONTAINER_RUNTIME_DELETED:
  case SM_CONTAINER_ROOTFS_UNMOUNTED:
  case SM_CONTAINER_REMOVED:
    return CRI_CONTAINER_EXITED;
  }
  return CRI_CONTAINER_UNKNOWN;
}
