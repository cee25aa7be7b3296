/* Unit tests of statemachine/: the tables say what the design says, every
 * pair of states is allowed or forbidden as the design says, every object
 * can always be driven to its end, and the reconciler's next-step search
 * takes the shortest path and never proposes an event. */
#include "statemachine/statemachine.h"
#include "testing.h"

#include <ctype.h>

/* The design, written down independently of the tables, so that an edge
 * added to or dropped from a table fails here until the design (and this
 * list) agree with it. */
struct expected_transition {
  sm_state_t from, to;
  const char *name;
  enum sm_trigger trigger;
  bool rollback;
};

#define STEP SM_TRIGGER_STEP
#define EVENT SM_TRIGGER_EVENT

/* One row per transition reads as the table it is; wrapped, it does not. */
/* clang-format off */
static const struct expected_transition expected_pod[] = {
    {SM_POD_PENDING, SM_POD_NAMESPACES_PINNED, "pod.pin_namespaces", STEP, false},
    {SM_POD_NAMESPACES_PINNED, SM_POD_CGROUP_CREATED, "pod.create_cgroup", STEP, false},
    {SM_POD_CGROUP_CREATED, SM_POD_NETWORK_ATTACHED, "pod.cni_add", STEP, false},
    {SM_POD_NETWORK_ATTACHED, SM_POD_READY, "pod.mark_ready", STEP, false},
    {SM_POD_READY, SM_POD_CONTAINERS_STOPPED, "pod.stop_containers", STEP, false},
    {SM_POD_CONTAINERS_STOPPED, SM_POD_NETWORK_DETACHED, "pod.cni_del", STEP, false},
    {SM_POD_NETWORK_DETACHED, SM_POD_STOPPED, "pod.release_namespaces", STEP, false},
    {SM_POD_STOPPED, SM_POD_CONTAINERS_REMOVED, "pod.remove_containers", STEP, false},
    {SM_POD_CONTAINERS_REMOVED, SM_POD_CGROUP_REMOVED, "pod.remove_cgroup", STEP, false},
    {SM_POD_CGROUP_REMOVED, SM_POD_REMOVED, "pod.delete_record", STEP, false},
    {SM_POD_PENDING, SM_POD_STOPPED, "pod.rollback_partial_namespaces", STEP, true},
    {SM_POD_NAMESPACES_PINNED, SM_POD_STOPPED, "pod.rollback_release_namespaces", STEP, true},
    {SM_POD_CGROUP_CREATED, SM_POD_NETWORK_DETACHED, "pod.rollback_cni_del", STEP, true},
    {SM_POD_NETWORK_ATTACHED, SM_POD_NETWORK_DETACHED, "pod.rollback_detach_network", STEP, true},
};

static const struct expected_transition expected_container[] = {
    {SM_CONTAINER_PENDING, SM_CONTAINER_ROOTFS_MOUNTED, "container.mount_rootfs", STEP, false},
    {SM_CONTAINER_ROOTFS_MOUNTED, SM_CONTAINER_CREATED, "container.runtime_create", STEP, false},
    {SM_CONTAINER_CREATED, SM_CONTAINER_RUNNING, "container.start", STEP, false},
    {SM_CONTAINER_RUNNING, SM_CONTAINER_EXITED, "container.stop", STEP, false},
    {SM_CONTAINER_RUNNING, SM_CONTAINER_EXITED, "container.exit", EVENT, false},
    {SM_CONTAINER_CREATED, SM_CONTAINER_EXITED, "container.stop_created", STEP, false},
    {SM_CONTAINER_CREATED, SM_CONTAINER_EXITED, "container.exit_before_start", EVENT, false},
    {SM_CONTAINER_EXITED, SM_CONTAINER_RUNTIME_DELETED, "container.runtime_delete", STEP, false},
    {SM_CONTAINER_RUNTIME_DELETED, SM_CONTAINER_ROOTFS_UNMOUNTED, "container.unmount_rootfs", STEP, false},
    {SM_CONTAINER_ROOTFS_UNMOUNTED, SM_CONTAINER_REMOVED, "container.delete_record", STEP, false},
    {SM_CONTAINER_PENDING, SM_CONTAINER_ROOTFS_UNMOUNTED, "container.rollback_partial_mount", STEP, true},
    {SM_CONTAINER_ROOTFS_MOUNTED, SM_CONTAINER_RUNTIME_DELETED, "container.rollback_runtime_delete", STEP, true},
};

static const struct expected_transition expected_image[] = {
    {SM_IMAGE_PENDING, SM_IMAGE_LAYERS_FETCHED, "image.fetch_layers", STEP, false},
    {SM_IMAGE_LAYERS_FETCHED, SM_IMAGE_READY, "image.commit", STEP, false},
    {SM_IMAGE_READY, SM_IMAGE_LAYERS_RELEASED, "image.release_layers", STEP, false},
    {SM_IMAGE_LAYERS_RELEASED, SM_IMAGE_REMOVED, "image.delete_record", STEP, false},
    {SM_IMAGE_PENDING, SM_IMAGE_LAYERS_RELEASED, "image.rollback_partial_fetch", STEP, true},
    {SM_IMAGE_LAYERS_FETCHED, SM_IMAGE_LAYERS_RELEASED, "image.rollback_release_layers", STEP, true},
};
/* clang-format on */

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

struct expected_machine {
  enum sm_kind kind;
  const char *name;
  size_t n_states; /* highest state + 1 */
  sm_state_t initial, terminal, rollback_goal;
  const struct expected_transition *transitions;
  size_t n_transitions;
};

static const struct expected_machine expected_machines[] = {
    {SM_KIND_POD, "pod", SM_POD_REMOVED + 1, SM_POD_PENDING, SM_POD_REMOVED, SM_POD_REMOVED,
     expected_pod, N_OF(expected_pod)},
    {SM_KIND_CONTAINER, "container", SM_CONTAINER_REMOVED + 1, SM_CONTAINER_PENDING,
     SM_CONTAINER_REMOVED, SM_CONTAINER_REMOVED, expected_container, N_OF(expected_container)},
    {SM_KIND_IMAGE, "image", SM_IMAGE_REMOVED + 1, SM_IMAGE_PENDING, SM_IMAGE_REMOVED,
     SM_IMAGE_REMOVED, expected_image, N_OF(expected_image)},
};

static bool expected_pair(const struct expected_machine *e, sm_state_t from, sm_state_t to) {
  for (size_t i = 0; i < e->n_transitions; i++)
    if (e->transitions[i].from == from && e->transitions[i].to == to)
      return true;
  return false;
}

static void test_machines_match_the_design(void) {
  for (size_t k = 0; k < N_OF(expected_machines); k++) {
    const struct expected_machine *e = &expected_machines[k];
    const struct sm_machine *m = sm_machine(e->kind);
    CHECK(m != NULL);
    CHECK_INT_EQ(m->kind, e->kind);
    CHECK_STR_EQ(m->name, e->name);
    CHECK_STR_EQ(sm_kind_name(e->kind), e->name);
    CHECK_INT_EQ(m->n_states, e->n_states);
    CHECK_INT_EQ(m->initial, e->initial);
    CHECK_INT_EQ(m->terminal, e->terminal);
    CHECK_INT_EQ(m->rollback_goal, e->rollback_goal);
    CHECK_INT_EQ(m->n_transitions, e->n_transitions);
    /* Same transitions, in the same order (order breaks path ties). */
    for (size_t i = 0; i < e->n_transitions; i++) {
      const struct expected_transition *x = &e->transitions[i];
      const struct sm_transition *t = &m->transitions[i];
      CHECK_STR_EQ(t->name, x->name);
      CHECK_INT_EQ(t->kind, e->kind);
      CHECK_INT_EQ(t->from, x->from);
      CHECK_INT_EQ(t->to, x->to);
      CHECK_INT_EQ(t->trigger, x->trigger);
      CHECK_INT_EQ(t->rollback, x->rollback);
    }
  }
}

/* Pairs with both a STEP and an EVENT count once. */
static size_t distinct_pairs(const struct expected_machine *e) {
  size_t n = 0;
  for (size_t i = 0; i < e->n_transitions; i++) {
    bool repeat = false;
    for (size_t j = 0; j < i; j++)
      repeat = repeat || (e->transitions[j].from == e->transitions[i].from &&
                          e->transitions[j].to == e->transitions[i].to);
    n += !repeat;
  }
  return n;
}

/* Every (from, to) pair, including 0 and one past the last state, is
 * allowed exactly when the design lists it. */
static void test_allowed_exactly_for_listed_pairs(void) {
  for (size_t k = 0; k < N_OF(expected_machines); k++) {
    const struct expected_machine *e = &expected_machines[k];
    size_t allowed = 0;
    for (sm_state_t from = 0; from <= e->n_states; from++) {
      for (sm_state_t to = 0; to <= e->n_states; to++) {
        bool want = expected_pair(e, from, to);
        if (sm_allowed(e->kind, from, to) != want) {
          fprintf(stderr, "%s %u -> %u: expected %s, saw %s\n", e->name, from, to,
                  want ? "allowed" : "forbidden", want ? "forbidden" : "allowed");
          exit(1);
        }
        const struct sm_transition *t = sm_find(e->kind, from, to);
        if (want) {
          allowed++;
          CHECK(t->from == from && t->to == to);
          /* The first in table order is the STEP, when a pair has one. */
          if (sm_find_trigger(e->kind, from, to, SM_TRIGGER_STEP))
            CHECK_INT_EQ(t->trigger, SM_TRIGGER_STEP);
        }
      }
    }
    CHECK_INT_EQ(allowed, distinct_pairs(e));
  }
  CHECK(!sm_allowed((enum sm_kind)0, 1, 2));
  CHECK(!sm_allowed((enum sm_kind)(SM_KIND_LAST + 1), 1, 2));
}

static void test_table_entries_are_well_formed(void) {
  for (int k = SM_KIND_FIRST; k <= SM_KIND_LAST; k++) {
    const struct sm_machine *m = sm_machine((enum sm_kind)k);
    CHECK(m->state_names[0] == NULL);
    for (size_t i = 0; i < m->n_transitions; i++) {
      const struct sm_transition *t = &m->transitions[i];
      CHECK(sm_state_valid(m->kind, t->from));
      CHECK(sm_state_valid(m->kind, t->to));
      CHECK(t->from != t->to);
      CHECK(t->side_effect != NULL && t->side_effect[0] != '\0');
      /* "<kind>.<verb>" */
      size_t kl = strlen(m->name);
      CHECK(strncmp(t->name, m->name, kl) == 0 && t->name[kl] == '.' && t->name[kl + 1] != '\0');
      /* Only the reconciler rolls back; an exit is never a rollback. */
      if (t->rollback)
        CHECK_INT_EQ(t->trigger, SM_TRIGGER_STEP);
      /* At most one transition per (from, to, trigger), so
       * sm_find_trigger is unambiguous. */
      for (size_t j = 0; j < i; j++) {
        const struct sm_transition *u = &m->transitions[j];
        CHECK(!(u->from == t->from && u->to == t->to && u->trigger == t->trigger));
      }
    }
  }
}

static void test_terminal_state_has_no_way_out(void) {
  for (int k = SM_KIND_FIRST; k <= SM_KIND_LAST; k++) {
    const struct sm_machine *m = sm_machine((enum sm_kind)k);
    CHECK(sm_is_terminal(m->kind, m->terminal));
    for (sm_state_t s = 1; s < m->n_states; s++) {
      CHECK_INT_EQ(sm_is_terminal(m->kind, s), s == m->terminal);
      CHECK(!sm_allowed(m->kind, m->terminal, s));
    }
    for (size_t i = 0; i < m->n_transitions; i++)
      CHECK(m->transitions[i].from != m->terminal);
  }
}

/* Follows sm_next_step from `from` to `goal`; fails if it loops, proposes
 * an EVENT or a transition that does not start where the object is. */
static void walk_steps(enum sm_kind kind, sm_state_t from, sm_state_t goal) {
  const struct sm_machine *m = sm_machine(kind);
  sm_state_t s = from;
  for (size_t hops = 0; s != goal; hops++) {
    const struct sm_transition *t = sm_next_step(kind, s, goal);
    if (t == NULL || hops >= m->n_states) {
      fprintf(stderr, "%s: no way from %s to %s (stuck at %s)\n", m->name,
              sm_state_name(kind, from), sm_state_name(kind, goal), sm_state_name(kind, s));
      exit(1);
    }
    CHECK_INT_EQ(t->trigger, SM_TRIGGER_STEP);
    CHECK_INT_EQ(t->from, s);
    s = t->to;
  }
}

/* Whatever state a crash leaves an object in, it can be removed, and it
 * can be rolled back to its rollback goal. */
static void test_every_state_reaches_terminal_and_rollback_goal(void) {
  for (int k = SM_KIND_FIRST; k <= SM_KIND_LAST; k++) {
    const struct sm_machine *m = sm_machine((enum sm_kind)k);
    for (sm_state_t s = 1; s < m->n_states; s++) {
      if (s == m->terminal)
        continue;
      CHECK(sm_reachable(m->kind, s, m->terminal));
      CHECK(sm_reachable(m->kind, s, m->rollback_goal));
      walk_steps(m->kind, s, m->terminal);
      walk_steps(m->kind, s, m->rollback_goal);
    }
  }
}

/* For every (current, goal) pair: a step exactly when the goal is
 * reachable and not already reached, always a STEP starting at current. */
static void test_next_step_never_proposes_an_event(void) {
  for (int k = SM_KIND_FIRST; k <= SM_KIND_LAST; k++) {
    const struct sm_machine *m = sm_machine((enum sm_kind)k);
    for (sm_state_t cur = 1; cur < m->n_states; cur++) {
      for (sm_state_t goal = 1; goal < m->n_states; goal++) {
        const struct sm_transition *t = sm_next_step(m->kind, cur, goal);
        if (cur == goal) {
          CHECK(t == NULL);
          CHECK(sm_reachable(m->kind, cur, goal));
          continue;
        }
        CHECK_INT_EQ(t != NULL, sm_reachable(m->kind, cur, goal));
        if (t) {
          CHECK_INT_EQ(t->trigger, SM_TRIGGER_STEP);
          CHECK_INT_EQ(t->from, cur);
          walk_steps(m->kind, cur, goal);
        }
      }
    }
  }
}

static void check_next(enum sm_kind kind, sm_state_t cur, sm_state_t goal, const char *want) {
  const struct sm_transition *t = sm_next_step(kind, cur, goal);
  if (want == NULL) {
    if (t != NULL) {
      fprintf(stderr, "%s %s -> %s: expected no step, saw %s\n", sm_kind_name(kind),
              sm_state_name(kind, cur), sm_state_name(kind, goal), t->name);
      exit(1);
    }
    return;
  }
  if (t == NULL || strcmp(t->name, want) != 0) {
    fprintf(stderr, "%s %s -> %s: expected %s, saw %s\n", sm_kind_name(kind),
            sm_state_name(kind, cur), sm_state_name(kind, goal), want, t ? t->name : "(none)");
    exit(1);
  }
}

static void test_next_step_first_hops(void) {
  check_next(SM_KIND_POD, SM_POD_PENDING, SM_POD_READY, "pod.pin_namespaces");
  check_next(SM_KIND_POD, SM_POD_NETWORK_ATTACHED, SM_POD_READY, "pod.mark_ready");
  check_next(SM_KIND_POD, SM_POD_READY, SM_POD_STOPPED, "pod.stop_containers");
  check_next(SM_KIND_POD, SM_POD_READY, SM_POD_REMOVED, "pod.stop_containers");
  check_next(SM_KIND_POD, SM_POD_CGROUP_CREATED, SM_POD_STOPPED, "pod.rollback_cni_del");
  check_next(SM_KIND_POD, SM_POD_NETWORK_ATTACHED, SM_POD_REMOVED, "pod.rollback_detach_network");
  check_next(SM_KIND_POD, SM_POD_PENDING, SM_POD_REMOVED, "pod.rollback_partial_namespaces");
  check_next(SM_KIND_POD, SM_POD_NAMESPACES_PINNED, SM_POD_STOPPED,
             "pod.rollback_release_namespaces");
  check_next(SM_KIND_POD, SM_POD_STOPPED, SM_POD_REMOVED, "pod.remove_containers");
  check_next(SM_KIND_POD, SM_POD_STOPPED, SM_POD_READY, NULL);
  CHECK(!sm_reachable(SM_KIND_POD, SM_POD_STOPPED, SM_POD_READY));
  check_next(SM_KIND_POD, SM_POD_READY, SM_POD_READY, NULL);
  check_next(SM_KIND_POD, SM_POD_REMOVED, SM_POD_PENDING, NULL);

  check_next(SM_KIND_CONTAINER, SM_CONTAINER_PENDING, SM_CONTAINER_RUNNING,
             "container.mount_rootfs");
  check_next(SM_KIND_CONTAINER, SM_CONTAINER_CREATED, SM_CONTAINER_RUNNING, "container.start");
  check_next(SM_KIND_CONTAINER, SM_CONTAINER_RUNNING, SM_CONTAINER_EXITED, "container.stop");
  check_next(SM_KIND_CONTAINER, SM_CONTAINER_CREATED, SM_CONTAINER_EXITED,
             "container.stop_created");
  check_next(SM_KIND_CONTAINER, SM_CONTAINER_RUNNING, SM_CONTAINER_REMOVED, "container.stop");
  check_next(SM_KIND_CONTAINER, SM_CONTAINER_PENDING, SM_CONTAINER_REMOVED,
             "container.rollback_partial_mount");
  check_next(SM_KIND_CONTAINER, SM_CONTAINER_ROOTFS_MOUNTED, SM_CONTAINER_REMOVED,
             "container.rollback_runtime_delete");
  check_next(SM_KIND_CONTAINER, SM_CONTAINER_EXITED, SM_CONTAINER_RUNNING, NULL);

  check_next(SM_KIND_IMAGE, SM_IMAGE_PENDING, SM_IMAGE_READY, "image.fetch_layers");
  check_next(SM_KIND_IMAGE, SM_IMAGE_READY, SM_IMAGE_REMOVED, "image.release_layers");
  check_next(SM_KIND_IMAGE, SM_IMAGE_PENDING, SM_IMAGE_REMOVED, "image.rollback_partial_fetch");
  check_next(SM_KIND_IMAGE, SM_IMAGE_LAYERS_FETCHED, SM_IMAGE_REMOVED,
             "image.rollback_release_layers");
  check_next(SM_KIND_IMAGE, SM_IMAGE_LAYERS_RELEASED, SM_IMAGE_READY, NULL);

  /* Not states of the machine, or no machine at all. */
  CHECK(sm_next_step(SM_KIND_POD, 0, SM_POD_READY) == NULL);
  CHECK(sm_next_step(SM_KIND_POD, SM_POD_PENDING, SM_POD_REMOVED + 1) == NULL);
  CHECK(sm_next_step((enum sm_kind)0, 1, 2) == NULL);
  CHECK(!sm_reachable(SM_KIND_IMAGE, SM_IMAGE_REMOVED + 1, SM_IMAGE_REMOVED + 1));
}

static void test_event_and_step_share_a_pair(void) {
  const struct sm_transition *t;
  t = sm_find_trigger(SM_KIND_CONTAINER, SM_CONTAINER_RUNNING, SM_CONTAINER_EXITED,
                      SM_TRIGGER_EVENT);
  CHECK_STR_EQ(t ? t->name : NULL, "container.exit");
  t = sm_find_trigger(SM_KIND_CONTAINER, SM_CONTAINER_CREATED, SM_CONTAINER_EXITED,
                      SM_TRIGGER_EVENT);
  CHECK_STR_EQ(t ? t->name : NULL, "container.exit_before_start");
  t = sm_find(SM_KIND_CONTAINER, SM_CONTAINER_CREATED, SM_CONTAINER_EXITED);
  CHECK_STR_EQ(t ? t->name : NULL, "container.stop_created");
  CHECK(sm_find_trigger(SM_KIND_POD, SM_POD_READY, SM_POD_CONTAINERS_STOPPED, SM_TRIGGER_EVENT) ==
        NULL);
}

static void test_transition_names_unique_and_round_trip(void) {
  size_t total = 0;
  for (int k = SM_KIND_FIRST; k <= SM_KIND_LAST; k++)
    total += sm_machine((enum sm_kind)k)->n_transitions;
  CHECK_INT_EQ(sm_transition_count(), total);
  CHECK_INT_EQ(total, N_OF(expected_pod) + N_OF(expected_container) + N_OF(expected_image));
  CHECK(sm_transition_at(total) == NULL);

  for (size_t i = 0; i < total; i++) {
    const struct sm_transition *t = sm_transition_at(i);
    CHECK(t != NULL);
    for (size_t j = 0; j < i; j++) {
      if (strcmp(sm_transition_at(j)->name, t->name) == 0) {
        fprintf(stderr, "transition name %s used twice\n", t->name);
        exit(1);
      }
    }
    CHECK(sm_transition_by_name(t->name) == t);
  }
  /* The order is stable: machines by kind, each in table order. */
  CHECK_STR_EQ(sm_transition_at(0)->name, "pod.pin_namespaces");
  CHECK_STR_EQ(sm_transition_at(N_OF(expected_pod))->name, "container.mount_rootfs");
  CHECK(sm_transition_by_name("pod.no_such_step") == NULL);
  CHECK(sm_transition_by_name("") == NULL);
  CHECK(sm_transition_by_name(NULL) == NULL);
}

static void test_state_and_kind_names(void) {
  for (int k = SM_KIND_FIRST; k <= SM_KIND_LAST; k++) {
    const struct sm_machine *m = sm_machine((enum sm_kind)k);
    enum sm_kind kind;
    CHECK(sm_kind_from_name(m->name, &kind));
    CHECK_INT_EQ(kind, k);
    for (sm_state_t s = 1; s < m->n_states; s++) {
      const char *name = sm_state_name(m->kind, s);
      CHECK(name != NULL);
      for (const char *c = name; *c; c++)
        CHECK(isupper((unsigned char)*c) || *c == '_');
      sm_state_t back = 0;
      CHECK(sm_state_from_name(m->kind, name, &back));
      CHECK_INT_EQ(back, s);
    }
    CHECK(sm_state_name(m->kind, 0) == NULL);
    CHECK(sm_state_name(m->kind, (sm_state_t)m->n_states) == NULL);
    CHECK(!sm_state_from_name(m->kind, "ready", NULL));
    CHECK(!sm_state_from_name(m->kind, NULL, NULL));
  }
  CHECK_STR_EQ(sm_state_name(SM_KIND_POD, SM_POD_NAMESPACES_PINNED), "NAMESPACES_PINNED");
  CHECK(sm_kind_name((enum sm_kind)0) == NULL);
  CHECK(sm_machine((enum sm_kind)(SM_KIND_LAST + 1)) == NULL);
  CHECK(!sm_kind_from_name("sandbox", NULL));
  CHECK(!sm_kind_from_name(NULL, NULL));
}

static void test_cri_state_mapping(void) {
  for (sm_state_t s = 0; s <= SM_POD_REMOVED + 1; s++)
    CHECK_INT_EQ(sm_pod_cri_state(s), s == SM_POD_READY ? 0 : 1);

  CHECK_INT_EQ(sm_container_cri_state(SM_CONTAINER_PENDING), 0);
  CHECK_INT_EQ(sm_container_cri_state(SM_CONTAINER_ROOTFS_MOUNTED), 0);
  CHECK_INT_EQ(sm_container_cri_state(SM_CONTAINER_CREATED), 0);
  CHECK_INT_EQ(sm_container_cri_state(SM_CONTAINER_RUNNING), 1);
  CHECK_INT_EQ(sm_container_cri_state(SM_CONTAINER_EXITED), 2);
  CHECK_INT_EQ(sm_container_cri_state(SM_CONTAINER_RUNTIME_DELETED), 2);
  CHECK_INT_EQ(sm_container_cri_state(SM_CONTAINER_ROOTFS_UNMOUNTED), 2);
  CHECK_INT_EQ(sm_container_cri_state(SM_CONTAINER_REMOVED), 2);
  CHECK_INT_EQ(sm_container_cri_state(0), 3);
  CHECK_INT_EQ(sm_container_cri_state(SM_CONTAINER_REMOVED + 1), 3);
}

static void test_mermaid_names_every_transition(void) {
  for (int k = SM_KIND_FIRST; k <= SM_KIND_LAST; k++) {
    const struct sm_machine *m = sm_machine((enum sm_kind)k);
    char *text = sm_render_mermaid(m->kind);
    CHECK(text != NULL);
    CHECK(strncmp(text, "stateDiagram-v2\n", 16) == 0);
    CHECK(text[strlen(text) - 1] == '\n');
    for (size_t i = 0; i < m->n_transitions; i++) {
      const struct sm_transition *t = &m->transitions[i];
      char line[256];
      snprintf(line, sizeof line, "    %s --> %s: %s", m->state_names[t->from],
               m->state_names[t->to], t->name);
      CHECK(strstr(text, line) != NULL);
    }
    free(text);
  }
  CHECK(sm_render_mermaid((enum sm_kind)0) == NULL);
}

int main(void) {
  RUN_TEST(test_machines_match_the_design);
  RUN_TEST(test_allowed_exactly_for_listed_pairs);
  RUN_TEST(test_table_entries_are_well_formed);
  RUN_TEST(test_terminal_state_has_no_way_out);
  RUN_TEST(test_every_state_reaches_terminal_and_rollback_goal);
  RUN_TEST(test_next_step_never_proposes_an_event);
  RUN_TEST(test_next_step_first_hops);
  RUN_TEST(test_event_and_step_share_a_pair);
  RUN_TEST(test_transition_names_unique_and_round_trip);
  RUN_TEST(test_state_and_kind_names);
  RUN_TEST(test_cri_state_mapping);
  RUN_TEST(test_mermaid_names_every_transition);
  fprintf(stderr, "ok\n");
  return 0;
}
