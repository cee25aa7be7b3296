/* statemachine-diagrams: prints docs/state-diagrams.md as the statemachine
 * tables say it should be.  Run from the source tree:
 *   build/tests/statemachine-diagrams > docs/state-diagrams.md */
#include "state_diagrams_doc.h"

#include <stdio.h>
#include <stdlib.h>

int main(void) {
  char *doc = state_diagrams_doc();
  fputs(doc, stdout);
  free(doc);
  if (fflush(stdout) != 0 || ferror(stdout)) {
    perror("statemachine-diagrams: write");
    return 1;
  }
  return 0;
}
