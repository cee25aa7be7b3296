/* oci/rootfs.h on the real kernel (root): an overlay of 300 layers whose
 * absolute paths (~80 bytes each, like the layer store's) would never fit
 * in one mount call, the top layer winning, writes landing in upper/,
 * idempotent mount and unmount, and oci_remove_tree refusing to empty a
 * mount left inside the tree.  Everything is unmounted and removed at
 * exit, even when a check fails. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "oci/rootfs.h"
#include "tests/unit/testing.h"

#define N_LAYERS 300

static char base[] = "/tmp/crio-rootfs-XXXXXX";

static void cleanup(void) {
  char cmd[512];
  /* Mounts first (deepest first), then the tree. */
  snprintf(cmd, sizeof(cmd),
           "grep -o ' %s[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null;"
           " rm -rf %s",
           base, base);
  if (system(cmd) != 0)
    fprintf(stderr, "cleanup of %s failed\n", base);
}

static char *path(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *path(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *rel = xvasprintf(fmt, ap);
  va_end(ap);
  char *p = xasprintf("%s/%s", base, rel);
  free(rel);
  return p;
}

static void write_file(const char *p, const char *text) {
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  CHECK(fd >= 0);
  CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
  CHECK(close(fd) == 0);
}

static char *read_text(const char *p) {
  char *text = NULL;
  crio_error_t err = NULL;
  if (crio_read_file(p, &text, NULL, &err) < 0) {
    crio_error_release(&err);
    return NULL;
  }
  return text;
}

static char **make_layers(size_t n) {
  char **dirs = xcalloc(n + 1, sizeof(char *));
  for (size_t i = 0; i < n; i++) {
    /* The layer store's shape: layers/<64 hex>/diff. */
    dirs[i] = path("layers/%064zx/diff", i);
    crio_error_t err = NULL;
    CHECK(crio_mkdir_p(dirs[i], 0755, &err) == 0);
    char *own = xasprintf("%s/f%zu", dirs[i], i);
    write_file(own, "x");
    free(own);
    char *shared = xasprintf("%s/shared", dirs[i]);
    char text[32];
    snprintf(text, sizeof(text), "layer %zu\n", i);
    write_file(shared, text);
    free(shared);
  }
  return dirs;
}

static int mount_count(const char *mount_point) {
  FILE *f = fopen("/proc/self/mountinfo", "r");
  CHECK(f != NULL);
  char line[4096];
  int n = 0;
  while (fgets(line, sizeof(line), f)) {
    char mp[4096];
    if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 && strcmp(mp, mount_point) == 0)
      n++;
  }
  fclose(f);
  return n;
}

static void test_many_layers(void) {
  char **lower = make_layers(N_LAYERS);
  char *dir = path("containers/c1");
  char *merged = path("containers/c1/merged");
  struct oci_rootfs fs = {.lower_dirs = (const char *const *)lower,
                          .n_lower = N_LAYERS,
                          .container_dir = dir,
                          .merged = merged};
  crio_error_t err = NULL;
  CHECK_INT_EQ(oci_rootfs_is_mounted(merged, &err), 0);
  if (oci_rootfs_mount(&fs, &err) < 0) {
    fprintf(stderr, "mount: %s\n", crio_error_message(&err));
    exit(1);
  }
  CHECK_INT_EQ(oci_rootfs_is_mounted(merged, &err), 1);
  char *top = xasprintf("%s/shared", merged);
  char *text = read_text(top);
  char want[32];
  snprintf(want, sizeof(want), "layer %d\n", N_LAYERS - 1);
  CHECK_STR_EQ(text, want);
  free(text);
  for (size_t i = 0; i < N_LAYERS; i += 37) {
    char *f = xasprintf("%s/f%zu", merged, i);
    CHECK(access(f, F_OK) == 0);
    free(f);
  }
  /* Writes land in upper/, never in a layer. */
  char *written = xasprintf("%s/new", merged);
  write_file(written, "mine\n");
  char *in_upper = path("containers/c1/upper/new");
  CHECK(access(in_upper, F_OK) == 0);
  /* Again: a no-op, not a second mount. */
  CHECK_INT_EQ(oci_rootfs_mount(&fs, &err), 0);
  CHECK_INT_EQ(mount_count(merged), 1);

  CHECK_INT_EQ(oci_rootfs_unmount(merged, &err), 0);
  CHECK_INT_EQ(oci_rootfs_is_mounted(merged, &err), 0);
  CHECK_INT_EQ(oci_rootfs_unmount(merged, &err), 0);
  /* And mounted again over the same upper: the container's writes persist. */
  CHECK_INT_EQ(oci_rootfs_mount(&fs, &err), 0);
  text = read_text(written);
  CHECK_STR_EQ(text, "mine\n");
  free(text);
  CHECK_INT_EQ(oci_rootfs_unmount(merged, &err), 0);
  CHECK_INT_EQ(oci_remove_tree(dir, &err), 0);
  CHECK(access(dir, F_OK) < 0 && errno == ENOENT);
  CHECK_INT_EQ(oci_remove_tree(dir, &err), 0);
  free(written);
  free(in_upper);
  free(top);
  free(dir);
  free(merged);
  for (size_t i = 0; i < N_LAYERS; i++)
    free(lower[i]);
  free(lower);
}

static void test_no_layers(void) {
  char *dir = path("containers/empty");
  char *merged = path("containers/empty/merged");
  struct oci_rootfs fs = {.container_dir = dir, .merged = merged};
  crio_error_t err = NULL;
  CHECK_INT_EQ(oci_rootfs_mount(&fs, &err), 0);
  CHECK_INT_EQ(oci_rootfs_is_mounted(merged, &err), 1);
  CHECK_INT_EQ(oci_rootfs_unmount(merged, &err), 0);
  CHECK_INT_EQ(oci_remove_tree(dir, &err), 0);
  free(dir);
  free(merged);
}

static void test_remove_tree_does_not_cross_a_mount(void) {
  char *dir = path("tree");
  char *inner = path("tree/a/mnt");
  crio_error_t err = NULL;
  CHECK(crio_mkdir_p(inner, 0755, &err) == 0);
  CHECK(mount("tmpfs", inner, "tmpfs", 0, "size=1m") == 0);
  char *precious = xasprintf("%s/precious", inner);
  write_file(precious, "keep\n");
  CHECK(oci_remove_tree(dir, &err) < 0);
  crio_error_release(&err);
  char *text = read_text(precious);
  CHECK_STR_EQ(text, "keep\n");
  free(text);
  CHECK_INT_EQ(oci_rootfs_unmount(inner, &err), 0);
  CHECK_INT_EQ(oci_remove_tree(dir, &err), 0);
  CHECK(access(dir, F_OK) < 0);
  /* A symlink in the tree is removed, never followed. */
  char *target = path("target");
  CHECK(crio_mkdir_p(target, 0755, &err) == 0);
  char *kept = xasprintf("%s/kept", target);
  write_file(kept, "x");
  char *link_dir = path("tree2");
  CHECK(crio_mkdir_p(link_dir, 0755, &err) == 0);
  char *link = xasprintf("%s/link", link_dir);
  CHECK(symlink(target, link) == 0);
  CHECK_INT_EQ(oci_remove_tree(link_dir, &err), 0);
  CHECK(access(kept, F_OK) == 0);
  free(dir);
  free(inner);
  free(precious);
  free(target);
  free(kept);
  free(link_dir);
  free(link);
}

int main(void) {
  if (geteuid() != 0) {
    fprintf(stderr, "test_oci_rootfs needs root (mounts)\n");
    return 1;
  }
  CHECK(mkdtemp(base) != NULL);
  atexit(cleanup);
  RUN_TEST(test_many_layers);
  RUN_TEST(test_no_layers);
  RUN_TEST(test_remove_tree_does_not_cross_a_mount);
  return 0;
}
