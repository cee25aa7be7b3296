/* WebSocket (RFC 6455) as golang.org/x/net/websocket speaks it to the
 * kubelet's wsstream: the handshake's accept value, client frames (always
 * masked) and server frames (never masked).  Messages may be fragmented;
 * session.c reassembles them up to STREAM_FRAME_MAX. */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <string.h>

#include "streaming/internal.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

int ws_accept_value(const char *key, char out[29], crio_error_t *err) {
  /* The key is 16 random bytes in base64: 24 characters. */
  if (key == NULL || strlen(key) != 24)
    return crio_error(err, EINVAL, "bad Sec-WebSocket-Key");
  char text[24 + sizeof(WS_GUID)];
  memcpy(text, key, 24);
  memcpy(text + 24, WS_GUID, sizeof(WS_GUID));
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1((const unsigned char *)text, strlen(text), digest);
  EVP_EncodeBlock((unsigned char *)out, digest, SHA_DIGEST_LENGTH);
  return 0;
}

int ws_frame_parse(unsigned char *buf, size_t len, struct ws_frame *f, size_t *used,
                   crio_error_t *err) {
  memset(f, 0, sizeof(*f));
  if (len < 2)
    return 0;
  f->fin = (buf[0] & 0x80) != 0;
  f->opcode = buf[0] & 0x0f;
  if (buf[0] & 0x70)
    return crio_error(err, EPROTO, "frame with reserved bits set");
  if ((buf[1] & 0x80) == 0)
    return crio_error(err, EPROTO, "unmasked client frame");
  uint64_t n = buf[1] & 0x7f;
  size_t off = 2;
  if (n == 126) {
    if (len < 4)
      return 0;
    n = (uint64_t)buf[2] << 8 | buf[3];
    off = 4;
  } else if (n == 127) {
    if (len < 10)
      return 0;
    n = 0;
    for (int i = 0; i < 8; i++)
      n = n << 8 | buf[2 + i];
    off = 10;
  }
  bool control = f->opcode >= 8;
  if (control && (n > 125 || !f->fin))
    return crio_error(err, EPROTO, "control frame of %llu bytes%s", (unsigned long long)n,
                      f->fin ? "" : ", fragmented");
  if (f->opcode > WS_BINARY && !control)
    return crio_error(err, EPROTO, "unknown opcode %u", f->opcode);
  if (f->opcode > WS_PONG)
    return crio_error(err, EPROTO, "unknown opcode %u", f->opcode);
  if (n > STREAM_FRAME_MAX)
    return crio_error(err, EMSGSIZE, "frame of %llu bytes (limit %u)", (unsigned long long)n,
                      STREAM_FRAME_MAX);
  if (len < off + 4 + n)
    return 0;
  const unsigned char *mask = buf + off;
  f->payload = buf + off + 4;
  f->length = (size_t)n;
  for (size_t i = 0; i < f->length; i++)
    f->payload[i] ^= mask[i & 3];
  *used = off + 4 + (size_t)n;
  return 1;
}

void ws_put_frame(struct stream_buf *out, uint8_t opcode, const void *data, size_t len) {
  unsigned char h[10];
  size_t n = 0;
  h[n++] = (unsigned char)(0x80 | opcode);
  if (len < 126) {
    h[n++] = (unsigned char)len;
  } else if (len < 65536) {
    h[n++] = 126;
    h[n++] = (unsigned char)(len >> 8);
    h[n++] = (unsigned char)len;
  } else {
    h[n++] = 127;
    for (int i = 7; i >= 0; i--)
      h[n++] = (unsigned char)((uint64_t)len >> (8 * i));
  }
  stream_buf_append(out, h, n);
  stream_buf_append(out, data, len);
}

void ws_base64_encode(struct stream_buf *out, const unsigned char *data, size_t len) {
  size_t need = 4 * ((len + 2) / 3) + 1;
  size_t at = out->len;
  stream_buf_append(out, NULL, 0);
  if (out->len + need > out->cap) {
    size_t cap = out->cap ? out->cap : 4096;
    while (cap < out->len + need)
      cap *= 2;
    out->data = xrealloc(out->data, cap);
    out->cap = cap;
  }
  int n = EVP_EncodeBlock(out->data + at, data, (int)len);
  out->len = at + (size_t)n;
}

ssize_t ws_base64_decode(const char *in, size_t len, unsigned char *out) {
  if (len % 4 != 0)
    return -1;
  if (len == 0)
    return 0;
  int n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
  if (n < 0)
    return -1;
  /* EVP_DecodeBlock counts the padding as zero bytes. */
  if (in[len - 1] == '=')
    n--;
  if (in[len - 2] == '=')
    n--;
  return n;
}
