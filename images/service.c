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

static void pins_free(struct img_pins *pins) {
  if (pins == NULL)
    return;
  free(pins->pause_image);
  cleanup_strvp(&pins->patterns);
  free(pins);
}

static int pins_new(const char *pause_image, const char *const *pinned_images,
                    struct img_pins **out, crio_error_t *err) {
  struct img_pins *pins = xzalloc(sizeof(*pins));
  if (pause_image && *pause_image) {
    cleanup_img_reference struct img_reference ref = {0};
    if (img_reference_parse(pause_image, &ref, err) < 0) {
      pins_free(pins);
      return crio_error_prefix(err, "pause_image");
    }
    pins->pause_image = img_reference_format(&ref);
  }
  size_t n = 0;
  while (pinned_images && pinned_images[n])
    n++;
  pins->patterns = xcalloc(n + 1, sizeof(char *));
  /* CRI-O skips empty entries (pinned_images = [""] pins nothing). */
  for (size_t i = 0, j = 0; i < n; i++)
    if (pinned_images[i][0])
      pins->patterns[j++] = normalise_pattern(pinned_images[i]);
  *out = pins;
  return 0;
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
  if (pins_new(options->pause_image, options->pinned_images, &svc->pins, err) < 0)
    return -1;
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
  for (size_t i = 0; i < svc->n_retired_confs; i++)
    img_registries_conf_free(svc->retired_confs[i]);
  free(svc->retired_confs);
  pins_free(svc->pins);
  for (size_t i = 0; i < svc->n_retired_pins; i++)
    pins_free(svc->retired_pins[i]);
  free(svc->retired_pins);
  img_registry_client_free(svc->client);
  img_layer_store_close(svc->layers);
  free(svc->layers_dir);
  pthread_mutex_destroy(&svc->mu);
  pthread_cond_destroy(&svc->cv);
  free(svc);
}

void img_service_freep(struct img_service **svc) {
  img_service_free(*svc);
  *svc = NULL;
}

/* ---- pinned images ------------------------------------------------------------ */

static bool name_pinned(const struct img_pins *pins, const char *name) {
  if (pins->pause_image && strcmp(pins->pause_image, name) == 0)
    return true;
  for (char **p = pins->patterns; p && *p; p++)
    if (fnmatch(*p, name, 0) == 0)
      return true;
  return false;
}

bool img_service_pinned(const struct img_service *svc, const struct img_names *names) {
  if (names == NULL)
    return false;
  const struct img_pins *pins = __atomic_load_n(&svc->pins, __ATOMIC_ACQUIRE);
  for (size_t i = 0; i < names->n_tags; i++)
    if (name_pinned(pins, names->tags[i]))
      return true;
  for (size_t i = 0; i < names->n_digests; i++)
    if (name_pinned(pins, names->digests[i]))
      return true;
  return false;
}

int img_service_set_pinned(struct img_service *svc, const char *pause_image,
                           const char *const *pinned_images, crio_error_t *err) {
  struct img_pins *pins = NULL;
  if (pins_new(pause_image, pinned_images, &pins, err) < 0)
    return -1;
  pthread_mutex_lock(&svc->mu);
  struct img_pins *old = __atomic_exchange_n(&svc->pins, pins, __ATOMIC_ACQ_REL);
  svc->retired_pins =
      xrealloc(svc->retired_pins, (svc->n_retired_pins + 1) * sizeof(*svc->retired_pins));
  svc->retired_pins[svc->n_retired_pins++] = old;
  pthread_mutex_unlock(&svc->mu);
  return 0;
}

int img_service_reload_registries(struct img_service *svc, const char *registries_conf,
                                  crio_error_t *err) {
  struct img_registries_conf *conf = NULL;
  if (registries_conf && img_registries_conf_load(registries_conf, &conf, err) < 0)
    return -1;
  pthread_mutex_lock(&svc->mu);
  struct img_registries_conf *old = __atomic_exchange_n(&svc->conf, conf, __ATOMIC_ACQ_REL);
  svc->retired_confs =
      xrealloc(svc->retired_confs, (svc->n_retired_confs + 1) * sizeof(*svc->retired_confs));
  svc->retired_confs[svc->n_retired_confs++] = old;
  pthread_mutex_unlock(&svc->mu);
  return 0;
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
