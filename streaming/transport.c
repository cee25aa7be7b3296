/* A client connection, plain TCP or TLS, on a nonblocking socket: reads
 * never block (the connection's loop polls), writes wait for the peer up
 * to a deadline so a client that stops reading cannot hold a thread
 * forever.  SIGPIPE is ignored by the daemon, so a vanished peer is an
 * EPIPE here. */
#include <errno.h>
#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "streaming/internal.h"

static int wait_fd(int fd, short events, int64_t deadline) {
  for (;;) {
    int64_t left = (deadline - crio_monotonic_ns()) / 1000000;
    if (left <= 0)
      return -ETIMEDOUT;
    struct pollfd p = {fd, events, 0};
    int r = poll(&p, 1, left > 1000 ? 1000 : (int)left);
    if (r < 0 && errno != EINTR)
      return -errno;
    if (r > 0)
      return 0;
  }
}

ssize_t stream_transport_read(struct stream_transport *t, void *buf, size_t len) {
  if (t->ssl == NULL) {
    ssize_t n;
    do
      n = read(t->fd, buf, len);
    while (n < 0 && errno == EINTR);
    return n;
  }
  ERR_clear_error();
  int n = SSL_read(t->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
  if (n > 0)
    return n;
  switch (SSL_get_error(t->ssl, n)) {
  case SSL_ERROR_WANT_READ:
  case SSL_ERROR_WANT_WRITE:
    errno = EAGAIN;
    return -1;
  case SSL_ERROR_ZERO_RETURN:
    return 0;
  case SSL_ERROR_SYSCALL:
    if (errno == 0)
      return 0; /* EOF without close_notify */
    return -1;
  default:
    errno = EPROTO;
    return -1;
  }
}

bool stream_transport_pending(const struct stream_transport *t) {
  return t->ssl && SSL_pending(t->ssl) > 0;
}

int stream_transport_write(struct stream_transport *t, const void *buf, size_t len,
                           int64_t timeout_ms, crio_error_t *err) {
  const char *p = buf;
  int64_t deadline = crio_monotonic_ns() + timeout_ms * 1000000;
  while (len > 0) {
    short wait_for = POLLOUT;
    ssize_t n;
    if (t->ssl == NULL) {
      n = send(t->fd, p, len, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno != EAGAIN)
        return crio_error_errno(err, errno, "write to the client");
    } else {
      ERR_clear_error();
      int r = SSL_write(t->ssl, p, len > INT32_MAX ? INT32_MAX : (int)len);
      n = r;
      if (r <= 0) {
        int e = SSL_get_error(t->ssl, r);
        if (e == SSL_ERROR_WANT_READ)
          wait_for = POLLIN;
        else if (e != SSL_ERROR_WANT_WRITE)
          return crio_error(err, EPIPE, "write to the client: TLS error %d", e);
        n = -1;
      }
    }
    if (n > 0) {
      p += n;
      len -= (size_t)n;
      continue;
    }
    int w = wait_fd(t->fd, wait_for, deadline);
    if (w < 0)
      return crio_error_errno(err, -w, "write to the client");
  }
  return 0;
}

int stream_transport_tls_accept(struct stream_transport *t, SSL_CTX *ctx, int64_t timeout_ms,
                                crio_error_t *err) {
  t->ssl = SSL_new(ctx);
  if (t->ssl == NULL || SSL_set_fd(t->ssl, t->fd) != 1)
    return crio_error(err, ENOMEM, "TLS session");
  SSL_set_mode(t->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  int64_t deadline = crio_monotonic_ns() + timeout_ms * 1000000;
  for (;;) {
    ERR_clear_error();
    int r = SSL_accept(t->ssl);
    if (r == 1)
      return 0;
    int e = SSL_get_error(t->ssl, r);
    short events;
    if (e == SSL_ERROR_WANT_READ)
      events = POLLIN;
    else if (e == SSL_ERROR_WANT_WRITE)
      events = POLLOUT;
    else {
      char msg[256] = "";
      ERR_error_string_n(ERR_get_error(), msg, sizeof(msg));
      return crio_error(err, EPROTO, "TLS handshake: %s", msg[0] ? msg : "connection closed");
    }
    int w = wait_fd(t->fd, events, deadline);
    if (w < 0)
      return crio_error_errno(err, -w, "TLS handshake");
  }
}

void stream_transport_close(struct stream_transport *t, int linger_ms) {
  if (t->fd < 0)
    return;
  if (t->ssl) {
    ERR_clear_error();
    SSL_shutdown(t->ssl);
  }
  if (linger_ms > 0 && shutdown(t->fd, SHUT_WR) == 0) {
    int64_t deadline = crio_monotonic_ns() + (int64_t)linger_ms * 1000000;
    char buf[4096];
    while (wait_fd(t->fd, POLLIN, deadline) == 0) {
      ssize_t n = read(t->fd, buf, sizeof(buf));
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        break;
    }
  }
  if (t->ssl) {
    SSL_free(t->ssl);
    t->ssl = NULL;
  }
  close(t->fd);
  t->fd = -1;
}
