/* Container events from the state log.  Every container transition the
 * reconciler commits is a log entry, so the log already is the event
 * history: a stream follows it by seq and never needs a queue of its own.
 *
 * Mapping (the statemachine's container table):
 *   TRANSITION to CREATED  (container.runtime_create)          CREATED_EVENT
 *   TRANSITION to RUNNING  (container.start)                   STARTED_EVENT
 *   TRANSITION to EXITED   (stop, exit, stop_created, exit_before_start)
 *                                                             STOPPED_EVENT
 *   DELETE of a container that once reached CREATED            DELETED_EVENT
 * A container rolled back before its runtime create was never visible to
 * the kubelet (no CREATED_EVENT, no status), so its deletion is no event
 * either; its history in the log says which case it is.
 *
 * Each event carries the pod's status and its containers' statuses as they
 * are when the event is read (the records hold the present, not the past):
 * a stream that lags sees later states than the event's, like the kubelet's
 * own relist would.  created_at is the entry's time, when it happened. */
#include <errno.h>
#include <string.h>

#include "cri/container.h"
#include "cri/events.h"
#include "cri/pod.h"
#include "images/images.h"
#include "statemachine/statemachine.h"

bool cri_event_type_of(const store_log_entry *entry, Runtime__V1__ContainerEventType *type) {
  if (entry->kind != STORE_KIND_CONTAINER)
    return false;
  if (entry->type == CRIO__STORE__LOG_ENTRY__TYPE__DELETE) {
    *type = RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_DELETED_EVENT;
    return true;
  }
  if (entry->type != CRIO__STORE__LOG_ENTRY__TYPE__TRANSITION)
    return false;
  switch (entry->to_state) {
  case SM_CONTAINER_CREATED:
    *type = RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_CREATED_EVENT;
    return true;
  case SM_CONTAINER_RUNNING:
    *type = RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STARTED_EVENT;
    return true;
  case SM_CONTAINER_EXITED:
    *type = RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STOPPED_EVENT;
    return true;
  default:
    return false;
  }
}

/* What a pass keeps of an entry: the messages are built after the log
 * walk, from records read in the same txn. */
struct pending {
  uint64_t seq;
  int64_t time;
  Runtime__V1__ContainerEventType type;
  char *container_id;
  char *pod_id;
};

struct collect {
  struct cri_request *req;
  struct pending items[CRI_EVENTS_BATCH];
  size_t n;
  unsigned seen; /* entries looked at */
  uint64_t last_seq;
};

static int collect_entry(const store_log_entry *entry, void *data) {
  struct collect *c = data;
  c->seen++;
  c->last_seq = entry->seq;
  Runtime__V1__ContainerEventType type;
  if (cri_event_type_of(entry, &type)) {
    struct pending *p = &c->items[c->n++];
    p->seq = entry->seq;
    p->time = entry->time;
    p->type = type;
    p->container_id = cri_strdup(c->req, entry->object_id);
    p->pod_id = cri_strdup(c->req, entry->parent_id);
  }
  return c->seen >= CRI_EVENTS_BATCH ? 1 : 0;
}

static int reached_created(const store_log_entry *entry, void *data) {
  if (entry->type == CRIO__STORE__LOG_ENTRY__TYPE__TRANSITION &&
      entry->to_state == SM_CONTAINER_CREATED) {
    *(bool *)data = true;
    return 1;
  }
  return 0;
}

/* The reference ContainerStatus reports for an image (a repo digest if it
 * has one, else its id), so an event's statuses match the call's. */
static const char *image_ref(struct cri_request *req, struct store_txn *txn, const char *image_id) {
  struct img_names names = {0};
  const char *ref = NULL;
  cleanup_error crio_error_t e = NULL;
  if (img_service_names_of(txn, image_id, &names, &e) == 0 && names.n_digests > 0)
    ref = cri_strdup(req, names.digests[0]);
  img_names_clear(&names);
  return ref;
}

/* The statuses of every visible container of the pod. */
static int pod_container_statuses(struct cri_request *req, struct store_txn *txn,
                                  const char *pod_id, Runtime__V1__ContainerEventResponse *ev,
                                  crio_error_t *err) {
  cleanup_strv char **ids = NULL;
  size_t n_ids = 0;
  if (store_pod_container_ids(txn, pod_id, &ids, &n_ids, err) < 0)
    return -1;
  ev->containers_statuses = cri_alloc(req, (n_ids + 1) * sizeof(*ev->containers_statuses));
  for (size_t i = 0; i < n_ids; i++) {
    cleanup_store_record store_record *rec = NULL;
    cleanup_error crio_error_t e = NULL;
    if (store_record_get(txn, STORE_KIND_CONTAINER, ids[i], &rec, &e) < 0 ||
        !cri_container_visible(rec))
      continue;
    ev->containers_statuses[ev->n_containers_statuses++] =
        cri_container_status_view(req, rec, image_ref(req, txn, rec->container->image_id));
  }
  return 0;
}

static int build_event(struct cri_request *req, struct store_txn *txn, const struct pending *p,
                       Runtime__V1__ContainerEventResponse **out, crio_error_t *err) {
  *out = NULL;
  if (p->type == RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_DELETED_EVENT) {
    bool was_created = false;
    if (store_log_foreach_object(txn, p->container_id, reached_created, &was_created, err) < 0)
      return -1;
    if (!was_created)
      return 0;
  }
  Runtime__V1__ContainerEventResponse *ev = cri_alloc(req, sizeof(*ev));
  runtime__v1__container_event_response__init(ev);
  ev->container_id = p->container_id;
  ev->container_event_type = p->type;
  ev->created_at = p->time;
  /* The pod is gone only after all of its containers: a container's event
   * can outlive its pod only in a stream far behind. */
  cleanup_store_record store_record *pod = NULL;
  cleanup_error crio_error_t e = NULL;
  if (*p->pod_id && store_record_get(txn, STORE_KIND_POD, p->pod_id, &pod, &e) == 0)
    ev->pod_sandbox_status = cri_pod_status_view(req, pod);
  if (pod_container_statuses(req, txn, p->pod_id, ev, err) < 0)
    return -1;
  *out = ev;
  return 0;
}

int cri_events_read(struct cri_request *req, uint64_t *cursor, struct cri_event_batch *out,
                    crio_error_t *err) {
  memset(out, 0, sizeof(*out));
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(req->ctx->store, STORE_TXN_READ, &txn, err) < 0)
    return -1;
  struct collect *c = cri_alloc(req, sizeof(*c));
  c->req = req;
  c->last_seq = *cursor;
  if (store_log_foreach(txn, *cursor, collect_entry, c, err) < 0)
    return crio_error_prefix(err, "read the state log after %llu", (unsigned long long)*cursor);
  out->events = cri_alloc(req, (c->n + 1) * sizeof(*out->events));
  for (size_t i = 0; i < c->n; i++) {
    Runtime__V1__ContainerEventResponse *ev = NULL;
    if (build_event(req, txn, &c->items[i], &ev, err) < 0)
      return crio_error_prefix(err, "event of log entry %llu", (unsigned long long)c->items[i].seq);
    if (ev)
      out->events[out->n++] = ev;
  }
  *cursor = c->last_seq;
  return 0;
}
