/* Pulling an image's metadata: short names through the search list, mirrors
 * before the primary, index to this platform's manifest, then the config.
 * Layers are streamed on demand by img_pull_layer. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "images/registry.h"

void img_pull_free(struct img_pull *p) {
  if (!p)
    return;
  img_reference_clear(&p->ref);
  free(p->source.host);
  free(p->source.repository);
  img_repo_free(p->repo);
  free(p->manifest_digest);
  free(p->index_digest);
  img_fetched_manifest_clear(&p->manifest);
  img_manifest_free(p->parsed);
  free(p->config);
  free(p);
}

void cleanup_img_pullp(struct img_pull **p) {
  img_pull_free(*p);
  *p = NULL;
}

/* Everything about one reference from one source; fills pull on success. */
static int pull_from(struct img_registry_client *client, const struct img_reference *ref,
                     const struct img_pull_source *source, const struct img_auth *auth,
                     const struct img_platform *platform, struct img_pull *pull,
                     crio_error_t *err) {
  cleanup_img_repo struct img_repo *repo = NULL;
  cleanup_img_manifest struct img_manifest *parsed = NULL;
  struct img_fetched_manifest fetched = {0};
  cleanup_free char *index_digest = NULL;
  const char *wanted = ref->digest ? ref->digest : ref->tag;

  if (img_repo_open(client, source, auth, &repo, err) < 0)
    return -1;
  if (img_repo_get_manifest(repo, wanted, &fetched, err) < 0)
    return -1;
  /* Errors need no prefix naming the source: the caller's list of
   * attempts does. */
  if (img_manifest_parse(fetched.body, fetched.len, fetched.media_type, &parsed, err) < 0) {
    img_fetched_manifest_clear(&fetched);
    return -1;
  }
  if (parsed->kind == IMG_MANIFEST_INDEX) {
    const struct img_descriptor *chosen = NULL;
    cleanup_free char *chosen_digest = NULL;
    if (img_index_select(parsed, platform, &chosen, err) < 0) {
      img_fetched_manifest_clear(&fetched);
      return -1;
    }
    chosen_digest = xstrdup(chosen->digest);
    index_digest = steal_pointer(&fetched.digest);
    img_fetched_manifest_clear(&fetched);
    img_manifest_free(steal_pointer(&parsed));
    if (img_repo_get_manifest(repo, chosen_digest, &fetched, err) < 0)
      return -1;
    if (img_manifest_parse(fetched.body, fetched.len, fetched.media_type, &parsed, err) < 0) {
      img_fetched_manifest_clear(&fetched);
      return crio_error_prefix(err, "manifest %s", chosen_digest);
    }
    if (parsed->kind != IMG_MANIFEST_IMAGE) {
      img_fetched_manifest_clear(&fetched);
      return crio_error(err, ENOTSUP, "manifest %s: an index inside an index", chosen_digest);
    }
  }
  if (parsed->config.size > IMG_CONFIG_MAX) {
    img_fetched_manifest_clear(&fetched);
    return crio_error(err, EFBIG,
                      "config %s: %" PRId64 " bytes exceeds the "
                      "limit of %d",
                      parsed->config.digest, parsed->config.size, IMG_CONFIG_MAX);
  }
  if (img_repo_get_blob_mem(repo, parsed->config.digest, (size_t)parsed->config.size, &pull->config,
                            &pull->config_len, err) < 0) {
    img_fetched_manifest_clear(&fetched);
    return crio_error_prefix(err, "config");
  }
  if (pull->config_len != (size_t)parsed->config.size) {
    img_fetched_manifest_clear(&fetched);
    return crio_error(err, EBADMSG,
                      "config %s: %zu bytes, the manifest says "
                      "%" PRId64,
                      parsed->config.digest, pull->config_len, parsed->config.size);
  }
  img_reference_copy(&pull->ref, ref, NULL);
  pull->source.host = xstrdup(source->host);
  pull->source.repository = xstrdup(source->repository);
  pull->source.insecure = source->insecure;
  pull->source.mirror = source->mirror;
  pull->repo = steal_pointer(&repo);
  pull->manifest_digest = xstrdup(fetched.digest);
  pull->index_digest = steal_pointer(&index_digest);
  pull->manifest = fetched;
  pull->parsed = steal_pointer(&parsed);
  return 0;
}

/* Failures of every attempt, for one message at the end. */
struct attempts {
  char *text;
  int status; /* the first that is not "not found", else ENOENT */
};

static void attempts_add(struct attempts *a, const char *where, crio_error_t *err) {
  char *joined = xasprintf("%s%s%s: %s", a->text ? a->text : "", a->text ? "; " : "", where,
                           crio_error_message(err));
  free(a->text);
  a->text = joined;
  if (!a->status || (a->status == ENOENT && crio_error_status(err) != ENOENT))
    a->status = crio_error_status(err);
  crio_error_release(err);
}

int img_pull_manifest(struct img_registry_client *client, const struct img_registries_conf *conf,
                      const char *image, const struct img_auth *auth,
                      const struct img_platform *platform, struct img_pull **out,
                      crio_error_t *err) {
  cleanup_img_reference struct img_reference ref = {0};
  struct img_reference *candidates = NULL;
  size_t n_candidates = 0;
  struct attempts attempts = {0};
  struct img_pull *pull = NULL;

  if (img_reference_parse(image, &ref, err) < 0)
    return -1;
  if (img_registries_short_name_candidates(conf, &ref, &candidates, &n_candidates, err) < 0)
    return crio_error_prefix(err, "pull %s", image);

  for (size_t c = 0; c < n_candidates && !pull; c++) {
    cleanup_free char *name = img_reference_format(&candidates[c]);
    cleanup_error crio_error_t e = NULL;
    struct img_pull_source *sources = NULL;
    size_t n_sources = 0;
    if (img_registries_pull_sources(conf, &candidates[c], &sources, &n_sources, &e) < 0) {
      attempts_add(&attempts, name, &e);
      continue;
    }
    for (size_t s = 0; s < n_sources && !pull; s++) {
      struct img_pull *p = xzalloc(sizeof(*p));
      if (pull_from(client, &candidates[c], &sources[s], auth, platform, p, &e) == 0) {
        pull = p;
        break;
      }
      img_pull_free(p);
      cleanup_free char *where =
          xasprintf("%s (%s %s/%s)", name, sources[s].mirror ? "mirror" : "from", sources[s].host,
                    sources[s].repository);
      log_debug("pull %s: %s: %s", image, where, crio_error_message(&e));
      attempts_add(&attempts, where, &e);
    }
    img_pull_sources_free(sources, n_sources);
  }
  img_references_free(candidates, n_candidates);
  if (!pull) {
    crio_error(err, attempts.status ? attempts.status : ENOENT, "pull %s: %s", image,
               attempts.text ? attempts.text : "no source to try");
    free(attempts.text);
    return -1;
  }
  free(attempts.text);
  *out = pull;
  return 0;
}

int img_pull_layer(struct img_pull *pull, size_t i, img_blob_sink sink, void *opaque,
                   struct img_blob_progress *progress, crio_error_t *err) {
  if (i >= pull->parsed->n_layers)
    return crio_error(err, EINVAL, "layer %zu of %zu", i, pull->parsed->n_layers);
  const struct img_descriptor *d = &pull->parsed->layers[i];
  return img_repo_get_blob(pull->repo, d->digest, d->size, sink, opaque, progress, err);
}
