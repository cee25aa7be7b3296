#include <errno.h>

#include "cri/image.h"
#include "statemachine/statemachine.h"

/* An image that is absent, or not READY yet (a pull in flight, a removal
 * under way), is answered with `image` unset: not an error. */
int cri_handle_image_status(struct cri_request *req, ProtobufCMessage **response,
                            crio_error_t *err) {
  const Runtime__V1__ImageStatusRequest *in = (const void *)req->message;
  const char *text = NULL;
  if (cri_image_spec_text(in->image, "image.image", &text, err) < 0)
    return -1;
  Runtime__V1__ImageStatusResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__image_status_response__init(resp);
  *response = &resp->base;

  struct img_service *images = req->ctx->images;
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(req->ctx->store, STORE_TXN_READ, &txn, err) < 0)
    return -1;
  cleanup_free char *id = NULL;
  if (img_service_lookup(images, txn, text, &id, err) < 0) {
    if (crio_error_status(err) != ENOENT)
      return crio_error_prefix(err, "image status %s", text);
    crio_error_release(err);
    return 0;
  }
  cleanup_store_record store_record *rec = NULL;
  if (store_record_get(txn, STORE_KIND_IMAGE, id, &rec, err) < 0)
    return crio_error_prefix(err, "image %s", id);
  if (rec->state != SM_IMAGE_READY)
    return 0;
  struct img_names names;
  if (img_service_names_of(txn, id, &names, err) < 0)
    return crio_error_prefix(err, "image %s: names", id);
  store_txn_abort(steal_pointer(&txn));

  resp->image = cri_image_view(req, rec, &names, img_service_pinned(images, &names));
  img_names_clear(&names);
  if (in->verbose) {
    CRI_MAP_ONE(req, resp->n_info, resp->info, Runtime__V1__ImageStatusResponse__InfoEntry,
                runtime__v1__image_status_response__info_entry__init, "info",
                cri_image_verbose_info(req, rec));
  }
  return 0;
}
