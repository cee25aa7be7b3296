/* Image references as PullImage, CreateContainer and registries.conf give
 * them: parse, then the invariants the image code relies on — the
 * normalised form parses again to itself, and expanding a short name and
 * choosing pull sources work on anything that parsed. */
#include <string.h>

#include "fuzz/fuzz.h"
#include "images/registry.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  fuzz_quiet_logs();
  return 0;
}

static void check_parsed(const struct img_reference *ref) {
  FUZZ_ASSERT(ref->domain && *ref->domain && ref->path && *ref->path);
  FUZZ_ASSERT(ref->tag || ref->digest);
  if (ref->digest) {
    cleanup_error crio_error_t err = NULL;
    FUZZ_ASSERT(img_digest_validate(ref->digest, &err) == 0);
  }

  cleanup_free char *text = img_reference_format(ref);
  cleanup_free char *name = img_reference_name(ref);
  FUZZ_ASSERT(strncmp(text, name, strlen(name)) == 0);
  cleanup_img_reference struct img_reference again = {0};
  cleanup_error crio_error_t err = NULL;
  if (img_reference_parse(text, &again, &err) < 0) {
    fprintf(stderr, "normalised form %s does not parse: %s\n", text, crio_error_message(&err));
    abort();
  }
  cleanup_free char *text2 = img_reference_format(&again);
  if (strcmp(text, text2) != 0) {
    fprintf(stderr, "normalised form %s parses to %s\n", text, text2);
    abort();
  }

  struct img_reference *candidates = NULL;
  size_t n = 0;
  cleanup_error crio_error_t err2 = NULL;
  if (img_registries_short_name_candidates(NULL, ref, &candidates, &n, &err2) == 0) {
    FUZZ_ASSERT(n > 0);
    img_references_free(candidates, n);
  }
  struct img_pull_source *sources = NULL;
  cleanup_error crio_error_t err3 = NULL;
  if (img_registries_pull_sources(NULL, ref, &sources, &n, &err3) == 0)
    img_pull_sources_free(sources, n);

  struct img_reference moved = {0};
  img_reference_copy(&moved, ref, "mirror.example:5000");
  img_reference_clear(&moved);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cleanup_free char *text = fuzz_cstring(data, size);
  cleanup_img_reference struct img_reference ref = {0};
  cleanup_error crio_error_t err = NULL;
  if (img_reference_parse(text, &ref, &err) == 0)
    check_parsed(&ref);
  else
    FUZZ_ASSERT(crio_error_status(&err) != 0 && *crio_error_message(&err));
  cleanup_error crio_error_t derr = NULL;
  img_digest_validate(text, &derr);
  return 0;
}
