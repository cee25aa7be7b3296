/* ListPodSandboxMetrics: the metrics of every pod the CRI can see and of
 * its containers (rpc_metric_set.c), from the pods ListPodSandboxStats
 * would list, prepared in one read txn that ends before the host is read. */
#include "cri/internal.h"

int cri_handle_list_pod_sandbox_metrics(struct cri_request *req, ProtobufCMessage **response,
                                        crio_error_t *err) {
  struct cri_pod_stats_source *pods = NULL;
  size_t n = 0;
  if (cri_pod_stats_list_prepare(req, NULL, &pods, &n, err) < 0)
    return -1;
  Runtime__V1__ListPodSandboxMetricsResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__list_pod_sandbox_metrics_response__init(resp);
  resp->pod_metrics = cri_alloc(req, (n + 1) * sizeof(*resp->pod_metrics));
  for (size_t i = 0; i < n; i++)
    resp->pod_metrics[i] = cri_pod_metrics_sample(req, &pods[i]);
  resp->n_pod_metrics = n;
  *response = &resp->base;
  return 0;
}
