/* The CRI socket's listener: gRPC and HTTP/1.1 on one unix socket.
 *
 * One thread accepts and sorts.  A new connection waits in a small poll
 * set until its first bytes arrive; an HTTP/2 client (gRPC) always opens
 * with the 24-byte preface "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", so a
 * connection whose first bytes agree with it is handed to gRPC core
 * (grpc_server_add_channel_from_fd) with nothing consumed; anything else
 * is an HTTP/1.1 request, answered on a thread of its own and closed.  The
 * peek costs one wake-up per connection, never per call: the kubelet keeps
 * its connection for the daemon's lifetime. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "httpd/httpd.h"
#include "httpd/internal.h"

enum {
  MAX_PENDING = 256,
  PENDING_TIMEOUT_MS = 10000, /* a connection that says nothing is dropped */
  LISTEN_BACKLOG = 128,
};

static const char H2_PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

struct pending {
  int fd;
  int64_t deadline_ns;
};

struct httpd_listener {
  int listen_fd;
  char *socket_path;
  int wake[2]; /* written to stop the thread */
  pthread_t thread;
  bool started;
  void (*grpc_connection)(void *data, int fd);
  void *grpc_data;
  const struct httpd_status_source *status;
  struct pending pending[MAX_PENDING];
  size_t n_pending;

  pthread_mutex_t lock;
  pthread_cond_t idle;
  unsigned http_active;
  atomic_uint_fast64_t requests;
};

enum sort { SORT_WAIT, SORT_GRPC, SORT_HTTP1, SORT_CLOSE };

/* Peeks without consuming: gRPC must see the preface itself. */
static enum sort sort_connection(int fd) {
  char buf[sizeof(H2_PREFACE) - 1];
  ssize_t n = recv(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
  if (n < 0)
    return errno == EAGAIN || errno == EINTR ? SORT_WAIT : SORT_CLOSE;
  if (n == 0)
    return SORT_CLOSE;
  if (memcmp(buf, H2_PREFACE, (size_t)n) != 0)
    return SORT_HTTP1;
  /* Agrees so far; three bytes already rule out every HTTP/1.1 method
   * ("PRI" is not one), so no need to wait for the whole preface. */
  return n >= 3 ? SORT_GRPC : SORT_WAIT;
}

struct http_job {
  struct httpd_listener *l;
  int fd;
};

static void *http_thread(void *arg) {
  struct http_job *job = arg;
  struct httpd_listener *l = job->l;
  httpd_serve_http1(job->fd, l->status);
  close(job->fd);
  free(job);
  atomic_fetch_add(&l->requests, 1);
  pthread_mutex_lock(&l->lock);
  if (--l->http_active == 0)
    pthread_cond_broadcast(&l->idle);
  pthread_mutex_unlock(&l->lock);
  return NULL;
}

static void start_http(struct httpd_listener *l, int fd) {
  struct http_job *job = xmalloc(sizeof(*job));
  *job = (struct http_job){l, fd};
  pthread_mutex_lock(&l->lock);
  l->http_active++;
  pthread_mutex_unlock(&l->lock);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t t;
  int rc = pthread_create(&t, &attr, http_thread, job);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    log_warning("status endpoint: no thread for a request: %s", strerror(rc));
    close(fd);
    free(job);
    pthread_mutex_lock(&l->lock);
    if (--l->http_active == 0)
      pthread_cond_broadcast(&l->idle);
    pthread_mutex_unlock(&l->lock);
  }
}

static void drop_pending(struct httpd_listener *l, size_t i) {
  l->pending[i] = l->pending[--l->n_pending];
}

static void accept_all(struct httpd_listener *l) {
  for (;;) {
    int fd = accept4(l->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
        log_warning("accept on %s: %s", l->socket_path, strerror(errno));
      return;
    }
    if (l->n_pending == MAX_PENDING) {
      log_warning("%s: %d connections sent nothing yet; dropping one", l->socket_path, MAX_PENDING);
      close(fd);
      continue;
    }
    l->pending[l->n_pending++] =
        (struct pending){fd, crio_monotonic_ns() + (int64_t)PENDING_TIMEOUT_MS * 1000000};
  }
}

static void sort_pending(struct httpd_listener *l, const struct pollfd *pfds, size_t n_pfds) {
  int64_t now = crio_monotonic_ns();
  /* pfds[2 + i] was pending[i] when poll started; walk backwards so that
   * drop_pending's swap never moves an unvisited entry. */
  for (size_t k = n_pfds; k-- > 2;) {
    size_t i = k - 2;
    enum sort s = SORT_WAIT;
    if (pfds[k].revents & (POLLIN | POLLHUP | POLLERR))
      s = sort_connection(l->pending[i].fd);
    if (s == SORT_WAIT && now > l->pending[i].deadline_ns)
      s = SORT_CLOSE;
    int fd = l->pending[i].fd;
    switch (s) {
    case SORT_WAIT:
      continue;
    case SORT_GRPC:
      drop_pending(l, i);
      l->grpc_connection(l->grpc_data, fd);
      break;
    case SORT_HTTP1:
      drop_pending(l, i);
      start_http(l, fd);
      break;
    case SORT_CLOSE:
      drop_pending(l, i);
      close(fd);
      break;
    }
  }
}

static void *listener_main(void *arg) {
  struct httpd_listener *l = arg;
  struct pollfd pfds[2 + MAX_PENDING];
  for (;;) {
    pfds[0] = (struct pollfd){.fd = l->wake[0], .events = POLLIN};
    pfds[1] = (struct pollfd){.fd = l->listen_fd, .events = POLLIN};
    for (size_t i = 0; i < l->n_pending; i++)
      pfds[2 + i] = (struct pollfd){.fd = l->pending[i].fd, .events = POLLIN};
    size_t n = 2 + l->n_pending;
    int timeout = l->n_pending ? 1000 : -1;
    if (poll(pfds, n, timeout) < 0 && errno != EINTR)
      log_warning("poll on %s: %s", l->socket_path, strerror(errno));
    if (pfds[0].revents)
      break;
    sort_pending(l, pfds, n);
    if (pfds[1].revents & POLLIN)
      accept_all(l);
  }
  for (size_t i = 0; i < l->n_pending; i++)
    close(l->pending[i].fd);
  l->n_pending = 0;
  return NULL;
}

static int bind_socket(const char *path, int *fd_out, crio_error_t *err) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof(addr.sun_path))
    return crio_error(err, ENAMETOOLONG, "socket path %s is too long", path);
  strcpy(addr.sun_path, path);
  cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return crio_error_errno(err, errno, "socket");
  /* The caller holds <path>.lock: whatever is here is a leftover. */
  if (unlink(path) < 0 && errno != ENOENT)
    return crio_error_errno(err, errno, "remove stale %s", path);
  if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
    return crio_error_errno(err, errno, "bind %s", path);
  /* The kubelet runs as root; group access is for operators' tools. */
  if (chmod(path, 0660) < 0)
    log_warning("chmod 0660 %s: %s", path, strerror(errno));
  if (listen(fd, LISTEN_BACKLOG) < 0)
    return crio_error_errno(err, errno, "listen on %s", path);
  *fd_out = steal_fd(&fd);
  return 0;
}

int httpd_listener_start(const struct httpd_listener_options *options, struct httpd_listener **out,
                         crio_error_t *err) {
  struct httpd_listener *l = xzalloc(sizeof(*l));
  l->listen_fd = -1;
  l->wake[0] = l->wake[1] = -1;
  l->socket_path = xstrdup(options->socket_path);
  l->grpc_connection = options->grpc_connection;
  l->grpc_data = options->grpc_data;
  l->status = options->status;
  pthread_mutex_init(&l->lock, NULL);
  pthread_cond_init(&l->idle, NULL);
  if (options->inherited_fd >= 0) {
    l->listen_fd = options->inherited_fd;
    int flags = fcntl(l->listen_fd, F_GETFL);
    if (flags < 0 || fcntl(l->listen_fd, F_SETFL, flags | O_NONBLOCK) < 0) {
      crio_error_errno(err, errno, "inherited socket fd %d", l->listen_fd);
      httpd_listener_stop(l);
      return -1;
    }
  } else if (bind_socket(options->socket_path, &l->listen_fd, err) < 0) {
    httpd_listener_stop(l);
    return -1;
  }
  if (pipe2(l->wake, O_CLOEXEC) < 0) {
    crio_error_errno(err, errno, "pipe");
    httpd_listener_stop(l);
    return -1;
  }
  int rc = pthread_create(&l->thread, NULL, listener_main, l);
  if (rc != 0) {
    crio_error_errno(err, rc, "start listener thread");
    httpd_listener_stop(l);
    return -1;
  }
  l->started = true;
  *out = l;
  return 0;
}

void httpd_listener_stop(struct httpd_listener *l) {
  if (l == NULL)
    return;
  if (l->started) {
    ssize_t w;
    do
      w = write(l->wake[1], "x", 1);
    while (w < 0 && errno == EINTR);
    pthread_join(l->thread, NULL);
  }
  pthread_mutex_lock(&l->lock);
  while (l->http_active > 0)
    pthread_cond_wait(&l->idle, &l->lock);
  pthread_mutex_unlock(&l->lock);
  if (l->listen_fd >= 0)
    close(l->listen_fd);
  for (int i = 0; i < 2; i++)
    if (l->wake[i] >= 0)
      close(l->wake[i]);
  pthread_mutex_destroy(&l->lock);
  pthread_cond_destroy(&l->idle);
  free(l->socket_path);
  free(l);
}

uint64_t httpd_listener_requests(const struct httpd_listener *l) {
  return atomic_load(&((struct httpd_listener *)l)->requests);
}
