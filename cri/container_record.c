/* ContainerConfig <-> container record. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cri/container.h"
#include "statemachine/statemachine.h"

/* The config's canonical encoding: maps sorted by key, so equal configs
 * pack to equal bytes (the kubelet's Go client serialises maps in random
 * order). */
static void pack_canonical(const Runtime__V1__ContainerConfig *c, ProtobufCBinaryData *out) {
  size_t len = runtime__v1__container_config__get_packed_size(c);
  cleanup_free uint8_t *raw = xmalloc(len ? len : 1);
  runtime__v1__container_config__pack(c, raw);
  Runtime__V1__ContainerConfig *copy = runtime__v1__container_config__unpack(NULL, len, raw);
  if (copy == NULL)
    abort(); /* we just packed it */
  cri_map_sort_by_key(copy->labels, copy->n_labels);
  cri_map_sort_by_key(copy->annotations, copy->n_annotations);
  if (copy->linux && copy->linux->resources)
    cri_map_sort_by_key(copy->linux->resources->unified, copy->linux->resources->n_unified);
  out->len = runtime__v1__container_config__get_packed_size(copy);
  out->data = xmalloc(out->len ? out->len : 1);
  runtime__v1__container_config__pack(copy, out->data);
  runtime__v1__container_config__free_unpacked(copy, NULL);
}

char *cri_container_name(const Runtime__V1__ContainerMetadata *container,
                         const Runtime__V1__PodSandboxMetadata *pod) {
  return xasprintf("k8s_%s_%s_%s_%s_%u", container->name, pod->name, pod->namespace_, pod->uid,
                   container->attempt);
}

store_record *cri_container_record_new(const Runtime__V1__CreateContainerRequest *req,
                                       const struct cri_container_origin *origin) {
  const Runtime__V1__ContainerConfig *c = req->config;
  store_record *rec = store_record_new(STORE_KIND_CONTAINER, origin->id);
  cleanup_free char *name = cri_container_name(c->metadata, origin->pod_config->metadata);
  store_string_set(&rec->name, name);
  store_string_set(&rec->parent_id, origin->pod->id);
  rec->state = SM_CONTAINER_PENDING;
  rec->goal = SM_CONTAINER_CREATED;
  CRI_RECORD_COPY_MAP(rec->n_labels, rec->labels, crio__store__object_record__labels_entry__init,
                      c->n_labels, c->labels);
  CRI_RECORD_COPY_MAP(rec->n_annotations, rec->annotations,
                      crio__store__object_record__annotations_entry__init, c->n_annotations,
                      c->annotations);

  Crio__Store__ContainerBody *body = rec->container;
  pack_canonical(c, &body->cri_config);
  store_string_set(&body->pod_id, origin->pod->id);
  store_string_set(&body->image_ref, c->image->image);
  store_string_set(&body->image_id, origin->image->id);
  body->attempt = c->metadata->attempt;
  store_string_set(&body->log_path, origin->log_path);
  store_string_set(&body->runtime_handler, origin->pod->pod->runtime_handler);
  const Crio__Store__ImageBody *img = origin->image->image;
  size_t n = img ? img->n_layers : 0;
  body->layers = xcalloc(n ? n : 1, sizeof(*body->layers));
  for (size_t i = 0; i < n; i++) {
    body->layers[i] = NULL;
    store_string_set(&body->layers[i], img->layers[i]);
  }
  body->n_layers = n;
  return rec;
}

bool cri_container_record_matches(const store_record *rec,
                                  const Runtime__V1__CreateContainerRequest *req,
                                  const char *pod_id) {
  if (rec->container == NULL || strcmp(rec->parent_id, pod_id) != 0)
    return false;
  ProtobufCBinaryData canonical;
  pack_canonical(req->config, &canonical);
  bool same = canonical.len == rec->container->cri_config.len &&
              memcmp(canonical.data, rec->container->cri_config.data, canonical.len) == 0;
  free(canonical.data);
  return same;
}

Runtime__V1__ContainerConfig *cri_container_record_config(const store_record *rec) {
  if (rec->container == NULL || rec->container->cri_config.len == 0)
    return NULL;
  return runtime__v1__container_config__unpack(NULL, rec->container->cri_config.len,
                                               rec->container->cri_config.data);
}

void cri_container_config_freep(Runtime__V1__ContainerConfig **config) {
  if (*config)
    runtime__v1__container_config__free_unpacked(*config, NULL);
  *config = NULL;
}

bool cri_container_visible(const store_record *rec) {
  if (rec->container == NULL)
    return false;
  switch (rec->state) {
  case SM_CONTAINER_PENDING:
  case SM_CONTAINER_ROOTFS_MOUNTED:
    return false; /* being created */
  case SM_CONTAINER_RUNTIME_DELETED:
  case SM_CONTAINER_ROOTFS_UNMOUNTED:
    /* On the way out: a removal (it had a conmon), or the rollback of a
     * creation that never got one. */
    return rec->container->conmon_pid > 0;
  default:
    return true;
  }
}

int cri_container_resolve(struct cri_request *req, const char *id_or_prefix, char **id,
                          store_record **rec_out, crio_error_t *err) {
  if (id_or_prefix == NULL || *id_or_prefix == '\0')
    return crio_error(err, EINVAL, "container_id is required");
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(req->ctx->store, STORE_TXN_READ, &txn, err) < 0)
    return -1;
  cleanup_free char *found = NULL;
  if (store_record_resolve_prefix(txn, STORE_KIND_CONTAINER, id_or_prefix, &found, err) < 0)
    return crio_error_prefix(err, "container %s", id_or_prefix);
  cleanup_store_record store_record *rec = NULL;
  if (store_record_get(txn, STORE_KIND_CONTAINER, found, &rec, err) < 0)
    return crio_error_prefix(err, "container %s", found);
  if (!cri_container_visible(rec))
    return crio_error(err, ENOENT, "container %s: not found (it is being created)", found);
  *id = steal_pointer(&found);
  if (rec_out)
    *rec_out = steal_pointer(&rec);
  return 0;
}

int cri_container_resolve_existing(struct cri_request *req, const char *id_or_prefix, char **id,
                                   store_record **rec, crio_error_t *err) {
  cleanup_error crio_error_t resolve_err = NULL;
  if (cri_container_resolve(req, id_or_prefix, id, rec, &resolve_err) == 0)
    return 1;
  if (crio_error_status(&resolve_err) != ENOENT)
    return crio_error(err, crio_error_status(&resolve_err), "%s", crio_error_message(&resolve_err));
  return 0;
}
