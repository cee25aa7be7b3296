/* ListContainerStats: the matching containers are copied out of one read
 * transaction, which ends before any of them is sampled on the host.
 * Filters: id (a prefix, as ListContainers takes it), pod_sandbox_id (a
 * prefix too) and labels; every container the CRI can see is listed,
 * whatever its state (an exited one keeps its writable layer, and its
 * cgroup until the runtime deletes it: the kubelet drops what it does not
 * want). */
#include <string.h>

#include "cri/container.h"
#include "cri/ctr_ops.h"

struct list_state {
  struct cri_request *req;
  const Runtime__V1__ContainerStatsFilter *filter;
  struct cri_ctr_stats_source *items;
  size_t n, cap;
};

static bool labels_match(const store_record *rec, const Runtime__V1__ContainerStatsFilter *f) {
  for (size_t i = 0; i < f->n_label_selector; i++) {
    bool found = false;
    for (size_t j = 0; j < rec->n_labels && !found; j++)
      found = strcmp(rec->labels[j]->key, f->label_selector[i]->key) == 0 &&
              strcmp(rec->labels[j]->value, f->label_selector[i]->value) == 0;
    if (!found)
      return false;
  }
  return true;
}

static bool has_prefix(const char *s, const char *prefix) {
  return prefix == NULL || *prefix == '\0' || strncmp(s, prefix, strlen(prefix)) == 0;
}

static int visit(const store_record *rec, void *data) {
  struct list_state *st = data;
  const Runtime__V1__ContainerStatsFilter *f = st->filter;
  if (!cri_container_visible(rec))
    return 0;
  if (f && (!has_prefix(rec->id, f->id) || !has_prefix(rec->parent_id, f->pod_sandbox_id) ||
            !labels_match(rec, f)))
    return 0;
  if (st->n == st->cap) {
    size_t cap = st->cap ? st->cap * 2 : 16;
    struct cri_ctr_stats_source *items = cri_alloc(st->req, cap * sizeof(*items));
    if (st->n)
      memcpy(items, st->items, st->n * sizeof(*items));
    st->items = items;
    st->cap = cap;
  }
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
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(req->ctx->store, STORE_TXN_READ, &txn, err) < 0)
    return -1;
  if (store_record_foreach(txn, STORE_KIND_CONTAINER, visit, &st, err) < 0)
    return -1;
  *items = st.items;
  *n = st.n;
  return 0;
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
  struct cri_pod_stats_host *host = cri_pod_stats_host_new(req);
  for (size_t i = 0; i < n; i++)
    resp->stats[i] = cri_ctr_stats_sample(req, host, &items[i]);
  resp->n_stats = n;
  *response = &resp->base;
  return 0;
}
