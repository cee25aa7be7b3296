#include <errno.h>
#include <string.h>

#include "cri/image.h"
#include "statemachine/statemachine.h"

struct list_walk {
  struct cri_request *req;
  const struct img_names_map *names;
  const char *only_id; /* the filter's image, or NULL */
  Runtime__V1__Image **images;
  size_t n, cap;
};

static int add_image(const store_record *rec, void *data) {
  struct list_walk *w = data;
  if (rec->state != SM_IMAGE_READY)
    return 0;
  if (w->only_id && strcmp(rec->id, w->only_id) != 0)
    return 0;
  w->images = cri_array_reserve(w->req, w->images, w->n, &w->cap, sizeof(*w->images));
  const struct img_names *names = img_names_map_get(w->names, rec->id);
  w->images[w->n++] =
      cri_image_view(w->req, rec, names, img_service_pinned(w->req->ctx->images, names));
  return 0;
}

/* READY images only: a pull in flight is not an image yet.  Shared with
 * StreamImages: the views are built inside the read txn, which ends when
 * this returns. */
int cri_image_list(struct cri_request *req, const Runtime__V1__ImageFilter *image_filter,
                   Runtime__V1__Image ***items, size_t *n, crio_error_t *err) {
  *items = NULL;
  *n = 0;
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(req->ctx->store, STORE_TXN_READ, &txn, err) < 0)
    return -1;
  cleanup_free char *only_id = NULL;
  const char *filter = image_filter && image_filter->image ? image_filter->image->image : NULL;
  if (filter && *filter) {
    if (img_service_lookup(req->ctx->images, txn, filter, &only_id, err) < 0) {
      if (crio_error_status(err) != ENOENT)
        return crio_error_prefix(err, "filter.image.image");
      crio_error_release(err);
      return 0; /* the filter names no image: an empty list */
    }
  }
  cleanup_img_names_map struct img_names_map *names = NULL;
  if (img_names_map_build(txn, &names, err) < 0)
    return crio_error_prefix(err, "image names");
  struct list_walk w = {.req = req, .names = names, .only_id = only_id};
  if (store_record_foreach(txn, STORE_KIND_IMAGE, add_image, &w, err) < 0)
    return crio_error_prefix(err, "list images");
  *items = w.images;
  *n = w.n;
  return 0;
}

int cri_handle_list_images(struct cri_request *req, ProtobufCMessage **response,
                           crio_error_t *err) {
  const Runtime__V1__ListImagesRequest *in = (const void *)req->message;
  Runtime__V1__ListImagesResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__list_images_response__init(resp);
  if (cri_image_list(req, in->filter, &resp->images, &resp->n_images, err) < 0)
    return -1;
  *response = &resp->base;
  return 0;
}
