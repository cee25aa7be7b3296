#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

/* A runtime that cannot allocate a few bytes cannot do anything useful;
 * aborting beats threading NULL checks through every caller. */
static void *oom(size_t size) {
  fprintf(stderr, "crio: out of memory allocating %zu bytes\n", size);
  abort();
}

void *xmalloc(size_t size) {
  void *p = malloc(size ? size : 1);
  return p ? p : oom(size);
}

void *xzalloc(size_t size) {
  return xcalloc(1, size);
}

void *xcalloc(size_t nmemb, size_t size) {
  void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
  return p ? p : oom(nmemb * size);
}

void *xrealloc(void *ptr, size_t size) {
  void *p = realloc(ptr, size ? size : 1);
  return p ? p : oom(size);
}

char *xstrdup(const char *s) {
  if (s == NULL)
    return NULL;
  char *p = strdup(s);
  return p ? p : oom(strlen(s));
}

char *xstrndup(const char *s, size_t n) {
  char *p = strndup(s, n);
  return p ? p : oom(n);
}

void *xmemdup(const void *src, size_t n) {
  void *p = xmalloc(n);
  if (n)
    memcpy(p, src, n);
  return p;
}

char *xvasprintf(const char *fmt, va_list ap) {
  char *p = NULL;
  if (vasprintf(&p, fmt, ap) < 0)
    return oom(strlen(fmt));
  return p;
}

char *xasprintf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *p = xvasprintf(fmt, ap);
  va_end(ap);
  return p;
}
