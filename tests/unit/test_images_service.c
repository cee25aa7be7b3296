/* Unit tests of the image service's store side (images/images.h): what an
 * image string resolves to, names per image, moving names, the removal
 * intent (refused while a container uses the image), layer collection with
 * pull holds, the start-up sweep, pinned patterns.  No registry: layers are
 * published directories made here, records are written directly. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "images/service_internal.h"
#include "statemachine/statemachine.h"
#include "store/store.h"
#include "tests/unit/test_err_checks.h"
#include "tests/unit/testing.h"

static crio_error_t err;

/* Ids and chain ids: 64 hex characters made from a letter. */
static const char *hex64(char c) {
  static char buf[8][65];
  static int next;
  char *b = buf[next++ % 8];
  memset(b, c, 64);
  b[64] = '\0';
  return b;
}

static char *chain(char c) {
  return xasprintf("sha256:%s", hex64(c));
}

struct fixture {
  char *root;
  struct store *store;
  struct img_service *svc;
};

static void fixture_open(struct fixture *f, const char *const *pinned, const char *pause) {
  f->root = xstrdup("/tmp/crio-images-service-test.XXXXXX");
  CHECK(mkdtemp(f->root) != NULL);
  cleanup_free char *db = xasprintf("%s/db", f->root);
  struct store_options so = {.dir = db};
  OK(store_open(&so, &f->store, &err));
  struct img_service_options io = {.root = f->root, .pinned_images = pinned, .pause_image = pause};
  OK(img_service_open(&io, f->store, &f->svc, &err));
}

static void fixture_close(struct fixture *f) {
  img_service_free(f->svc);
  store_close(f->store);
  cleanup_free char *cmd = xasprintf("rm -rf '%s'", f->root);
  CHECK(system(cmd) == 0);
  free(f->root);
}

/* A published layer as the store sees one: <root>/layers/<hex>/diff. */
static void publish(struct fixture *f, char c) {
  cleanup_free char *dir = xasprintf("%s/layers/%s/diff", f->root, hex64(c));
  OK(crio_mkdir_p(dir, 0700, &err));
}

static bool published(struct fixture *f, char c) {
  cleanup_free char *dir = xasprintf("%s/layers/%s", f->root, hex64(c));
  struct stat st;
  return stat(dir, &st) == 0;
}

static void put_image(struct fixture *f, char id, sm_state_t state, const char *layers) {
  store_record *rec = store_record_new(STORE_KIND_IMAGE, hex64(id));
  rec->state = state;
  rec->goal = state;
  size_t n = strlen(layers);
  rec->image->n_layers = n;
  rec->image->layers = xcalloc(n, sizeof(char *));
  for (size_t i = 0; i < n; i++)
    rec->image->layers[i] = chain(layers[i]);
  struct store_txn *txn = NULL;
  OK(store_txn_begin(f->store, STORE_TXN_WRITE, &txn, &err));
  store_create(txn, rec);
  OK(store_txn_commit(txn, &err));
  store_record_free(rec);
}

static void set_state(struct fixture *f, char id, sm_state_t state) {
  struct store_txn *txn = NULL;
  store_record *rec = NULL;
  OK(store_txn_begin(f->store, STORE_TXN_WRITE, &txn, &err));
  OK(store_record_get(txn, STORE_KIND_IMAGE, hex64(id), &rec, &err));
  store_transition(txn, rec, state, "test", NULL, 0, NULL, 0);
  OK(store_txn_commit(txn, &err));
  store_record_free(rec);
}

static void name(struct fixture *f, const char *n, char id) {
  struct store_txn *txn = NULL;
  OK(store_txn_begin(f->store, STORE_TXN_WRITE, &txn, &err));
  store_name_reserve(txn, STORE_NAMES_IMAGE, n, hex64(id));
  OK(store_txn_commit(txn, &err));
}

/* The id text resolves to, or NULL with err set. */
static char *lookup(struct fixture *f, const char *text) {
  struct store_txn *txn = NULL;
  char *id = NULL;
  OK(store_txn_begin(f->store, STORE_TXN_READ, &txn, &err));
  if (img_service_lookup(f->svc, txn, text, &id, &err) < 0)
    id = NULL;
  store_txn_abort(txn);
  return id;
}

static void test_lookup_by_name_digest_id_and_prefix(void) {
  struct fixture f;
  fixture_open(&f, NULL, NULL);
  put_image(&f, 'a', SM_IMAGE_READY, "1");
  put_image(&f, 'b', SM_IMAGE_READY, "2");
  /* Two ids sharing a prefix: "ab..." vs "aa..." share "a". */
  name(&f, "docker.io/library/busybox:latest", 'a');
  cleanup_free char *digest_name = xasprintf("quay.io/team/app@sha256:%s", hex64('d'));
  name(&f, digest_name, 'b');
  name(&f, "docker.io/library/gone:1", 'z'); /* a record that does not exist */

  cleanup_free char *by_short = lookup(&f, "busybox");
  CHECK_STR_EQ(by_short, hex64('a'));
  cleanup_free char *by_full = lookup(&f, "docker.io/library/busybox:latest");
  CHECK_STR_EQ(by_full, hex64('a'));
  cleanup_free char *by_digest = lookup(&f, digest_name);
  CHECK_STR_EQ(by_digest, hex64('b'));
  /* name:tag@digest goes by the digest. */
  cleanup_free char *tagged_digest = xasprintf("quay.io/team/app:v9@sha256:%s", hex64('d'));
  cleanup_free char *by_tagged_digest = lookup(&f, tagged_digest);
  CHECK_STR_EQ(by_tagged_digest, hex64('b'));
  cleanup_free char *by_id = lookup(&f, hex64('b'));
  CHECK_STR_EQ(by_id, hex64('b'));
  cleanup_free char *sha_text = xasprintf("sha256:%s", hex64('b'));
  cleanup_free char *by_sha = lookup(&f, sha_text);
  CHECK_STR_EQ(by_sha, hex64('b'));
  cleanup_free char *by_prefix = lookup(&f, "bbbb");
  CHECK_STR_EQ(by_prefix, hex64('b'));

  CHECK(lookup(&f, "gone:1") == NULL);
  CHECK_INT_EQ(crio_error_status(&err), ENOENT);
  crio_error_release(&err);
  CHECK(lookup(&f, "cccc") == NULL);
  CHECK_INT_EQ(crio_error_status(&err), ENOENT);
  crio_error_release(&err);
  CHECK(lookup(&f, "") == NULL);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  crio_error_release(&err);
  fixture_close(&f);
}

static void test_ambiguous_prefix(void) {
  struct fixture f;
  fixture_open(&f, NULL, NULL);
  put_image(&f, 'a', SM_IMAGE_READY, "1");
  char id2[65];
  memcpy(id2, hex64('a'), 65);
  id2[63] = 'b';
  store_record *rec = store_record_new(STORE_KIND_IMAGE, id2);
  rec->state = rec->goal = SM_IMAGE_READY;
  struct store_txn *txn = NULL;
  OK(store_txn_begin(f.store, STORE_TXN_WRITE, &txn, &err));
  store_create(txn, rec);
  OK(store_txn_commit(txn, &err));
  store_record_free(rec);
  CHECK(lookup(&f, "aaaa") == NULL);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  CHECK(strstr(crio_error_message(&err), "ambiguous") != NULL);
  crio_error_release(&err);
  fixture_close(&f);
}

static void test_names_of_and_names_map(void) {
  struct fixture f;
  fixture_open(&f, NULL, NULL);
  put_image(&f, 'a', SM_IMAGE_READY, "1");
  put_image(&f, 'b', SM_IMAGE_READY, "2");
  name(&f, "r/x:2", 'a');
  name(&f, "r/x:1", 'a');
  name(&f, "r/x@sha256:aa", 'a');
  name(&f, "r/y:1", 'b');
  struct store_txn *txn = NULL;
  OK(store_txn_begin(f.store, STORE_TXN_READ, &txn, &err));
  struct img_names names;
  OK(img_service_names_of(txn, hex64('a'), &names, &err));
  CHECK_INT_EQ(names.n_tags, 2);
  CHECK_STR_EQ(names.tags[0], "r/x:1");
  CHECK_STR_EQ(names.tags[1], "r/x:2");
  CHECK_INT_EQ(names.n_digests, 1);
  CHECK_STR_EQ(names.digests[0], "r/x@sha256:aa");
  img_names_clear(&names);
  struct img_names_map *map = NULL;
  OK(img_names_map_build(txn, &map, &err));
  const struct img_names *b = img_names_map_get(map, hex64('b'));
  CHECK(b != NULL && b->n_tags == 1 && b->n_digests == 0);
  CHECK_STR_EQ(b->tags[0], "r/y:1");
  CHECK(img_names_map_get(map, hex64('c')) == NULL);
  img_names_map_free(map);
  store_txn_abort(txn);
  fixture_close(&f);
}

static void test_remove_intent_refuses_an_image_a_container_uses(void) {
  struct fixture f;
  fixture_open(&f, NULL, NULL);
  put_image(&f, 'a', SM_IMAGE_READY, "1");
  name(&f, "r/x:1", 'a');
  name(&f, "r/x@sha256:aa", 'a');
  store_record *ctr = store_record_new(STORE_KIND_CONTAINER, hex64('c'));
  ctr->state = ctr->goal = SM_CONTAINER_CREATED;
  store_string_set(&ctr->container->image_id, hex64('a'));
  struct store_txn *txn = NULL;
  OK(store_txn_begin(f.store, STORE_TXN_WRITE, &txn, &err));
  store_create(txn, ctr);
  OK(store_txn_commit(txn, &err));

  OK(store_txn_begin(f.store, STORE_TXN_WRITE, &txn, &err));
  FAILS_WITH(img_service_remove_intent(f.svc, txn, hex64('a'), &err), EBUSY);
  store_txn_abort(txn);

  /* The container goes: now the removal releases the names and sets the goal. */
  OK(store_txn_begin(f.store, STORE_TXN_WRITE, &txn, &err));
  store_delete(txn, ctr, "test", NULL, 0);
  OK(store_txn_commit(txn, &err));
  store_record_free(ctr);
  OK(store_txn_begin(f.store, STORE_TXN_WRITE, &txn, &err));
  OK(img_service_remove_intent(f.svc, txn, hex64('a'), &err));
  OK(store_txn_commit(txn, &err));
  OK(store_txn_begin(f.store, STORE_TXN_READ, &txn, &err));
  store_record *rec = NULL;
  OK(store_record_get(txn, STORE_KIND_IMAGE, hex64('a'), &rec, &err));
  CHECK_INT_EQ(rec->goal, SM_IMAGE_REMOVED);
  store_record_free(rec);
  struct img_names names;
  OK(img_service_names_of(txn, hex64('a'), &names, &err));
  CHECK_INT_EQ(names.n_tags + names.n_digests, 0);
  store_txn_abort(txn);
  fixture_close(&f);
}

static void test_collection_keeps_shared_and_held_layers(void) {
  struct fixture f;
  fixture_open(&f, NULL, NULL);
  for (const char *c = "1234"; *c; c++)
    publish(&f, *c);
  put_image(&f, 'a', SM_IMAGE_READY, "12");
  put_image(&f, 'b', SM_IMAGE_READY, "13");

  /* a goes: its own layer 2 is collected, the shared 1 stays. */
  set_state(&f, 'a', SM_IMAGE_LAYERS_RELEASED);
  struct store_txn *txn = NULL;
  store_record *a = NULL;
  OK(store_txn_begin(f.store, STORE_TXN_READ, &txn, &err));
  OK(store_record_get(txn, STORE_KIND_IMAGE, hex64('a'), &a, &err));
  store_txn_abort(txn);
  OK(img_service_collect_layers(f.svc, a, &err));
  OK(img_service_collect_layers(f.svc, a, &err)); /* idempotent */
  store_record_free(a);
  CHECK(published(&f, '1') && !published(&f, '2') && published(&f, '3') && published(&f, '4'));

  /* Full collection: 4 has no record.  A held layer stays, even once its
   * record no longer references it. */
  set_state(&f, 'b', SM_IMAGE_LAYERS_RELEASED);
  char *held[] = {chain('3')};
  img_service_hold(f.svc, held, 1);
  struct img_gc_report report = {0};
  OK(img_service_gc(f.svc, &report, &err));
  CHECK_INT_EQ(report.layers_removed, 2); /* 1 (b released it) and 4 */
  CHECK(published(&f, '3') && !published(&f, '1') && !published(&f, '4'));
  img_service_unhold(f.svc, held, 1);
  OK(img_service_gc(f.svc, &report, &err));
  CHECK(!published(&f, '3'));
  free(held[0]);
  fixture_close(&f);
}

static void test_startup_removes_tmp_dirs_and_stale_names(void) {
  struct fixture f;
  fixture_open(&f, NULL, NULL);
  put_image(&f, 'a', SM_IMAGE_READY, "1");
  publish(&f, '1');
  publish(&f, '9');
  cleanup_free char *tmp = xasprintf("%s/layers/tmp-0123456789abcdef/diff", f.root);
  OK(crio_mkdir_p(tmp, 0700, &err));
  name(&f, "docker.io/r/x:1", 'a');
  name(&f, "docker.io/r/gone:1", 'z');
  struct img_gc_report report;
  OK(img_service_startup(f.svc, &report, &err));
  CHECK_INT_EQ(report.layers_removed, 1);
  CHECK_INT_EQ(report.names_removed, 1);
  CHECK(published(&f, '1') && !published(&f, '9'));
  cleanup_free char *tmp_top = xasprintf("%s/layers/tmp-0123456789abcdef", f.root);
  struct stat st;
  CHECK(stat(tmp_top, &st) < 0 && errno == ENOENT);
  cleanup_free char *still = lookup(&f, "r/x:1");
  CHECK_STR_EQ(still, hex64('a'));
  CHECK(lookup(&f, "r/gone:1") == NULL);
  crio_error_release(&err);
  fixture_close(&f);
}

static void test_pinned_patterns(void) {
  const char *const pinned[] = {"quay.io/team/*", "*critical*", "busybox", NULL};
  struct fixture f;
  fixture_open(&f, pinned, "registry.k8s.io/pause:3.10");
  struct {
    const char *name;
    bool pinned;
  } cases[] = {
      {"registry.k8s.io/pause:3.10", true},
      {"registry.k8s.io/pause:3.9", false},
      {"quay.io/team/app:1", true},
      {"quay.io/other/app:1", false},
      {"docker.io/x/very-critical-thing:2", true},
      {"docker.io/library/busybox:latest", true}, /* "busybox" normalised */
      {"docker.io/library/busybox:1.36", false},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char *tag = (char *)cases[i].name;
    struct img_names names = {.tags = &tag, .n_tags = 1};
    if (img_service_pinned(f.svc, &names) != cases[i].pinned) {
      fprintf(stderr, "%s: expected pinned=%d\n", cases[i].name, cases[i].pinned);
      exit(1);
    }
  }
  CHECK(!img_service_pinned(f.svc, NULL));
  fixture_close(&f);
}

int main(void) {
  RUN_TEST(test_lookup_by_name_digest_id_and_prefix);
  RUN_TEST(test_ambiguous_prefix);
  RUN_TEST(test_names_of_and_names_map);
  RUN_TEST(test_remove_intent_refuses_an_image_a_container_uses);
  RUN_TEST(test_collection_keeps_shared_and_held_layers);
  RUN_TEST(test_startup_removes_tmp_dirs_and_stale_names);
  RUN_TEST(test_pinned_patterns);
  return 0;
}
