/* Single-use tokens naming a streaming request, as the kubelet's request
 * cache (pkg/kubelet/cri/streaming/request_cache.go) keeps them: a token
 * lives until it is used once or its lifetime (a minute) ends, and at most
 * `max` are outstanding; when full, expired ones are dropped first and a
 * fresh request is refused (RESOURCE_EXHAUSTED) rather than evicting a
 * live one.  Tokens are 128 random bits, URL-safe base64: unguessable, so
 * the URL is the capability (the kubelet's are 48 bits). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "streaming/internal.h"

struct token_entry {
  char token[24];
  int64_t expires_ns;
  struct stream_request *req;
};

struct stream_tokens {
  pthread_mutex_t lock;
  struct token_entry *entries;
  size_t n, max;
  int64_t ttl_ns;
};

void stream_request_free(struct stream_request *r) {
  if (r == NULL)
    return;
  free(r->id);
  cleanup_strvp(&r->cmd);
  free(r->ports);
  free(r);
}

void stream_request_freep(struct stream_request **r) {
  stream_request_free(*r);
  *r = NULL;
}

struct stream_tokens *stream_tokens_new(unsigned max, int64_t ttl_ms) {
  struct stream_tokens *c = xzalloc(sizeof(*c));
  pthread_mutex_init(&c->lock, NULL);
  c->max = max ? max : 1000;
  c->ttl_ns = (ttl_ms > 0 ? ttl_ms : 60000) * 1000000;
  c->entries = xcalloc(c->max, sizeof(*c->entries));
  return c;
}

void stream_tokens_free(struct stream_tokens *c) {
  if (c == NULL)
    return;
  for (size_t i = 0; i < c->n; i++)
    stream_request_free(c->entries[i].req);
  free(c->entries);
  pthread_mutex_destroy(&c->lock);
  free(c);
}

static void random_token(char out[24]) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  unsigned char bytes[22];
  crio_random_bytes(bytes, sizeof(bytes));
  /* 22 characters of 6 bits: 132 bits, of which 128 are used in full. */
  for (size_t i = 0; i < sizeof(bytes); i++)
    out[i] = alphabet[bytes[i] & 63];
  out[sizeof(bytes)] = '\0';
}

static void drop(struct stream_tokens *c, size_t i) {
  stream_request_free(c->entries[i].req);
  c->entries[i] = c->entries[--c->n];
}

static void drop_expired(struct stream_tokens *c, int64_t now) {
  for (size_t i = 0; i < c->n;)
    if (c->entries[i].expires_ns <= now)
      drop(c, i);
    else
      i++;
}

int stream_tokens_insert(struct stream_tokens *c, struct stream_request *req, char **token,
                         crio_error_t *err) {
  int64_t now = crio_monotonic_ns();
  pthread_mutex_lock(&c->lock);
  if (c->n == c->max)
    drop_expired(c, now);
  if (c->n == c->max) {
    pthread_mutex_unlock(&c->lock);
    stream_request_free(req);
    return crio_error(err, EAGAIN, "too many streaming requests in flight (%zu)", c->max);
  }
  struct token_entry *e = &c->entries[c->n++];
  random_token(e->token);
  e->expires_ns = now + c->ttl_ns;
  e->req = req;
  *token = xstrdup(e->token);
  pthread_mutex_unlock(&c->lock);
  return 0;
}

struct stream_request *stream_tokens_consume(struct stream_tokens *c, const char *token) {
  struct stream_request *req = NULL;
  int64_t now = crio_monotonic_ns();
  pthread_mutex_lock(&c->lock);
  for (size_t i = 0; i < c->n; i++) {
    if (strcmp(c->entries[i].token, token) != 0)
      continue;
    if (c->entries[i].expires_ns > now)
      req = steal_pointer(&c->entries[i].req);
    drop(c, i);
    break;
  }
  pthread_mutex_unlock(&c->lock);
  return req;
}
