/* The ledger: which resources the log says each object holds, computed
 * from a list of entries alone (no store). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recovery/recovery.h"
#include "tests/unit/testing.h"

#define T(x) CRIO__STORE__LOG_ENTRY__TYPE__##x

/* An entry built for the test; resources "type:id[=detail]". */
static store_log_entry *entry(uint64_t seq, int type, uint32_t kind, const char *id,
                              uint32_t to_state, const char *acquired, const char *released) {
  store_log_entry *e = calloc(1, sizeof(*e));
  crio__store__log_entry__init(e);
  e->seq = seq;
  e->time = (int64_t)seq * 1000;
  e->type = type;
  e->kind = kind;
  e->object_id = strdup(id ? id : "");
  e->parent_id = strdup("");
  e->transition = strdup("");
  e->message = strdup("");
  e->to_state = to_state;
  const char *lists[2] = {acquired, released};
  for (int l = 0; l < 2; l++) {
    if (lists[l] == NULL)
      continue;
    char *copy = strdup(lists[l]);
    char *save = NULL;
    for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
      char *colon = strchr(tok, ':');
      CHECK(colon != NULL);
      *colon = '\0';
      char *detail = strchr(colon + 1, '=');
      if (detail)
        *detail++ = '\0';
      store_resource *r = store_resource_new(tok, colon + 1, detail, detail ? strlen(detail) : 0);
      if (l == 0) {
        e->acquired = realloc(e->acquired, (e->n_acquired + 1) * sizeof(*e->acquired));
        e->acquired[e->n_acquired++] = r;
      } else {
        e->released = realloc(e->released, (e->n_released + 1) * sizeof(*e->released));
        e->released[e->n_released++] = r;
      }
    }
    free(copy);
  }
  return e;
}

static void add(struct recovery_ledger *l, store_log_entry *e) {
  recovery_ledger_add(l, e);
  store_log_entry_free(e);
}

/* "type:id type:id" of what the object holds, in acquisition order. */
static char *held(const struct recovery_ledger *l, const char *id) {
  const struct recovery_object *obj = recovery_ledger_find(l, id);
  CHECK(obj != NULL);
  char *s = strdup("");
  for (size_t i = 0; i < obj->n_held; i++) {
    char *joined = NULL;
    CHECK(asprintf(&joined, "%s%s%s:%s", s, i ? " " : "", obj->held[i].res->type,
                   obj->held[i].res->id) > 0);
    free(s);
    s = joined;
  }
  return s;
}

#define CHECK_HELD(l, id, expected)                                                                \
  do {                                                                                             \
    char *h__ = held(l, id);                                                                       \
    CHECK_STR_EQ(h__, expected);                                                                   \
    free(h__);                                                                                     \
  } while (0)

static void test_acquire_release_in_order(void) {
  struct recovery_ledger l;
  recovery_ledger_init(&l);
  add(&l, entry(1, T(CREATE), 1, "p1", 1, NULL, NULL));
  add(&l,
      entry(2, T(TRANSITION), 1, "p1", 2, "dir:/r/p1 netns:/r/netns/p1 ipcns:/r/ipcns/p1", NULL));
  add(&l, entry(3, T(TRANSITION), 1, "p1", 3, "cgroup:/c/crio-p1", NULL));
  add(&l, entry(4, T(TRANSITION), 1, "p1", 4, "cni:net/p1/eth0", NULL));
  CHECK_HELD(&l, "p1",
             "dir:/r/p1 netns:/r/netns/p1 ipcns:/r/ipcns/p1 cgroup:/c/crio-p1 cni:net/p1/eth0");
  add(&l, entry(5, T(TRANSITION), 1, "p1", 7, NULL, "cni:net/p1/eth0"));
  add(&l, entry(6, T(TRANSITION), 1, "p1", 8, NULL, "netns:/r/netns/p1 ipcns:/r/ipcns/p1"));
  CHECK_HELD(&l, "p1", "dir:/r/p1 cgroup:/c/crio-p1");
  const struct recovery_object *obj = recovery_ledger_find(&l, "p1");
  CHECK_INT_EQ(obj->state, 8);
  CHECK_INT_EQ(obj->state_seq, 6);
  CHECK_INT_EQ(obj->first_seq, 1);
  CHECK_INT_EQ(obj->last_seq, 6);
  CHECK(!obj->deleted);
  CHECK_INT_EQ(recovery_ledger_held_total(&l), 2);
  recovery_ledger_release(&l);
}

/* A release of something never acquired (a rollback releasing every pin
 * it might have made) holds nothing; a re-acquire after a release counts
 * again; within one entry releases come first. */
static void test_reacquire_and_unknown_release(void) {
  struct recovery_ledger l;
  recovery_ledger_init(&l);
  add(&l, entry(1, T(CREATE), 1, "p", 1, NULL, NULL));
  add(&l, entry(2, T(TRANSITION), 1, "p", 8, NULL, "netns:/n utsns:/u pidns:/p"));
  CHECK_HELD(&l, "p", "");
  add(&l, entry(3, T(TRANSITION), 1, "p", 2, "netns:/n", NULL));
  add(&l, entry(4, T(TRANSITION), 1, "p", 8, NULL, "netns:/n"));
  CHECK_HELD(&l, "p", "");
  add(&l, entry(5, T(TRANSITION), 1, "p", 2, "netns:/n", NULL));
  CHECK_HELD(&l, "p", "netns:/n");
  /* Released and acquired again in the same entry: held, with the new seq. */
  add(&l, entry(6, T(TRANSITION), 1, "p", 2, "netns:/n", "netns:/n"));
  CHECK_HELD(&l, "p", "netns:/n");
  CHECK_INT_EQ(recovery_ledger_find(&l, "p")->held[0].seq, 6);
  recovery_ledger_release(&l);
}

/* A step repeated after a crash acquires what is held already: it keeps
 * its place (so reverse order stays right) and takes the newer detail. */
static void test_repeated_acquire_keeps_order(void) {
  struct recovery_ledger l;
  recovery_ledger_init(&l);
  add(&l, entry(1, T(CREATE), 1, "p", 1, NULL, NULL));
  add(&l, entry(2, T(TRANSITION), 1, "p", 2, "dir:/d netns:/n", NULL));
  add(&l, entry(3, T(TRANSITION), 1, "p", 4, "cni:a=old", NULL));
  add(&l, entry(4, T(TRANSITION), 1, "p", 4, "dir:/d cni:a=new", NULL));
  CHECK_HELD(&l, "p", "dir:/d netns:/n cni:a");
  const struct recovery_object *obj = recovery_ledger_find(&l, "p");
  CHECK_INT_EQ(obj->held[2].res->detail.len, 3);
  CHECK(memcmp(obj->held[2].res->detail.data, "new", 3) == 0);
  CHECK_INT_EQ(obj->held[0].seq, 2);
  recovery_ledger_release(&l);
}

/* A DELETE that leaves resources held (a record deleted while holding
 * something) keeps them in the ledger: that is what wipe is for.  GOAL and
 * STEP_FAILED entries change no state; NOTEs name no object. */
static void test_delete_keeps_unreleased(void) {
  struct recovery_ledger l;
  recovery_ledger_init(&l);
  add(&l, entry(1, T(CREATE), 1, "p", 1, NULL, NULL));
  add(&l, entry(2, T(NOTE), 0, "", 0, NULL, NULL));
  add(&l, entry(3, T(TRANSITION), 1, "p", 2, "netns:/n cgroup:/c", NULL));
  add(&l, entry(4, T(GOAL), 1, "p", 2, NULL, NULL));
  add(&l, entry(5, T(STEP_FAILED), 1, "p", 2, NULL, NULL));
  const struct recovery_object *obj = recovery_ledger_find(&l, "p");
  CHECK_INT_EQ(obj->state_seq, 3);
  CHECK_INT_EQ(obj->last_seq, 5);
  CHECK_INT_EQ(obj->last_type, T(STEP_FAILED));
  add(&l, entry(6, T(DELETE), 1, "p", 0, NULL, "cgroup:/c"));
  obj = recovery_ledger_find(&l, "p");
  CHECK(obj->deleted);
  CHECK_INT_EQ(obj->state, 0);
  CHECK_HELD(&l, "p", "netns:/n");
  CHECK_INT_EQ(l.n_objects, 1);
  CHECK_INT_EQ(l.n_entries, 6);
  CHECK_INT_EQ(l.first_seq, 1);
  CHECK_INT_EQ(l.last_seq, 6);
  CHECK(recovery_ledger_find(&l, "") == NULL);
  /* A wipe's own DELETE releasing the rest: nothing held any more. */
  add(&l, entry(7, T(DELETE), 1, "p", 0, NULL, "netns:/n"));
  CHECK_HELD(&l, "p", "");
  CHECK_INT_EQ(recovery_ledger_held_total(&l), 0);
  recovery_ledger_release(&l);
}

/* Objects are kept apart, by exact id (a prefix is another object), and
 * the table grows past many objects. */
static void test_many_objects(void) {
  struct recovery_ledger l;
  recovery_ledger_init(&l);
  char id[32], res[64];
  for (int i = 0; i < 5000; i++) {
    snprintf(id, sizeof(id), "obj%d", i);
    snprintf(res, sizeof(res), "dir:/d/%d", i);
    add(&l, entry((uint64_t)i * 2 + 1, T(CREATE), 2, id, 1, res, NULL));
  }
  for (int i = 0; i < 5000; i += 2) {
    snprintf(id, sizeof(id), "obj%d", i);
    snprintf(res, sizeof(res), "dir:/d/%d", i);
    add(&l, entry((uint64_t)i * 2 + 2, T(DELETE), 2, id, 0, NULL, res));
  }
  CHECK_INT_EQ(l.n_objects, 5000);
  CHECK_INT_EQ(recovery_ledger_held_total(&l), 2500);
  CHECK_HELD(&l, "obj1", "dir:/d/1");
  CHECK_HELD(&l, "obj10", "");
  CHECK_HELD(&l, "obj4999", "dir:/d/4999");
  CHECK(recovery_ledger_find(&l, "obj") == NULL);
  CHECK(recovery_ledger_find(&l, "obj5000") == NULL);
  CHECK_INT_EQ(recovery_ledger_find(&l, "obj7")->kind, 2);
  recovery_ledger_release(&l);
}

/* Container entries carry their pod, for grouping. */
static void test_parent_recorded(void) {
  struct recovery_ledger l;
  recovery_ledger_init(&l);
  store_log_entry *e = entry(1, T(CREATE), 2, "c1", 1, NULL, NULL);
  free(e->parent_id);
  e->parent_id = strdup("pod1");
  add(&l, e);
  add(&l, entry(2, T(TRANSITION), 2, "c1", 2, "mount:/m", NULL));
  CHECK_STR_EQ(recovery_ledger_find(&l, "c1")->parent_id, "pod1");
  recovery_ledger_release(&l);
}

int main(void) {
  RUN_TEST(test_acquire_release_in_order);
  RUN_TEST(test_reacquire_and_unknown_release);
  RUN_TEST(test_repeated_acquire_keeps_order);
  RUN_TEST(test_delete_keeps_unreleased);
  RUN_TEST(test_many_objects);
  RUN_TEST(test_parent_recorded);
  return 0;
}
