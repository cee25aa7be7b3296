/* Users and groups from an image's /etc/passwd and /etc/group, and paths
 * resolved inside a rootfs: a link in the image never leads to a host
 * file, with openat2 and with the fallback walk alike. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/test_oci_spec_fixture.h"

static int open_root(const char *rel) {
  int fd = open(fx_path(rel), O_PATH | O_DIRECTORY | O_CLOEXEC);
  CHECK(fd >= 0);
  return fd;
}

static char *read_fd(int fd) {
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  CHECK(n >= 0);
  buf[n] = '\0';
  return fx_str(buf);
}

static void resolve_ok(int rootfd, const char *user, uint32_t uid, uint32_t gid, const char *groups,
                       const char *home) {
  struct oci_user u;
  crio_error_t err = NULL;
  if (oci_user_resolve(rootfd, user, &u, &err) < 0) {
    fprintf(stderr, "resolve \"%s\": %s\n", user, crio_error_message(&err));
    exit(1);
  }
  char got[256] = "";
  for (size_t i = 0; i < u.n_groups; i++)
    snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%u", i ? "," : "", u.groups[i]);
  fprintf(stderr, "   \"%s\" -> %u:%u groups [%s] home %s\n", user, u.uid, u.gid, got, u.home);
  CHECK_INT_EQ(u.uid, uid);
  CHECK_INT_EQ(u.gid, gid);
  CHECK_STR_EQ(got, groups);
  CHECK_STR_EQ(u.home, home);
  oci_user_release(&u);
}

static void resolve_fails(int rootfd, const char *user, const char *needle) {
  struct oci_user u;
  crio_error_t err = NULL;
  CHECK(oci_user_resolve(rootfd, user, &u, &err) < 0);
  fprintf(stderr, "   \"%s\" -> %s\n", user, crio_error_message(&err));
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  CHECK(strstr(crio_error_message(&err), needle) != NULL);
  crio_error_release(&err);
}

static void test_users_and_groups_of_the_image(void) {
  fx_rootfs();
  int root = open_root("rootfs");
  /* "" is root, with root's home. */
  resolve_ok(root, "", 0, 0, "", "/root");
  /* A name: uid, gid and home from passwd; groups listing the name, once
   * each (wheel and wheel2 share gid 10), never the primary group. */
  resolve_ok(root, "tester", 1000, 1000, "10,29", "/home/tester");
  /* A uid with an entry is that entry. */
  resolve_ok(root, "1000", 1000, 1000, "10,29", "/home/tester");
  /* A uid without one: gid 0, home /, no groups. */
  resolve_ok(root, "4242", 4242, 0, "", "/");
  /* An empty home field reads as /. */
  resolve_ok(root, "nohome", 1001, 1001, "", "/");
  /* A group replaces the passwd gid, by name or number; the memberships
   * stay (the passwd group 1000, which lists tester, among them). */
  resolve_ok(root, "tester:audio", 1000, 29, "10,1000", "/home/tester");
  resolve_ok(root, "tester:4242", 1000, 4242, "10,29,1000", "/home/tester");
  resolve_ok(root, "4242:100", 4242, 100, "", "/");
  resolve_fails(root, "nosuch", "no user \"nosuch\"");
  resolve_fails(root, "tester:nosuch", "no group \"nosuch\"");
  resolve_fails(root, "a:b:c", "must be user or user:group");
  resolve_fails(root, ":10", "must be user or user:group");
  resolve_fails(root, "4294967295", "no user");
  close(root);
}

static void test_image_without_passwd(void) {
  fx_mkdir("empty/etc");
  int root = open_root("empty");
  resolve_ok(root, "", 0, 0, "", "/");
  resolve_ok(root, "123:456", 123, 456, "", "/");
  resolve_fails(root, "tester", "(it has none)");
  resolve_fails(root, "0:wheel", "(it has none)");
  close(root);
}

/* /etc/passwd links to a file that exists on the host but not in the
 * rootfs; whichever way the link is written, the host file is not read. */
static void test_links_never_leave_the_rootfs(void) {
  fx_write("outside/passwd", "tester:x:0:0:evil:/:/bin/sh\nhostonly:x:5:5::/:/bin/sh\n");
  const char *host_file = fx_path("outside/passwd");
  const char *escapes[] = {
      host_file,                                            /* absolute */
      fx_printf("../../../../../../../../..%s", host_file), /* relative */
      fx_printf("/../../../..%s", host_file),               /* absolute with .. */
  };
  for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
    fx_symlink(escapes[i], "escape/etc/passwd");
    fx_write("escape/etc/group", "");
    int root = open_root("escape");
    fprintf(stderr, "   /etc/passwd -> %s\n", escapes[i]);
    resolve_fails(root, "hostonly", "no user \"hostonly\"");
    /* Both ways to open, directly. */
    CHECK(spec_open_in_root(root, "/etc/passwd", O_RDONLY) < 0 && errno == ENOENT);
    CHECK(spec_open_in_root_walk(root, "/etc/passwd", O_RDONLY) < 0 && errno == ENOENT);
    close(root);
  }

  /* The same absolute target inside the rootfs is followed there. */
  fx_write(fx_printf("escape%s", host_file), "inside:x:77:78::/in:/bin/sh\n");
  fx_symlink(host_file, "escape/etc/passwd");
  int root = open_root("escape");
  resolve_ok(root, "inside", 77, 78, "", "/in");
  for (int walk = 0; walk < 2; walk++) {
    int fd = walk ? spec_open_in_root_walk(root, "etc/passwd", O_RDONLY)
                  : spec_open_in_root(root, "etc/passwd", O_RDONLY);
    CHECK(fd >= 0);
    CHECK(strstr(read_fd(fd), "inside:x:77") != NULL);
    close(fd);
  }
  /* /etc itself a link to an absolute directory inside the rootfs. */
  fx_write("linkedetc/real/etc/passwd", "linked:x:9:9::/l:/bin/sh\n");
  fx_symlink("/real/etc", "linkedetc/etc");
  close(root);
  root = open_root("linkedetc");
  resolve_ok(root, "linked", 9, 9, "", "/l");
  close(root);
}

static void test_walk_edge_cases(void) {
  fx_write("walk/a/b/file", "content");
  fx_symlink("../../a/b", "walk/a/up"); /* relative, climbs above the root */
  fx_symlink("loop2", "walk/loop1");
  fx_symlink("loop1", "walk/loop2");
  fx_symlink("/a/b/file", "walk/abs");
  int root = open_root("walk");
  for (int walk = 0; walk < 2; walk++) {
    int (*open_in)(int, const char *, int) = walk ? spec_open_in_root_walk : spec_open_in_root;
    int fd = open_in(root, "/../../a/./b//file", O_RDONLY);
    CHECK(fd >= 0);
    CHECK_STR_EQ(read_fd(fd), "content");
    close(fd);
    fd = open_in(root, "a/up/file", O_RDONLY);
    CHECK(fd >= 0);
    close(fd);
    fd = open_in(root, "abs", O_RDONLY);
    CHECK(fd >= 0);
    close(fd);
    CHECK(open_in(root, "loop1", O_RDONLY) < 0 && errno == ELOOP);
    CHECK(open_in(root, "a/b/file/x", O_RDONLY) < 0 && errno == ENOTDIR);
    fd = open_in(root, "/", O_RDONLY | O_DIRECTORY);
    CHECK(fd >= 0);
    struct stat a, b;
    CHECK(fstat(fd, &a) == 0 && fstat(root, &b) == 0);
    CHECK(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
    close(fd);
  }
  close(root);
}

/* A FIFO would block the daemon; a directory is no database. */
static void test_passwd_must_be_a_regular_file(void) {
  fx_mkdir("fifo/etc");
  CHECK(mkfifo(fx_path("fifo/etc/passwd"), 0644) == 0);
  int root = open_root("fifo");
  resolve_fails(root, "tester", "not a regular file");
  close(root);
  fx_mkdir("dir/etc/passwd");
  root = open_root("dir");
  resolve_fails(root, "", "not a regular file");
  close(root);
}

/* mkdir -p inside the rootfs follows links as the container would. */
static void test_mkdir_in_root(void) {
  fx_mkdir("mk/data");
  fx_mkdir("outside-dir");
  fx_symlink(fx_path("outside-dir"), "mk/vol");
  int root = open_root("mk");
  crio_error_t err = NULL;
  CHECK(spec_mkdir_in_root(root, "/vol/sub/deeper", 0755, &err) == 0);
  struct stat st;
  CHECK(stat(fx_path(fx_printf("mk%s/sub/deeper", fx_path("outside-dir"))), &st) == 0);
  CHECK(stat(fx_path("outside-dir/sub"), &st) < 0 && errno == ENOENT);
  CHECK(spec_mkdir_in_root(root, "/data/x", 0755, &err) == 0);
  CHECK(spec_mkdir_in_root(root, "/data/x", 0755, &err) == 0); /* again */
  CHECK(stat(fx_path("mk/data/x"), &st) == 0 && S_ISDIR(st.st_mode));
  fx_write("mk/file", "");
  CHECK(spec_mkdir_in_root(root, "/file/x", 0755, &err) < 0);
  crio_error_release(&err);
  CHECK(spec_mkdir_in_root(root, "/a/../b", 0755, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  crio_error_release(&err);
  close(root);
}

int main(void) {
  RUN_TEST(test_users_and_groups_of_the_image);
  RUN_TEST(test_image_without_passwd);
  RUN_TEST(test_links_never_leave_the_rootfs);
  RUN_TEST(test_walk_edge_cases);
  RUN_TEST(test_passwd_must_be_a_regular_file);
  RUN_TEST(test_mkdir_in_root);
  return 0;
}
