/* ListPodSandboxStats: the matching pods are copied out of one read
 * transaction, which ends before any of them is sampled on the host. */
#include "cri/pod.h"
#include "statemachine/statemachine.h"

struct list_state {
  struct cri_request *req;
  const Runtime__V1__PodSandboxStatsFilter *filter;
  struct cri_pod_stats_source *pods;
  size_t n, cap;
};

static int visit(const store_record *rec, void *data) {
  struct list_state *st = data;
  const Runtime__V1__PodSandboxStatsFilter *f = st->filter;
  /* As ListPodSandbox: a pod being created does not exist for the kubelet. */
  if (rec->state == SM_POD_PENDING)
    return 0;
  if (f) {
    if (!cri_id_has_prefix(rec->id, f->id))
      return 0;
    for (size_t i = 0; i < f->n_label_selector; i++)
      if (!cri_record_has_label(rec, f->label_selector[i]->key, f->label_selector[i]->value))
        return 0;
  }
  st->pods = cri_array_reserve(st->req, st->pods, st->n, &st->cap, sizeof(*st->pods));
  /* A record we cannot make sense of should not hide every other pod. */
  cleanup_error crio_error_t e = NULL;
  if (cri_pod_stats_prepare(st->req, rec, &st->pods[st->n], &e) < 0) {
    log_warning("ListPodSandboxStats: %s", crio_error_message(&e));
    return 0;
  }
  st->n++;
  return 0;
}

/* Shared with StreamPodSandboxStats and the pod metrics: the read
 * transaction ends when this returns, before the host is read. */
int cri_pod_stats_list_prepare(struct cri_request *req,
                               const Runtime__V1__PodSandboxStatsFilter *filter,
                               struct cri_pod_stats_source **items, size_t *n, crio_error_t *err) {
  struct list_state st = {.req = req, .filter = filter};
  if (cri_records_walk(req, STORE_KIND_POD, visit, &st, err) < 0)
    return -1;
  *items = st.pods;
  *n = st.n;
  return 0;
}

int cri_handle_list_pod_sandbox_stats(struct cri_request *req, ProtobufCMessage **response,
                                      crio_error_t *err) {
  const Runtime__V1__ListPodSandboxStatsRequest *in = (const void *)req->message;
  struct cri_pod_stats_source *pods = NULL;
  size_t n = 0;
  if (cri_pod_stats_list_prepare(req, in->filter, &pods, &n, err) < 0)
    return -1;

  Runtime__V1__ListPodSandboxStatsResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__list_pod_sandbox_stats_response__init(resp);
  resp->stats = cri_alloc(req, (n + 1) * sizeof(*resp->stats));
  for (size_t i = 0; i < n; i++) {
    /* A pod stopped or removed since the transaction loses what went with
     * it; the others are still worth answering, so a pod's failure is
     * logged and its entry keeps what could be read. */
    cleanup_error crio_error_t pod_err = NULL;
    if (cri_pod_stats_sample(req, &pods[i], &resp->stats[i], &pod_err) < 0)
      log_debug("ListPodSandboxStats: %s", crio_error_message(&pod_err));
  }
  resp->n_stats = n;
  *response = &resp->base;
  return 0;
}
