/* ListPodSandboxStats: the matching pods are copied out of one read
 * transaction, which ends before any of them is sampled on the host. */
#include <stdlib.h>
#include <string.h>

#include "cri/container.h"
#include "cri/ctr_ops.h"
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

/* The pods' containers, from one walk of the container records rather
 * than a read txn per pod: with a few hundred pods the per-pod txns, prefix
 * walks and lookups were a measured share of ListPodSandboxStats. */
struct containers_state {
  struct cri_request *req;
  struct cri_pod_stats_source **by_id; /* the listed pods, sorted by id */
  size_t n;
};

static int by_id_cmp(const void *a, const void *b) {
  const struct cri_pod_stats_source *const *x = a, *const *y = b;
  return strcmp((*x)->attributes->id, (*y)->attributes->id);
}

static int id_cmp(const void *key, const void *elem) {
  const struct cri_pod_stats_source *const *p = elem;
  return strcmp(key, (*p)->attributes->id);
}

static int visit_container(const store_record *rec, void *data) {
  struct containers_state *st = data;
  if (!cri_container_visible(rec))
    return 0;
  struct cri_pod_stats_source **found =
      bsearch(rec->parent_id, st->by_id, st->n, sizeof(*st->by_id), id_cmp);
  if (found == NULL)
    return 0;
  struct cri_pod_stats_source *pod = *found;
  pod->containers = cri_array_reserve(st->req, pod->containers, pod->n_containers,
                                      &pod->cap_containers, sizeof(*pod->containers));
  cleanup_error crio_error_t e = NULL;
  if (cri_ctr_stats_prepare(st->req, rec, &pod->containers[pod->n_containers], &e) < 0) {
    log_debug("stats of pod %s: %s", rec->parent_id, crio_error_message(&e));
    return 0;
  }
  pod->n_containers++;
  return 0;
}

/* Shared with StreamPodSandboxStats and the pod metrics: the read
 * transactions end when this returns, before the host is read. */
int cri_pod_stats_list_prepare(struct cri_request *req,
                               const Runtime__V1__PodSandboxStatsFilter *filter,
                               struct cri_pod_stats_source **items, size_t *n, crio_error_t *err) {
  struct list_state st = {.req = req, .filter = filter};
  if (cri_records_walk(req, STORE_KIND_POD, visit, &st, err) < 0)
    return -1;
  if (st.n > 0) {
    struct containers_state cs = {.req = req, .n = st.n};
    cs.by_id = cri_alloc(req, st.n * sizeof(*cs.by_id));
    for (size_t i = 0; i < st.n; i++)
      cs.by_id[i] = &st.pods[i];
    qsort(cs.by_id, st.n, sizeof(*cs.by_id), by_id_cmp);
    if (cri_records_walk(req, STORE_KIND_CONTAINER, visit_container, &cs, err) < 0)
      return -1;
    for (size_t i = 0; i < st.n; i++)
      st.pods[i].containers_known = true;
  }
  *items = st.pods;
  *n = st.n;
  return 0;
}

/* Items a worker thread is worth (cri_parallel_for): a pod is its
 * cgroup's five reads, a netlink request and its containers' reads. */
#define STATS_PER_WORKER 8

struct sample_list {
  const struct cri_pod_stats_source *pods;
  Runtime__V1__PodSandboxStats **out;
};

static void sample_item(struct cri_request *r, size_t i, void *data) {
  struct sample_list *l = data;
  /* A pod stopped or removed since the transaction loses what went with
   * it; the others are still worth answering, so a pod's failure is
   * logged and its entry keeps what could be read. */
  cleanup_error crio_error_t pod_err = NULL;
  if (cri_pod_stats_sample(r, &l->pods[i], &l->out[i], &pod_err) < 0)
    log_debug("ListPodSandboxStats: %s", crio_error_message(&pod_err));
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
  /* Sampled on every CPU the daemon may use: the host reads are most of
   * the call's time, and independent. */
  struct sample_list l = {pods, resp->stats};
  cri_parallel_for(req, n, STATS_PER_WORKER, sample_item, &l);
  resp->n_stats = n;
  *response = &resp->base;
  return 0;
}
