/* The state diagrams in the docs cannot drift from the tables: each
 * ```mermaid block of docs/state-diagrams.md must equal sm_render_mermaid()
 * of its machine, and the whole file must equal what the
 * statemachine-diagrams program prints. */
#include "state_diagrams_doc.h"
#include "statemachine/statemachine.h"
#include "testing.h"

#include <errno.h>

static const char *source_dir;
static const char *binary_dir;
static char *doc; /* the checked-in file, read once by main */

static char *read_file(const char *path) {
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    fprintf(stderr, "open %s: %s\n", path, strerror(errno));
    return NULL;
  }
  char *text = NULL;
  size_t len = 0, cap = 0;
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
    if (len + n + 1 > cap) {
      cap = (len + n + 1) * 2;
      text = realloc(text, cap);
      CHECK(text != NULL);
    }
    memcpy(text + len, chunk, n);
    len += n;
  }
  CHECK(!ferror(f));
  fclose(f);
  if (text == NULL)
    text = calloc(1, 1);
  else
    text[len] = '\0';
  return text;
}

static void say_how_to_regenerate(void) {
  fprintf(stderr,
          "%s/%s is out of date with the statemachine tables; regenerate "
          "it:\n  %s/tests/statemachine-diagrams > %s/%s\n",
          source_dir, STATE_DIAGRAMS_DOC_PATH, binary_dir ? binary_dir : "build", source_dir,
          STATE_DIAGRAMS_DOC_PATH);
}

/* Prints the first line where `seen` and `expected` differ, numbered from
 * 1 within the compared text; returns whether they are equal. */
static bool same_text(const char *what, const char *seen, size_t seen_len, const char *expected) {
  size_t expected_len = strlen(expected);
  if (seen_len == expected_len && memcmp(seen, expected, seen_len) == 0)
    return true;
  const char *s = seen, *s_end = seen + seen_len;
  const char *e = expected, *e_end = expected + expected_len;
  for (int line = 1;; line++) {
    const char *sn = memchr(s, '\n', (size_t)(s_end - s));
    const char *en = memchr(e, '\n', (size_t)(e_end - e));
    size_t sl = sn ? (size_t)(sn - s) : (size_t)(s_end - s);
    size_t el = en ? (size_t)(en - e) : (size_t)(e_end - e);
    if (sl != el || memcmp(s, e, sl) != 0) {
      fprintf(stderr, "%s differs at its line %d:\n  doc:    %.*s\n  tables: %.*s\n", what, line,
              (int)sl, s, (int)el, e);
      return false;
    }
    if (!sn || !en) {
      /* Equal up to here, so one of them has more after this line. */
      fprintf(stderr, "%s differs after its line %d: the %s goes on\n", what, line,
              sn ? "doc" : "generated text");
      return false;
    }
    s = sn + 1;
    e = en + 1;
  }
}

/* Each ```mermaid block, in file order, is the diagram of one machine in
 * kind order; compares each with the renderer. */
static void test_mermaid_blocks_match_tables(void) {
  static const char fence[] = "```mermaid\n";
  const char *p = doc;
  int kind = SM_KIND_FIRST;
  bool ok = true;
  while ((p = strstr(p, fence)) != NULL) {
    if (p != doc && p[-1] != '\n') {
      p += sizeof fence - 1;
      continue;
    }
    const char *body = p + sizeof fence - 1;
    const char *end = strstr(body, "\n```");
    if (end == NULL) {
      fprintf(stderr, "unterminated ```mermaid block\n");
      say_how_to_regenerate();
      exit(1);
    }
    end++; /* the block's text keeps its last newline */
    if (kind > SM_KIND_LAST) {
      fprintf(stderr, "more ```mermaid blocks than machines\n");
      say_how_to_regenerate();
      exit(1);
    }
    char *diagram = sm_render_mermaid((enum sm_kind)kind);
    CHECK(diagram != NULL);
    char what[96];
    snprintf(what, sizeof what, "the %s diagram", sm_kind_name(kind));
    ok = same_text(what, body, (size_t)(end - body), diagram) && ok;
    free(diagram);
    kind++;
    p = end;
  }
  if (kind != SM_KIND_LAST + 1) {
    fprintf(stderr, "expected %d ```mermaid blocks, found %d\n", SM_KIND_LAST - SM_KIND_FIRST + 1,
            kind - SM_KIND_FIRST);
    ok = false;
  }
  if (!ok) {
    say_how_to_regenerate();
    exit(1);
  }
}

/* The transition tables and prose are generated too. */
static void test_whole_doc_matches_generator(void) {
  char *expected = state_diagrams_doc();
  if (!same_text(STATE_DIAGRAMS_DOC_PATH, doc, strlen(doc), expected)) {
    say_how_to_regenerate();
    exit(1);
  }
  free(expected);
}

int main(void) {
  source_dir = getenv("CRIO_TEST_SOURCE_DIR");
  binary_dir = getenv("CRIO_TEST_BINARY_DIR");
  if (source_dir == NULL) {
    fprintf(stderr, "CRIO_TEST_SOURCE_DIR is not set (ctest sets it to the "
                    "source tree)\n");
    return 1;
  }
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", source_dir, STATE_DIAGRAMS_DOC_PATH);
  doc = read_file(path);
  if (doc == NULL) {
    say_how_to_regenerate();
    return 1;
  }
  RUN_TEST(test_mermaid_blocks_match_tables);
  RUN_TEST(test_whole_doc_matches_generator);
  free(doc);
  fprintf(stderr, "ok\n");
  return 0;
}
