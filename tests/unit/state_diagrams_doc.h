/* The text of docs/state-diagrams.md, generated from the statemachine
 * tables.  Shared by the statemachine-diagrams program, which prints it,
 * and test_state_diagrams, which checks the checked-in doc equals it. */
#ifndef CRIO_STATE_DIAGRAMS_DOC_H
#define CRIO_STATE_DIAGRAMS_DOC_H

#define STATE_DIAGRAMS_DOC_PATH "docs/state-diagrams.md"

/* The whole document, malloc'd; aborts on allocation failure. */
char *state_diagrams_doc(void);

#endif
