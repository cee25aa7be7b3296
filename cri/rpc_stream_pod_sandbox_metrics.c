/* StreamPodSandboxMetrics: ListPodSandboxMetrics' pods, each sampled just
 * before its batch is sent (one batch of samples held at a time). */
#include "cri/internal.h"

struct stream_state {
  const struct cri_pod_stats_source *pods;
};

static ProtobufCMessage *sample(struct cri_request *scratch, size_t i, void *data) {
  struct stream_state *st = data;
  return &cri_pod_metrics_sample(scratch, &st->pods[i])->base;
}

int cri_handle_stream_pod_sandbox_metrics(struct cri_request *req, crio_error_t *err) {
  struct cri_pod_stats_source *pods = NULL;
  size_t n = 0;
  if (cri_pod_stats_list_prepare(req, NULL, &pods, &n, err) < 0)
    return -1;
  struct stream_state st = {.pods = pods};
  return cri_stream_items(req, &runtime__v1__stream_pod_sandbox_metrics_response__descriptor, n,
                          sample, &st, err);
}
