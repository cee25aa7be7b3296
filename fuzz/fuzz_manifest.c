/* Manifests and indexes as a registry serves them (img_manifest_parse),
 * with the Content-Type the registry claimed chosen by the first byte, and
 * for an index the platform choice the pull makes next.  Whatever parses
 * must hold only validated digests and sane sizes: the pull trusts them. */
#include <string.h>

#include "fuzz/fuzz.h"
#include "images/layers.h"
#include "images/registry.h"

static const char *const content_types[] = {
    NULL,
    IMG_MEDIA_OCI_MANIFEST,
    IMG_MEDIA_OCI_INDEX,
    IMG_MEDIA_DOCKER_MANIFEST,
    IMG_MEDIA_DOCKER_LIST,
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/json",
    "text/html; charset=utf-8",
};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  fuzz_quiet_logs();
  return 0;
}

static void check_descriptor(const struct img_descriptor *d) {
  FUZZ_ASSERT(d->digest && img_digest_valid(d->digest));
  FUZZ_ASSERT(d->size >= 0);
}

static void select_for(const struct img_manifest *index, const char *os, const char *arch,
                       const char *variant) {
  struct img_platform p = {.os = xstrdup(os),
                           .architecture = xstrdup(arch),
                           .variant = variant ? xstrdup(variant) : NULL};
  img_platform_normalize(&p);
  const struct img_descriptor *chosen = NULL;
  cleanup_error crio_error_t err = NULL;
  if (img_index_select(index, &p, &chosen, &err) == 0) {
    FUZZ_ASSERT(chosen >= index->manifests && chosen < index->manifests + index->n_manifests);
    check_descriptor(chosen);
  }
  img_platform_clear(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  const char *type = content_types[data[0] % (sizeof(content_types) / sizeof(*content_types))];
  cleanup_img_manifest struct img_manifest *m = NULL;
  cleanup_error crio_error_t err = NULL;
  if (img_manifest_parse((const char *)data + 1, size - 1, type, &m, &err) < 0) {
    FUZZ_ASSERT(m == NULL && crio_error_status(&err) != 0);
    return 0;
  }
  FUZZ_ASSERT(m != NULL);
  if (m->kind == IMG_MANIFEST_IMAGE) {
    check_descriptor(&m->config);
    for (size_t i = 0; i < m->n_layers; i++)
      check_descriptor(&m->layers[i]);
  } else {
    FUZZ_ASSERT(m->kind == IMG_MANIFEST_INDEX);
    for (size_t i = 0; i < m->n_manifests; i++)
      check_descriptor(&m->manifests[i]);
    const struct img_descriptor *chosen = NULL;
    cleanup_error crio_error_t serr = NULL;
    img_index_select(m, NULL, &chosen, &serr);
    select_for(m, "linux", "arm", "v6");
    select_for(m, "linux", "aarch64", "8");
    select_for(m, "windows", "amd64", NULL);
  }
  return 0;
}
