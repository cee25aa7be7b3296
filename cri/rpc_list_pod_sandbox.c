#include "cri/pod.h"
#include "statemachine/statemachine.h"

struct list_state {
  struct cri_request *req;
  const Runtime__V1__PodSandboxFilter *filter;
  Runtime__V1__PodSandbox **items;
  size_t n, cap;
};

static int visit(const store_record *rec, void *data) {
  struct list_state *st = data;
  const Runtime__V1__PodSandboxFilter *f = st->filter;
  /* A pod being created is not shown until it exists for the kubelet. */
  if (rec->state == SM_POD_PENDING)
    return 0;
  if (f) {
    if (!cri_id_has_prefix(rec->id, f->id))
      return 0;
    if (f->state && (int)f->state->state != sm_pod_cri_state(rec->state))
      return 0;
    for (size_t i = 0; i < f->n_label_selector; i++)
      if (!cri_record_has_label(rec, f->label_selector[i]->key, f->label_selector[i]->value))
        return 0;
  }
  st->items = cri_array_reserve(st->req, st->items, st->n, &st->cap, sizeof(*st->items));
  st->items[st->n++] = cri_pod_view(st->req, rec);
  return 0;
}

/* Shared with StreamPodSandboxes: the views are built inside the read txn,
 * which ends when this returns. */
int cri_pod_list(struct cri_request *req, const Runtime__V1__PodSandboxFilter *filter,
                 Runtime__V1__PodSandbox ***items, size_t *n, crio_error_t *err) {
  struct list_state st = {.req = req, .filter = filter};
  if (cri_records_walk_narrowed(req, STORE_KIND_POD, filter ? filter->id : NULL, NULL, visit, &st,
                                err) < 0)
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
