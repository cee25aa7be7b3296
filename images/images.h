/* images/images.h: the image service — the interface of images/ for the
 * daemon, the reconciler's image steps and the CRI image handlers.  The
 * registry client (registry.h) and the layer store (layers.h) are internal
 * to images/; what other folders need of them is offered here.
 *
 * Images are records of the store (kind image, the machine of
 * statemachine/image.c) with id = the hex of the image config's digest, as
 * CRI-O shows it.  The record's body keeps the layer chain ids (bottom
 * first, known from the config before anything is downloaded), the config,
 * the user, the size, and what a pull needs to resume by digest.
 *
 * Tags and digest references ("docker.io/library/busybox:latest",
 * "docker.io/library/busybox@sha256:...") live only in the store's names
 * index (STORE_NAMES_IMAGE) — the one source of truth for name -> id.
 * Responses derive repo_tags and repo_digests from it, since only the
 * reconciler writes a live record's body.  A pull points its names at its
 * image once the image is READY, moving a tag off an older image in the
 * same write txn (with a log note); an image left without names stays
 * listed, as in CRI-O.
 *
 * Layers are shared between images and collected once no record
 * references them: a record references its layers in every state except
 * LAYERS_RELEASED.  Collection happens in the image.delete_record step (the
 * removed image's own layers) and at start-up (everything unreferenced).
 * A pull's fetch step holds the chain ids it works on in memory, so a
 * collection that began before the pull's record existed never deletes a
 * layer under it.  See docs/images.md.
 *
 * Dependencies: common, store, the registry client and layer store of this
 * folder.  Never the reconciler: handlers and steps call in here. */
#ifndef CRIO_IMAGES_H
#define CRIO_IMAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "store/store.h"

struct img_service;
struct img_pull_plan;

#define IMG_DEFAULT_PARALLEL_LAYERS 3
#define IMG_DEFAULT_PULL_PROGRESS_TIMEOUT 60 /* seconds */
/* The resource type an image holds per layer (docs/architecture.md,
 * "Resources"): a reference, not the directory itself, which is shared;
 * releasing it deletes nothing by itself — collection does. */
#define IMG_RESOURCE_LAYER "layer"

struct img_service_options {
  const char *root;            /* layers go in <root>/layers */
  const char *registries_conf; /* path; an absent file is an empty config */
  const char *certs_dir;       /* HOST[:PORT]/ca.crt...; NULL: /etc/containers/certs.d */
  /* Images that are pinned (kubelet GC leaves them): the pause image and
   * CRI-O's pinned_images patterns — exact names, "prefix*" globs and
   * "*keyword*" (fnmatch, '*' also matching '/').  A pattern without a
   * wildcard is normalised like a reference ("pause" matches
   * docker.io/library/pause:latest). */
  const char *pause_image;          /* may be NULL */
  const char *const *pinned_images; /* NULL-terminated; may be NULL */
  /* A layer transfer that makes no progress for this long fails the pull
   * (CRI-O's pull_progress_timeout); 0: no limit. */
  long pull_progress_timeout;
  unsigned parallel_layers; /* layers of one pull fetched at once; 0: default */
};

/* Opens the layer store and the registry client and reads registries.conf.
 * The store must outlive the service; so must nothing else. */
int img_service_open(const struct img_service_options *options, struct store *store,
                     struct img_service **out, crio_error_t *err);
/* No step or handler may be inside the service any more. */
void img_service_free(struct img_service *svc);
void img_service_freep(struct img_service **svc);
#define cleanup_img_service __attribute__((cleanup(img_service_freep)))

/* ---- start-up and collection ----------------------------------------------- */
struct img_gc_report {
  unsigned layers_removed;
  unsigned names_removed; /* names of records that no longer exist */
};
/* Before any image step runs (before the reconciler starts): removes the
 * layer store's tmp-* leftovers, image names whose record is gone, and
 * every layer no record references.  report may be NULL. */
int img_service_startup(struct img_service *svc, struct img_gc_report *report, crio_error_t *err);
/* Removes every layer no record references (safe at any time). */
int img_service_gc(struct img_service *svc, struct img_gc_report *report, crio_error_t *err);

/* ---- pulls ------------------------------------------------------------------ */

/* Registry credentials as CRI's AuthConfig carries them; any may be NULL
 * or "".  Never persisted, never logged. */
struct img_credentials {
  const char *username;
  const char *password;
  const char *auth; /* base64("user:password"), wins over the two above */
  const char *identity_token;
  const char *registry_token;
};

/* The reference grammar alone, no I/O: EINVAL with what is wrong. */
int img_reference_check(const char *image, crio_error_t *err);

/* Resolves image (short names through registries.conf, mirrors, blocked
 * registries, the index to this platform), fetches its manifest and
 * config and computes the layer chain ids.  The plan keeps the open
 * registry connection with creds, for the fetch step.  Errors carry the
 * registry client's statuses (EACCES blocked or refused, ENOENT unknown,
 * EBADMSG bad digest or document, ...) and the registry's message. */
int img_service_plan_pull(struct img_service *svc, const char *image,
                          const struct img_credentials *creds, struct img_pull_plan **out,
                          crio_error_t *err);
/* The image id (config digest hex) and the qualified reference found. */
const char *img_pull_plan_id(const struct img_pull_plan *plan);
const char *img_pull_plan_reference(const struct img_pull_plan *plan);
/* A new record for the plan: state PENDING, goal READY, body filled. */
store_record *img_pull_plan_record(const struct img_pull_plan *plan);
/* Plans are shared between a handler and the fetch step: reference counted. */
struct img_pull_plan *img_pull_plan_ref(struct img_pull_plan *plan);
void img_pull_plan_unref(struct img_pull_plan *plan);
void img_pull_plan_unrefp(struct img_pull_plan **plan);
#define cleanup_img_pull_plan __attribute__((cleanup(img_pull_plan_unrefp)))

/* Hands the plan (its connection and credentials) to the fetch step of
 * its image (which uses any one of the plans offered for it); a handler
 * withdraws its plan when its wait ends.  A fetch step that finds
 * none (the daemon restarted mid-pull, or every waiter left) resolves the
 * image again by digest, without credentials. */
void img_service_offer_pull(struct img_service *svc, struct img_pull_plan *plan);
void img_service_withdraw_pull(struct img_service *svc, struct img_pull_plan *plan);

/* In a write txn: points the plan's tag (if it has one) and digest
 * references at its image, moving any from another image (logged with
 * store_log_note).  The caller checked the image is READY in this txn. */
int img_service_point_names(struct img_service *svc, struct store_txn *txn,
                            const struct img_pull_plan *plan, crio_error_t *err);

/* ---- the image steps' side effects (reconciler/image_steps.c) --------------- */

/* image.fetch_layers: makes sure every layer of rec is in the layer store,
 * downloading and unpacking the missing ones (parallel_layers at once),
 * verified against the manifest's digests and the config's diff_ids; sets
 * rec's size.  should_stop (may be NULL) is polled while data flows; when
 * it says yes the step fails with ECANCELED.  Nothing half-unpacked is
 * left on failure. */
int img_service_fetch_layers(struct img_service *svc, store_record *rec,
                             bool (*should_stop)(void *opaque), void *opaque, crio_error_t *err);
/* image.commit: every layer of rec is published (EIO naming one if not). */
int img_service_check_layers(struct img_service *svc, const store_record *rec, crio_error_t *err);
/* image.delete_record: removes rec's layers that no other record (outside
 * LAYERS_RELEASED) references and no pull holds.  Idempotent. */
int img_service_collect_layers(struct img_service *svc, const store_record *rec, crio_error_t *err);

/* ---- what handlers read --------------------------------------------------------- */

/* The image id that text names, as CRI's ImageSpec.image may: a tag or
 * digest reference (normalised, short names through
 * unqualified-search-registries: the first that is present wins), the full
 * id, "sha256:" + id, or a unique id prefix.  The record may be in any
 * state.  ENOENT if none; EINVAL for an empty text or an ambiguous prefix. */
int img_service_lookup(struct img_service *svc, struct store_txn *txn, const char *text,
                       char **id_out, crio_error_t *err);

struct img_names {
  char **tags; /* "domain/path:tag", sorted */
  size_t n_tags;
  char **digests; /* "domain/path@sha256:...", sorted */
  size_t n_digests;
};
void img_names_clear(struct img_names *names);
/* The names that map to id. */
int img_service_names_of(struct store_txn *txn, const char *id, struct img_names *out,
                         crio_error_t *err);
/* Every image's names at once, for listings. */
struct img_names_map;
int img_names_map_build(struct store_txn *txn, struct img_names_map **out, crio_error_t *err);
/* NULL when the image has no names. */
const struct img_names *img_names_map_get(const struct img_names_map *map, const char *id);
void img_names_map_free(struct img_names_map *map);
void img_names_map_freep(struct img_names_map **map);
#define cleanup_img_names_map __attribute__((cleanup(img_names_map_freep)))

/* Whether an image with these names is pinned (options above). */
bool img_service_pinned(const struct img_service *svc, const struct img_names *names);
/* SIGHUP: the pinned set becomes pause_image and pinned_images (read as
 * img_service_open reads them; an empty pattern pins nothing, as in
 * CRI-O).  On error (a pause image that does not parse) nothing changes.
 * A call running meanwhile sees the old set or the new one. */
int img_service_set_pinned(struct img_service *svc, const char *pause_image,
                           const char *const *pinned_images, crio_error_t *err);
/* SIGHUP: reads registries_conf again (an absent file is an empty
 * config); pulls and lookups that start afterwards use it, those running
 * finish with the old one.  On error the old one stays in effect. */
int img_service_reload_registries(struct img_service *svc, const char *registries_conf,
                                  crio_error_t *err);

/* The layer store's usage, for ImageFsInfo. */
struct img_fs_usage {
  const char *mountpoint; /* <root>/layers; owned by the service */
  uint64_t bytes;
  uint64_t inodes;
  int64_t timestamp; /* ns since the epoch */
};
int img_service_fs_usage(struct img_service *svc, struct img_fs_usage *out, crio_error_t *err);

/* ---- containers ----------------------------------------------------------------- */

/* The diff/ directories of published layers (chain ids bottom first), in
 * the same order, NULL-terminated (cleanup_strv): a container's overlay
 * lower dirs.  ENOENT naming a layer that is not published. */
int img_service_layer_dirs(struct img_service *svc, const char *const *chain_ids, size_t n,
                           char ***out, crio_error_t *err);

/* ---- removal ------------------------------------------------------------------- */

/* In a write txn: EBUSY (naming it) if a container record uses the image;
 * otherwise releases every name of the image and sets its goal REMOVED
 * (the caller then wakes the reconciler and waits). */
int img_service_remove_intent(struct img_service *svc, struct store_txn *txn, const char *id,
                              crio_error_t *err);

#endif
