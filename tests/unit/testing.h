/* Plain assertions for unit tests: a failure says what was expected and
 * what was seen, with the line, and exits non-zero. */
#ifndef CRIO_TESTING_H
#define CRIO_TESTING_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond);                          \
      exit(1);                                                                                     \
    }                                                                                              \
  } while (0)

#define CHECK_INT_EQ(seen, expected)                                                               \
  do {                                                                                             \
    long long seen__ = (long long)(seen), expected__ = (long long)(expected);                      \
    if (seen__ != expected__) {                                                                    \
      fprintf(stderr, "%s:%d: %s: expected %lld, saw %lld\n", __FILE__, __LINE__, #seen,           \
              expected__, seen__);                                                                 \
      exit(1);                                                                                     \
    }                                                                                              \
  } while (0)

#define CHECK_STR_EQ(seen, expected)                                                               \
  do {                                                                                             \
    const char *seen__ = (seen), *expected__ = (expected);                                         \
    if (seen__ == NULL || strcmp(seen__, expected__) != 0) {                                       \
      fprintf(stderr, "%s:%d: %s: expected \"%s\", saw \"%s\"\n", __FILE__, __LINE__, #seen,       \
              expected__, seen__ ? seen__ : "(null)");                                             \
      exit(1);                                                                                     \
    }                                                                                              \
  } while (0)

#define RUN_TEST(fn)                                                                               \
  do {                                                                                             \
    fprintf(stderr, "-- %s\n", #fn);                                                               \
    fn();                                                                                          \
  } while (0)

#endif
