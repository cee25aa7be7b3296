/* `crio status info|config|containers ID`: one HTTP/1.1 GET over the CRI
 * socket, where the daemon answers HTTP beside gRPC, as CRI-O's client
 * does.  The body is printed as it came (JSON, or TOML for config). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/daemon.h"

static bool id_is_safe(const char *id) {
  for (const char *p = id; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '-' || *p == '_' || *p == '.'))
      return false;
  return *id != '\0';
}

int daemon_status_client(const struct daemon_config *cfg, const struct daemon_invocation *inv,
                         FILE *out, crio_error_t *err) {
  const char *socket_path = inv->status_socket ? inv->status_socket : cfg->listen;
  cleanup_free char *target = NULL;
  if (strcmp(inv->status_what, "containers") == 0) {
    if (!id_is_safe(inv->status_id))
      return crio_error(err, EINVAL, "\"%s\" is not a container id", inv->status_id);
    target = xasprintf("/containers/%s", inv->status_id);
  } else {
    target = xasprintf("/%s", inv->status_what);
  }
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(socket_path) >= sizeof(addr.sun_path))
    return crio_error(err, EINVAL, "socket path %s is too long", socket_path);
  strcpy(addr.sun_path, socket_path);
  cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return crio_error_errno(err, errno, "socket");
  if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
    return crio_error_errno(err, errno, "connect %s", socket_path);
  cleanup_free char *request =
      xasprintf("GET %s HTTP/1.1\r\nHost: crio\r\nConnection: close\r\n\r\n", target);
  size_t len = strlen(request);
  for (size_t off = 0; off < len;) {
    ssize_t n = write(fd, request + off, len - off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return crio_error_errno(err, errno, "send request");
    off += (size_t)n;
  }
  size_t cap = 65536, used = 0;
  cleanup_free char *buf = xmalloc(cap);
  for (;;) {
    if (used + 1 >= cap)
      buf = xrealloc(buf, cap *= 2);
    ssize_t n = read(fd, buf + used, cap - used - 1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return crio_error_errno(err, errno, "read answer");
    if (n == 0)
      break;
    used += (size_t)n;
  }
  buf[used] = '\0';
  char *body = strstr(buf, "\r\n\r\n");
  int code = 0;
  if (body == NULL || sscanf(buf, "HTTP/1.%*d %d", &code) != 1)
    return crio_error(err, EPROTO, "%s answered no HTTP response", socket_path);
  body += 4;
  if (code != 200)
    return crio_error(err, code == 404 ? ENOENT : EIO, "GET %s: HTTP %d: %s", target, code, body);
  fputs(body, out);
  if (used && buf[used - 1] != '\n')
    fputc('\n', out);
  return 0;
}
