/* Hostile layers: every way out of the layer directory is refused or
 * confined, bombs stop at the limits, bad digests and broken streams are
 * rejected, and each failure leaves nothing behind (no tmp-*, no layer).
 * Cases that could touch the host's /etc run in a child with a private
 * mount namespace and a tmpfs over /etc holding a canary. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"
#include "images/layer_internal.h"
#include "tests/unit/test_layer_fixture.h"
#include "tests/unit/testing.h"

/* Unpacks buf expecting rejection with status and a message containing
 * what; then nothing of it may be left. */
static void expect_rejected(const char *root, struct img_layer_store *s, const unsigned char *buf,
                            size_t len, const struct fx_unpack_opts *o, int status,
                            const char *what) {
  cleanup_error crio_error_t err = NULL;
  struct img_layer_info info;
  int r = fx_unpack(s, buf, len, o, &info, &err);
  if (r != -1 || crio_error_status(&err) != status ||
      !fx_contains(crio_error_message(&err), what)) {
    fprintf(stderr, "expected rejection %d containing \"%s\"; saw r=%d %d \"%s\"\n", status, what,
            r, crio_error_status(&err), crio_error_message(&err));
    exit(1);
  }
  fprintf(stderr, "   rejected: %s\n", crio_error_message(&err));
  fx_check_nothing_left(root, s);
}

/* A layer with a harmless first entry (so a partial directory exists
 * when the bad one comes) followed by bad. */
static unsigned char *after_good(struct fx_tar *t, size_t *len) {
  return fx_tar_finish(t, len);
}

static struct fx_tar *good_start(void) {
  struct fx_tar *t = fx_tar_new("gzip");
  fx_tar_dir(t, "etc", 0755);
  fx_tar_file(t, "etc/hostname", "layer");
  return t;
}

static void test_clean_path(void) {
  static const struct {
    const char *in, *out;
  } ok[] = {
      {"a/b", "a/b"},  {"./a//b/", "a/b"},   {"/etc/x", "etc/x"},
      {"a/../b", "b"}, {"a/./b/..", "a"},    {"./", ""},
      {"/", ""},       {"a/b/../../c", "c"}, {"..a/b..", "..a/b.."},
  };
  static const char *bad[] = {
      "..", "../escape", "a/../../escape", "/../etc/passwd", "a/b/../../../c", "./../x"};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    cleanup_error crio_error_t err = NULL;
    cleanup_free char *out = NULL;
    CHECK(layer_clean_path(ok[i].in, &out, &err) == 0);
    CHECK_STR_EQ(out, ok[i].out);
  }
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cleanup_error crio_error_t err = NULL;
    cleanup_free char *out = NULL;
    CHECK(layer_clean_path(bad[i], &out, &err) == -1);
    CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  }
}

static void test_dotdot_escapes(void) {
  const char *root = fx_tmpdir();
  struct img_layer_store *s = fx_store(root, 0, 0);
  const char *names[] = {"../escape", "a/../../escape", "/../escape", "etc/../../../escape"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    size_t len;
    struct fx_tar *t = good_start();
    fx_tar_file(t, names[i], "out");
    cleanup_free unsigned char *buf = after_good(t, &len);
    expect_rejected(root, s, buf, len, NULL, EINVAL, "climbs out of the layer root");
    /* Nothing appeared next to the store or the layers directory. */
    cleanup_free char *p1 = xasprintf("%s/escape", root);
    cleanup_free char *p2 = xasprintf("%s/layers/escape", root);
    CHECK(access(p1, F_OK) < 0 && access(p2, F_OK) < 0);
  }
  img_layer_store_close(s);
}

static void test_hardlink_escapes(void) {
  const char *root = fx_tmpdir();
  struct img_layer_store *s = fx_store(root, 0, 0);
  size_t len;
  {
    struct fx_tar *t = good_start();
    fx_tar_hardlink(t, "passwd", "../../etc/passwd");
    cleanup_free unsigned char *buf = after_good(t, &len);
    expect_rejected(root, s, buf, len, NULL, EINVAL, "climbs out of the layer root");
  }
  {
    struct fx_tar *t = good_start();
    fx_tar_hardlink(t, "passwd", "/../etc/passwd");
    cleanup_free unsigned char *buf = after_good(t, &len);
    expect_rejected(root, s, buf, len, NULL, EINVAL, "climbs out of the layer root");
  }
  {
    /* Absolute is relative to the root: /etc/shadow is the layer's, and
     * this layer has none. */
    struct fx_tar *t = good_start();
    fx_tar_hardlink(t, "shadow", "/etc/shadow");
    cleanup_free unsigned char *buf = after_good(t, &len);
    expect_rejected(root, s, buf, len, NULL, ENOENT, "hard link target");
  }
  {
    struct fx_tar *t = good_start();
    fx_tar_hardlink(t, "dirlink", "etc");
    cleanup_free unsigned char *buf = after_good(t, &len);
    expect_rejected(root, s, buf, len, NULL, EINVAL, "is a directory");
  }
  img_layer_store_close(s);
}

/* In a child: /etc is a private tmpfs with a canary passwd, so a bug
 * cannot hurt the host.  Exit 0 when the canary is intact. */
static int in_private_etc(void (*fn)(const char *root), const char *root) {
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount("tmpfs", "/etc", "tmpfs", 0, "size=1m,mode=0755") < 0) {
      fprintf(stderr, "private /etc: %s\n", strerror(errno));
      _exit(2);
    }
    FILE *f = fopen("/etc/passwd", "w");
    if (f == NULL || fputs("canary\n", f) < 0 || fclose(f) != 0)
      _exit(2);
    fn(root);
    cleanup_free char *c = fx_read("/etc/passwd");
    struct stat st;
    if (c == NULL || strcmp(c, "canary\n") != 0 || stat("/etc/passwd", &st) < 0 ||
        st.st_nlink != 1) {
      fprintf(stderr, "host canary /etc/passwd was touched\n");
      _exit(1);
    }
    if (access("/etc/evil", F_OK) == 0) {
      fprintf(stderr, "/etc/evil was created on the host\n");
      _exit(1);
    }
    _exit(0);
  }
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  return WEXITSTATUS(status);
}

static void symlink_confined(const char *root) {
  struct img_layer_store *s = fx_store(root, 0, 0);
  const char *targets[] = {"/", "../../../../../../..", "/etc/..", "etc"};
  for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
    cleanup_error crio_error_t err = NULL;
    struct img_layer_info info;
    size_t len;
    struct fx_tar *t = fx_tar_new("gzip");
    fx_tar_dir(t, "etc", 0755);
    fx_tar_symlink(t, "link", targets[i]);
    fx_tar_file(t, "link/etc/passwd", "owned\n");
    fx_tar_file(t, "link/etc/evil", "evil\n");
    cleanup_free unsigned char *buf = fx_tar_finish(t, &len);
    /* Confined, not refused: "link/etc/passwd" resolves inside the layer
     * as RESOLVE_IN_ROOT says, like containerd's applier. */
    if (fx_unpack(s, buf, len, NULL, &info, &err) != 0) {
      fprintf(stderr, "unpack with link -> %s: %s\n", targets[i], crio_error_message(&err));
      exit(1);
    }
    cleanup_free char *lp = fx_layer_path(root, info.chain_id, "link");
    struct stat st;
    CHECK(lstat(lp, &st) == 0 && S_ISLNK(st.st_mode));
    /* "etc" -> layer's etc; the others -> layer root, whose etc/ it is. */
    const char *inside = strcmp(targets[i], "etc") == 0 ? "etc/etc/passwd" : "etc/passwd";
    cleanup_free char *p = fx_layer_path(root, info.chain_id, inside);
    cleanup_free char *c = fx_read(p);
    CHECK_STR_EQ(c, "owned\n");
    CHECK(img_layer_store_remove(s, info.chain_id, &err) == 0);
  }
  /* A hard link through the symlink finds the layer's etc, which has no
   * passwd: refused, and the host's is not linked. */
  {
    size_t len;
    struct fx_tar *t = fx_tar_new("gzip");
    fx_tar_symlink(t, "link", "/");
    fx_tar_hardlink(t, "stolen", "link/etc/passwd");
    cleanup_free unsigned char *buf = fx_tar_finish(t, &len);
    expect_rejected(root, s, buf, len, NULL, ENOENT, "hard link target");
  }
  /* A symlink to the host file, then a hard link to the symlink: the
   * link is to the symlink itself, never through it. */
  {
    cleanup_error crio_error_t err = NULL;
    struct img_layer_info info;
    size_t len;
    struct fx_tar *t = fx_tar_new("gzip");
    fx_tar_symlink(t, "sl", "/etc/passwd");
    fx_tar_hardlink(t, "hl", "sl");
    fx_tar_file(t, "sl", "replaces the symlink, not its target\n");
    cleanup_free unsigned char *buf = fx_tar_finish(t, &len);
    CHECK(fx_unpack(s, buf, len, NULL, &info, &err) == 0);
    cleanup_free char *hl = fx_layer_path(root, info.chain_id, "hl");
    struct stat st;
    CHECK(lstat(hl, &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(img_layer_store_remove(s, info.chain_id, &err) == 0);
  }
  /* A file entry over a symlink to a host file replaces the symlink. */
  {
    cleanup_error crio_error_t err = NULL;
    struct img_layer_info info;
    size_t len;
    struct fx_tar *t = fx_tar_new("none");
    fx_tar_symlink(t, "passwd", "/etc/passwd");
    fx_tar_file(t, "passwd", "mine\n");
    fx_tar_symlink(t, "dir", "/etc");
    fx_tar_dir(t, "dir", 0755);
    fx_tar_file(t, "dir/evil", "evil\n");
    cleanup_free unsigned char *buf = fx_tar_finish(t, &len);
    CHECK(fx_unpack(s, buf, len, NULL, &info, &err) == 0);
    cleanup_free char *p = fx_layer_path(root, info.chain_id, "passwd");
    cleanup_free char *c = fx_read(p);
    CHECK_STR_EQ(c, "mine\n");
    CHECK(img_layer_store_remove(s, info.chain_id, &err) == 0);
  }
  img_layer_store_close(s);
}

static void test_symlink_escapes(void) {
  const char *root = fx_tmpdir();
  int r = in_private_etc(symlink_confined, root);
  if (r == 2) {
    fprintf(stderr, "   skip: cannot make a private /etc (mount namespace)\n");
    return;
  }
  CHECK_INT_EQ(r, 0);
}

/* Without openat2 the walk refuses symlinked parents outright. */
static void test_fallback_walk(void) {
  const char *root = fx_tmpdir();
  cleanup_free char *tree = xasprintf("%s/tree", root);
  cleanup_free char *sub = xasprintf("%s/tree/real", root);
  cleanup_free char *ln = xasprintf("%s/tree/link", root);
  CHECK(mkdir(tree, 0755) == 0 && mkdir(sub, 0755) == 0);
  CHECK(symlink("/", ln) == 0);
  cleanup_close int rootfd = open(tree, O_RDONLY | O_DIRECTORY);
  CHECK(rootfd >= 0);
  for (int allow = 0; allow < 2; allow++) {
    cleanup_error crio_error_t err = NULL;
    int fd = layer_open_dir_in_root(rootfd, "real/made/here", true, false, allow, &err);
    CHECK(fd >= 0);
    close(fd);
    fd = layer_open_dir_in_root(rootfd, "link/etc", false, false, allow, &err);
    if (allow) {
      /* Confined: "/" is the tree, which has no etc. */
      CHECK(fd < 0 && crio_error_status(&err) == ENOENT);
    } else {
      CHECK(fd < 0 && crio_error_status(&err) == EINVAL);
      CHECK(fx_contains(crio_error_message(&err), "refused without openat2"));
    }
    crio_error_release(&err);
    fd = layer_open_dir_in_root(rootfd, "link/tmp", true, false, allow, &err);
    if (allow) {
      /* Made inside the tree, at its root. */
      CHECK(fd >= 0);
      close(fd);
      cleanup_free char *made = xasprintf("%s/tmp", tree);
      struct stat st;
      CHECK(stat(made, &st) == 0 && S_ISDIR(st.st_mode));
    } else {
      CHECK(fd < 0);
    }
  }
}

/* 1 GiB of zeros gzip'd to about a megabyte, against a 256 MiB limit. */
static void test_gzip_bomb(void) {
  const char *root = fx_tmpdir();
  struct img_layer_store *s = fx_store(root, 256ULL << 20, 0);
  size_t len;
  struct fx_tar *t = fx_tar_new("gzip");
  /* Eight files of 128 MiB: each below the limit, so the stream's
   * running total is what stops it (test_huge_entry_size covers one
   * entry declaring too much). */
  for (int i = 0; i < 8; i++) {
    char name[16];
    snprintf(name, sizeof name, "zeros%d", i);
    fx_tar_zeros(t, name, 128ULL << 20);
  }
  cleanup_free unsigned char *buf = fx_tar_finish(t, &len);
  fprintf(stderr, "   1 GiB of zeros is %zu bytes gzip'd\n", len);
  CHECK(len < (4u << 20));
  struct fx_unpack_opts o = {.chunk = 64 * 1024};
  expect_rejected(root, s, buf, len, &o, EINVAL, "beyond the limit of 268435456 bytes");
  img_layer_store_close(s);
}

/* zstd packs zeros far tighter than gzip: the ratio limit catches it
 * well below the size limit. */
static void test_zstd_ratio_bomb(void) {
  const char *root = fx_tmpdir();
  struct img_layer_store *s = fx_store(root, 0, 100);
  size_t len;
  struct fx_tar *t = fx_tar_new("zstd");
  fx_tar_zeros(t, "zeros", 200ULL << 20);
  cleanup_free unsigned char *buf = fx_tar_finish(t, &len);
  fprintf(stderr, "   200 MiB of zeros is %zu bytes zstd'd\n", len);
  expect_rejected(root, s, buf, len, NULL, EINVAL, "beyond the ratio limit of 100:1");
  img_layer_store_close(s);
}

/* A sparse-looking entry claiming more than the limit is refused without
 * reading it. */
static void test_huge_entry_size(void) {
  const char *root = fx_tmpdir();
  struct img_layer_store *s = fx_store(root, 1 << 20, 0);
  size_t len;
  struct fx_tar *t = fx_tar_new("none");
  fx_tar_zeros(t, "two-mib", 2 << 20);
  cleanup_free unsigned char *buf = fx_tar_finish(t, &len);
  expect_rejected(root, s, buf, len, NULL, EINVAL, "limit");
  img_layer_store_close(s);
}

static void test_digest_mismatch(void) {
  const char *root = fx_tmpdir();
  struct img_layer_store *s = fx_store(root, 0, 0);
  size_t len;
  struct fx_tar *t = good_start();
  cleanup_free unsigned char *buf = fx_tar_finish(t, &len);
  char other[IMG_DIGEST_MAX];
  fx_sha256("something else", 14, other);
  struct fx_unpack_opts o = {.digest = other};
  expect_rejected(root, s, buf, len, &o, EINVAL, "layer blob digest mismatch");
  /* A flipped byte in the middle of the blob, with the original digest. */
  char digest[IMG_DIGEST_MAX];
  fx_sha256(buf, len, digest);
  cleanup_free unsigned char *bad = xmemdup(buf, len);
  bad[len / 2] ^= 0x40;
  o.digest = digest;
  cleanup_error crio_error_t err = NULL;
  struct img_layer_info info;
  CHECK(fx_unpack(s, bad, len, &o, &info, &err) == -1);
  fprintf(stderr, "   rejected: %s\n", crio_error_message(&err));
  fx_check_nothing_left(root, s);
  /* The config's diff_id disagrees with the layer's. */
  o = (struct fx_unpack_opts){.expected_diff_id = other};
  expect_rejected(root, s, buf, len, &o, EINVAL, "diff_id mismatch");
  /* Malformed digests are refused before anything is made. */
  o = (struct fx_unpack_opts){.digest = "sha256:1234"};
  expect_rejected(root, s, buf, len, &o, EINVAL, "is not a digest");
  o = (struct fx_unpack_opts){.digest = "md5:d41d8cd98f00b204e9800998ecf8427e"};
  expect_rejected(root, s, buf, len, &o, EINVAL, "is not a digest");
  img_layer_store_close(s);
}

static void test_broken_streams(void) {
  const char *root = fx_tmpdir();
  struct img_layer_store *s = fx_store(root, 0, 0);
  size_t len;
  struct fx_tar *t = good_start();
  fx_tar_zeros(t, "bulk", 1 << 20);
  cleanup_free unsigned char *buf = fx_tar_finish(t, &len);
  /* Truncated in the middle of the gzip stream. */
  expect_rejected(root, s, buf, len / 2, NULL, EINVAL, "");
  /* Not a tar at all. */
  const char *junk = "this is not a tar archive, not even close; just text.\n";
  expect_rejected(root, s, (const unsigned char *)junk, strlen(junk), NULL, EINVAL, "");
  /* An empty blob. */
  expect_rejected(root, s, (const unsigned char *)"", 0, NULL, EINVAL, "");
  img_layer_store_close(s);
}

/* 1500 nested directories: unpacked, measured and removed with a fd limit
 * of 64, so the walks hold a bounded number of fds. */
static void test_deep_nesting(void) {
  const char *root = fx_tmpdir();
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    struct img_layer_store *s = fx_store(root, 0, 0);
    cleanup_error crio_error_t err = NULL;
    struct img_layer_info info;
    size_t len, depth = 1500;
    char *path = xmalloc(2 * depth + 16);
    size_t off = 0;
    struct fx_tar *t = fx_tar_new("gzip");
    for (size_t i = 0; i < depth; i++) {
      path[off++] = 'a';
      path[off] = '\0';
      fx_tar_dir(t, path, 0755);
      path[off++] = '/';
    }
    strcpy(path + off, "bottom");
    fx_tar_file(t, path, "deep");
    unsigned char *buf = fx_tar_finish(t, &len);
    struct rlimit rl = {64, 64};
    CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    if (fx_unpack(s, buf, len, NULL, &info, &err) != 0) {
      fprintf(stderr, "deep unpack: %s\n", crio_error_message(&err));
      _exit(1);
    }
    uint64_t bytes, inodes;
    CHECK(img_layer_store_usage(s, &bytes, &inodes, &err) == 0);
    /* layers/, the layer dir, diff/, layer.json, 1500 dirs, the file */
    CHECK_INT_EQ(inodes, 1505);
    if (img_layer_store_remove(s, info.chain_id, &err) != 0) {
      fprintf(stderr, "deep remove: %s\n", crio_error_message(&err));
      _exit(1);
    }
    CHECK_INT_EQ(fx_count_temps(root), 0);
    CHECK_INT_EQ(fx_count_layers(s), 0);
    _exit(0);
  }
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK_INT_EQ(WEXITSTATUS(status), 0);
}

/* The root entry must be a directory. */
static void test_root_not_dir(void) {
  const char *root = fx_tmpdir();
  struct img_layer_store *s = fx_store(root, 0, 0);
  size_t len;
  struct fx_tar *t = good_start();
  fx_tar_file(t, ".", "x");
  cleanup_free unsigned char *buf = fx_tar_finish(t, &len);
  expect_rejected(root, s, buf, len, NULL, EINVAL, "not a directory");
  img_layer_store_close(s);
}

int main(void) {
  if (geteuid() != 0) {
    fprintf(stderr, "skip: hostile layer tests need root (mknod, chown, mounts)\n");
    return 77;
  }
  RUN_TEST(test_clean_path);
  RUN_TEST(test_dotdot_escapes);
  RUN_TEST(test_hardlink_escapes);
  RUN_TEST(test_symlink_escapes);
  RUN_TEST(test_fallback_walk);
  RUN_TEST(test_gzip_bomb);
  RUN_TEST(test_zstd_ratio_bomb);
  RUN_TEST(test_huge_entry_size);
  RUN_TEST(test_digest_mismatch);
  RUN_TEST(test_broken_streams);
  RUN_TEST(test_deep_nesting);
  RUN_TEST(test_root_not_dir);
  return 0;
}
