/* Renders a machine as a mermaid stateDiagram-v2.  docs/state-diagrams.md
 * embeds exactly this text and a unit test compares the two, so a change
 * to a table shows up as a failing test until the doc is regenerated.
 * The output must therefore be deterministic: table order, no dates. */
#include "statemachine/statemachine.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* Two passes over the same code, one measuring and one writing, so the
 * renderer needs one allocation and no realloc bookkeeping. */
struct render_buf {
  char *data; /* NULL while measuring */
  size_t cap;
  size_t len;
};

__attribute__((format(printf, 2, 3))) static void render_append(struct render_buf *b,
                                                                const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  size_t room = b->len < b->cap ? b->cap - b->len : 0;
  int n = vsnprintf(b->data ? b->data + b->len : NULL, room, fmt, ap);
  va_end(ap);
  if (n > 0)
    b->len += (size_t)n;
}

static void render_machine(const struct sm_machine *m, struct render_buf *b) {
  render_append(b, "stateDiagram-v2\n");
  render_append(b,
                "    %%%% generated from statemachine/%s.c; "
                "(rollback) undoes a partial creation, (event) is "
                "observed, not run\n",
                m->name);
  render_append(b, "    [*] --> %s\n", m->state_names[m->initial]);
  for (size_t i = 0; i < m->n_transitions; i++) {
    const struct sm_transition *t = &m->transitions[i];
    const char *tag = t->trigger == SM_TRIGGER_EVENT ? " (event)"
                      : t->rollback                  ? " (rollback)"
                                                     : "";
    render_append(b, "    %s --> %s: %s%s\n", m->state_names[t->from], m->state_names[t->to],
                  t->name, tag);
  }
  render_append(b, "    %s --> [*]\n", m->state_names[m->terminal]);
}

char *sm_render_mermaid(enum sm_kind kind) {
  const struct sm_machine *m = sm_machine(kind);
  if (m == NULL)
    return NULL;
  struct render_buf b = {NULL, 0, 0};
  render_machine(m, &b);
  size_t need = b.len + 1;
  b = (struct render_buf){malloc(need), need, 0};
  if (b.data == NULL)
    return NULL;
  render_machine(m, &b);
  return b.data;
}
