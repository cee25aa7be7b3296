#include <string.h>

#include "cri/container.h"
#include "statemachine/statemachine.h"

struct list_state {
  struct cri_request *req;
  const Runtime__V1__ContainerFilter *filter;
  Runtime__V1__Container **items;
  size_t n, cap;
};

static bool labels_match(const store_record *rec, const Runtime__V1__ContainerFilter *f) {
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

static bool prefix_of(const char *s, const char *prefix) {
  return prefix == NULL || *prefix == '\0' || strncmp(s, prefix, strlen(prefix)) == 0;
}

static int visit(const store_record *rec, void *data) {
  struct list_state *st = data;
  const Runtime__V1__ContainerFilter *f = st->filter;
  if (!cri_container_visible(rec))
    return 0;
  if (f) {
    if (!prefix_of(rec->id, f->id) || !prefix_of(rec->parent_id, f->pod_sandbox_id))
      return 0;
    if (f->state && (int)f->state->state != sm_container_cri_state(rec->state))
      return 0;
    if (!labels_match(rec, f))
      return 0;
  }
  if (st->n == st->cap) {
    size_t cap = st->cap ? st->cap * 2 : 16;
    Runtime__V1__Container **items = cri_alloc(st->req, cap * sizeof(*items));
    if (st->n)
      memcpy(items, st->items, st->n * sizeof(*items));
    st->items = items;
    st->cap = cap;
  }
  st->items[st->n++] = cri_container_view(st->req, rec);
  return 0;
}

/* Shared with StreamContainers: the views are built inside the read txn,
 * which ends when this returns. */
int cri_container_list(struct cri_request *req, const Runtime__V1__ContainerFilter *filter,
                       Runtime__V1__Container ***items, size_t *n, crio_error_t *err) {
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

int cri_handle_list_containers(struct cri_request *req, ProtobufCMessage **response,
                               crio_error_t *err) {
  const Runtime__V1__ListContainersRequest *in = (const void *)req->message;
  Runtime__V1__ListContainersResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__list_containers_response__init(resp);
  if (cri_container_list(req, in->filter, &resp->containers, &resp->n_containers, err) < 0)
    return -1;
  *response = &resp->base;
  return 0;
}
