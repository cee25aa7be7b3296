#include <errno.h>

#include "cri/image.h"
#include "reconciler/reconciler.h"
#include "statemachine/statemachine.h"

/* By tag, digest reference, id or unique id prefix: the image and every
 * name of it go.  Idempotent: an image that is not there is removed.  Its
 * layers go with the record's last step, unless another image uses them. */
int cri_handle_remove_image(struct cri_request *req, ProtobufCMessage **response,
                            crio_error_t *err) {
  const Runtime__V1__RemoveImageRequest *in = (const void *)req->message;
  const char *text = NULL;
  if (cri_image_spec_text(in->image, "image.image", &text, err) < 0)
    return -1;
  Runtime__V1__RemoveImageResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__remove_image_response__init(resp);
  *response = &resp->base;

  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(req->ctx->store, STORE_TXN_WRITE, &txn, err) < 0)
    return -1;
  cleanup_free char *id = NULL;
  if (img_service_lookup(req->ctx->images, txn, text, &id, err) < 0) {
    if (crio_error_status(err) != ENOENT)
      return crio_error_prefix(err, "remove image %s", text);
    crio_error_release(err);
    return 0;
  }
  if (img_service_remove_intent(req->ctx->images, txn, id, err) < 0 ||
      store_txn_commit(steal_pointer(&txn), err) < 0)
    return crio_error_prefix(err, "remove image %s", text);

  struct reconciler *r = req->ctx->reconciler;
  reconciler_wake(r, SM_KIND_IMAGE, id);
  if (reconciler_wait(r, SM_KIND_IMAGE, id, SM_IMAGE_REMOVED, req->deadline_mono_ns, err) < 0)
    return crio_error_prefix(err, "remove image %s", text);
  return 0;
}
