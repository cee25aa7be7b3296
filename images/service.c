/* The image service's lifecycle, its configuration (pinned patterns), the
 * table of offered pulls and the layer store's usage. */
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "images/service_internal.h"

/* curl's low-speed guard cannot be switched off once the client has a
 * default, so "no limit" is a year. */
#define NO_PROGRESS_LIMIT_S (365L * 24 * 3600)

/* A plain name is normalised like a reference, so "pause" or
 * "registry.k8s.io/pause" match what a pull stores. */
static char *normalise_pattern(const char *pattern) {
  if (strchr(pattern, '*') || strchr(pattern, '?') || strchr(pattern, '['))
    return xstrdup(pattern);
  cleanup_img_reference struct img_reference ref = {0};
  cleanup_error crio_error_t err = NULL;
  if (img_reference_parse(pattern, &ref, &err) < 0)
    return xstrdup(pattern);
  return img_reference_format(&ref);
}

int img_service_open(const struct img_service_options *options, struct store *store,
                     struct img_service **out, crio_error_t *err) {
  if (options == NULL || options->root == NULL || options->root[0] != '/')
    return crio_error(err, EINVAL, "image service: root must be an absolute path");
  if (options->pull_progress_timeout < 0)
    return crio_error(err, EINVAL, "pull_progress_timeout: %ld is negative",
                      options->pull_progress_timeout);
  struct img_service *svc = xzalloc(sizeof(*svc));
  cleanup_img_service struct img_service *owner = svc;
  pthread_mutex_init(&svc->mu, NULL);
  pthread_cond_init(&svc->cv, NULL);
  svc->store = store;
  svc->layers_dir = xasprintf("%s/layers", options->root);
  svc->parallel_layers =
      options->parallel_layers ? options->parallel_layers : IMG_DEFAULT_PARALLEL_LAYERS;

  struct img_layer_store_options layer_options = {.root = options->root};
  if (img_layer_store_open(&layer_options, &svc->layers, err) < 0)
    return -1;
  struct img_registry_options client_options = {
      .certs_dir = options->certs_dir,
      .low_speed_time =
          options->pull_progress_timeout ? options->pull_progress_timeout : NO_PROGRESS_LIMIT_S,
  };
  if (img_registry_client_new(&client_options, &svc->client, err) < 0)
    return crio_error_prefix(err, "registry client");
  if (options->registries_conf &&
      img_registries_conf_load(options->registries_conf, &svc->conf, err) < 0)
    return -1;

  if (options->pause_image && *options->pause_image) {
    cleanup_img_reference struct img_reference ref = {0};
    if (img_reference_parse(options->pause_image, &ref, err) < 0)
      return crio_error_prefix(err, "pause_image");
    svc->pause_image = img_reference_format(&ref);
  }
  size_t n = 0;
  while (options->pinned_images && options->pinned_images[n])
    n++;
  svc->pinned = xcalloc(n + 1, sizeof(char *));
  for (size_t i = 0; i < n; i++)
    svc->pinned[i] = normalise_pattern(options->pinned_images[i]);
  *out = steal_pointer(&owner);
  return 0;
}

void img_service_free(struct img_service *svc) {
  if (svc == NULL)
    return;
  for (size_t i = 0; i < svc->n_offered; i++) {
    free(svc->offered[i].id);
    img_pull_plan_unref(svc->offered[i].plan);
  }
  free(svc->offered);
  for (size_t i = 0; i < svc->n_holds; i++)
    free(svc->holds[i].chain_id);
  free(svc->holds);
  free(svc->collecting);
  img_registries_conf_free(svc->conf);
  img_registry_client_free(svc->client);
  img_layer_store_close(svc->layers);
  free(svc->layers_dir);
  free(svc->pause_image);
  cleanup_strvp(&svc->pinned);
  pthread_mutex_destroy(&svc->mu);
  pthread_cond_destroy(&svc->cv);
  free(svc);
}

void img_service_freep(struct img_service **svc) {
  img_service_free(*svc);
  *svc = NULL;
}

/* ---- pinned images ------------------------------------------------------------ */

static bool name_pinned(const struct img_service *svc, const char *name) {
  if (svc->pause_image && strcmp(svc->pause_image, name) == 0)
    return true;
  for (char **p = svc->pinned; p && *p; p++)
    if (fnmatch(*p, name, 0) == 0)
      return true;
  return false;
}

bool img_service_pinned(const struct img_service *svc, const struct img_names *names) {
  if (names == NULL)
    return false;
  for (size_t i = 0; i < names->n_tags; i++)
    if (name_pinned(svc, names->tags[i]))
      return true;
  for (size_t i = 0; i < names->n_digests; i++)
    if (name_pinned(svc, names->digests[i]))
      return true;
  return false;
}

/* ---- offered pulls --------------------------------------------------------------- */

/* Every waiting pull offers its plan, so the step still finds one when the
 * pull that created the record has left (its deadline passed) while
 * others wait on. */
void img_service_offer_pull(struct img_service *svc, struct img_pull_plan *plan) {
  pthread_mutex_lock(&svc->mu);
  for (size_t i = 0; i < svc->n_offered; i++) {
    if (svc->offered[i].plan == plan) {
      pthread_mutex_unlock(&svc->mu);
      return;
    }
  }
  svc->offered = xrealloc(svc->offered, (svc->n_offered + 1) * sizeof(*svc->offered));
  svc->offered[svc->n_offered].id = xstrdup(plan->id);
  svc->offered[svc->n_offered].plan = img_pull_plan_ref(plan);
  svc->n_offered++;
  pthread_mutex_unlock(&svc->mu);
}

void img_service_withdraw_pull(struct img_service *svc, struct img_pull_plan *plan) {
  struct img_pull_plan *dropped = NULL;
  char *id = NULL;
  pthread_mutex_lock(&svc->mu);
  for (size_t i = 0; i < svc->n_offered; i++) {
    if (svc->offered[i].plan == plan) {
      dropped = svc->offered[i].plan;
      id = svc->offered[i].id;
      svc->offered[i] = svc->offered[--svc->n_offered];
      break;
    }
  }
  pthread_mutex_unlock(&svc->mu);
  free(id);
  /* Outside the lock: the last reference closes a registry connection. */
  img_pull_plan_unref(dropped);
}

struct img_pull_plan *img_service_offered_plan(struct img_service *svc, const char *id) {
  struct img_pull_plan *plan = NULL;
  pthread_mutex_lock(&svc->mu);
  for (size_t i = 0; i < svc->n_offered; i++) {
    if (strcmp(svc->offered[i].id, id) == 0) {
      plan = img_pull_plan_ref(svc->offered[i].plan);
      break;
    }
  }
  pthread_mutex_unlock(&svc->mu);
  return plan;
}

/* ---- usage ----------------------------------------------------------------------- */

int img_service_fs_usage(struct img_service *svc, struct img_fs_usage *out, crio_error_t *err) {
  memset(out, 0, sizeof(*out));
  out->mountpoint = svc->layers_dir;
  out->timestamp = crio_now_ns();
  return img_layer_store_usage(svc->layers, &out->bytes, &out->inodes, err);
}
