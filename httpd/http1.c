/* A minimal HTTP/1.1 server side: one GET (or HEAD) per connection, the
 * answer with Content-Length and "Connection: close".  Enough for
 * cAdvisor's CRI-O client, `crio status`, curl and Prometheus; a request
 * that is not a GET gets 405, one that does not parse 400. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "httpd/internal.h"

enum {
  MAX_REQUEST_BYTES = 16384,
  REQUEST_TIMEOUT_S = 10,
};

static const char *reason(int code) {
  switch (code) {
  case 200:
    return "OK";
  case 400:
    return "Bad Request";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  default:
    return "Internal Server Error";
  }
}

static void write_all(int fd, const char *p, size_t len) {
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return; /* the client went away: nothing to tell anyone */
    p += n;
    len -= (size_t)n;
  }
}

static void respond(int fd, int code, const char *type, const char *body, bool head) {
  size_t len = body ? strlen(body) : 0;
  cleanup_free char *header = xasprintf("HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                                        "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                                        code, reason(code), type, len);
  write_all(fd, header, strlen(header));
  if (!head && len)
    write_all(fd, body, len);
}

void httpd_exchange(int fd, httpd_answer_fn answer, void *data) {
  /* The listener's fds are non-blocking; a request is read blocking with
   * a deadline instead, so a silent client holds one thread 10 s at most. */
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0)
    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  struct timeval tv = {.tv_sec = REQUEST_TIMEOUT_S};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  char buf[MAX_REQUEST_BYTES + 1];
  size_t used = 0;
  while (memmem(buf, used, "\r\n\r\n", 4) == NULL && memmem(buf, used, "\n\n", 2) == NULL) {
    if (used == MAX_REQUEST_BYTES) {
      respond(fd, 400, "text/plain", "request too large\n", false);
      return;
    }
    ssize_t n = recv(fd, buf + used, MAX_REQUEST_BYTES - used, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return;
    used += (size_t)n;
  }
  buf[used] = '\0';
  char method[16], target[2048];
  if (sscanf(buf, "%15s %2047s HTTP/1.%*d", method, target) != 2) {
    respond(fd, 400, "text/plain", "malformed request line\n", false);
    return;
  }
  bool head = strcmp(method, "HEAD") == 0;
  if (!head && strcmp(method, "GET") != 0) {
    respond(fd, 405, "text/plain", "only GET\n", false);
    return;
  }
  char *query = strchr(target, '?');
  if (query)
    *query = '\0';
  cleanup_free char *body = NULL;
  const char *type = "text/plain";
  int code = answer(data, target, &body, &type);
  respond(fd, code, type, body, head);
}
