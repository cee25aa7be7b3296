/* ListContainerStats: the matching containers are copied out of one read
 * transaction, which ends before any of them is sampled on the host.
 * Filters: id (a prefix, as ListContainers takes it), pod_sandbox_id (a
 * prefix too) and labels; every container the CRI can see is listed,
 * whatever its state (an exited one keeps its writable layer, and its
 * cgroup until the runtime deletes it: the kubelet drops what it does not
 * want). */
#include "cri/container.h"
#include "cri/ctr_ops.h"

struct list_state {
  struct cri_request *req;
  const Runtime__V1__ContainerStatsFilter *filter;
  struct cri_ctr_stats_source *items;
  size_t n, cap;
};

static int visit(const store_record *rec, void *data) {
  struct list_state *st = data;
  const Runtime__V1__ContainerStatsFilter *f = st->filter;
  if (!cri_container_visible(rec))
    return 0;
  if (f) {
    if (!cri_id_has_prefix(rec->id, f->id) || !cri_id_has_prefix(rec->parent_id, f->pod_sandbox_id))
      return 0;
    for (size_t i = 0; i < f->n_label_selector; i++)
      if (!cri_record_has_label(rec, f->label_selector[i]->key, f->label_selector[i]->value))
        return 0;
  }
  st->items = cri_array_reserve(st->req, st->items, st->n, &st->cap, sizeof(*st->items));
  /* A record we cannot make sense of should not hide every other one. */
  cleanup_error crio_error_t e = NULL;
  if (cri_ctr_stats_prepare(st->req, rec, &st->items[st->n], &e) < 0) {
    log_warning("ListContainerStats: %s", crio_error_message(&e));
    return 0;
  }
  st->n++;
  return 0;
}

/* Shared with StreamContainerStats: the read transaction ends when this
 * returns, before the host is read. */
int cri_ctr_stats_list_prepare(struct cri_request *req,
                               const Runtime__V1__ContainerStatsFilter *filter,
                               struct cri_ctr_stats_source **items, size_t *n, crio_error_t *err) {
  struct list_state st = {.req = req, .filter = filter};
  if (cri_records_walk(req, STORE_KIND_CONTAINER, visit, &st, err) < 0)
    return -1;
  *items = st.items;
  *n = st.n;
  return 0;
}

/* Items a worker thread is worth (cri_parallel_for): a container is three
 * cgroup reads and the messages, some 20-40 us here; a thread some 50. */
#define STATS_PER_WORKER 16

struct sample_list {
  const struct cri_ctr_stats_source *items;
  Runtime__V1__ContainerStats **out;
};

static void sample_item(struct cri_request *r, size_t i, void *data) {
  struct sample_list *l = data;
  l->out[i] = cri_ctr_stats_sample(r, &l->items[i]);
}

int cri_handle_list_container_stats(struct cri_request *req, ProtobufCMessage **response,
                                    crio_error_t *err) {
  const Runtime__V1__ListContainerStatsRequest *in = (const void *)req->message;
  struct cri_ctr_stats_source *items = NULL;
  size_t n = 0;
  if (cri_ctr_stats_list_prepare(req, in->filter, &items, &n, err) < 0)
    return -1;

  Runtime__V1__ListContainerStatsResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__list_container_stats_response__init(resp);
  resp->stats = cri_alloc(req, (n + 1) * sizeof(*resp->stats));
  /* The containers are sampled on every CPU the daemon may use: the
   * cgroup reads are most of the call's time, and independent. */
  struct sample_list l = {items, resp->stats};
  cri_parallel_for(req, n, STATS_PER_WORKER, sample_item, &l);
  resp->n_stats = n;
  *response = &resp->base;
  return 0;
}
