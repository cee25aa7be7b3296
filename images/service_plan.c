/* Pull plans: a resolved manifest and config, the chain ids computed from
 * the config's diff_ids, and the record and names a pull writes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "images/service_internal.h"
#include "statemachine/statemachine.h"

static void plan_free(struct img_pull_plan *plan) {
  img_pull_free(plan->pull);
  free(plan->id);
  free(plan->reference);
  free(plan->name);
  free(plan->tag_name);
  cleanup_strvp(&plan->digest_names);
  cleanup_strvp(&plan->diff_ids);
  cleanup_strvp(&plan->chain_ids);
  free(plan->user);
  free(plan);
}

struct img_pull_plan *img_pull_plan_ref(struct img_pull_plan *plan) {
  if (plan)
    __atomic_add_fetch(&plan->refs, 1, __ATOMIC_RELAXED);
  return plan;
}

void img_pull_plan_unref(struct img_pull_plan *plan) {
  if (plan && __atomic_sub_fetch(&plan->refs, 1, __ATOMIC_ACQ_REL) == 0)
    plan_free(plan);
}

void img_pull_plan_unrefp(struct img_pull_plan **plan) {
  img_pull_plan_unref(*plan);
  *plan = NULL;
}

const char *img_pull_plan_id(const struct img_pull_plan *plan) {
  return plan->id;
}
const char *img_pull_plan_reference(const struct img_pull_plan *plan) {
  return plan->reference;
}

int img_reference_check(const char *image, crio_error_t *err) {
  cleanup_img_reference struct img_reference ref = {0};
  return img_reference_parse(image, &ref, err);
}

static void strv_push(char ***v, size_t *n, char *s) {
  *v = xrealloc(*v, (*n + 2) * sizeof(char *));
  (*v)[(*n)++] = s;
  (*v)[*n] = NULL;
}

/* diff_ids and user from the config (already verified against its
 * digest, so only its shape can be wrong). */
static int read_config(struct img_pull_plan *plan, crio_error_t *err) {
  const struct img_pull *pull = plan->pull;
  cJSON *root = cJSON_ParseWithLength(pull->config, pull->config_len);
  if (root == NULL || !cJSON_IsObject(root)) {
    cJSON_Delete(root);
    return crio_error(err, EBADMSG, "image config %s is not a JSON object",
                      pull->parsed->config.digest);
  }
  int rc = 0;
  const cJSON *rootfs = cJSON_GetObjectItemCaseSensitive(root, "rootfs");
  const cJSON *diff_ids = rootfs ? cJSON_GetObjectItemCaseSensitive(rootfs, "diff_ids") : NULL;
  const cJSON *config = cJSON_GetObjectItemCaseSensitive(root, "config");
  const cJSON *user = config ? cJSON_GetObjectItemCaseSensitive(config, "User") : NULL;
  size_t n = 0;
  plan->diff_ids = xcalloc(1, sizeof(char *));
  if (!cJSON_IsArray(diff_ids)) {
    rc = crio_error(err, EBADMSG, "image config %s has no rootfs.diff_ids",
                    pull->parsed->config.digest);
  } else {
    const cJSON *d;
    cJSON_ArrayForEach(d, diff_ids) {
      if (!cJSON_IsString(d) || strncmp(d->valuestring, "sha256:", 7) != 0 ||
          !img_digest_valid(d->valuestring)) {
        rc = crio_error(err, EBADMSG, "image config %s: diff_id %zu is not a sha256 digest",
                        pull->parsed->config.digest, n);
        break;
      }
      strv_push(&plan->diff_ids, &n, xstrdup(d->valuestring));
    }
  }
  if (rc == 0 && n != pull->parsed->n_layers)
    rc = crio_error(err, EBADMSG, "image config %s lists %zu diff_ids for %zu layers",
                    pull->parsed->config.digest, n, pull->parsed->n_layers);
  if (rc == 0 && n == 0)
    rc = crio_error(err, EBADMSG, "image %s has no layers", plan->reference);
  plan->n_layers = n;
  plan->user = xstrdup(cJSON_IsString(user) ? user->valuestring : "");
  cJSON_Delete(root);
  return rc;
}

static int compute_chain_ids(struct img_pull_plan *plan, crio_error_t *err) {
  size_t n = 0;
  plan->chain_ids = xcalloc(1, sizeof(char *));
  for (size_t i = 0; i < plan->n_layers; i++) {
    char chain[IMG_DIGEST_MAX];
    if (img_layer_chain_id(i ? plan->chain_ids[i - 1] : NULL, plan->diff_ids[i], chain, err) < 0)
      return -1;
    strv_push(&plan->chain_ids, &n, xstrdup(chain));
  }
  return 0;
}

/* Fills everything but pull from plan->pull. */
static int plan_from_pull(struct img_pull_plan *plan, crio_error_t *err) {
  const struct img_pull *pull = plan->pull;
  const char *hex = img_digest_hex(pull->parsed->config.digest);
  if (hex == NULL)
    return crio_error(err, EBADMSG, "config digest %s malformed", pull->parsed->config.digest);
  plan->id = xstrdup(hex);
  plan->reference = img_reference_format(&pull->ref);
  plan->name = img_reference_name(&pull->ref);
  /* A tag beside a digest is ignored, as docker does: the digest decided
   * what was pulled, and the registry's tag may name something else. */
  if (pull->ref.tag && !pull->ref.digest)
    plan->tag_name = xasprintf("%s:%s", plan->name, pull->ref.tag);
  size_t n = 0;
  plan->digest_names = xcalloc(1, sizeof(char *));
  strv_push(&plan->digest_names, &n, xasprintf("%s@%s", plan->name, pull->manifest_digest));
  if (pull->index_digest)
    strv_push(&plan->digest_names, &n, xasprintf("%s@%s", plan->name, pull->index_digest));
  if (read_config(plan, err) < 0 || compute_chain_ids(plan, err) < 0)
    return -1;
  return 0;
}

int img_service_plan_pull(struct img_service *svc, const char *image,
                          const struct img_credentials *creds, struct img_pull_plan **out,
                          crio_error_t *err) {
  struct img_auth auth = {0};
  if (creds) {
    auth.username = creds->username;
    auth.password = creds->password;
    auth.auth = creds->auth;
    auth.identity_token = creds->identity_token;
    auth.registry_token = creds->registry_token;
  }
  struct img_pull_plan *plan = xzalloc(sizeof(*plan));
  plan->refs = 1;
  cleanup_img_pull_plan struct img_pull_plan *owner = plan;
  if (img_pull_manifest(svc->client, img_service_conf(svc), image, creds ? &auth : NULL, NULL,
                        &plan->pull, err) < 0)
    return -1;
  if (plan_from_pull(plan, err) < 0)
    return crio_error_prefix(err, "pull %s", image);
  *out = steal_pointer(&owner);
  return 0;
}

int img_service_plan_resume(struct img_service *svc, const store_record *rec,
                            struct img_pull_plan **out, crio_error_t *err) {
  const Crio__Store__ImageBody *body = rec->image;
  if (body == NULL || !*body->reference || !*body->manifest_digest)
    return crio_error(err, EINVAL, "image %s: the record names no reference to resume from",
                      rec->id);
  cleanup_img_reference struct img_reference ref = {0};
  if (img_reference_parse(body->reference, &ref, err) < 0)
    return crio_error_prefix(err, "image %s: stored reference", rec->id);
  cleanup_free char *name = img_reference_name(&ref);
  cleanup_free char *by_digest = xasprintf("%s@%s", name, body->manifest_digest);
  log_info("image %s: resuming the pull of %s by digest, without credentials", rec->id,
           body->reference);
  cleanup_img_pull_plan struct img_pull_plan *plan = NULL;
  if (img_service_plan_pull(svc, by_digest, NULL, &plan, err) < 0)
    return -1;
  if (strcmp(plan->id, rec->id) != 0)
    return crio_error(err, EBADMSG, "image %s: %s now has config %s", rec->id, by_digest, plan->id);
  *out = steal_pointer(&plan);
  return 0;
}

static char **strv_to_proto(char *const *v, size_t *n_out) {
  size_t n = 0;
  while (v && v[n])
    n++;
  char **out = n ? xcalloc(n, sizeof(char *)) : NULL;
  for (size_t i = 0; i < n; i++)
    out[i] = xstrdup(v[i]);
  *n_out = n;
  return out;
}

store_record *img_pull_plan_record(const struct img_pull_plan *plan) {
  store_record *rec = store_record_new(STORE_KIND_IMAGE, plan->id);
  rec->state = SM_IMAGE_PENDING;
  rec->goal = SM_IMAGE_READY;
  Crio__Store__ImageBody *body = rec->image;
  body->layers = strv_to_proto(plan->chain_ids, &body->n_layers);
  body->repo_digests = strv_to_proto(plan->digest_names, &body->n_repo_digests);
  store_string_set(&body->user, plan->user);
  body->config.len = plan->pull->config_len;
  body->config.data = xmemdup(plan->pull->config, plan->pull->config_len);
  store_string_set(&body->reference, plan->reference);
  store_string_set(&body->manifest_digest, plan->pull->manifest_digest);
  body->manifest.len = plan->pull->manifest.len;
  body->manifest.data = xmemdup(plan->pull->manifest.body, plan->pull->manifest.len);
  return rec;
}
