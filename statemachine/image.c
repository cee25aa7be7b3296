/* The image lifecycle as a table.
 *
 * An image holds references on layers in the shared layer store; layers
 * themselves are collected by the layer store's gc once unreferenced, so
 * they have no states here. */
#include "statemachine/statemachine.h"

static const char *const image_state_names[] = {
    [SM_IMAGE_PENDING] = "PENDING", [SM_IMAGE_LAYERS_FETCHED] = "LAYERS_FETCHED",
    [SM_IMAGE_READY] = "READY",     [SM_IMAGE_LAYERS_RELEASED] = "LAYERS_RELEASED",
    [SM_IMAGE_REMOVED] = "REMOVED",
};

#define IMAGE_STEP(f, t, n, rb, effect)                                                            \
  {                                                                                                \
    .kind = SM_KIND_IMAGE, .from = SM_IMAGE_##f, .to = SM_IMAGE_##t, .name = n,                    \
    .trigger = SM_TRIGGER_STEP, .rollback = rb, .side_effect = effect                              \
  }

static const struct sm_transition image_transitions[] = {
    IMAGE_STEP(PENDING, LAYERS_FETCHED, "image.fetch_layers", false,
               "download, verify and unpack every missing layer into the "
               "layer store, referencing each"),
    IMAGE_STEP(LAYERS_FETCHED, READY, "image.commit", false,
               "store the image config and tags, so the image is listed"),
    IMAGE_STEP(READY, LAYERS_RELEASED, "image.release_layers", false,
               "drop the image's layer references, so layer gc may collect "
               "them"),
    IMAGE_STEP(LAYERS_RELEASED, REMOVED, "image.delete_record", false,
               "delete the record and the tags that still name it"),
    /* rollback of a failed or interrupted pull */
    IMAGE_STEP(PENDING, LAYERS_RELEASED, "image.rollback_partial_fetch", true,
               "drop whatever layer references a failed or interrupted fetch "
               "took"),
    IMAGE_STEP(LAYERS_FETCHED, LAYERS_RELEASED, "image.rollback_release_layers", true,
               "drop the layer references the fetch took"),
};

const struct sm_machine sm_image_machine = {
    .kind = SM_KIND_IMAGE,
    .name = "image",
    .state_names = image_state_names,
    .n_states = sizeof image_state_names / sizeof image_state_names[0],
    .initial = SM_IMAGE_PENDING,
    .terminal = SM_IMAGE_REMOVED,
    .rollback_goal = SM_IMAGE_REMOVED,
    .transitions = image_transitions,
    .n_transitions = sizeof image_transitions / sizeof image_transitions[0],
};
