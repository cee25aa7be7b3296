/* streaming/: the daemon's streaming server, where the kubelet (or crictl)
 * carries out the CRI's Exec, Attach and PortForward.  Those RPCs only mint
 * a single-use token and answer a URL on this server
 * (http[s]://<address>:<port>/{exec,attach,portforward}/<token>); the
 * client then upgrades an HTTP request on that URL to SPDY/3.1 or
 * WebSocket and speaks the kubelet's streaming protocols
 * (docs/streaming.md):
 *   - remote command (exec, attach): v4.channel.k8s.io, v3, v2 and
 *     channel.k8s.io over SPDY; channel.k8s.io, base64.channel.k8s.io,
 *     their v4 forms and v5.channel.k8s.io over WebSocket;
 *   - port forwarding: portforward.k8s.io over SPDY; the channel
 *     protocols over WebSocket.
 * This header is what the daemon (start, stop) and cri/ (minting) need. */
#ifndef CRIO_STREAMING_H
#define CRIO_STREAMING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

struct store;
struct reconciler;
struct reconciler_container_env;

struct stream_server_config {
  const char *address; /* stream_address; NULL: 127.0.0.1 */
  const char *port;    /* stream_port; NULL or "0": the kernel picks one */
  /* stream_idle_timeout: a connection with no traffic either way for this
   * long is closed (and its exec killed); 0: 4 hours, the kubelet's. */
  int64_t idle_timeout_ms;
  int64_t token_ttl_ms;     /* a token unused this long expires; 0: 1 minute */
  unsigned max_tokens;      /* outstanding tokens; 0: 1000, the kubelet's */
  unsigned max_connections; /* 0: 256 */
  bool tls;                 /* stream_enable_tls */
  const char *tls_cert;     /* stream_tls_cert: PEM chain */
  const char *tls_key;      /* stream_tls_key: PEM key */
};

/* What a stream needs of the daemon: the reconciler, which runs every
 * stream as an operation on its container or pod, and the runtimes that run
 * the containers.  Must outlive the server. */
struct stream_context {
  struct reconciler *reconciler;
  const struct reconciler_container_env *containers;
};

struct stream_server;

/* Binds and starts serving on a thread of its own.  The TLS certificate
 * and key are loaded here, so a bad one fails the start. */
int stream_server_start(const struct stream_server_config *config,
                        const struct stream_context *context, struct stream_server **out,
                        crio_error_t *err);
/* Stops accepting, ends every open connection (their execs are killed),
 * waits for their threads and frees.  NULL is fine. */
void stream_server_stop(struct stream_server *server);

/* "http://127.0.0.1:41234" (no trailing slash). */
const char *stream_server_base_url(const struct stream_server *server);

/* ---- minting: what the CRI handlers call ------------------------------------
 * Each returns a malloc'd URL holding a fresh token for the request (copied).
 * EAGAIN (RESOURCE_EXHAUSTED) when max_tokens are outstanding. */
struct stream_exec_request {
  const char *container_id; /* full id */
  const char *const *cmd;
  size_t n_cmd;
  bool tty, stdin, stdout, stderr;
};
int stream_server_exec_url(struct stream_server *server, const struct stream_exec_request *req,
                           char **url, crio_error_t *err);
/* Attach: the same request without a command. */
int stream_server_attach_url(struct stream_server *server, const struct stream_exec_request *req,
                             char **url, crio_error_t *err);
/* Port forwarding to a pod: ports as the request gave them (WebSocket
 * clients may name others in the URL's query). */
int stream_server_port_forward_url(struct stream_server *server, const char *pod_id,
                                   const int32_t *ports, size_t n_ports, char **url,
                                   crio_error_t *err);

#endif
