/* SPDY/3.1 framing as moby/spdystream (the kubelet's and client-go's
 * library) writes and reads it: frames of a 24-bit length, header blocks
 * compressed by one zlib stream per direction primed with the SPDY/3
 * dictionary and flushed (Z_SYNC_FLUSH) at the end of every block.
 *
 * Flow control: spdystream neither sends WINDOW_UPDATE nor honours it, so
 * neither do we (TCP is the only back-pressure); a WINDOW_UPDATE is checked
 * for sanity and dropped.  Limits: a control frame over STREAM_CONTROL_MAX,
 * a decompressed header block over it, a data frame over STREAM_FRAME_MAX
 * or a version other than 3 is a protocol error. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "streaming/internal.h"

void stream_buf_append(struct stream_buf *b, const void *data, size_t len) {
  if (b->len + len > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + len)
      cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
  }
  if (len)
    memcpy(b->data + b->len, data, len);
  b->len += len;
}

void stream_buf_consume(struct stream_buf *b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
}

void stream_buf_release(struct stream_buf *b) {
  free(b->data);
  memset(b, 0, sizeof(*b));
}

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}

void spdy_codec_init(struct spdy_codec *c) {
  memset(c, 0, sizeof(*c));
}

void spdy_codec_release(struct spdy_codec *c) {
  if (c->inflate_ready)
    inflateEnd(&c->inflate);
  if (c->deflate_ready)
    deflateEnd(&c->deflate);
  c->inflate_ready = c->deflate_ready = false;
}

void spdy_frame_release(struct spdy_frame *f) {
  free(f->headers);
  f->headers = NULL;
}

/* Inflates one header block (the next piece of the connection's stream). */
static int inflate_block(struct spdy_codec *c, const unsigned char *in, size_t len,
                         struct stream_buf *out, crio_error_t *err) {
  if (!c->inflate_ready) {
    if (inflateInit(&c->inflate) != Z_OK)
      return crio_error(err, ENOMEM, "zlib inflateInit");
    c->inflate_ready = true;
  }
  z_stream *z = &c->inflate;
  z->next_in = (unsigned char *)in;
  z->avail_in = (uInt)len;
  unsigned char chunk[4096];
  while (z->avail_in > 0) {
    z->next_out = chunk;
    z->avail_out = sizeof(chunk);
    int rc = inflate(z, Z_SYNC_FLUSH);
    if (rc == Z_NEED_DICT) {
      if (inflateSetDictionary(z, stream_spdy_dictionary, (uInt)stream_spdy_dictionary_len) != Z_OK)
        return crio_error(err, EPROTO, "header block: not the SPDY/3 dictionary");
      continue;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR)
      return crio_error(err, EPROTO, "header block does not inflate: %s",
                        z->msg ? z->msg : "zlib error");
    size_t got = sizeof(chunk) - z->avail_out;
    if (out->len + got > STREAM_CONTROL_MAX)
      return crio_error(err, EMSGSIZE, "header block over %u bytes", STREAM_CONTROL_MAX);
    stream_buf_append(out, chunk, got);
    if (rc == Z_BUF_ERROR && got == 0)
      break;
  }
  return 0;
}

/* Checks a decoded block and rewrites it as "name\0value\0"... */
static int decode_headers(const unsigned char *p, size_t len, struct spdy_frame *f,
                          crio_error_t *err) {
  if (len < 4)
    return crio_error(err, EPROTO, "header block too short");
  uint32_t count = be32(p);
  size_t off = 4;
  struct stream_buf out = {0};
  for (uint32_t i = 0; i < count; i++) {
    for (int part = 0; part < 2; part++) {
      if (len - off < 4) {
        stream_buf_release(&out);
        return crio_error(err, EPROTO, "header block truncated");
      }
      uint32_t n = be32(p + off);
      off += 4;
      if (n > len - off || (part == 0 && n == 0)) {
        stream_buf_release(&out);
        return crio_error(err, EPROTO, "header block: bad length %u", n);
      }
      if (memchr(p + off, '\0', n) && part == 0) {
        stream_buf_release(&out);
        return crio_error(err, EPROTO, "header block: NUL in a name");
      }
      size_t at = out.len;
      stream_buf_append(&out, p + off, n);
      stream_buf_append(&out, "", 1);
      /* Repeated values are NUL-joined in SPDY: keep them comma-joined. */
      for (size_t k = at; k < at + n; k++)
        if (out.data[k] == '\0')
          out.data[k] = ',';
      off += n;
    }
  }
  f->headers = (char *)out.data;
  f->headers_len = out.len;
  return 0;
}

const char *spdy_header(const struct spdy_frame *f, const char *name) {
  const char *p = f->headers, *end = f->headers ? f->headers + f->headers_len : NULL;
  while (p && p < end) {
    const char *value = p + strlen(p) + 1;
    if (strcasecmp(p, name) == 0)
      return value;
    p = value + strlen(value) + 1;
  }
  return NULL;
}

int spdy_frame_parse(struct spdy_codec *c, const unsigned char *buf, size_t len,
                     struct spdy_frame *f, size_t *used, crio_error_t *err) {
  memset(f, 0, sizeof(*f));
  if (len < 8)
    return 0;
  uint32_t w0 = be32(buf), w1 = be32(buf + 4);
  f->flags = (uint8_t)(w1 >> 24);
  f->length = w1 & 0xffffff;
  f->control = (w0 & 0x80000000u) != 0;
  if (f->control) {
    uint16_t version = (uint16_t)((w0 >> 16) & 0x7fff);
    f->type = (uint16_t)(w0 & 0xffff);
    if (version != 3)
      return crio_error(err, EPROTO, "SPDY version %u, not 3", version);
    if (f->length > STREAM_CONTROL_MAX)
      return crio_error(err, EMSGSIZE, "control frame of %u bytes", f->length);
  } else {
    f->stream_id = w0 & 0x7fffffff;
    if (f->length > STREAM_FRAME_MAX)
      return crio_error(err, EMSGSIZE, "data frame of %u bytes (limit %u)", f->length,
                        STREAM_FRAME_MAX);
    if (f->stream_id == 0)
      return crio_error(err, EPROTO, "data frame on stream 0");
  }
  if (len - 8 < f->length)
    return 0;
  f->payload = buf + 8;
  *used = 8 + (size_t)f->length;
  if (!f->control)
    return 1;

  const unsigned char *p = f->payload;
  uint32_t n = f->length;
  size_t block_at = 0;
  switch (f->type) {
  case SPDY_SYN_STREAM:
    if (n < 10)
      return crio_error(err, EPROTO, "SYN_STREAM of %u bytes", n);
    f->stream_id = be32(p) & 0x7fffffff;
    block_at = 10;
    break;
  case SPDY_SYN_REPLY:
  case SPDY_HEADERS:
    if (n < 4)
      return crio_error(err, EPROTO, "frame type %u of %u bytes", f->type, n);
    f->stream_id = be32(p) & 0x7fffffff;
    block_at = 4;
    break;
  case SPDY_RST_STREAM:
  case SPDY_WINDOW_UPDATE:
    if (n != 8)
      return crio_error(err, EPROTO, "frame type %u of %u bytes", f->type, n);
    f->stream_id = be32(p) & 0x7fffffff;
    f->value = be32(p + 4);
    if (f->type == SPDY_WINDOW_UPDATE && ((f->value & 0x7fffffff) == 0 || f->value > 0x7fffffff))
      return crio_error(err, EPROTO, "WINDOW_UPDATE with a delta of %u", f->value);
    return 1;
  case SPDY_PING:
    if (n != 4)
      return crio_error(err, EPROTO, "PING of %u bytes", n);
    f->value = be32(p);
    return 1;
  case SPDY_GOAWAY:
    if (n != 8)
      return crio_error(err, EPROTO, "GOAWAY of %u bytes", n);
    f->stream_id = be32(p) & 0x7fffffff;
    f->value = be32(p + 4);
    return 1;
  case SPDY_SETTINGS:
    if (n < 4 || (uint64_t)be32(p) * 8 != n - 4)
      return crio_error(err, EPROTO, "SETTINGS of %u bytes", n);
    return 1;
  default:
    return 1; /* unknown control frames are ignored (SPDY/3 2.2.1) */
  }
  if (f->stream_id == 0)
    return crio_error(err, EPROTO, "frame type %u on stream 0", f->type);
  struct stream_buf block = {0};
  int rc = inflate_block(c, p + block_at, n - block_at, &block, err);
  if (rc == 0)
    rc = decode_headers(block.data, block.len, f, err);
  stream_buf_release(&block);
  return rc < 0 ? -1 : 1;
}

static void put_control(struct stream_buf *out, uint16_t type, uint8_t flags, uint32_t len) {
  unsigned char h[8];
  put32(h, 0x80000000u | (3u << 16) | type);
  put32(h + 4, (uint32_t)flags << 24 | len);
  stream_buf_append(out, h, sizeof(h));
}

int spdy_put_syn_reply(struct spdy_codec *c, struct stream_buf *out, uint32_t stream_id,
                       crio_error_t *err) {
  if (!c->deflate_ready) {
    if (deflateInit(&c->deflate, Z_DEFAULT_COMPRESSION) != Z_OK ||
        deflateSetDictionary(&c->deflate, stream_spdy_dictionary,
                             (uInt)stream_spdy_dictionary_len) != Z_OK)
      return crio_error(err, ENOMEM, "zlib deflateInit");
    c->deflate_ready = true;
  }
  /* A reply carries no headers: the block is a count of zero. */
  unsigned char block[4] = {0, 0, 0, 0};
  unsigned char packed[256];
  z_stream *z = &c->deflate;
  z->next_in = block;
  z->avail_in = sizeof(block);
  z->next_out = packed;
  z->avail_out = sizeof(packed);
  if (deflate(z, Z_SYNC_FLUSH) != Z_OK || z->avail_in != 0)
    return crio_error(err, EIO, "zlib deflate");
  uint32_t packed_len = (uint32_t)(sizeof(packed) - z->avail_out);
  put_control(out, SPDY_SYN_REPLY, 0, 4 + packed_len);
  unsigned char id[4];
  put32(id, stream_id & 0x7fffffff);
  stream_buf_append(out, id, 4);
  stream_buf_append(out, packed, packed_len);
  return 0;
}

void spdy_put_data(struct stream_buf *out, uint32_t stream_id, uint8_t flags, const void *data,
                   size_t len) {
  unsigned char h[8];
  put32(h, stream_id & 0x7fffffff);
  put32(h + 4, (uint32_t)flags << 24 | (uint32_t)len);
  stream_buf_append(out, h, sizeof(h));
  stream_buf_append(out, data, len);
}

void spdy_put_rst(struct stream_buf *out, uint32_t stream_id, uint32_t status) {
  unsigned char p[8];
  put32(p, stream_id & 0x7fffffff);
  put32(p + 4, status);
  put_control(out, SPDY_RST_STREAM, 0, 8);
  stream_buf_append(out, p, 8);
}

void spdy_put_goaway(struct stream_buf *out, uint32_t last_stream, uint32_t status) {
  unsigned char p[8];
  put32(p, last_stream & 0x7fffffff);
  put32(p + 4, status);
  put_control(out, SPDY_GOAWAY, 0, 8);
  stream_buf_append(out, p, 8);
}

void spdy_put_ping(struct stream_buf *out, uint32_t id) {
  unsigned char p[4];
  put32(p, id);
  put_control(out, SPDY_PING, 0, 4);
  stream_buf_append(out, p, 4);
}
