/* Port forwarding over an upgraded connection, as the kubelet's portforward
 * server (pkg/kubelet/cri/streaming/portforward) does:
 *   - SPDY (portforward.k8s.io): every forwarded connection is a pair of
 *     streams the client opens, a data stream and an error stream, with
 *     the same requestID and port headers (clients without requestID get
 *     the kubelet's guess from the stream ids).  Once both are there, the
 *     server connects to localhost:port in the pod's network namespace and
 *     copies bytes both ways; a client FIN on the data stream half-closes
 *     the TCP connection, the pod's EOF ends both streams with a FIN.  A
 *     failed connect is reported as text on the error stream.  Pairs come
 *     and go for the life of the client's connection.
 *   - WebSocket: the ports are the URL's `port` query values (else the
 *     request's); port i uses channels 2i (data) and 2i+1 (error), and each
 *     starts with the port as two little-endian bytes.  The connection ends
 *     when every port's TCP connection has ended. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "streaming/internal.h"

struct pair {
  char *request_id;
  uint16_t port;
  uint32_t data_id, error_id;
  bool have_data, have_error;
  int fd;                    /* to the pod, once both streams are there */
  struct stream_buf pending; /* client bytes the socket has not taken */
  bool client_fin;           /* the client sends no more: half-close the socket */
  bool pod_eof;              /* the pod sends no more: the streams got FIN */
  int64_t created_ns;
};

struct pf {
  struct stream_conn *c;
  struct session *s;
  enum session_framing framing;
  const char *netns; /* NULL: the host's; valid while the operation runs */
  char *pod_error;   /* why nothing can be forwarded (pod not ready) */
  int cancel_fd;     /* the pod stopped being ready */
  bool served;
  const int32_t *ports; /* WebSocket: the ports asked for */
  size_t n_ports;
  struct pair *pairs;
  size_t n_pairs;
  char what[64];
};

static struct pair *pair_by_stream(struct pf *pf, uint32_t id) {
  for (size_t i = 0; i < pf->n_pairs; i++) {
    struct pair *p = &pf->pairs[i];
    if ((p->have_data && p->data_id == id) || (p->have_error && p->error_id == id))
      return p;
  }
  return NULL;
}

static void pair_drop(struct pf *pf, struct pair *p) {
  if (p->fd >= 0)
    close(p->fd);
  free(p->request_id);
  stream_buf_release(&p->pending);
  *p = pf->pairs[--pf->n_pairs];
}

static void pair_error(struct pf *pf, struct pair *p, const char *msg) {
  log_info("streaming: %s: %s", pf->what, msg);
  if (p->have_error) {
    session_send(pf->s, p->error_id, msg, strlen(msg));
    session_fin(pf->s, p->error_id);
  }
  if (p->have_data)
    session_fin(pf->s, p->data_id);
}

static void pair_connect(struct pf *pf, struct pair *p) {
  cleanup_error crio_error_t err = NULL;
  if (pf->pod_error)
    crio_error(&err, EBUSY, "%s", pf->pod_error);
  if (pf->pod_error || stream_pod_connect(pf->netns, p->port, &p->fd, &err) < 0) {
    cleanup_free char *msg = xasprintf("error forwarding port %u to pod %s, uid : %s", p->port,
                                       pf->c->req->id, crio_error_message(&err));
    pair_error(pf, p, msg);
    p->fd = -1;
    p->pod_eof = true;
    p->client_fin = true;
  }
}

static int parse_port(const char *s) {
  if (s == NULL || *s == '\0')
    return -1;
  char *end = NULL;
  long v = strtol(s, &end, 10);
  if (*end != '\0' || v < 1 || v > 65535)
    return -1;
  return (int)v;
}

static int on_stream(void *app, uint32_t id, const struct spdy_frame *f) {
  struct pf *pf = app;
  const char *type = spdy_header(f, "streamtype");
  int port = parse_port(spdy_header(f, "port"));
  bool is_data = type && strcmp(type, "data") == 0;
  bool is_error = type && strcmp(type, "error") == 0;
  if (port < 0 || !(is_data || is_error)) {
    log_warning("streaming: %s: stream %u with port \"%s\" and type \"%s\": refused", pf->what, id,
                spdy_header(f, "port") ? spdy_header(f, "port") : "", type ? type : "");
    return -1;
  }
  const char *rid = spdy_header(f, "requestid");
  cleanup_free char *guess = NULL;
  if (rid == NULL || *rid == '\0') /* an old client: the kubelet's guess */
    rid = guess = xasprintf("%u", is_error ? id : id - 2);
  struct pair *p = NULL;
  for (size_t i = 0; i < pf->n_pairs; i++)
    if (strcmp(pf->pairs[i].request_id, rid) == 0)
      p = &pf->pairs[i];
  if (p == NULL) {
    if (pf->n_pairs == STREAM_PF_PAIRS_MAX) {
      log_warning("streaming: %s: more than %d forwarded connections at once: refused", pf->what,
                  STREAM_PF_PAIRS_MAX);
      return -1;
    }
    p = &pf->pairs[pf->n_pairs++];
    *p = (struct pair){.request_id = xstrdup(rid),
                       .port = (uint16_t)port,
                       .fd = -1,
                       .created_ns = crio_monotonic_ns()};
  }
  if ((is_data && p->have_data) || (is_error && p->have_error)) {
    log_warning("streaming: %s: request %s: a second %s stream: refused", pf->what, rid, type);
    return -1;
  }
  if (is_data) {
    p->have_data = true;
    p->data_id = id;
  } else {
    p->have_error = true;
    p->error_id = id;
  }
  return 0;
}

static void on_data(void *app, uint32_t id, const unsigned char *data, size_t len) {
  struct pf *pf = app;
  struct pair *p = pair_by_stream(pf, id);
  if (p && p->have_data && p->data_id == id && !p->client_fin)
    stream_buf_append(&p->pending, data, len);
}

static void on_fin(void *app, uint32_t id) {
  struct pf *pf = app;
  struct pair *p = pair_by_stream(pf, id);
  if (p && p->have_data && p->data_id == id)
    p->client_fin = true;
}

static void on_reset(void *app, uint32_t id) {
  struct pf *pf = app;
  struct pair *p = pair_by_stream(pf, id);
  if (p)
    pair_drop(pf, p);
}

static const struct session_handler handler = {on_stream, on_data, on_fin, on_reset};

/* Gives the pod what the client sent; half-closes after the client's FIN. */
static void pump_to_pod(struct pair *p) {
  while (p->pending.len > 0 && p->fd >= 0) {
    ssize_t n = send(p->fd, p->pending.data, p->pending.len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN)
      return;
    if (n <= 0) {
      p->pending.len = 0;
      break;
    }
    stream_buf_consume(&p->pending, (size_t)n);
  }
  if (p->pending.len == 0 && p->client_fin && p->fd >= 0)
    shutdown(p->fd, SHUT_WR);
}

static void pump_from_pod(struct pf *pf, struct pair *p) {
  unsigned char buf[STREAM_IO_CHUNK];
  ssize_t n = recv(p->fd, buf, sizeof(buf), MSG_DONTWAIT);
  if (n > 0) {
    session_send(pf->s, p->data_id, buf, (size_t)n);
    session_touch(pf->s);
    return;
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  p->pod_eof = true;
  if (pf->framing == SESSION_SPDY) {
    session_fin(pf->s, p->data_id);
    session_fin(pf->s, p->error_id);
  }
}

static bool pair_complete(const struct pair *p) {
  return p->have_data && p->have_error;
}

static void run(struct pf *pf) {
  size_t cap = 0;
  struct pollfd *p = NULL;
  for (;;) {
    /* Pairs whose both sides ended go; incomplete ones time out. */
    int64_t now = crio_monotonic_ns();
    for (size_t i = 0; i < pf->n_pairs;) {
      struct pair *q = &pf->pairs[i];
      bool done = q->pod_eof && (q->client_fin || pf->framing != SESSION_SPDY);
      if (!pair_complete(q) &&
          now - q->created_ns > (int64_t)STREAM_CREATION_TIMEOUT_MS * 1000000) {
        cleanup_free char *msg =
            xasprintf("timed out waiting for the streams of request %s", q->request_id);
        pair_error(pf, q, msg);
        done = true;
      }
      if (done)
        pair_drop(pf, q);
      else
        i++;
    }
    if (pf->framing == SESSION_WEBSOCKET && pf->n_pairs == 0)
      return;
    bool held = false;
    for (size_t i = 0; i < pf->n_pairs; i++)
      held |= pf->pairs[i].pending.len > 0 && pf->pairs[i].fd >= 0;
    if (cap < pf->n_pairs + 3) {
      cap = pf->n_pairs + 3;
      p = xrealloc(p, cap * sizeof(*p));
    }
    int n = 0;
    p[n++] = (struct pollfd){pf->c->stop_fd, POLLIN, 0};
    p[n++] = (struct pollfd){held ? -1 : session_fd(pf->s), POLLIN, 0};
    p[n++] = (struct pollfd){pf->cancel_fd, POLLIN, 0};
    for (size_t i = 0; i < pf->n_pairs; i++) {
      struct pair *q = &pf->pairs[i];
      short ev = 0;
      if (q->fd >= 0 && !q->pod_eof)
        ev |= POLLIN;
      if (q->fd >= 0 && q->pending.len > 0)
        ev |= POLLOUT;
      p[n++] = (struct pollfd){ev ? q->fd : -1, ev, 0};
    }
    int timeout = session_has_input(pf->s) && !held ? 0 : session_poll_timeout(pf->s);
    if (poll(p, (nfds_t)n, timeout) < 0 && errno != EINTR)
      break;
    if (p[0].revents)
      break;
    if (p[2].revents) {
      log_info("streaming: %s: the pod is no longer ready; closing", pf->what);
      break;
    }
    /* Pair slots may move while the session dispatches: look at the
     * sockets first, with the indices poll saw. */
    for (size_t i = 0; i < pf->n_pairs && (int)i + 3 < n; i++) {
      struct pair *q = &pf->pairs[i];
      short rev = p[i + 3].revents;
      if (rev & (POLLIN | POLLHUP | POLLERR))
        pump_from_pod(pf, q);
      if (rev & POLLOUT)
        pump_to_pod(q);
    }
    if (!held && (p[1].revents || session_has_input(pf->s)) && session_pump(pf->s) < 0)
      break;
    for (size_t i = 0; i < pf->n_pairs; i++) {
      struct pair *q = &pf->pairs[i];
      if (pair_complete(q) && q->fd < 0 && !q->pod_eof)
        pair_connect(pf, q);
      pump_to_pod(q);
    }
    if (session_is_over(pf->s) || session_idle_expired(pf->s))
      break;
  }
  free(p);
}

/* Runs as the reconciler's shared operation on the pod. */
static int serve_pod(void *arg, const char *netns, crio_error_t *err) {
  struct pf *pf = arg;
  pf->netns = netns;
  pf->served = true;
  if (pf->framing == SESSION_WEBSOCKET) {
    for (size_t i = 0; i < pf->n_ports && i < STREAM_PF_PAIRS_MAX / 2; i++) {
      struct pair *q = &pf->pairs[pf->n_pairs++];
      int32_t port = pf->ports[i];
      *q = (struct pair){.request_id = xasprintf("%zu", i),
                         .port = (uint16_t)port,
                         .data_id = (uint32_t)(2 * i),
                         .error_id = (uint32_t)(2 * i + 1),
                         .have_data = true,
                         .have_error = true,
                         .fd = -1,
                         .created_ns = crio_monotonic_ns()};
      unsigned char le[2] = {(unsigned char)(port & 0xff), (unsigned char)(port >> 8)};
      session_send(pf->s, q->data_id, le, 2);
      session_send(pf->s, q->error_id, le, 2);
      pair_connect(pf, q);
    }
  }
  run(pf);
  pf->netns = NULL;
  return 0;
}

void stream_serve_port_forward(struct stream_conn *c, enum session_framing framing,
                               const char *protocol, const int32_t *ports, size_t n_ports) {
  struct pf pf = {.c = c, .framing = framing};
  snprintf(pf.what, sizeof(pf.what), "port forward to %.12s", c->req->id);
  struct session_options so = {
      .framing = framing,
      .ws_base64 = strstr(protocol, "base64.") != NULL,
      .idle_timeout_ms = c->idle_timeout_ms,
      .stop_fd = c->stop_fd,
      .what = pf.what,
  };
  pf.s = session_new(c->t, &so, &handler, &pf);
  if (c->http->extra_len)
    session_feed(pf.s, c->http->extra, c->http->extra_len);
  pf.pairs = xcalloc(STREAM_PF_PAIRS_MAX, sizeof(*pf.pairs));
  pf.ports = ports;
  pf.n_ports = n_ports;
  pf.cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  cleanup_error crio_error_t err = NULL;
  if (pf.cancel_fd < 0)
    crio_error_errno(&err, errno, "eventfd");
  else if (stream_with_pod(c->ctx, c->req->id, pf.cancel_fd, serve_pod, &pf, &err) == 0)
    crio_error_release(&err);
  if (err && !pf.served) {
    /* The pod is gone or not ready: a SPDY client still gets its answer
     * on each error stream. */
    log_warning("streaming: %s: %s", pf.what, crio_error_message(&err));
    pf.pod_error = xstrdup(crio_error_message(&err));
    if (framing == SESSION_SPDY)
      run(&pf);
  }
  while (pf.n_pairs > 0)
    pair_drop(&pf, &pf.pairs[0]);
  free(pf.pairs);
  free(pf.pod_error);
  if (pf.cancel_fd >= 0)
    close(pf.cancel_fd);
  session_close(pf.s);
  session_free(pf.s);
}
