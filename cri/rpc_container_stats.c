/* ContainerStats: one container's usage.  The record is read in a short
 * read txn; the host after it has ended (cri/ctr_stats.c). */
#include "cri/ctr_ops.h"

int cri_handle_container_stats(struct cri_request *req, ProtobufCMessage **response,
                               crio_error_t *err) {
  const Runtime__V1__ContainerStatsRequest *in = (const void *)req->message;
  cleanup_store_record store_record *rec = NULL;
  if (cri_ctr_record_get(req, in->container_id, &rec, err) < 0)
    return -1;
  struct cri_ctr_stats_source src;
  if (cri_ctr_stats_prepare(req, rec, &src, err) < 0)
    return -1;
  Runtime__V1__ContainerStatsResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__container_stats_response__init(resp);
  resp->stats = cri_ctr_stats_sample(req, &src);
  *response = &resp->base;
  return 0;
}
