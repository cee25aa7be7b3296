/* cri/arena.c: a request's allocations are zeroed, aligned for any type,
 * do not overlap (small ones carved from shared blocks, large ones in
 * blocks of their own), and an adopted arena's allocations live until the
 * adopting one is released (ASan and the leak checker see the rest). */
#include <stdalign.h>
#include <stdint.h>

#include "cri/call.h"
#include "tests/unit/testing.h"

static void test_zeroed_aligned_apart(void) {
  struct cri_arena a = {0};
  enum { N = 2000 };
  unsigned char *p[N];
  size_t size[N];
  for (size_t i = 0; i < N; i++) {
    size[i] = (i * 37) % 300 + (i % 97 == 0 ? 40000 : 0) + (i % 5 == 0 ? 0 : 1);
    p[i] = cri_arena_alloc(&a, size[i]);
    CHECK((uintptr_t)p[i] % alignof(max_align_t) == 0);
    for (size_t k = 0; k < size[i]; k++)
      CHECK(p[i][k] == 0);
    memset(p[i], (int)(i % 251) + 1, size[i]);
  }
  /* Every byte still holds what its own allocation wrote. */
  for (size_t i = 0; i < N; i++)
    for (size_t k = 0; k < size[i]; k++)
      CHECK_INT_EQ(p[i][k], (i % 251) + 1);
  cri_arena_release(&a);
  CHECK(a.blocks == NULL);
}

static void test_adopt(void) {
  struct cri_arena into = {0}, from = {0}, empty = {0};
  char *x = cri_arena_alloc(&into, 10);
  char *y = cri_arena_alloc(&from, 100000);
  char *z = cri_arena_alloc(&from, 10);
  strcpy(x, "x");
  strcpy(y, "y");
  strcpy(z, "z");
  cri_arena_adopt(&into, &from);
  CHECK(from.blocks == NULL);
  cri_arena_adopt(&into, &empty);
  cri_arena_adopt(&empty, &into); /* into an empty arena */
  CHECK(into.blocks == NULL);
  CHECK_STR_EQ(x, "x");
  CHECK_STR_EQ(y, "y");
  CHECK_STR_EQ(z, "z");
  /* The head block's room is still used after an adopt. */
  char *w = cri_arena_alloc(&empty, 10);
  CHECK(w != NULL && w[0] == 0);
  cri_arena_release(&empty);
}

int main(void) {
  RUN_TEST(test_zeroed_aligned_apart);
  RUN_TEST(test_adopt);
  return 0;
}
