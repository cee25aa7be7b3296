/* The systemd protocols the daemon speaks, spoken directly rather than
 * through libsystemd: each is a few lines of documented wire format
 * (sd_notify(3), sd_listen_fds(3), sd_watchdog_enabled(3), sd_booted(3),
 * systemd's "Native Journal Protocol"), and libsystemd with the libraries
 * it brings (libgcrypt, libgpg-error, liblzma, libzstd, liblz4, libcap)
 * was some megabyte of the daemon's resident memory for these calls.  The
 * systemd cgroup manager, which needs D-Bus, loads libsystemd when it is
 * used (oci/cgroup_systemd.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/common.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"

/* A sockaddr_un of `path`; a leading '@' names an abstract socket. */
static int unix_address(const char *path, struct sockaddr_un *sa, socklen_t *len) {
  size_t n = strlen(path);
  memset(sa, 0, sizeof(*sa));
  sa->sun_family = AF_UNIX;
  if (n == 0 || n >= sizeof(sa->sun_path) || (path[0] != '/' && path[0] != '@'))
    return -EINVAL;
  memcpy(sa->sun_path, path, n);
  if (path[0] == '@')
    sa->sun_path[0] = '\0';
  /* An abstract name is exactly its bytes, without a terminating NUL. */
  *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/'));
  return 0;
}

int crio_sd_notify(const char *state) {
  const char *path = getenv("NOTIFY_SOCKET");
  if (path == NULL || *path == '\0')
    return 0;
  struct sockaddr_un sa;
  socklen_t len;
  if (unix_address(path, &sa, &len) < 0)
    return -EINVAL; /* vsock: addresses (VMs) are not spoken here */
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
  int saved = errno;
  close(fd);
  return n < 0 ? -saved : 1;
}

static uint64_t env_u64(const char *name, bool *ok) {
  const char *v = getenv(name);
  char *end = NULL;
  *ok = false;
  if (v == NULL || *v == '\0')
    return 0;
  errno = 0;
  unsigned long long n = strtoull(v, &end, 10);
  *ok = errno == 0 && *end == '\0';
  return (uint64_t)n;
}

int crio_sd_listen_fds(void) {
  bool ok;
  uint64_t pid = env_u64("LISTEN_PID", &ok);
  if (!ok || pid != (uint64_t)getpid())
    return 0;
  uint64_t n = env_u64("LISTEN_FDS", &ok);
  if (!ok || n == 0 || n > 4096)
    return 0;
  /* Passed to us alone: not to the programs we start. */
  for (int fd = CRIO_SD_LISTEN_FDS_START; fd < CRIO_SD_LISTEN_FDS_START + (int)n; fd++) {
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
      return -errno;
  }
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_FDNAMES");
  return (int)n;
}

bool crio_sd_is_listening_unix_stream(int fd) {
  struct stat st;
  int type = 0, listening = 0;
  socklen_t len = sizeof(type);
  if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode) ||
      getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM)
    return false;
  len = sizeof(listening);
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 || !listening)
    return false;
  struct sockaddr_storage ss;
  len = sizeof(ss);
  return getsockname(fd, (struct sockaddr *)&ss, &len) == 0 && ss.ss_family == AF_UNIX;
}

uint64_t crio_sd_watchdog_usec(void) {
  bool ok;
  /* WATCHDOG_PID, when set, names the process meant to ping. */
  if (getenv("WATCHDOG_PID")) {
    uint64_t pid = env_u64("WATCHDOG_PID", &ok);
    if (!ok || pid != (uint64_t)getpid())
      return 0;
  }
  uint64_t usec = env_u64("WATCHDOG_USEC", &ok);
  return ok ? usec : 0;
}

bool crio_sd_booted(void) {
  struct stat st;
  return lstat("/run/systemd/system/", &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---- journal ----------------------------------------------------------------- */

/* One field in the native format: KEY=value, or, for a value holding a
 * newline, KEY, a newline, its length as 64-bit little endian, the value
 * and a newline. */
static void field_append(FILE *f, const char *key, const char *value) {
  if (strchr(value, '\n') == NULL) {
    fprintf(f, "%s=%s\n", key, value);
    return;
  }
  uint64_t n = strlen(value);
  unsigned char le[8];
  for (int i = 0; i < 8; i++)
    le[i] = (unsigned char)(n >> (8 * i));
  fprintf(f, "%s\n", key);
  fwrite(le, 1, sizeof(le), f);
  fprintf(f, "%s\n", value);
}

/* A datagram too large for the socket goes as a sealed memfd, which
 * journald reads instead. */
static int send_as_memfd(int fd, const struct sockaddr_un *sa, socklen_t salen, const char *buf,
                         size_t len) {
  cleanup_close int mfd = memfd_create("journal-message", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mfd < 0)
    return -errno;
  for (size_t off = 0; off < len;) {
    ssize_t n = write(mfd, buf + off, len - off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -errno;
    off += (size_t)n;
  }
  if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
    return -errno;
  union {
    struct cmsghdr h;
    char bytes[CMSG_SPACE(sizeof(int))];
  } control;
  memset(&control, 0, sizeof(control));
  struct msghdr mh = {.msg_name = (void *)sa,
                      .msg_namelen = salen,
                      .msg_control = &control,
                      .msg_controllen = sizeof(control)};
  struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &mfd, sizeof(int));
  return sendmsg(fd, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

int crio_journal_send_to(const char *socket_path, const char *message, int priority,
                         const char *identifier) {
  struct sockaddr_un sa;
  socklen_t salen;
  if (unix_address(socket_path, &sa, &salen) < 0)
    return -EINVAL;
  cleanup_free char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (f == NULL)
    abort();
  char prio[16];
  snprintf(prio, sizeof(prio), "%d", priority);
  field_append(f, "MESSAGE", message);
  field_append(f, "PRIORITY", prio);
  field_append(f, "SYSLOG_IDENTIFIER", identifier);
  fclose(f);
  cleanup_close int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  if (sendto(fd, buf, len, MSG_NOSIGNAL, (struct sockaddr *)&sa, salen) >= 0)
    return 0;
  if (errno != EMSGSIZE && errno != ENOBUFS)
    return -errno;
  return send_as_memfd(fd, &sa, salen, buf, len);
}

int crio_journal_send(const char *message, int priority, const char *identifier) {
  return crio_journal_send_to(JOURNAL_SOCKET, message, priority, identifier);
}
