/* Shared by the image service's files (service*.c, gc.c, resolve.c) only;
 * the folder's interface is images.h.
 *
 * Locking: svc->mu guards the offered plans, the layer holds and the GC
 * bookkeeping.  It is held only for a few pointer operations, never across
 * I/O or a store txn. */
#ifndef CRIO_IMAGES_SERVICE_INTERNAL_H
#define CRIO_IMAGES_SERVICE_INTERNAL_H

#include <pthread.h>

#include "images/images.h"
#include "images/layers.h"
#include "images/registry.h"

struct offered_pull {
  char *id;
  struct img_pull_plan *plan; /* one reference */
};

/* A chain id a fetch step works on.  refs counts the steps holding it; an
 * entry whose refs dropped to 0 while a collection ran stays until every
 * collection running has ended, because such a collection may have read
 * the records before the holder's record existed. */
struct layer_hold {
  char *chain_id;
  unsigned refs;
};

struct img_service {
  struct store *store;
  char *layers_dir; /* <root>/layers */
  struct img_layer_store *layers;
  struct img_registry_client *client;
  /* conf and pins are replaced on SIGHUP (img_service_reload_registries,
   * img_service_set_pinned) while calls read them: readers load the
   * pointer once (img_service_conf, __atomic_load_n), and what was
   * replaced stays allocated in retired_* until the service is freed, as
   * a pull may be resolving with it.  A reload is an operator's act, so
   * the lists stay short. */
  struct img_registries_conf *conf;
  struct img_pins *pins;
  unsigned parallel_layers;

  pthread_mutex_t mu;
  pthread_cond_t cv; /* a collection finished with a layer */
  struct offered_pull *offered;
  size_t n_offered;
  struct layer_hold *holds;
  size_t n_holds;
  unsigned collections_running;
  char **collecting; /* chain ids being deleted right now */
  size_t n_collecting;
  struct img_registries_conf **retired_confs; /* under mu */
  size_t n_retired_confs;
  struct img_pins **retired_pins; /* under mu */
  size_t n_retired_pins;
};

/* The pinned set: the pause image and CRI-O's pinned_images patterns. */
struct img_pins {
  char *pause_image; /* normalised, or NULL */
  char **patterns;   /* NULL-terminated */
};

/* The registries.conf in effect now (may be NULL: an empty config). */
static inline const struct img_registries_conf *img_service_conf(const struct img_service *svc) {
  return __atomic_load_n(&svc->conf, __ATOMIC_ACQUIRE);
}

struct img_pull_plan {
  int refs; /* atomic */
  struct img_pull *pull;
  char *id;            /* config digest hex */
  char *reference;     /* qualified, as found ("domain/path:tag" or "@digest") */
  char *name;          /* "domain/path" */
  char *tag_name;      /* "domain/path:tag", or NULL for a digest-only pull */
  char **digest_names; /* "domain/path@<manifest digest>" (+ index digest) */
  char **diff_ids;     /* from the config, bottom first */
  char **chain_ids;    /* NULL-terminated like the two above */
  size_t n_layers;
  char *user; /* config.User, "" if none */
};

/* service_plan.c: a plan for a record, by digest, without credentials (a
 * fetch step with no offered plan).  Checks the config is the record's. */
int img_service_plan_resume(struct img_service *svc, const store_record *rec,
                            struct img_pull_plan **out, crio_error_t *err);
/* service.c: the offered plan for id, with a reference, or NULL. */
struct img_pull_plan *img_service_offered_plan(struct img_service *svc, const char *id);

/* gc.c: holds taken by fetch steps.  img_service_hold waits while one of
 * the chain ids is being deleted, so the caller then sees it gone. */
void img_service_hold(struct img_service *svc, char *const *chain_ids, size_t n);
void img_service_unhold(struct img_service *svc, char *const *chain_ids, size_t n);

#endif
