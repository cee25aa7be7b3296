#include "cri/container.h"
#include "statemachine/statemachine.h"

struct list_state {
  struct cri_request *req;
  const Runtime__V1__ContainerFilter *filter;
  Runtime__V1__Container **items;
  size_t n, cap;
};

static int visit(const store_record *rec, void *data) {
  struct list_state *st = data;
  const Runtime__V1__ContainerFilter *f = st->filter;
  if (!cri_container_visible(rec))
    return 0;
  if (f) {
    if (!cri_id_has_prefix(rec->id, f->id) || !cri_id_has_prefix(rec->parent_id, f->pod_sandbox_id))
      return 0;
    if (f->state && (int)f->state->state != sm_container_cri_state(rec->state))
      return 0;
    for (size_t i = 0; i < f->n_label_selector; i++)
      if (!cri_record_has_label(rec, f->label_selector[i]->key, f->label_selector[i]->value))
        return 0;
  }
  st->items = cri_array_reserve(st->req, st->items, st->n, &st->cap, sizeof(*st->items));
  st->items[st->n++] = cri_container_view(st->req, rec);
  return 0;
}

/* Shared with StreamContainers: the views are built inside the read txn,
 * which ends when this returns. */
int cri_container_list(struct cri_request *req, const Runtime__V1__ContainerFilter *filter,
                       Runtime__V1__Container ***items, size_t *n, crio_error_t *err) {
  struct list_state st = {.req = req, .filter = filter};
  if (cri_records_walk_narrowed(req, STORE_KIND_CONTAINER, filter ? filter->id : NULL,
                                filter ? filter->pod_sandbox_id : NULL, visit, &st, err) < 0)
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
