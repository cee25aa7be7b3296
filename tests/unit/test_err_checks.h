/* OK and FAILS_WITH for unit tests of calls that take a crio_error_t *:
 * both use the `err` (a crio_error_t) the including file declares, report
 * the expression and the error's message, and release the error. */
#ifndef CRIO_TEST_ERR_CHECKS_H
#define CRIO_TEST_ERR_CHECKS_H

#include <stdio.h>
#include <stdlib.h>

#include "common/common.h"
#include "tests/unit/testing.h"

/* expr takes &err; it must succeed. */
#define OK(expr)                                                                                   \
  do {                                                                                             \
    if ((expr) < 0) {                                                                              \
      fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr,                         \
              crio_error_message(&err));                                                           \
      exit(1);                                                                                     \
    }                                                                                              \
    crio_error_release(&err);                                                                      \
  } while (0)

/* expr takes &err; it must fail with status. */
#define FAILS_WITH(expr, status)                                                                   \
  do {                                                                                             \
    if ((expr) >= 0) {                                                                             \
      fprintf(stderr, "%s:%d: %s succeeded, expected %s\n", __FILE__, __LINE__, #expr, #status);   \
      exit(1);                                                                                     \
    }                                                                                              \
    CHECK_INT_EQ(crio_error_status(&err), status);                                                 \
    crio_error_release(&err);                                                                      \
  } while (0)

#endif
