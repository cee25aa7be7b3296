/* The streaming server: a listener thread and a thread per connection.  A
 * connection sends one HTTP request, /exec/<token>, /attach/<token> or
 * /portforward/<token>; the token is consumed whatever happens next (single
 * use); the request must ask for an upgrade to SPDY/3.1 or WebSocket and
 * name a subprotocol we speak; the answer is 101 and the connection then
 * belongs to the protocol (remotecommand.c, portforward.c).  Refusals are
 * the kubelet's: 404 for an unknown, used or expired token, 400 for a
 * request that is not an upgrade, 403 when no subprotocol matches (with
 * X-Accepted-Stream-Protocol-Versions), each with a log line.
 *
 * Connections are bounded (max_connections: beyond it, 503).  Stopping
 * wakes every connection through an eventfd its loop polls, and waits for
 * the threads to end. */
#include <errno.h>
#include <netdb.h>
#include <openssl/err.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "streaming/internal.h"

#define DEFAULT_IDLE_TIMEOUT_MS (4LL * 3600 * 1000) /* the kubelet's 4 h */
#define DEFAULT_MAX_CONNECTIONS 256
#define LINGER_MS 1000

static const char *const spdy_remote_command[] = {"v4.channel.k8s.io", "v3.channel.k8s.io",
                                                  "v2.channel.k8s.io", "channel.k8s.io", NULL};
static const char *const spdy_port_forward[] = {"portforward.k8s.io", NULL};
static const char *const ws_remote_command[] = {"v5.channel.k8s.io",        "v4.channel.k8s.io",
                                                "v4.base64.channel.k8s.io", "channel.k8s.io",
                                                "base64.channel.k8s.io",    NULL};
static const char *const ws_port_forward[] = {"v4.channel.k8s.io", "v4.base64.channel.k8s.io",
                                              NULL};

struct stream_server {
  struct stream_context ctx;
  int64_t idle_timeout_ms;
  unsigned max_connections;
  int listen_fd, stop_fd;
  pthread_t thread;
  bool thread_started;
  struct stream_tokens *tokens;
  SSL_CTX *tls;
  char *base_url;
  pthread_mutex_t lock;
  pthread_cond_t idle;
  unsigned n_conns;
};

struct conn_thread {
  struct stream_server *server;
  int fd;
};

/* ---- one connection ---------------------------------------------------------------- */

static const char *kind_name(enum stream_kind k) {
  return k == STREAM_EXEC ? "exec" : k == STREAM_ATTACH ? "attach" : "portforward";
}

/* The first client protocol we also speak (the client's order wins, as
 * in httpstream.Handshake). */
static const char *negotiate(char **client, const char *const *server) {
  for (char **c = client; *c; c++)
    for (const char *const *s = server; *s; s++)
      if (strcmp(*c, *s) == 0)
        return *s;
  return NULL;
}

static char *join(char **v) {
  struct stream_buf b = {0};
  for (char **p = v; *p; p++) {
    if (p != v)
      stream_buf_append(&b, " ", 1);
    stream_buf_append(&b, *p, strlen(*p));
  }
  stream_buf_append(&b, "", 1);
  return (char *)b.data;
}

static int ports_of_query(const struct http_request *http, int32_t **ports, size_t *n,
                          crio_error_t *err) {
  cleanup_strv char **values = http_query_values(http, "port");
  size_t cap = 8, k = 0;
  int32_t *out = xcalloc(cap, sizeof(*out));
  for (char **v = values; *v; v++) {
    cleanup_free char *copy = xstrdup(*v);
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
      char *end = NULL;
      long port = strtol(tok, &end, 10);
      if (*tok == '\0' || *end != '\0' || port < 1 || port > 65535) {
        free(out);
        return crio_error(err, EINVAL, "unable to parse \"%s\" as a port", tok);
      }
      if (k == cap)
        out = xrealloc(out, (cap *= 2) * sizeof(*out));
      out[k++] = (int32_t)port;
    }
  }
  *ports = out;
  *n = k;
  return 0;
}

static void serve_upgrade(struct stream_server *srv, struct stream_transport *t,
                          struct http_request *http, struct stream_request *req) {
  struct stream_conn c = {.ctx = &srv->ctx,
                          .t = t,
                          .req = req,
                          .http = http,
                          .idle_timeout_ms = srv->idle_timeout_ms,
                          .stop_fd = srv->stop_fd};
  bool pf = req->kind == STREAM_PORT_FORWARD;
  const char *upgrade = http_header(http, "Upgrade");
  bool connection_upgrade = http_header_has_token(http, "Connection", "upgrade");
  if (connection_upgrade && upgrade && strcasecmp(upgrade, "websocket") == 0) {
    cleanup_error crio_error_t err = NULL;
    char accept[29];
    const char *version = http_header(http, "Sec-WebSocket-Version");
    if (version == NULL || strcmp(version, "13") != 0 ||
        ws_accept_value(http_header(http, "Sec-WebSocket-Key"), accept, &err) < 0) {
      log_warning("streaming: %s: bad WebSocket handshake", kind_name(req->kind));
      http_respond(t, 400, "Sec-WebSocket-Version: 13\r\n", "bad WebSocket handshake\n");
      return;
    }
    cleanup_strv char **offered = http_header_list(http, "Sec-WebSocket-Protocol");
    const char *protocol =
        offered[0] ? negotiate(offered, pf ? ws_port_forward : ws_remote_command) : "";
    if (protocol == NULL) {
      cleanup_free char *list = join(offered);
      log_warning("streaming: %s: no WebSocket subprotocol in common with [%s]",
                  kind_name(req->kind), list);
      cleanup_free char *body = xasprintf("requested protocol(s) are not supported: [%s]\n", list);
      http_respond(t, 403, NULL, body);
      return;
    }
    cleanup_free int32_t *ports = NULL;
    size_t n_ports = 0;
    if (pf) {
      if (ports_of_query(http, &ports, &n_ports, &err) < 0) {
        http_respond(t, 400, NULL, crio_error_message(&err));
        return;
      }
      if (n_ports == 0 && req->n_ports) {
        free(ports);
        ports = xmemdup(req->ports, req->n_ports * sizeof(*ports));
        n_ports = req->n_ports;
      }
      if (n_ports == 0) {
        http_respond(t, 400, NULL, "query parameter \"port\" is required\n");
        return;
      }
    }
    cleanup_free char *headers = xasprintf(
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s%s%s", accept,
        *protocol ? "Sec-WebSocket-Protocol: " : "", protocol, *protocol ? "\r\n" : "");
    if (http_respond(t, 101, headers, NULL) < 0)
      return;
    if (pf)
      stream_serve_port_forward(&c, SESSION_WEBSOCKET, protocol, ports, n_ports);
    else
      stream_serve_remote_command(&c, SESSION_WEBSOCKET, protocol);
    return;
  }

  cleanup_strv char **offered = http_header_list(http, "X-Stream-Protocol-Version");
  if (!connection_upgrade || upgrade == NULL || strcasestr(upgrade, "SPDY/3.1") == NULL) {
    log_warning("streaming: %s: request without upgrade headers", kind_name(req->kind));
    http_respond(t, 400, NULL, "unable to upgrade: missing upgrade headers in request\n");
    return;
  }
  if (offered[0] == NULL) {
    log_warning("streaming: %s: no X-Stream-Protocol-Version", kind_name(req->kind));
    http_respond(t, 400, NULL,
                 "unable to upgrade: header X-Stream-Protocol-Version does not exist in request\n");
    return;
  }
  const char *const *ours = pf ? spdy_port_forward : spdy_remote_command;
  const char *protocol = negotiate(offered, ours);
  if (protocol == NULL) {
    cleanup_free char *theirs = join(offered);
    cleanup_free char *mine = join((char **)ours);
    log_warning("streaming: %s: client protocols [%s], none of ours [%s]", kind_name(req->kind),
                theirs, mine);
    struct stream_buf headers = {0};
    for (const char *const *s = ours; *s; s++) {
      cleanup_free char *h = xasprintf("X-Accepted-Stream-Protocol-Versions: %s\r\n", *s);
      stream_buf_append(&headers, h, strlen(h));
    }
    stream_buf_append(&headers, "", 1);
    cleanup_free char *body = xasprintf(
        "unable to upgrade: unable to negotiate protocol: client supports [%s], server accepts "
        "[%s]\n",
        theirs, mine);
    http_respond(t, 403, (char *)headers.data, body);
    stream_buf_release(&headers);
    return;
  }
  cleanup_free char *headers = xasprintf(
      "Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: %s\r\n", protocol);
  if (http_respond(t, 101, headers, NULL) < 0)
    return;
  if (pf)
    stream_serve_port_forward(&c, SESSION_SPDY, protocol, NULL, 0);
  else
    stream_serve_remote_command(&c, SESSION_SPDY, protocol);
}

static void serve_connection(struct stream_server *srv, struct stream_transport *t) {
  cleanup_error crio_error_t err = NULL;
  if (srv->tls && stream_transport_tls_accept(t, srv->tls, STREAM_HTTP_TIMEOUT_MS, &err) < 0) {
    log_info("streaming: %s", crio_error_message(&err));
    return;
  }
  struct http_request http;
  if (http_read_request(t, &http, &err) < 0) {
    log_info("streaming: bad request: %s", crio_error_message(&err));
    int status = crio_error_status(&err);
    if (status == EBADMSG)
      http_respond(t, 400, NULL, "malformed HTTP request\n");
    else if (status == E2BIG)
      http_respond(t, 431, NULL, "request header fields too large\n");
    http_request_release(&http);
    return;
  }
  enum stream_kind kind = 0;
  const char *token = NULL;
  static const struct {
    const char *prefix;
    enum stream_kind kind;
  } routes[] = {
      {"/exec/", STREAM_EXEC}, {"/attach/", STREAM_ATTACH}, {"/portforward/", STREAM_PORT_FORWARD}};
  for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
    if (strncmp(http.path, routes[i].prefix, strlen(routes[i].prefix)) == 0) {
      kind = routes[i].kind;
      token = http.path + strlen(routes[i].prefix);
    }
  if (kind && strcmp(http.method, "GET") != 0 && strcmp(http.method, "POST") != 0) {
    log_warning("streaming: %s %s: method not allowed", http.method, kind_name(kind));
    http_respond(t, 405, "Allow: GET, POST\r\n", "405 method not allowed\n");
    http_request_release(&http);
    return;
  }
  cleanup_stream_request struct stream_request *req =
      kind && *token && !strchr(token, '/') ? stream_tokens_consume(srv->tokens, token) : NULL;
  if (req == NULL || req->kind != kind) {
    log_warning("streaming: %s %s: unknown, used or expired token", http.method,
                kind ? kind_name(kind) : "(no such endpoint)");
    http_respond(t, 404, NULL, "404 page not found\n");
    http_request_release(&http);
    return;
  }
  log_debug("streaming: %s %.12s over %s", kind_name(kind), req->id,
            http_header(&http, "Upgrade") ? http_header(&http, "Upgrade") : "(no upgrade)");
  serve_upgrade(srv, t, &http, req);
  http_request_release(&http);
}

static void *conn_main(void *arg) {
  struct conn_thread *ct = arg;
  struct stream_server *srv = ct->server;
  struct stream_transport t = {.fd = ct->fd, .ssl = NULL};
  free(ct);
  serve_connection(srv, &t);
  stream_transport_close(&t, LINGER_MS);
  ERR_clear_error();
  OPENSSL_thread_stop();
  pthread_mutex_lock(&srv->lock);
  srv->n_conns--;
  pthread_cond_broadcast(&srv->idle);
  pthread_mutex_unlock(&srv->lock);
  return NULL;
}

static void *listen_main(void *arg) {
  struct stream_server *srv = arg;
  for (;;) {
    struct pollfd p[2] = {{srv->listen_fd, POLLIN, 0}, {srv->stop_fd, POLLIN, 0}};
    if (poll(p, 2, -1) < 0 && errno != EINTR)
      break;
    if (p[1].revents)
      break;
    if (!p[0].revents)
      continue;
    int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
      continue;
    pthread_mutex_lock(&srv->lock);
    bool full = srv->n_conns >= srv->max_connections;
    if (!full)
      srv->n_conns++;
    pthread_mutex_unlock(&srv->lock);
    if (full) {
      log_warning("streaming: %u connections open; refusing another", srv->max_connections);
      struct stream_transport t = {.fd = fd};
      if (srv->tls == NULL)
        http_respond(&t, 503, NULL, "too many streaming connections\n");
      stream_transport_close(&t, 0);
      continue;
    }
    struct conn_thread *ct = xmalloc(sizeof(*ct));
    *ct = (struct conn_thread){srv, fd};
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    int rc = pthread_create(&th, &attr, conn_main, ct);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
      log_warning("streaming: start a connection thread: %s", strerror(rc));
      close(fd);
      free(ct);
      pthread_mutex_lock(&srv->lock);
      srv->n_conns--;
      pthread_mutex_unlock(&srv->lock);
    }
  }
  return NULL;
}

/* ---- start and stop ---------------------------------------------------------------------- */

static int tls_context(const struct stream_server_config *cfg, SSL_CTX **out, crio_error_t *err) {
  if (cfg->tls_cert == NULL || cfg->tls_key == NULL)
    return crio_error(err, EINVAL, "stream_enable_tls needs stream_tls_cert and stream_tls_key");
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == NULL)
    return crio_error(err, ENOMEM, "TLS context");
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  char msg[256] = "";
  if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    ERR_error_string_n(ERR_get_error(), msg, sizeof(msg));
    SSL_CTX_free(ctx);
    return crio_error(err, EINVAL, "TLS certificate %s / key %s: %s", cfg->tls_cert, cfg->tls_key,
                      msg);
  }
  *out = ctx;
  return 0;
}

static int listen_on(struct stream_server *srv, const char *address, const char *port,
                     crio_error_t *err) {
  struct addrinfo hints = {
      .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
  struct addrinfo *res = NULL;
  int rc = getaddrinfo(address, port, &hints, &res);
  if (rc != 0)
    return crio_error(err, EINVAL, "stream_address %s port %s: %s", address, port,
                      gai_strerror(rc));
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int one = 1;
  if (fd >= 0)
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 128) < 0) {
    int e = errno;
    if (fd >= 0)
      close(fd);
    freeaddrinfo(res);
    return crio_error_errno(err, e, "listen on %s:%s", address, port);
  }
  freeaddrinfo(res);
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  getsockname(fd, (struct sockaddr *)&ss, &len);
  char host[NI_MAXHOST], serv[NI_MAXSERV];
  getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), serv, sizeof(serv),
              NI_NUMERICHOST | NI_NUMERICSERV);
  bool v6 = ss.ss_family == AF_INET6;
  srv->base_url = xasprintf("%s://%s%s%s:%s", srv->tls ? "https" : "http", v6 ? "[" : "", host,
                            v6 ? "]" : "", serv);
  srv->listen_fd = fd;
  return 0;
}

int stream_server_start(const struct stream_server_config *cfg,
                        const struct stream_context *context, struct stream_server **out,
                        crio_error_t *err) {
  struct stream_server *srv = xzalloc(sizeof(*srv));
  srv->ctx = *context;
  srv->listen_fd = srv->stop_fd = -1;
  srv->idle_timeout_ms = cfg->idle_timeout_ms > 0 ? cfg->idle_timeout_ms : DEFAULT_IDLE_TIMEOUT_MS;
  srv->max_connections = cfg->max_connections ? cfg->max_connections : DEFAULT_MAX_CONNECTIONS;
  pthread_mutex_init(&srv->lock, NULL);
  pthread_cond_init(&srv->idle, NULL);
  srv->tokens = stream_tokens_new(cfg->max_tokens, cfg->token_ttl_ms);
  const char *address = cfg->address && *cfg->address ? cfg->address : "127.0.0.1";
  const char *port = cfg->port && *cfg->port ? cfg->port : "0";
  int rc = 0;
  if (cfg->tls)
    rc = tls_context(cfg, &srv->tls, err);
  if (rc == 0)
    rc = listen_on(srv, address, port, err);
  if (rc == 0 && (srv->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
    rc = crio_error_errno(err, errno, "eventfd");
  if (rc == 0) {
    int e = pthread_create(&srv->thread, NULL, listen_main, srv);
    if (e != 0)
      rc = crio_error_errno(err, e, "start the streaming server thread");
    else
      srv->thread_started = true;
  }
  if (rc < 0) {
    stream_server_stop(srv);
    return crio_error_prefix(err, "streaming server");
  }
  *out = srv;
  return 0;
}

void stream_server_stop(struct stream_server *srv) {
  if (srv == NULL)
    return;
  if (srv->stop_fd >= 0) {
    uint64_t one = 1;
    if (write(srv->stop_fd, &one, sizeof(one)) < 0)
      log_warning("streaming: wake connections: %s", strerror(errno));
  }
  if (srv->thread_started)
    pthread_join(srv->thread, NULL);
  pthread_mutex_lock(&srv->lock);
  while (srv->n_conns > 0)
    pthread_cond_wait(&srv->idle, &srv->lock);
  pthread_mutex_unlock(&srv->lock);
  if (srv->listen_fd >= 0)
    close(srv->listen_fd);
  if (srv->stop_fd >= 0)
    close(srv->stop_fd);
  if (srv->tls)
    SSL_CTX_free(srv->tls);
  stream_tokens_free(srv->tokens);
  pthread_cond_destroy(&srv->idle);
  pthread_mutex_destroy(&srv->lock);
  free(srv->base_url);
  free(srv);
}

const char *stream_server_base_url(const struct stream_server *srv) {
  return srv->base_url;
}

/* ---- minting ------------------------------------------------------------------------------- */

static int mint(struct stream_server *srv, struct stream_request *req, char **url,
                crio_error_t *err) {
  enum stream_kind kind = req->kind;
  cleanup_free char *token = NULL;
  if (stream_tokens_insert(srv->tokens, req, &token, err) < 0)
    return -1;
  *url = xasprintf("%s/%s/%s", srv->base_url, kind_name(kind), token);
  return 0;
}

static struct stream_request *request_of(enum stream_kind kind,
                                         const struct stream_exec_request *in) {
  struct stream_request *req = xzalloc(sizeof(*req));
  req->kind = kind;
  req->id = xstrdup(in->container_id);
  req->tty = in->tty;
  req->in = in->stdin;
  req->out = in->stdout;
  req->err = in->stderr;
  if (kind == STREAM_EXEC) {
    req->cmd = xcalloc(in->n_cmd + 1, sizeof(char *));
    for (size_t i = 0; i < in->n_cmd; i++)
      req->cmd[i] = xstrdup(in->cmd[i]);
  }
  return req;
}

int stream_server_exec_url(struct stream_server *srv, const struct stream_exec_request *in,
                           char **url, crio_error_t *err) {
  return mint(srv, request_of(STREAM_EXEC, in), url, err);
}

int stream_server_attach_url(struct stream_server *srv, const struct stream_exec_request *in,
                             char **url, crio_error_t *err) {
  return mint(srv, request_of(STREAM_ATTACH, in), url, err);
}

int stream_server_port_forward_url(struct stream_server *srv, const char *pod_id,
                                   const int32_t *ports, size_t n_ports, char **url,
                                   crio_error_t *err) {
  struct stream_request *req = xzalloc(sizeof(*req));
  req->kind = STREAM_PORT_FORWARD;
  req->id = xstrdup(pod_id);
  if (n_ports) {
    req->ports = xmemdup(ports, n_ports * sizeof(*ports));
    req->n_ports = n_ports;
  }
  return mint(srv, req, url, err);
}
