/* The streaming server's protocol pieces on their own: single-use tokens
 * with a lifetime and a bound; SPDY/3 frames (header blocks compressed with
 * the SPDY dictionary the way spdystream writes them, limits, versions);
 * WebSocket's accept value (RFC 6455's example), masked frames, limits. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "streaming/internal.h"
#include "tests/unit/test_err_checks.h"

static crio_error_t err = NULL;

static struct stream_request *request(const char *id) {
  struct stream_request *r = xzalloc(sizeof(*r));
  r->kind = STREAM_EXEC;
  r->id = xstrdup(id);
  return r;
}

static void test_tokens_are_single_use_expire_and_are_bounded(void) {
  struct stream_tokens *c = stream_tokens_new(2, 50);
  char *t1 = NULL, *t2 = NULL, *t3 = NULL;
  OK(stream_tokens_insert(c, request("a"), &t1, &err));
  OK(stream_tokens_insert(c, request("b"), &t2, &err));
  CHECK(strcmp(t1, t2) != 0 && strlen(t1) >= 22);
  FAILS_WITH(stream_tokens_insert(c, request("c"), &t3, &err), EAGAIN);
  struct stream_request *r = stream_tokens_consume(c, t1);
  CHECK(r != NULL);
  CHECK_STR_EQ(r->id, "a");
  stream_request_free(r);
  CHECK(stream_tokens_consume(c, t1) == NULL); /* single use */
  CHECK(stream_tokens_consume(c, "nosuchtoken") == NULL);
  usleep(80 * 1000);
  CHECK(stream_tokens_consume(c, t2) == NULL); /* expired */
  /* Expired ones make room. */
  OK(stream_tokens_insert(c, request("d"), &t3, &err));
  free(t3);
  OK(stream_tokens_insert(c, request("e"), &t3, &err));
  free(t1);
  free(t2);
  free(t3);
  stream_tokens_free(c);
}

/* A header block as spdystream writes it: count, lengths, names and
 * values, through a zlib stream primed with the dictionary. */
static size_t client_block(z_stream *z, const char *const *kv, size_t n, unsigned char *out,
                           size_t cap) {
  unsigned char raw[1024];
  size_t len = 0;
  uint32_t count = htonl((uint32_t)n);
  memcpy(raw, &count, 4);
  len = 4;
  for (size_t i = 0; i < 2 * n; i++) {
    uint32_t l = htonl((uint32_t)strlen(kv[i]));
    memcpy(raw + len, &l, 4);
    memcpy(raw + len + 4, kv[i], strlen(kv[i]));
    len += 4 + strlen(kv[i]);
  }
  z->next_in = raw;
  z->avail_in = (uInt)len;
  z->next_out = out;
  z->avail_out = (uInt)cap;
  CHECK(deflate(z, Z_SYNC_FLUSH) == Z_OK);
  return cap - z->avail_out;
}

static size_t syn_stream(z_stream *z, uint32_t id, const char *const *kv, size_t n,
                         unsigned char *frame) {
  unsigned char block[1024];
  size_t blen = client_block(z, kv, n, block, sizeof(block));
  uint32_t w0 = htonl(0x80000000u | (3u << 16) | SPDY_SYN_STREAM);
  uint32_t w1 = htonl((uint32_t)(10 + blen));
  uint32_t sid = htonl(id), assoc = 0;
  memcpy(frame, &w0, 4);
  memcpy(frame + 4, &w1, 4);
  memcpy(frame + 8, &sid, 4);
  memcpy(frame + 12, &assoc, 4);
  frame[16] = frame[17] = 0;
  memcpy(frame + 18, block, blen);
  return 18 + blen;
}

static void test_spdy_frames_and_header_blocks(void) {
  struct spdy_codec codec;
  spdy_codec_init(&codec);
  z_stream client = {0};
  CHECK(deflateInit(&client, Z_DEFAULT_COMPRESSION) == Z_OK);
  CHECK(deflateSetDictionary(&client, stream_spdy_dictionary, (uInt)stream_spdy_dictionary_len) ==
        Z_OK);
  /* Two frames in a row: the second's block continues the zlib stream. */
  const char *kv1[] = {"streamtype", "error"};
  const char *kv2[] = {"streamtype", "data", "port", "8080", "requestid", "7"};
  unsigned char buf[4096];
  size_t n1 = syn_stream(&client, 1, kv1, 1, buf);
  size_t n2 = syn_stream(&client, 3, kv2, 3, buf + n1);
  struct spdy_frame f;
  size_t used = 0;
  CHECK_INT_EQ(spdy_frame_parse(&codec, buf, n1 - 1, &f, &used, &err), 0); /* partial */
  CHECK_INT_EQ(spdy_frame_parse(&codec, buf, n1 + n2, &f, &used, &err), 1);
  CHECK_INT_EQ(used, n1);
  CHECK(f.control && f.type == SPDY_SYN_STREAM && f.stream_id == 1);
  CHECK_STR_EQ(spdy_header(&f, "streamType"), "error");
  spdy_frame_release(&f);
  CHECK_INT_EQ(spdy_frame_parse(&codec, buf + n1, n2, &f, &used, &err), 1);
  CHECK_STR_EQ(spdy_header(&f, "port"), "8080");
  CHECK_STR_EQ(spdy_header(&f, "requestid"), "7");
  CHECK(spdy_header(&f, "nothere") == NULL);
  spdy_frame_release(&f);
  deflateEnd(&client);

  /* Our SYN_REPLY inflates, with the dictionary, to an empty block. */
  struct stream_buf out = {0};
  OK(spdy_put_syn_reply(&codec, &out, 5, &err));
  z_stream in = {0};
  CHECK(inflateInit(&in) == Z_OK);
  unsigned char block[64];
  in.next_in = out.data + 12;
  in.avail_in = (uInt)(out.len - 12);
  in.next_out = block;
  in.avail_out = sizeof(block);
  int rc = inflate(&in, Z_SYNC_FLUSH);
  CHECK_INT_EQ(rc, Z_NEED_DICT);
  CHECK(inflateSetDictionary(&in, stream_spdy_dictionary, (uInt)stream_spdy_dictionary_len) ==
        Z_OK);
  inflate(&in, Z_SYNC_FLUSH);
  CHECK_INT_EQ(sizeof(block) - in.avail_out, 4);
  CHECK(memcmp(block, "\0\0\0\0", 4) == 0);
  inflateEnd(&in);

  /* Data frames; limits and versions. */
  out.len = 0;
  spdy_put_data(&out, 3, SPDY_FLAG_FIN, "abc", 3);
  CHECK_INT_EQ(spdy_frame_parse(&codec, out.data, out.len, &f, &used, &err), 1);
  CHECK(!f.control && f.stream_id == 3 && f.length == 3 && (f.flags & SPDY_FLAG_FIN));
  unsigned char huge[8] = {0, 0, 0, 1, 0, 0xff, 0xff, 0xff};
  FAILS_WITH(spdy_frame_parse(&codec, huge, sizeof(huge), &f, &used, &err), EMSGSIZE);
  unsigned char v2[8] = {0x80, 2, 0, 1, 0, 0, 0, 10};
  FAILS_WITH(spdy_frame_parse(&codec, v2, sizeof(v2), &f, &used, &err), EPROTO);
  unsigned char zero[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  FAILS_WITH(spdy_frame_parse(&codec, zero, sizeof(zero), &f, &used, &err), EPROTO);
  unsigned char window[16] = {0x80, 3, 0, 9, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0};
  FAILS_WITH(spdy_frame_parse(&codec, window, sizeof(window), &f, &used, &err), EPROTO);
  stream_buf_release(&out);
  spdy_codec_release(&codec);
}

static void test_websocket_handshake_and_frames(void) {
  char accept[29];
  OK(ws_accept_value("dGhlIHNhbXBsZSBub25jZQ==", accept, &err));
  CHECK_STR_EQ(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="); /* RFC 6455, 1.3 */
  FAILS_WITH(ws_accept_value("short", accept, &err), EINVAL);

  unsigned char frame[16] = {0x82, 0x85, 1, 2, 3, 4};
  const char *text = "hello";
  for (int i = 0; i < 5; i++)
    frame[6 + i] = (unsigned char)(text[i] ^ frame[2 + (i & 3)]);
  struct ws_frame f;
  size_t used = 0;
  CHECK_INT_EQ(ws_frame_parse(frame, 10, &f, &used, &err), 0);
  CHECK_INT_EQ(ws_frame_parse(frame, 11, &f, &used, &err), 1);
  CHECK(f.fin && f.opcode == WS_BINARY && f.length == 5 && used == 11);
  CHECK(memcmp(f.payload, "hello", 5) == 0);
  unsigned char unmasked[7] = {0x82, 0x05, 'h', 'e', 'l', 'l', 'o'};
  FAILS_WITH(ws_frame_parse(unmasked, sizeof(unmasked), &f, &used, &err), EPROTO);
  unsigned char huge[14] = {0x82, 0xff, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
  FAILS_WITH(ws_frame_parse(huge, sizeof(huge), &f, &used, &err), EMSGSIZE);
  unsigned char long_ping[8] = {0x89, 0xfe, 0, 200, 1, 2, 3, 4};
  FAILS_WITH(ws_frame_parse(long_ping, sizeof(long_ping), &f, &used, &err), EPROTO);

  struct stream_buf b = {0};
  ws_base64_encode(&b, (const unsigned char *)"foo\n", 4);
  CHECK_INT_EQ(b.len, 8);
  CHECK(memcmp(b.data, "Zm9vCg==", 8) == 0);
  unsigned char dec[16];
  CHECK_INT_EQ(ws_base64_decode((const char *)b.data, b.len, dec), 4);
  CHECK(memcmp(dec, "foo\n", 4) == 0);
  CHECK_INT_EQ(ws_base64_decode("abc", 3, dec), -1);
  stream_buf_release(&b);
}

int main(void) {
  RUN_TEST(test_tokens_are_single_use_expire_and_are_bounded);
  RUN_TEST(test_spdy_frames_and_header_blocks);
  RUN_TEST(test_websocket_handshake_and_frames);
  return 0;
}
