/* StreamContainerStats: ListContainerStats' containers (same filter, same
 * prepare in one read txn), each sampled on the host just before its batch
 * is sent. */
#include "cri/ctr_ops.h"

struct stream_state {
  const struct cri_ctr_stats_source *items;
};

static ProtobufCMessage *sample(struct cri_request *scratch, size_t i, void *data) {
  struct stream_state *st = data;
  return &cri_ctr_stats_sample(scratch, &st->items[i])->base;
}

int cri_handle_stream_container_stats(struct cri_request *req, crio_error_t *err) {
  const Runtime__V1__StreamContainerStatsRequest *in = (const void *)req->message;
  struct cri_ctr_stats_source *items = NULL;
  size_t n = 0;
  if (cri_ctr_stats_list_prepare(req, in->filter, &items, &n, err) < 0)
    return -1;
  struct stream_state st = {.items = items};
  return cri_stream_items(req, &runtime__v1__stream_container_stats_response__descriptor, n, sample,
                          &st, err);
}
