/* common/sd_proto.c, systemd's protocols without libsystemd: sd_notify to
 * a path and to an abstract socket (and nothing without NOTIFY_SOCKET),
 * socket activation's fds (only for our pid; made close-on-exec; the
 * variables unset) and the listening-socket check, the watchdog period
 * (only for our pid), and journald's native format, plain and with a
 * newline in the message (the length-prefixed form), small and too large
 * for a datagram (a sealed memfd passed instead). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/common.h"
#include "tests/unit/testing.h"

static char dir[] = "/tmp/crio-test-sdproto-XXXXXX";

static int dgram_server(const char *path, bool abstract) {
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  socklen_t len;
  if (abstract) {
    sa.sun_path[0] = '\0';
    memcpy(sa.sun_path + 1, path, strlen(path));
    len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(path));
  } else {
    strcpy(sa.sun_path, path);
    len = sizeof(sa);
  }
  CHECK(bind(fd, (struct sockaddr *)&sa, len) == 0);
  int big = 1 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
  return fd;
}

static ssize_t recv_msg(int fd, char *buf, size_t size, int *passed_fd) {
  union {
    struct cmsghdr h;
    char bytes[CMSG_SPACE(sizeof(int))];
  } control;
  struct iovec iov = {buf, size};
  struct msghdr mh = {
      .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof(control)};
  ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);
  *passed_fd = -1;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); n >= 0 && c; c = CMSG_NXTHDR(&mh, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
      memcpy(passed_fd, CMSG_DATA(c), sizeof(int));
  return n;
}

static void test_notify(void) {
  char buf[256];
  int passed;
  unsetenv("NOTIFY_SOCKET");
  CHECK_INT_EQ(crio_sd_notify("READY=1"), 0);

  char path[128];
  snprintf(path, sizeof(path), "%s/notify", dir);
  int srv = dgram_server(path, false);
  setenv("NOTIFY_SOCKET", path, 1);
  CHECK_INT_EQ(crio_sd_notify("READY=1"), 1);
  ssize_t n = recv_msg(srv, buf, sizeof(buf), &passed);
  CHECK_INT_EQ(n, 7);
  CHECK(memcmp(buf, "READY=1", 7) == 0);
  close(srv);

  char name[64];
  snprintf(name, sizeof(name), "crio-test-notify-%d", (int)getpid());
  srv = dgram_server(name, true);
  char at[80];
  snprintf(at, sizeof(at), "@%s", name);
  setenv("NOTIFY_SOCKET", at, 1);
  CHECK_INT_EQ(crio_sd_notify("WATCHDOG=1"), 1);
  n = recv_msg(srv, buf, sizeof(buf), &passed);
  CHECK_INT_EQ(n, 10);
  CHECK(memcmp(buf, "WATCHDOG=1", 10) == 0);
  close(srv);
  setenv("NOTIFY_SOCKET", "relative/path", 1);
  CHECK(crio_sd_notify("READY=1") < 0);
  unsetenv("NOTIFY_SOCKET");
}

static void test_listen_fds_and_watchdog(void) {
  char pid[32];
  snprintf(pid, sizeof(pid), "%d", (int)getpid());
  setenv("LISTEN_PID", "1", 1);
  setenv("LISTEN_FDS", "1", 1);
  CHECK_INT_EQ(crio_sd_listen_fds(), 0); /* meant for another process */

  /* A listening unix stream socket at fd 3, as systemd passes it. */
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  CHECK(s >= 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/listen", dir);
  CHECK(bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0);
  CHECK(dup2(s, CRIO_SD_LISTEN_FDS_START) == CRIO_SD_LISTEN_FDS_START);
  close(s);
  CHECK(!crio_sd_is_listening_unix_stream(CRIO_SD_LISTEN_FDS_START)); /* not yet listening */
  CHECK(listen(CRIO_SD_LISTEN_FDS_START, 4) == 0);
  CHECK(crio_sd_is_listening_unix_stream(CRIO_SD_LISTEN_FDS_START));
  int pipefd[2];
  CHECK(pipe(pipefd) == 0);
  CHECK(!crio_sd_is_listening_unix_stream(pipefd[0]));
  close(pipefd[0]);
  close(pipefd[1]);

  setenv("LISTEN_PID", pid, 1);
  setenv("LISTEN_FDNAMES", "crio.sock", 1);
  CHECK_INT_EQ(crio_sd_listen_fds(), 1);
  CHECK(fcntl(CRIO_SD_LISTEN_FDS_START, F_GETFD) & FD_CLOEXEC);
  CHECK(getenv("LISTEN_PID") == NULL && getenv("LISTEN_FDS") == NULL &&
        getenv("LISTEN_FDNAMES") == NULL);
  CHECK_INT_EQ(crio_sd_listen_fds(), 0); /* taken once */
  close(CRIO_SD_LISTEN_FDS_START);

  unsetenv("WATCHDOG_PID");
  unsetenv("WATCHDOG_USEC");
  CHECK_INT_EQ(crio_sd_watchdog_usec(), 0);
  setenv("WATCHDOG_USEC", "400000", 1);
  CHECK_INT_EQ(crio_sd_watchdog_usec(), 400000);
  setenv("WATCHDOG_PID", "1", 1);
  CHECK_INT_EQ(crio_sd_watchdog_usec(), 0);
  setenv("WATCHDOG_PID", pid, 1);
  CHECK_INT_EQ(crio_sd_watchdog_usec(), 400000);
  setenv("WATCHDOG_USEC", "x", 1);
  CHECK_INT_EQ(crio_sd_watchdog_usec(), 0);
  unsetenv("WATCHDOG_PID");
  unsetenv("WATCHDOG_USEC");
}

static void test_journal(void) {
  char path[128];
  snprintf(path, sizeof(path), "%s/journal", dir);
  int srv = dgram_server(path, false);
  static char buf[1 << 20];
  int passed;

  CHECK_INT_EQ(crio_journal_send_to(path, "hello world", 6, "crio"), 0);
  ssize_t n = recv_msg(srv, buf, sizeof(buf), &passed);
  const char plain[] = "MESSAGE=hello world\nPRIORITY=6\nSYSLOG_IDENTIFIER=crio\n";
  CHECK_INT_EQ(n, sizeof(plain) - 1);
  CHECK(memcmp(buf, plain, sizeof(plain) - 1) == 0);

  /* A newline in the value: KEY\n, 64-bit little-endian length, value, \n. */
  CHECK_INT_EQ(crio_journal_send_to(path, "two\nlines", 3, "crio"), 0);
  n = recv_msg(srv, buf, sizeof(buf), &passed);
  const char binary[] =
      "MESSAGE\n\x09\0\0\0\0\0\0\0two\nlines\nPRIORITY=3\nSYSLOG_IDENTIFIER=crio\n";
  CHECK_INT_EQ(n, sizeof(binary) - 1);
  CHECK(memcmp(buf, binary, sizeof(binary) - 1) == 0);

  /* Larger than any datagram: a sealed memfd holding the record. */
  size_t big = 600 * 1024;
  char *msg = malloc(big + 1);
  memset(msg, 'a', big);
  msg[big] = '\0';
  CHECK_INT_EQ(crio_journal_send_to(path, msg, 6, "crio"), 0);
  n = recv_msg(srv, buf, sizeof(buf), &passed);
  CHECK_INT_EQ(n, 0);
  CHECK(passed >= 0);
  CHECK((fcntl(passed, F_GET_SEALS) & F_SEAL_WRITE) != 0);
  off_t size = lseek(passed, 0, SEEK_END);
  CHECK_INT_EQ(size, strlen("MESSAGE=") + big + strlen("\nPRIORITY=6\nSYSLOG_IDENTIFIER=crio\n"));
  char head[16];
  CHECK(pread(passed, head, 8, 0) == 8 && memcmp(head, "MESSAGE=", 8) == 0);
  close(passed);
  free(msg);
  close(srv);

  CHECK(crio_journal_send_to("/nonexistent/journal", "x", 6, "crio") < 0);
}

static void remove_tmp(void) {
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
}

int main(void) {
  CHECK(mkdtemp(dir) != NULL);
  atexit(remove_tmp);
  RUN_TEST(test_notify);
  RUN_TEST(test_listen_fds_and_watchdog);
  RUN_TEST(test_journal);
  return 0;
}
