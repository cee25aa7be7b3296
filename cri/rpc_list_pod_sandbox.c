#include <string.h>

#include "cri/pod.h"
#include "statemachine/statemachine.h"

struct list_state {
  struct cri_request *req;
  const Runtime__V1__PodSandboxFilter *filter;
  Runtime__V1__PodSandbox **items;
  size_t n, cap;
};

static bool labels_match(const store_record *rec, const Runtime__V1__PodSandboxFilter *f) {
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

static int visit(const store_record *rec, void *data) {
  struct list_state *st = data;
  const Runtime__V1__PodSandboxFilter *f = st->filter;
  /* A pod being created is not shown until it exists for the kubelet. */
  if (rec->state == SM_POD_PENDING)
    return 0;
  if (f) {
    if (f->id && *f->id && strncmp(rec->id, f->id, strlen(f->id)) != 0)
      return 0;
    if (f->state && (int)f->state->state != sm_pod_cri_state(rec->state))
      return 0;
    if (!labels_match(rec, f))
      return 0;
  }
  if (st->n == st->cap) {
    size_t cap = st->cap ? st->cap * 2 : 16;
    Runtime__V1__PodSandbox **items = cri_alloc(st->req, cap * sizeof(*items));
    if (st->n)
      memcpy(items, st->items, st->n * sizeof(*items));
    st->items = items;
    st->cap = cap;
  }
  st->items[st->n++] = cri_pod_view(st->req, rec);
  return 0;
}

/* Shared with StreamPodSandboxes: the views are built inside the read txn,
 * which ends when this returns. */
int cri_pod_list(struct cri_request *req, const Runtime__V1__PodSandboxFilter *filter,
                 Runtime__V1__PodSandbox ***items, size_t *n, crio_error_t *err) {
  struct list_state st = {.req = req, .filter = filter};
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(req->ctx->store, STORE_TXN_READ, &txn, err) < 0)
    return -1;
  if (store_record_foreach(txn, STORE_KIND_POD, visit, &st, err) < 0)
    return -1;
  *items = st.items;
  *n = st.n;
  return 0;
}

int cri_handle_list_pod_sandbox(struct cri_request *req, ProtobufCMessage **response,
                                crio_error_t *err) {
  const Runtime__V1__ListPodSandboxRequest *in = (const void *)req->message;
  Runtime__V1__ListPodSandboxResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__list_pod_sandbox_response__init(resp);
  if (cri_pod_list(req, in->filter, &resp->items, &resp->n_items, err) < 0)
    return -1;
  *response = &resp->base;
  return 0;
}
