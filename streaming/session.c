/* One upgraded connection seen as numbered streams, whatever carries them:
 *   - SPDY: the client opens streams (SYN_STREAM, odd ids, increasing);
 *     each is answered with a SYN_REPLY or reset as the handler decides;
 *     DATA frames carry bytes, FIN half-closes, RST_STREAM resets; PINGs
 *     are echoed.
 *   - WebSocket: channel protocols prefix every message with a channel
 *     byte (or a digit and base64 payload for base64.channel.k8s.io);
 *     v5.channel.k8s.io adds channel 255, whose one-byte message closes
 *     the client's side of a channel.  Pings are answered, a close frame
 *     ends the connection.
 * Writes go straight to the transport (waiting for the client up to the
 * idle timeout); reads happen when the owner pumps, so a slow process or
 * socket on the far side holds the client back through TCP. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "streaming/internal.h"

#define READ_CHUNK (64u << 10)

struct session {
  struct stream_transport *t;
  struct session_options o;
  const struct session_handler *h;
  void *app;
  struct spdy_codec codec;
  struct stream_buf in;  /* bytes not yet parsed */
  struct stream_buf msg; /* a fragmented WebSocket message */
  bool in_msg;
  uint32_t last_client_stream;
  bool over;
  int64_t last_activity;
};

struct session *session_new(struct stream_transport *t, const struct session_options *o,
                            const struct session_handler *h, void *app) {
  struct session *s = xzalloc(sizeof(*s));
  s->t = t;
  s->o = *o;
  s->h = h;
  s->app = app;
  spdy_codec_init(&s->codec);
  s->last_activity = crio_monotonic_ns();
  return s;
}

void session_free(struct session *s) {
  if (s == NULL)
    return;
  spdy_codec_release(&s->codec);
  stream_buf_release(&s->in);
  stream_buf_release(&s->msg);
  free(s);
}

void session_feed(struct session *s, const unsigned char *data, size_t len) {
  stream_buf_append(&s->in, data, len);
}

bool session_has_input(const struct session *s) {
  return !s->over && (s->in.len > 0 || stream_transport_pending(s->t));
}

int session_fd(const struct session *s) {
  return s->t->fd;
}

bool session_is_over(const struct session *s) {
  return s->over;
}

void session_touch(struct session *s) {
  s->last_activity = crio_monotonic_ns();
}

int session_poll_timeout(const struct session *s) {
  int64_t left =
      (s->last_activity + s->o.idle_timeout_ms * 1000000 - crio_monotonic_ns()) / 1000000;
  if (left < 0)
    return 0;
  return left > 1000 ? 1000 : (int)left + 1;
}

bool session_idle_expired(struct session *s) {
  if (crio_monotonic_ns() - s->last_activity < s->o.idle_timeout_ms * 1000000)
    return false;
  log_info("streaming: %s: idle for %lld ms; closing", s->o.what, (long long)s->o.idle_timeout_ms);
  s->over = true;
  return true;
}

static int flush(struct session *s, struct stream_buf *out) {
  if (s->over)
    return -1;
  crio_error_t e = NULL;
  int64_t timeout = s->o.idle_timeout_ms;
  if (stream_transport_write(s->t, out->data, out->len, timeout, &e) < 0) {
    log_info("streaming: %s: %s", s->o.what, crio_error_message(&e));
    crio_error_release(&e);
    s->over = true;
    return -1;
  }
  session_touch(s);
  return 0;
}

static void fail(struct session *s, crio_error_t *e) {
  log_warning("streaming: %s: protocol error from the client: %s; closing", s->o.what,
              crio_error_message(e));
  crio_error_release(e);
  struct stream_buf out = {0};
  if (s->o.framing == SESSION_SPDY) {
    spdy_put_goaway(&out, s->last_client_stream, SPDY_GOAWAY_PROTOCOL_ERROR);
  } else {
    unsigned char body[2] = {1002 >> 8, 1002 & 0xff}; /* protocol error */
    ws_put_frame(&out, WS_CLOSE, body, sizeof(body));
  }
  flush(s, &out);
  stream_buf_release(&out);
  s->over = true;
}

int session_send(struct session *s, uint32_t id, const void *data, size_t len) {
  struct stream_buf out = {0};
  const unsigned char *p = data;
  if (s->o.framing == SESSION_SPDY) {
    do {
      size_t n = len > STREAM_IO_CHUNK ? STREAM_IO_CHUNK : len;
      spdy_put_data(&out, id, 0, p, n);
      p += n;
      len -= n;
    } while (len > 0);
  } else {
    struct stream_buf msg = {0};
    if (s->o.ws_base64) {
      unsigned char ch = (unsigned char)('0' + id);
      stream_buf_append(&msg, &ch, 1);
      ws_base64_encode(&msg, p, len);
      ws_put_frame(&out, WS_TEXT, msg.data, msg.len);
    } else {
      unsigned char ch = (unsigned char)id;
      stream_buf_append(&msg, &ch, 1);
      stream_buf_append(&msg, p, len);
      ws_put_frame(&out, WS_BINARY, msg.data, msg.len);
    }
    stream_buf_release(&msg);
  }
  int rc = flush(s, &out);
  stream_buf_release(&out);
  return rc;
}

int session_fin(struct session *s, uint32_t id) {
  if (s->o.framing != SESSION_SPDY)
    return s->over ? -1 : 0;
  struct stream_buf out = {0};
  spdy_put_data(&out, id, SPDY_FLAG_FIN, NULL, 0);
  int rc = flush(s, &out);
  stream_buf_release(&out);
  return rc;
}

int session_reset(struct session *s, uint32_t id) {
  if (s->o.framing != SESSION_SPDY)
    return s->over ? -1 : 0;
  struct stream_buf out = {0};
  spdy_put_rst(&out, id, SPDY_RST_CANCEL);
  int rc = flush(s, &out);
  stream_buf_release(&out);
  return rc;
}

void session_close(struct session *s) {
  if (s->over)
    return;
  struct stream_buf out = {0};
  if (s->o.framing == SESSION_SPDY) {
    spdy_put_goaway(&out, s->last_client_stream, SPDY_GOAWAY_OK);
  } else {
    unsigned char body[2] = {1000 >> 8, 1000 & 0xff}; /* normal closure */
    ws_put_frame(&out, WS_CLOSE, body, sizeof(body));
  }
  flush(s, &out);
  stream_buf_release(&out);
  s->over = true;
}

/* ---- SPDY ------------------------------------------------------------------------- */

static void spdy_dispatch(struct session *s, struct spdy_frame *f) {
  if (!f->control) {
    s->h->on_data(s->app, f->stream_id, f->payload, f->length);
    if (f->flags & SPDY_FLAG_FIN)
      s->h->on_fin(s->app, f->stream_id);
    return;
  }
  struct stream_buf out = {0};
  switch (f->type) {
  case SPDY_SYN_STREAM:
    if ((f->stream_id & 1) == 0 || f->stream_id <= s->last_client_stream) {
      log_warning("streaming: %s: client opened stream %u after %u; resetting it", s->o.what,
                  f->stream_id, s->last_client_stream);
      spdy_put_rst(&out, f->stream_id, SPDY_RST_PROTOCOL_ERROR);
      break;
    }
    s->last_client_stream = f->stream_id;
    if (s->h->on_stream(s->app, f->stream_id, f) < 0) {
      spdy_put_rst(&out, f->stream_id, SPDY_RST_REFUSED_STREAM);
      break;
    }
    {
      crio_error_t e = NULL;
      if (spdy_put_syn_reply(&s->codec, &out, f->stream_id, &e) < 0) {
        fail(s, &e);
        break;
      }
    }
    flush(s, &out);
    out.len = 0;
    if (f->flags & SPDY_FLAG_FIN)
      s->h->on_fin(s->app, f->stream_id);
    break;
  case SPDY_RST_STREAM:
    s->h->on_reset(s->app, f->stream_id);
    break;
  case SPDY_PING:
    /* Client pings have odd ids; ours would be even, and we send none. */
    if (f->value & 1)
      spdy_put_ping(&out, f->value);
    break;
  case SPDY_HEADERS:
    if (f->flags & SPDY_FLAG_FIN)
      s->h->on_fin(s->app, f->stream_id);
    break;
  default: /* GOAWAY (the client closes next), SETTINGS, WINDOW_UPDATE */
    break;
  }
  if (out.len)
    flush(s, &out);
  stream_buf_release(&out);
}

static int spdy_parse_all(struct session *s) {
  size_t off = 0;
  while (!s->over) {
    struct spdy_frame f;
    size_t used = 0;
    crio_error_t e = NULL;
    int rc = spdy_frame_parse(&s->codec, s->in.data + off, s->in.len - off, &f, &used, &e);
    if (rc < 0) {
      fail(s, &e);
      break;
    }
    if (rc == 0)
      break;
    spdy_dispatch(s, &f);
    spdy_frame_release(&f);
    off += used;
  }
  stream_buf_consume(&s->in, off);
  return s->over ? -1 : 0;
}

/* ---- WebSocket ------------------------------------------------------------------------ */

static void ws_message(struct session *s, unsigned char *data, size_t len) {
  if (len == 0)
    return;
  unsigned ch = data[0];
  data++;
  len--;
  cleanup_free unsigned char *decoded = NULL;
  if (s->o.ws_base64) {
    ch -= '0';
    decoded = xmalloc(len / 4 * 3 + 3);
    ssize_t n = ws_base64_decode((const char *)data, len, decoded);
    if (n < 0) {
      crio_error_t e = NULL;
      crio_error(&e, EPROTO, "bad base64 on channel %u", ch);
      fail(s, &e);
      return;
    }
    data = decoded;
    len = (size_t)n;
  }
  if (s->o.ws_close_signal && ch == 255) {
    if (len != 1) {
      crio_error_t e = NULL;
      crio_error(&e, EPROTO, "close signal of %zu bytes", len);
      fail(s, &e);
      return;
    }
    s->h->on_fin(s->app, data[0]);
    return;
  }
  s->h->on_data(s->app, ch, data, len);
}

static int ws_parse_all(struct session *s) {
  size_t off = 0;
  while (!s->over) {
    struct ws_frame f;
    size_t used = 0;
    crio_error_t e = NULL;
    int rc = ws_frame_parse(s->in.data + off, s->in.len - off, &f, &used, &e);
    if (rc < 0) {
      fail(s, &e);
      break;
    }
    if (rc == 0)
      break;
    off += used;
    struct stream_buf out = {0};
    switch (f.opcode) {
    case WS_PING:
      ws_put_frame(&out, WS_PONG, f.payload, f.length);
      flush(s, &out);
      break;
    case WS_PONG:
      break;
    case WS_CLOSE:
      ws_put_frame(&out, WS_CLOSE, f.payload, f.length >= 2 ? 2 : 0);
      flush(s, &out);
      s->over = true;
      break;
    default:
      if ((f.opcode == WS_CONTINUATION) != s->in_msg) {
        crio_error(&e, EPROTO, "%s",
                   s->in_msg ? "new message inside a fragmented one"
                             : "continuation without a message");
        fail(s, &e);
        break;
      }
      if (s->msg.len + f.length > STREAM_FRAME_MAX) {
        crio_error(&e, EMSGSIZE, "message over %u bytes", STREAM_FRAME_MAX);
        fail(s, &e);
        break;
      }
      if (f.fin && !s->in_msg) {
        ws_message(s, f.payload, f.length);
        break;
      }
      stream_buf_append(&s->msg, f.payload, f.length);
      s->in_msg = !f.fin;
      if (f.fin) {
        ws_message(s, s->msg.data, s->msg.len);
        s->msg.len = 0;
      }
    }
    stream_buf_release(&out);
  }
  stream_buf_consume(&s->in, off);
  return s->over ? -1 : 0;
}

int session_pump(struct session *s) {
  if (s->over)
    return -1;
  unsigned char buf[READ_CHUNK];
  ssize_t n = stream_transport_read(s->t, buf, sizeof(buf));
  if (n == 0) {
    log_debug("streaming: %s: the client closed the connection", s->o.what);
    s->over = true;
    return -1;
  }
  if (n < 0 && errno != EAGAIN) {
    log_info("streaming: %s: read: %s", s->o.what, strerror(errno));
    s->over = true;
    return -1;
  }
  if (n > 0) {
    stream_buf_append(&s->in, buf, (size_t)n);
    session_touch(s);
  }
  return s->o.framing == SESSION_SPDY ? spdy_parse_all(s) : ws_parse_all(s);
}
