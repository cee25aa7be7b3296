/* StreamContainers: ListContainers' containers, filtered and viewed by the
 * same code (cri_container_list), sent in batches once the read txn has
 * ended. */
#include "cri/internal.h"

int cri_handle_stream_containers(struct cri_request *req, crio_error_t *err) {
  const Runtime__V1__StreamContainersRequest *in = (const void *)req->message;
  Runtime__V1__Container **items = NULL;
  size_t n = 0;
  if (cri_container_list(req, in->filter, &items, &n, err) < 0)
    return -1;
  return cri_stream_items(req, &runtime__v1__stream_containers_response__descriptor, n,
                          cri_stream_item_of_array, items, err);
}
