/* Internal to streaming/: the pieces of the server, bottom up:
 *   transport.c   a client connection, plain or TLS (OpenSSL)
 *   http.c        the one HTTP/1.1 request before the upgrade, and answers
 *   tokens.c      single-use tokens with a lifetime and a bound
 *   spdy.c        SPDY/3.1 frames, zlib header blocks (spdy_dictionary.c)
 *   websocket.c   RFC 6455 handshake and frames
 *   session.c     one upgraded connection as streams, whichever framing
 *   remotecommand.c  exec and attach over a session
 *   portforward.c    port forwarding over a session
 *   backend.c     the containers and pods streams act on (records, exec,
 *                 conmon's attach socket, connecting in a pod's netns)
 *   server.c      the listener, a thread per connection, routing */
#ifndef CRIO_STREAMING_INTERNAL_H
#define CRIO_STREAMING_INTERNAL_H

#include <openssl/ssl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <zlib.h>

#include "streaming/streaming.h"

/* ---- limits ------------------------------------------------------------------ */
#define STREAM_HTTP_HEAD_MAX (16u << 10) /* request line and headers */
#define STREAM_HTTP_TIMEOUT_MS 10000     /* to send them (and the TLS handshake) */
#define STREAM_CREATION_TIMEOUT_MS 30000 /* the kubelet's stream creation timeout */
#define STREAM_FRAME_MAX (1u << 20)      /* a SPDY data frame or WebSocket message */
#define STREAM_CONTROL_MAX (64u << 10)   /* a SPDY control frame, a header block */
#define STREAM_IO_CHUNK (32u << 10)      /* bytes read from a process or socket at once */
#define STREAM_PENDING_MAX (1u << 20)    /* bytes waiting for a slow process or socket */
#define STREAM_PF_PAIRS_MAX 128          /* port-forward connections per client connection */

/* ---- transport.c ----------------------------------------------------------------- */
struct stream_transport {
  int fd; /* nonblocking */
  SSL *ssl;
};
/* >0 bytes, 0 at EOF, -1 with errno (EAGAIN: nothing now). */
ssize_t stream_transport_read(struct stream_transport *t, void *buf, size_t len);
/* Writes everything, waiting up to timeout_ms for the peer to take it. */
int stream_transport_write(struct stream_transport *t, const void *buf, size_t len,
                           int64_t timeout_ms, crio_error_t *err);
/* Decrypted bytes already buffered (poll would not report them). */
bool stream_transport_pending(const struct stream_transport *t);
int stream_transport_tls_accept(struct stream_transport *t, SSL_CTX *ctx, int64_t timeout_ms,
                                crio_error_t *err);
/* Sends what ends the stream (TLS close_notify, FIN), reads what the peer
 * still sends for up to linger_ms so our last bytes are not lost to a
 * reset, then closes. */
void stream_transport_close(struct stream_transport *t, int linger_ms);

/* ---- http.c ---------------------------------------------------------------------- */
struct http_header {
  char *name, *value;
};
struct http_request {
  char *head; /* the raw head, split in place */
  char *method, *path, *query;
  struct http_header headers[64];
  size_t n_headers;
  /* Bytes that came after the head (a client that did not wait). */
  unsigned char *extra;
  size_t extra_len;
};
int http_read_request(struct stream_transport *t, struct http_request *req, crio_error_t *err);
void http_request_release(struct http_request *req);
/* The value of the first header of that name (case-insensitive), or NULL. */
const char *http_header(const struct http_request *req, const char *name);
/* Whether any header of that name holds `token` in its comma-separated
 * list (case-insensitive). */
bool http_header_has_token(const struct http_request *req, const char *name, const char *token);
/* The comma-separated values of every header of that name, in order
 * (malloc'd strv). */
char **http_header_list(const struct http_request *req, const char *name);
/* Every value of query parameter `key` (malloc'd strv, URL-decoded). */
char **http_query_values(const struct http_request *req, const char *key);
/* A complete answer with a text body; extra_headers: "Name: v\r\n"... */
int http_respond(struct stream_transport *t, int code, const char *extra_headers, const char *body);

/* ---- tokens.c -------------------------------------------------------------------- */
enum stream_kind { STREAM_EXEC = 1, STREAM_ATTACH, STREAM_PORT_FORWARD };
struct stream_request {
  enum stream_kind kind;
  char *id; /* container, or pod for port forwarding */
  char **cmd;
  bool tty, in, out, err;
  int32_t *ports;
  size_t n_ports;
};
void stream_request_free(struct stream_request *r);
#define cleanup_stream_request __attribute__((cleanup(stream_request_freep)))
void stream_request_freep(struct stream_request **r);

struct stream_tokens;
struct stream_tokens *stream_tokens_new(unsigned max, int64_t ttl_ms);
void stream_tokens_free(struct stream_tokens *c);
/* Takes ownership of req; *token (malloc'd) names it.  EAGAIN when full. */
int stream_tokens_insert(struct stream_tokens *c, struct stream_request *req, char **token,
                         crio_error_t *err);
/* The request, removed; NULL if the token is unknown, used or expired. */
struct stream_request *stream_tokens_consume(struct stream_tokens *c, const char *token);

/* ---- spdy.c ---------------------------------------------------------------------- */
enum {
  SPDY_SYN_STREAM = 1,
  SPDY_SYN_REPLY = 2,
  SPDY_RST_STREAM = 3,
  SPDY_SETTINGS = 4,
  SPDY_PING = 6,
  SPDY_GOAWAY = 7,
  SPDY_HEADERS = 8,
  SPDY_WINDOW_UPDATE = 9,
};
#define SPDY_FLAG_FIN 0x01
#define SPDY_RST_PROTOCOL_ERROR 1
#define SPDY_RST_REFUSED_STREAM 3
#define SPDY_RST_CANCEL 5
#define SPDY_GOAWAY_OK 0
#define SPDY_GOAWAY_PROTOCOL_ERROR 1

extern const unsigned char stream_spdy_dictionary[];
extern const size_t stream_spdy_dictionary_len;

/* One connection's header (de)compression state: a zlib stream per
 * direction, for the connection's whole life, as SPDY/3 requires. */
struct spdy_codec {
  z_stream inflate, deflate;
  bool inflate_ready, deflate_ready;
};
void spdy_codec_init(struct spdy_codec *c);
void spdy_codec_release(struct spdy_codec *c);

struct spdy_frame {
  bool control;
  uint16_t type; /* control frames */
  uint8_t flags;
  uint32_t stream_id; /* data frames, and the stream of a control frame */
  uint32_t value;     /* RST_STREAM and GOAWAY status, PING id, WINDOW_UPDATE delta */
  const unsigned char *payload;
  uint32_t length;
  /* SYN_STREAM and HEADERS: the decoded header block, "name\0value\0"...
   * (malloc'd; free with spdy_frame_release). */
  char *headers;
  size_t headers_len;
};
void spdy_frame_release(struct spdy_frame *f);
/* Parses one frame at the start of buf.  1 and *used: a frame; 0: more
 * bytes needed; -1: a protocol error (EPROTO, or EMSGSIZE for a frame over
 * the limits). */
int spdy_frame_parse(struct spdy_codec *c, const unsigned char *buf, size_t len,
                     struct spdy_frame *f, size_t *used, crio_error_t *err);
/* A header's value in a decoded block (values of a repeated name are
 * joined by NUL in SPDY; the first is returned). */
const char *spdy_header(const struct spdy_frame *f, const char *name);
/* Frames, appended to *out (malloc'd, grown). */
struct stream_buf {
  unsigned char *data;
  size_t len, cap;
};
void stream_buf_append(struct stream_buf *b, const void *data, size_t len);
void stream_buf_consume(struct stream_buf *b, size_t n);
void stream_buf_release(struct stream_buf *b);
int spdy_put_syn_reply(struct spdy_codec *c, struct stream_buf *out, uint32_t stream_id,
                       crio_error_t *err);
void spdy_put_data(struct stream_buf *out, uint32_t stream_id, uint8_t flags, const void *data,
                   size_t len);
void spdy_put_rst(struct stream_buf *out, uint32_t stream_id, uint32_t status);
void spdy_put_goaway(struct stream_buf *out, uint32_t last_stream, uint32_t status);
void spdy_put_ping(struct stream_buf *out, uint32_t id);

/* ---- websocket.c ----------------------------------------------------------------- */
enum {
  WS_CONTINUATION = 0,
  WS_TEXT = 1,
  WS_BINARY = 2,
  WS_CLOSE = 8,
  WS_PING = 9,
  WS_PONG = 10,
};
/* Sec-WebSocket-Accept for a Sec-WebSocket-Key; EINVAL for a bad key. */
int ws_accept_value(const char *key, char out[29], crio_error_t *err);
struct ws_frame {
  bool fin;
  uint8_t opcode;
  unsigned char *payload; /* unmasked in place in the caller's buffer */
  size_t length;
};
/* Parses (and unmasks) one client frame at the start of buf; like
 * spdy_frame_parse.  Unmasked client frames and oversized ones fail. */
int ws_frame_parse(unsigned char *buf, size_t len, struct ws_frame *f, size_t *used,
                   crio_error_t *err);
void ws_put_frame(struct stream_buf *out, uint8_t opcode, const void *data, size_t len);
/* base64, for base64.channel.k8s.io. */
void ws_base64_encode(struct stream_buf *out, const unsigned char *data, size_t len);
/* Decoded length, -1 for bad input; out must hold len*3/4+3 bytes. */
ssize_t ws_base64_decode(const char *in, size_t len, unsigned char *out);

/* ---- session.c --------------------------------------------------------------------
 * An upgraded connection seen as numbered streams: SPDY streams the client
 * opens, or the fixed channels of a WebSocket channel protocol. */
enum session_framing { SESSION_SPDY, SESSION_WEBSOCKET };
struct session;
struct session_handler {
  /* SPDY: a stream the client opened (its SYN_STREAM's headers are in f).
   * 0 accepts it (SYN_REPLY is sent), -1 resets it.  Not called for
   * WebSocket, whose channels exist from the start. */
  int (*on_stream)(void *app, uint32_t id, const struct spdy_frame *f);
  void (*on_data)(void *app, uint32_t id, const unsigned char *data, size_t len);
  /* The client will send no more on the stream: a SPDY FIN, or a v5
   * WebSocket close signal. */
  void (*on_fin)(void *app, uint32_t id);
  /* The client reset the stream (SPDY). */
  void (*on_reset)(void *app, uint32_t id);
};
struct session_options {
  enum session_framing framing;
  bool ws_base64;       /* base64.channel.k8s.io and its v4 form */
  bool ws_close_signal; /* v5.channel.k8s.io: channel 255 closes a channel */
  int64_t idle_timeout_ms;
  int stop_fd;      /* readable when the server stops */
  const char *what; /* for logs: "exec abc123" */
};
struct session *session_new(struct stream_transport *t, const struct session_options *o,
                            const struct session_handler *h, void *app);
void session_free(struct session *s);
/* Bytes read with the request head, to be parsed first. */
void session_feed(struct session *s, const unsigned char *data, size_t len);
/* Reads what the client sent and dispatches it.  0: carry on; -1: the
 * connection is over (client gone, protocol error, idle): nothing more can
 * be sent. */
int session_pump(struct session *s);
/* Whether buffered input remains to dispatch without reading. */
bool session_has_input(const struct session *s);
int session_fd(const struct session *s);
/* Sends on a stream (as DATA frames of at most STREAM_IO_CHUNK, or one
 * channel message).  -1 once the connection is over. */
int session_send(struct session *s, uint32_t id, const void *data, size_t len);
/* SPDY: FIN on the stream.  WebSocket: nothing (channels do not close). */
int session_fin(struct session *s, uint32_t id);
int session_reset(struct session *s, uint32_t id);
/* Ends the connection: GOAWAY or a close frame, then the transport. */
void session_close(struct session *s);
bool session_is_over(const struct session *s);
/* Activity bookkeeping for the idle timeout: the poll timeout to use, and
 * whether the connection was idle too long (then it is over). */
int session_poll_timeout(const struct session *s);
bool session_idle_expired(struct session *s);
void session_touch(struct session *s);

/* ---- backend.c: what streams act on -------------------------------------------------
 * A stream runs as a shared operation of the reconciler on its object
 * (reconciler_run_op): it starts on a running container (a ready pod),
 * and cancel_fd (an eventfd the stream polls) becomes readable when a
 * transition moves the object out of that state. */
struct stream_container {
  const char *bundle; /* the record's, valid while the callback runs */
  const struct oci_runtime *runtime;
  char *config_json;           /* <bundle>/config.json */
  bool stdin, stdin_once, tty; /* the container's own config */
};
typedef int (*stream_container_fn)(void *arg, const struct stream_container *c, crio_error_t *err);
/* netns: the pod's network namespace, NULL for the host's. */
typedef int (*stream_pod_fn)(void *arg, const char *netns, crio_error_t *err);
/* fn's result, or -1 with ENOENT (no such object), EBUSY (not running,
 * not ready), ETIMEDOUT (a step under way for 30 s), ECANCELED. */
int stream_with_container(const struct stream_context *ctx, const char *id, bool attach,
                          int cancel_fd, stream_container_fn fn, void *arg, crio_error_t *err);
int stream_with_pod(const struct stream_context *ctx, const char *pod_id, int cancel_fd,
                    stream_pod_fn fn, void *arg, crio_error_t *err);
/* A TCP connection to localhost:port in that netns (NULL: the host's),
 * nonblocking once connected; 127.0.0.1 first, then ::1. */
int stream_pod_connect(const char *netns, uint16_t port, int *fd, crio_error_t *err);

/* ---- the protocols -------------------------------------------------------------------- */
struct stream_conn {
  const struct stream_context *ctx;
  struct stream_transport *t;
  struct stream_request *req;
  struct http_request *http;
  int64_t idle_timeout_ms;
  int stop_fd;
};
/* After the 101 answer: serve exec or attach, or port forwarding, until the
 * connection ends.  `protocol` is the negotiated subprotocol. */
void stream_serve_remote_command(struct stream_conn *c, enum session_framing framing,
                                 const char *protocol);
void stream_serve_port_forward(struct stream_conn *c, enum session_framing framing,
                               const char *protocol, const int32_t *ports, size_t n_ports);

#endif
