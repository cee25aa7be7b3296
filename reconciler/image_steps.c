/* The image steps: one per transition of the image machine
 * (statemachine/image.c); the side effects live in the image service.
 * Each layer an image uses is a resource of the record ("layer" <chain
 * id>), acquired by the fetch and released on the way out: a reference,
 * since layers are shared — collection deletes a layer once no record
 * references it. */
#include <errno.h>

#include "images/images.h"
#include "reconciler/reconciler.h"

static bool step_stopping(void *opaque) {
  return reconcile_step_should_stop(opaque);
}

static int step_fetch_layers(struct reconcile_step *step, crio_error_t *err) {
  store_record *rec = step->record;
  if (img_service_fetch_layers(step->data, rec, step_stopping, step, err) < 0)
    return -1;
  for (size_t i = 0; i < rec->image->n_layers; i++)
    reconcile_step_acquire(step, IMG_RESOURCE_LAYER, rec->image->layers[i], NULL, 0);
  return 0;
}

static int step_commit(struct reconcile_step *step, crio_error_t *err) {
  return img_service_check_layers(step->data, step->record, err);
}

/* The record lists every layer it may hold a reference on, whether the
 * fetch got to commit them or not. */
static int step_release_layers(struct reconcile_step *step, crio_error_t *err) {
  (void)err;
  store_record *rec = step->record;
  for (size_t i = 0; rec->image && i < rec->image->n_layers; i++)
    reconcile_step_release(step, IMG_RESOURCE_LAYER, rec->image->layers[i]);
  return 0;
}

static int step_delete_record(struct reconcile_step *step, crio_error_t *err) {
  return img_service_collect_layers(step->data, step->record, err);
}

int reconciler_register_image_steps(struct reconciler *r, struct img_service *images,
                                    crio_error_t *err) {
  static const struct {
    const char *transition;
    reconcile_step_fn fn;
  } steps[] = {
      {"image.fetch_layers", step_fetch_layers},
      {"image.commit", step_commit},
      {"image.release_layers", step_release_layers},
      {"image.delete_record", step_delete_record},
      {"image.rollback_partial_fetch", step_release_layers},
      {"image.rollback_release_layers", step_release_layers},
  };
  size_t n = sizeof(steps) / sizeof(steps[0]);
  for (size_t i = 0; i < n; i++)
    if (reconciler_register_step(r, steps[i].transition, steps[i].fn, images, err) < 0)
      return -1;
  /* A transition added to the table without a step here fails start-up,
   * not a pull at run time. */
  const struct sm_machine *m = sm_machine(SM_KIND_IMAGE);
  size_t n_steps = 0;
  for (size_t i = 0; i < m->n_transitions; i++)
    n_steps += m->transitions[i].trigger == SM_TRIGGER_STEP;
  if (n_steps != n)
    return crio_error(err, EINVAL, "image steps: %zu registered for %zu step transitions", n,
                      n_steps);
  return 0;
}
