/* Generates docs/state-diagrams.md from the statemachine tables: the prose
 * around them, and per machine its states, its mermaid diagram
 * (sm_render_mermaid, verbatim) and a table of its transitions.  Every
 * byte comes from here, so the doc can be regenerated at will and a test
 * can demand it be equal to what the tables say. */
#include "state_diagrams_doc.h"

#include "statemachine/statemachine.h"

#include <stdio.h>
#include <stdlib.h>

static const char doc_intro[] =
    "<!-- Generated from statemachine/ by the statemachine-diagrams program;"
    " do not edit. -->\n"
    "# Lifecycle state machines\n"
    "\n"
    "Every pod sandbox, container and image is a record in LMDB, and its "
    "state is one of\n"
    "the states below. The states and the transitions allowed between them "
    "are data: the\n"
    "tables in `statemachine/pod.c`, `statemachine/container.c` and "
    "`statemachine/image.c`.\n"
    "This file is generated from those tables; after changing one, "
    "regenerate it from the\n"
    "source tree with\n"
    "\n"
    "    build/tests/statemachine-diagrams > docs/state-diagrams.md\n"
    "\n"
    "The unit test `test_state_diagrams` fails while this file and the "
    "tables disagree.\n"
    "\n"
    "## How to read the machines\n"
    "\n"
    "- **A state is an upper bound on what may exist on the host.** A step "
    "performs one side\n"
    "  effect that is safe to repeat (check first, then act), then commits "
    "the next state in\n"
    "  the same write transaction as the state-log entry naming what it "
    "acquired or\n"
    "  released. A crash inside a step leaves the record in the state before "
    "it, with that\n"
    "  step's resource perhaps half made: recovery runs the step again, or "
    "its rollback.\n"
    "- **step** transitions are run by the reconciler to move a record "
    "toward its goal. It\n"
    "  runs the first transition of a shortest path of step transitions from "
    "the current\n"
    "  state to the goal, ties going to the transition listed first in the "
    "tables below. A\n"
    "  goal with no such path (a stopped pod asked to be ready again) cannot "
    "be reached.\n"
    "- **event** transitions are observed, never run: conmon's exit file "
    "says a container\n"
    "  process ended. The reconciler never picks one as a step.\n"
    "- **rollback** transitions undo a failed or interrupted creation. Each "
    "undoes what\n"
    "  the failed step may have half made and joins the stop path, which "
    "releases\n"
    "  everything older. When a creation step fails, the record is driven to "
    "the\n"
    "  machine's rollback goal instead of being left half made.\n"
    "- Transition names are unique across all machines. The state log and "
    "the crash hook\n"
    "  (`CRIO_CRASH_AT=<name>:before|after`) use them.\n"
    "- In the diagrams `(rollback)` and `(event)` mark those transitions; "
    "`[*]` marks\n"
    "  where a record is created and where it is deleted.\n";

struct kind_doc {
  const char *title;
  const char *about; /* a paragraph of what the tables cannot say */
};

static struct kind_doc kind_doc(enum sm_kind kind) {
  switch (kind) {
  case SM_KIND_POD:
    return (struct kind_doc){"Pod sandbox",
                             "Stopping a sandbox releases its network and namespaces but keeps "
                             "its cgroup,\n"
                             "its container records and its own record, so a stopped sandbox can "
                             "still be\n"
                             "listed and inspected; removing it drops those. The kubelet only "
                             "creates\n"
                             "containers in a ready sandbox, so a creation rolled back before "
                             "`READY` has no\n"
                             "containers to stop.\n"};
  case SM_KIND_CONTAINER:
    return (struct kind_doc){"Container",
                             "A container process can end on its own at any time, so "
                             "`CREATED -> EXITED` and\n"
                             "`RUNNING -> EXITED` each exist twice: as the step the reconciler "
                             "runs to stop the\n"
                             "container and as the event recorded when conmon's exit file "
                             "appears. Once\n"
                             "exited, a container reports `CONTAINER_EXITED` to the kubelet until "
                             "its record is\n"
                             "gone.\n"};
  case SM_KIND_IMAGE:
    return (struct kind_doc){"Image",
                             "An image holds references on layers in the shared layer store; the "
                             "layers are\n"
                             "collected by the layer store's gc once nothing references them, so "
                             "they have no\n"
                             "states of their own.\n"};
  }
  return (struct kind_doc){"?", ""};
}

static const char *pod_cri_name(sm_state_t state) {
  return sm_pod_cri_state(state) == 0 ? "SANDBOX_READY" : "SANDBOX_NOTREADY";
}

static const char *container_cri_name(sm_state_t state) {
  static const char *const names[] = {"CONTAINER_CREATED", "CONTAINER_RUNNING", "CONTAINER_EXITED",
                                      "CONTAINER_UNKNOWN"};
  int n = sm_container_cri_state(state);
  return n >= 0 && n <= 3 ? names[n] : "?";
}

/* Markdown table cells end at '|'; none of the tables' text has one today,
 * but a side effect that gained one must not silently split its row. */
static void put_cell(FILE *out, const char *text) {
  for (const char *c = text; *c; c++) {
    if (*c == '|')
      fputc('\\', out);
    fputc(*c, out);
  }
}

static void put_states(FILE *out, const struct sm_machine *m) {
  bool has_cri = m->kind == SM_KIND_POD || m->kind == SM_KIND_CONTAINER;
  fprintf(out, "| state | value |%s\n| --- | --- |%s\n", has_cri ? " CRI state |" : "",
          has_cri ? " --- |" : "");
  for (sm_state_t s = 1; s < m->n_states; s++) {
    fprintf(out, "| `%s` | %u |", m->state_names[s], s);
    if (m->kind == SM_KIND_POD)
      fprintf(out, " %s |", pod_cri_name(s));
    else if (m->kind == SM_KIND_CONTAINER)
      fprintf(out, " %s |", container_cri_name(s));
    fputc('\n', out);
  }
}

static void put_transitions(FILE *out, const struct sm_machine *m) {
  fprintf(out, "| transition | from | to | trigger | rollback | side effect "
               "|\n| --- | --- | --- | --- | --- | --- |\n");
  for (size_t i = 0; i < m->n_transitions; i++) {
    const struct sm_transition *t = &m->transitions[i];
    fprintf(out, "| `%s` | `%s` | `%s` | %s | %s | ", t->name, m->state_names[t->from],
            m->state_names[t->to], t->trigger == SM_TRIGGER_EVENT ? "event" : "step",
            t->rollback ? "yes" : "no");
    put_cell(out, t->side_effect);
    fprintf(out, " |\n");
  }
}

static void put_machine(FILE *out, const struct sm_machine *m) {
  struct kind_doc d = kind_doc(m->kind);
  char *diagram = sm_render_mermaid(m->kind);
  if (diagram == NULL) {
    fprintf(stderr, "state_diagrams_doc: out of memory\n");
    abort();
  }
  fprintf(out, "\n## %s (`%s`)\n\n", d.title, m->name);
  fprintf(out,
          "Created in `%s`, deleted from `%s`; a failed creation rolls back "
          "to `%s`.\n%zu states, %zu transitions "
          "(`statemachine/%s.c`).\n\n",
          m->state_names[m->initial], m->state_names[m->terminal], m->state_names[m->rollback_goal],
          m->n_states - 1, m->n_transitions, m->name);
  fputs(d.about, out);
  fputc('\n', out);
  put_states(out, m);
  fprintf(out, "\n```mermaid\n%s```\n\n", diagram);
  put_transitions(out, m);
  free(diagram);
}

char *state_diagrams_doc(void) {
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  if (out == NULL) {
    perror("state_diagrams_doc: open_memstream");
    abort();
  }
  fputs(doc_intro, out);
  for (int k = SM_KIND_FIRST; k <= SM_KIND_LAST; k++)
    put_machine(out, sm_machine((enum sm_kind)k));
  if (fclose(out) != 0) {
    perror("state_diagrams_doc: write");
    abort();
  }
  return text;
}
