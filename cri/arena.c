#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "cri/call.h"

/* A per-call arena, freed at once when the response is on the wire.
 * Responses are small trees of strings and sub-messages; this keeps every
 * handler free of free().  Allocations are carved out of zeroed blocks
 * that double from 1 KiB to 64 KiB (a block of its own for a large one):
 * a list call builds thousands of small messages (a stats entry is some
 * twenty), and a malloc and a free for each was a measured share of the
 * stats calls.  ASan builds keep one block per allocation, so that an
 * overflow from one object into the next is still caught. */
#if defined(__SANITIZE_ADDRESS__)
#define ARENA_PER_ALLOCATION 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_PER_ALLOCATION 1
#endif
#endif

#define ARENA_BLOCK_FIRST 1024
#define ARENA_BLOCK_MAX (64 * 1024)

struct arena_block {
  struct arena_block *next;
  size_t size, used; /* of data, in bytes */
  max_align_t data[];
};

static struct arena_block *block_new(size_t size) {
  struct arena_block *b = xzalloc(sizeof(*b) + size);
  b->size = size;
  return b;
}

void *cri_arena_alloc(struct cri_arena *arena, size_t size) {
  size = (size + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
  if (size == 0)
    size = sizeof(max_align_t);
  struct arena_block *head = arena->blocks;
#ifndef ARENA_PER_ALLOCATION
  if (head && head->size - head->used >= size) {
    void *p = (char *)head->data + head->used;
    head->used += size;
    return p;
  }
  size_t next = head ? head->size * 2 : ARENA_BLOCK_FIRST;
  if (next > ARENA_BLOCK_MAX)
    next = ARENA_BLOCK_MAX;
  if (size <= next / 4) {
    struct arena_block *b = block_new(next);
    b->used = size;
    b->next = head;
    arena->blocks = b;
    return b->data;
  }
#endif
  /* Large: a block of its own, behind the head, whose room stays in use. */
  struct arena_block *b = block_new(size);
  b->used = size;
  if (head) {
    b->next = head->next;
    head->next = b;
  } else {
    arena->blocks = b;
  }
  return b->data;
}

void cri_arena_adopt(struct cri_arena *into, struct cri_arena *from) {
  struct arena_block *first = from->blocks;
  from->blocks = NULL;
  if (first == NULL)
    return;
  if (into->blocks == NULL) {
    into->blocks = first;
    return;
  }
  struct arena_block *last = first;
  while (last->next)
    last = last->next;
  last->next = into->blocks->next;
  into->blocks->next = first;
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

/* Workers other than the caller allocate from arenas of their own (an
 * arena has no lock), handed to the request's when all are done. */
struct parallel_call {
  struct cri_request *req;
  struct cri_scratch *scratch; /* [workers]; [0] unused: worker 0 is req */
  cri_parallel_fn fn;
  void *data;
};

static void parallel_item(void *data, size_t i, unsigned worker) {
  struct parallel_call *pc = data;
  pc->fn(worker == 0 ? pc->req : &pc->scratch[worker].req, i, pc->data);
}

void cri_parallel_for(struct cri_request *req, size_t n, size_t min_per_worker, cri_parallel_fn fn,
                      void *data) {
  unsigned workers = crio_parallel_workers(n, min_per_worker);
  struct cri_scratch scratch[CRIO_PARALLEL_MAX];
  for (unsigned w = 1; w < workers; w++)
    cri_scratch_begin(&scratch[w], req);
  struct parallel_call pc = {req, scratch, fn, data};
  crio_parallel_for(n, workers, parallel_item, &pc);
  for (unsigned w = 1; w < workers; w++)
    cri_arena_adopt(&req->call->arena, &scratch[w].call.arena);
}
