#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "cri/call.h"

/* A per-call list of allocations, freed together once the response is on
 * the wire.  Responses are small trees of strings and sub-messages; this
 * keeps every handler free of free(). */
struct arena_block {
  struct arena_block *next;
  max_align_t data[];
};

void *cri_arena_alloc(struct cri_arena *arena, size_t size) {
  struct arena_block *b = xzalloc(sizeof(*b) + size);
  b->next = arena->blocks;
  arena->blocks = b;
  return b->data;
}

void cri_arena_release(struct cri_arena *arena) {
  struct arena_block *b = arena->blocks;
  while (b) {
    struct arena_block *next = b->next;
    free(b);
    b = next;
  }
  arena->blocks = NULL;
}

void *cri_alloc(struct cri_request *req, size_t size) {
  return cri_arena_alloc(&req->call->arena, size);
}

char *cri_strdup(struct cri_request *req, const char *s) {
  if (s == NULL)
    s = "";
  size_t n = strlen(s) + 1;
  char *p = cri_alloc(req, n);
  memcpy(p, s, n);
  return p;
}

char *cri_printf(struct cri_request *req, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cleanup_free char *tmp = xvasprintf(fmt, ap);
  va_end(ap);
  return cri_strdup(req, tmp);
}

void cri_scratch_begin(struct cri_scratch *s, const struct cri_request *req) {
  memset(s, 0, sizeof(*s));
  s->req = *req;
  s->req.call = &s->call;
}

void cri_scratch_end(struct cri_scratch *s) {
  cri_arena_release(&s->call.arena);
}
