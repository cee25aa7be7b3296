/* StreamPodSandboxStats: ListPodSandboxStats' pods (same filter, same
 * prepare in one read txn), each sampled on the host just before its batch
 * is sent, so a long stream reports fresh numbers and holds one batch of
 * samples at a time. */
#include "cri/internal.h"

struct stream_state {
  const struct cri_pod_stats_source *pods;
};

static ProtobufCMessage *sample(struct cri_request *scratch, size_t i, void *data) {
  struct stream_state *st = data;
  Runtime__V1__PodSandboxStats *stats = NULL;
  /* As in the list: a pod gone meanwhile keeps what could be read. */
  cleanup_error crio_error_t e = NULL;
  if (cri_pod_stats_sample(scratch, &st->pods[i], &stats, &e) < 0)
    log_debug("StreamPodSandboxStats: %s", crio_error_message(&e));
  return &stats->base;
}

int cri_handle_stream_pod_sandbox_stats(struct cri_request *req, crio_error_t *err) {
  const Runtime__V1__StreamPodSandboxStatsRequest *in = (const void *)req->message;
  struct cri_pod_stats_source *pods = NULL;
  size_t n = 0;
  if (cri_pod_stats_list_prepare(req, in->filter, &pods, &n, err) < 0)
    return -1;
  /* The host facts are loaded once, into the call's own arena. */
  struct stream_state st = {.pods = pods};
  return cri_stream_items(req, &runtime__v1__stream_pod_sandbox_stats_response__descriptor, n,
                          sample, &st, err);
}
