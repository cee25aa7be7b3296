/* fuzz/: what the libFuzzer targets share.  Each target is one file,
 * fuzz_<name>.c, defining LLVMFuzzerTestOneInput; it feeds the bytes to
 * one parser through the same functions the daemon calls, and checks the
 * invariants that parser promises besides not crashing (a round trip, a
 * path that stays inside its root).  A broken invariant aborts, which
 * libFuzzer reports as a crash. */
#ifndef CRIO_FUZZ_H
#define CRIO_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts with a message: an invariant of the code under test broke. */
#define FUZZ_ASSERT(cond)                                                                          \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);                 \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

/* Only errors are logged: the parsers warn about what they ignore, and a
 * fuzzer would print that a million times. */
void fuzz_quiet_logs(void);

/* The input as a NUL-terminated string (malloc'd); bytes after an embedded
 * NUL are still there but C-string parsers stop at it, as they would on
 * the wire. */
char *fuzz_cstring(const uint8_t *data, size_t size);

/* A private directory under $TMPDIR (or /tmp) made once per process;
 * removed at exit. */
const char *fuzz_workdir(void);

/* Removes path and everything below it, never following a link; best
 * effort. */
void fuzz_rm_rf(const char *path);

/* An anonymous file holding the bytes, and its /proc/self/fd path, for
 * readers that take a path.  Returns the fd (close it); aborts on failure. */
int fuzz_memfd(const uint8_t *data, size_t size, char path[64]);

#endif
