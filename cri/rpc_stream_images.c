/* StreamImages: ListImages' READY images, filtered and viewed by the same
 * code (cri_image_list), sent in batches once the read txn has ended. */
#include "cri/internal.h"

int cri_handle_stream_images(struct cri_request *req, crio_error_t *err) {
  const Runtime__V1__StreamImagesRequest *in = (const void *)req->message;
  Runtime__V1__Image **items = NULL;
  size_t n = 0;
  if (cri_image_list(req, in->filter, &items, &n, err) < 0)
    return -1;
  return cri_stream_items(req, &runtime__v1__stream_images_response__descriptor, n,
                          cri_stream_item_of_array, items, err);
}
