/* The layer store: publication, queries, removal, usage, overlay lower
 * dirs; abort leaves nothing; a SIGKILLed unpack leaves only a tmp-* that
 * start-up cleanup removes; concurrent unpacks of one layer publish it
 * once. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"
#include "images/layer_internal.h"
#include "tests/unit/test_layer_fixture.h"
#include "tests/unit/testing.h"

static unsigned char *layer_with(const char *name, const char *content, size_t *len) {
  struct fx_tar *t = fx_tar_new("gzip");
  fx_tar_dir(t, "data", 0755);
  char path[256];
  snprintf(path, sizeof path, "data/%s", name);
  fx_tar_file(t, path, content);
  return fx_tar_finish(t, len);
}

static void test_publish_list_remove(void) {
  const char *root = fx_tmpdir();
  struct img_layer_store *s = fx_store(root, 0, 0);
  cleanup_error crio_error_t err = NULL;
  struct img_layer_info a, b, again;
  size_t la, lb;
  cleanup_free unsigned char *ba = layer_with("a", "A", &la);
  cleanup_free unsigned char *bb = layer_with("b", "B", &lb);
  CHECK(fx_unpack(s, ba, la, NULL, &a, &err) == 0);
  struct fx_unpack_opts on_a = {.parent_chain_id = a.chain_id};
  CHECK(fx_unpack(s, bb, lb, &on_a, &b, &err) == 0);
  CHECK_INT_EQ(img_layer_store_exists(s, a.chain_id, &err), 1);
  CHECK_INT_EQ(img_layer_store_exists(s, b.chain_id, &err), 1);

  /* Listed sorted, as chain ids. */
  cleanup_strv char **ids = NULL;
  CHECK(img_layer_store_list(s, &ids, &err) == 0);
  CHECK(ids[0] && ids[1] && !ids[2]);
  CHECK(strcmp(ids[0], ids[1]) < 0);
  CHECK(strcmp(ids[0], a.chain_id) == 0 || strcmp(ids[1], a.chain_id) == 0);
  CHECK(strcmp(ids[0], b.chain_id) == 0 || strcmp(ids[1], b.chain_id) == 0);

  /* The same blob again: already there, nothing new. */
  CHECK(fx_unpack(s, ba, la, NULL, &again, &err) == 0);
  CHECK(again.already_present);
  CHECK_STR_EQ(again.chain_id, a.chain_id);
  CHECK_INT_EQ(again.created_ns, a.created_ns);
  /* With the diff_id known up front, begin answers without a download. */
  struct img_layer_unpack *u = NULL;
  char digest[IMG_DIGEST_MAX];
  fx_sha256(ba, la, digest);
  struct img_layer_unpack_params p = {.compressed_digest = digest, .expected_diff_id = a.diff_id};
  CHECK_INT_EQ(img_layer_unpack_begin(s, &p, &u, &again, &err), 1);
  CHECK(u == NULL && again.already_present);
  CHECK_STR_EQ(again.chain_id, a.chain_id);
  CHECK_INT_EQ(fx_count_temps(root), 0);

  /* Overlay lower dirs: bottom->top in the list, top first in the option. */
  const char *stack[] = {a.chain_id, b.chain_id};
  cleanup_strv char **dirs = NULL;
  CHECK(img_layer_store_diff_dirs(s, stack, 2, &dirs, &err) == 0);
  cleanup_free char *da = xasprintf("%s/layers/%s/diff", root, a.chain_id + 7);
  cleanup_free char *db = xasprintf("%s/layers/%s/diff", root, b.chain_id + 7);
  CHECK_STR_EQ(dirs[0], da);
  CHECK_STR_EQ(dirs[1], db);
  CHECK(dirs[2] == NULL);
  cleanup_free char *opt = NULL;
  CHECK(img_layer_store_lowerdir_option(s, stack, 2, &opt, &err) == 0);
  cleanup_free char *want = xasprintf("%s:%s", db, da);
  CHECK_STR_EQ(opt, want);
  cleanup_free char *one = NULL;
  CHECK(img_layer_store_diff_dir(s, a.chain_id, &one, &err) == 0);
  CHECK_STR_EQ(one, da);

  /* Removal: gone from every query, missing layers say ENOENT. */
  CHECK(img_layer_store_remove(s, a.chain_id, &err) == 0);
  CHECK_INT_EQ(img_layer_store_exists(s, a.chain_id, &err), 0);
  CHECK_INT_EQ(fx_count_layers(s), 1);
  CHECK_INT_EQ(fx_count_temps(root), 0);
  CHECK(img_layer_store_remove(s, a.chain_id, &err) == -1);
  CHECK_INT_EQ(crio_error_status(&err), ENOENT);
  crio_error_release(&err);
  struct img_layer_info gone;
  CHECK(img_layer_store_get(s, a.chain_id, &gone, &err) == -1);
  CHECK_INT_EQ(crio_error_status(&err), ENOENT);
  crio_error_release(&err);
  cleanup_strv char **missing = NULL;
  CHECK(img_layer_store_diff_dirs(s, stack, 2, &missing, &err) == -1);
  CHECK_INT_EQ(crio_error_status(&err), ENOENT);
  crio_error_release(&err);
  CHECK(img_layer_store_exists(s, "sha256:nothex", &err) == -1);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  crio_error_release(&err);
  CHECK(img_layer_store_exists(s, "../../etc", &err) == -1);
  crio_error_release(&err);
  img_layer_store_close(s);

  /* Reopened, the store still knows b. */
  s = fx_store(root, 0, 0);
  CHECK_INT_EQ(img_layer_store_exists(s, b.chain_id, &err), 1);
  struct img_layer_info got;
  CHECK(img_layer_store_get(s, b.chain_id, &got, &err) == 0);
  CHECK_STR_EQ(got.parent_chain_id, a.chain_id);
  CHECK_STR_EQ(got.diff_id, b.diff_id);
  img_layer_store_close(s);
}

static void test_usage(void) {
  const char *root = fx_tmpdir();
  struct img_layer_store *s = fx_store(root, 0, 0);
  cleanup_error crio_error_t err = NULL;
  uint64_t bytes0, inodes0, bytes1, inodes1;
  CHECK(img_layer_store_usage(s, &bytes0, &inodes0, &err) == 0);
  CHECK_INT_EQ(inodes0, 1); /* layers/ itself */
  size_t len;
  struct fx_tar *t = fx_tar_new("gzip");
  struct archive_entry *e = fx_entry("big", AE_IFREG | 0644);
  cleanup_free char *data = xmalloc(4 << 20);
  for (size_t i = 0; i < (4u << 20); i++)
    data[i] = (char)(i * 7 + i / 4096);
  fx_tar_add(t, e, data, 4 << 20);
  fx_tar_hardlink(t, "big2", "big");
  fx_tar_hardlink(t, "big3", "big");
  cleanup_free unsigned char *buf = fx_tar_finish(t, &len);
  struct img_layer_info info;
  CHECK(fx_unpack(s, buf, len, NULL, &info, &err) == 0);
  CHECK(img_layer_store_usage(s, &bytes1, &inodes1, &err) == 0);
  /* layer dir, diff/, layer.json, big (its links counted once) */
  CHECK_INT_EQ(inodes1 - inodes0, 4);
  CHECK(bytes1 - bytes0 >= (4u << 20));
  CHECK(bytes1 - bytes0 < (5u << 20));
  img_layer_store_close(s);
}

/* Aborting mid-stream, or an error from write, leaves nothing. */
static void test_abort(void) {
  const char *root = fx_tmpdir();
  struct img_layer_store *s = fx_store(root, 0, 0);
  cleanup_error crio_error_t err = NULL;
  size_t len;
  struct fx_tar *t = fx_tar_new("gzip");
  fx_tar_zeros(t, "z", 16 << 20);
  cleanup_free unsigned char *buf = fx_tar_finish(t, &len);
  char digest[IMG_DIGEST_MAX];
  fx_sha256(buf, len, digest);
  struct img_layer_unpack_params p = {.compressed_digest = digest};
  struct img_layer_unpack *u = NULL;
  struct img_layer_info info;
  CHECK(img_layer_unpack_begin(s, &p, &u, &info, &err) == 0);
  CHECK(img_layer_unpack_write(u, buf, len / 2, &err) == 0);
  CHECK_INT_EQ(fx_count_temps(root), 1);
  img_layer_unpack_abort(u);
  fx_check_nothing_left(root, s);
  /* Abort right after begin, before any byte. */
  CHECK(img_layer_unpack_begin(s, &p, &u, &info, &err) == 0);
  img_layer_unpack_abort(u);
  fx_check_nothing_left(root, s);
  /* finish with only part of the stream: truncated, rejected. */
  CHECK(img_layer_unpack_begin(s, &p, &u, &info, &err) == 0);
  CHECK(img_layer_unpack_write(u, buf, len / 2, &err) == 0);
  CHECK(img_layer_unpack_finish(u, &info, &err) == -1);
  fprintf(stderr, "   truncated: %s\n", crio_error_message(&err));
  fx_check_nothing_left(root, s);
  img_layer_store_close(s);
}

/* Whether the one tmp-* directory has diff/<name> yet. */
static bool extracted(const char *root, const char *name) {
  cleanup_free char *layers = xasprintf("%s/layers", root);
  cleanup_dir DIR *d = opendir(layers);
  struct dirent *de;
  while (d && (de = readdir(d)) != NULL) {
    if (strncmp(de->d_name, "tmp-", 4) != 0)
      continue;
    cleanup_free char *p = xasprintf("%s/%s/diff/%s", layers, de->d_name, name);
    if (access(p, F_OK) == 0)
      return true;
  }
  return false;
}

/* A child unpacks and is SIGKILLed half-way: the half layer is only a
 * tmp-* directory, which cleanup at the next start removes; the layer
 * then unpacks normally. */
static void test_crash_mid_layer(void) {
  const char *root = fx_tmpdir();
  size_t len;
  struct fx_tar *t = fx_tar_new("gzip");
  for (int i = 0; i < 64; i++) {
    char name[32], content[64];
    snprintf(name, sizeof name, "f%02d", i);
    snprintf(content, sizeof content, "file %d", i);
    fx_tar_file(t, name, content);
  }
  fx_tar_zeros(t, "zz", 32 << 20);
  cleanup_free unsigned char *buf = fx_tar_finish(t, &len);
  char diff_id[IMG_DIGEST_MAX];
  fx_diff_id(buf, len, diff_id);
  int pipefd[2];
  CHECK(pipe(pipefd) == 0);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    close(pipefd[0]);
    struct img_layer_store *s = fx_store(root, 0, 0);
    cleanup_error crio_error_t err = NULL;
    char digest[IMG_DIGEST_MAX];
    fx_sha256(buf, len, digest);
    struct img_layer_unpack_params p = {.compressed_digest = digest};
    struct img_layer_unpack *u = NULL;
    if (img_layer_unpack_begin(s, &p, &u, NULL, &err) != 0 ||
        img_layer_unpack_write(u, buf, len / 2, &err) != 0)
      _exit(1);
    /* Let the extractor get into the layer before saying so. */
    for (int i = 0; i < 500 && !extracted(root, "f10"); i++)
      usleep(10000);
    if (!extracted(root, "f10"))
      _exit(1);
    if (write(pipefd[1], "x", 1) != 1)
      _exit(1);
    pause();
    _exit(1);
  }
  close(pipefd[1]);
  char c;
  CHECK(read(pipefd[0], &c, 1) == 1);
  close(pipefd[0]);
  CHECK(kill(pid, SIGKILL) == 0);
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

  struct img_layer_store_options o = {.root = root};
  struct img_layer_store *s = NULL;
  cleanup_error crio_error_t err = NULL;
  CHECK(img_layer_store_open(&o, &s, &err) == 0);
  CHECK_INT_EQ(fx_count_temps(root), 1);
  CHECK_INT_EQ(img_layer_store_exists(s, diff_id, &err), 0);
  CHECK_INT_EQ(fx_count_layers(s), 0);
  CHECK(img_layer_store_cleanup_temp(s, &err) == 0);
  fx_check_nothing_left(root, s);
  struct img_layer_info info;
  CHECK(fx_unpack(s, buf, len, NULL, &info, &err) == 0);
  CHECK_STR_EQ(info.chain_id, diff_id);
  CHECK_INT_EQ(img_layer_store_exists(s, diff_id, &err), 1);
  img_layer_store_close(s);
}

/* cleanup_temp spares the tmp-* of an unpack in flight. */
static void test_cleanup_spares_in_flight(void) {
  const char *root = fx_tmpdir();
  struct img_layer_store *s = fx_store(root, 0, 0);
  cleanup_error crio_error_t err = NULL;
  size_t len;
  cleanup_free unsigned char *buf = layer_with("x", "X", &len);
  char digest[IMG_DIGEST_MAX];
  fx_sha256(buf, len, digest);
  struct img_layer_unpack_params p = {.compressed_digest = digest};
  struct img_layer_unpack *u = NULL;
  struct img_layer_info info;
  CHECK(img_layer_unpack_begin(s, &p, &u, &info, &err) == 0);
  CHECK(img_layer_unpack_write(u, buf, 10, &err) == 0);
  cleanup_free char *stale = xasprintf("%s/layers/tmp-stale", root);
  CHECK(mkdir(stale, 0700) == 0);
  CHECK_INT_EQ(fx_count_temps(root), 2);
  CHECK(img_layer_store_cleanup_temp(s, &err) == 0);
  CHECK_INT_EQ(fx_count_temps(root), 1);
  CHECK(access(stale, F_OK) < 0);
  CHECK(img_layer_unpack_write(u, buf + 10, len - 10, &err) == 0);
  CHECK(img_layer_unpack_finish(u, &info, &err) == 0);
  CHECK_INT_EQ(fx_count_temps(root), 0);
  CHECK_INT_EQ(fx_count_layers(s), 1);
  img_layer_store_close(s);
}

struct racer {
  struct img_layer_store *store;
  const unsigned char *buf;
  size_t len;
  const char *diff_id; /* NULL: chain id only known at finish */
  pthread_barrier_t *barrier;
  int rc;
  struct img_layer_info info;
  char msg[256];
};

static void *race(void *opaque) {
  struct racer *r = opaque;
  cleanup_error crio_error_t err = NULL;
  struct fx_unpack_opts o = {.expected_diff_id = r->diff_id, .chunk = 4096};
  pthread_barrier_wait(r->barrier);
  r->rc = fx_unpack(r->store, r->buf, r->len, &o, &r->info, &err);
  snprintf(r->msg, sizeof r->msg, "%s", crio_error_message(&err));
  return NULL;
}

static void race_once(bool diff_id_known) {
  const char *root = fx_tmpdir();
  struct img_layer_store *s = fx_store(root, 0, 0);
  size_t len;
  struct fx_tar *t = fx_tar_new("zstd");
  for (int i = 0; i < 200; i++) {
    char name[32];
    snprintf(name, sizeof name, "dir%d/file", i);
    fx_tar_file(t, name, name);
  }
  fx_tar_zeros(t, "bulk", 8 << 20);
  cleanup_free unsigned char *buf = fx_tar_finish(t, &len);
  char diff_id[IMG_DIGEST_MAX];
  fx_diff_id(buf, len, diff_id);
  pthread_barrier_t barrier;
  pthread_barrier_init(&barrier, NULL, 2);
  struct racer r[2];
  pthread_t th[2];
  for (int i = 0; i < 2; i++) {
    r[i] = (struct racer){.store = s,
                          .buf = buf,
                          .len = len,
                          .diff_id = diff_id_known ? diff_id : NULL,
                          .barrier = &barrier};
    CHECK(pthread_create(&th[i], NULL, race, &r[i]) == 0);
  }
  for (int i = 0; i < 2; i++)
    pthread_join(th[i], NULL);
  pthread_barrier_destroy(&barrier);
  for (int i = 0; i < 2; i++) {
    if (r[i].rc < 0)
      fprintf(stderr, "racer %d: %s\n", i, r[i].msg);
    CHECK(r[i].rc >= 0);
    CHECK_STR_EQ(r[i].info.chain_id, diff_id);
  }
  /* Exactly one published it; the other found it there. */
  CHECK_INT_EQ((int)r[0].info.already_present + (int)r[1].info.already_present, 1);
  /* With the diff_id known, the loser waited in begin and never made a
   * temporary directory (begin returned 1). */
  if (diff_id_known)
    CHECK_INT_EQ(r[0].rc + r[1].rc, 1);
  CHECK_INT_EQ(fx_count_layers(s), 1);
  CHECK_INT_EQ(fx_count_temps(root), 0);
  cleanup_free char *f = fx_layer_path(root, diff_id, "dir199/file");
  cleanup_free char *c = fx_read(f);
  CHECK_STR_EQ(c, "dir199/file");
  img_layer_store_close(s);
}

static void test_concurrent_same_layer_known_diff_id(void) {
  race_once(true);
}
static void test_concurrent_same_layer_unknown_diff_id(void) {
  for (int i = 0; i < 3; i++)
    race_once(false);
}

int main(void) {
  if (geteuid() != 0) {
    fprintf(stderr, "skip: layer store tests need root (chown in layers)\n");
    return 77;
  }
  RUN_TEST(test_publish_list_remove);
  RUN_TEST(test_usage);
  RUN_TEST(test_abort);
  RUN_TEST(test_crash_mid_layer);
  RUN_TEST(test_cleanup_spares_in_flight);
  RUN_TEST(test_concurrent_same_layer_known_diff_id);
  RUN_TEST(test_concurrent_same_layer_unknown_diff_id);
  return 0;
}
