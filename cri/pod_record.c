/* PodSandboxConfig <-> pod record. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cri/pod.h"
#include "statemachine/statemachine.h"

/* The config's canonical encoding: maps sorted by key (cri_map_sort_by_key). */
static void pack_canonical(const Runtime__V1__PodSandboxConfig *c, ProtobufCBinaryData *out) {
  size_t len = runtime__v1__pod_sandbox_config__get_packed_size(c);
  cleanup_free uint8_t *raw = xmalloc(len ? len : 1);
  runtime__v1__pod_sandbox_config__pack(c, raw);
  Runtime__V1__PodSandboxConfig *copy = runtime__v1__pod_sandbox_config__unpack(NULL, len, raw);
  if (copy == NULL)
    abort(); /* we just packed it */
  cri_map_sort_by_key(copy->labels, copy->n_labels);
  cri_map_sort_by_key(copy->annotations, copy->n_annotations);
  if (copy->linux)
    cri_map_sort_by_key(copy->linux->sysctls, copy->linux->n_sysctls);
  out->len = runtime__v1__pod_sandbox_config__get_packed_size(copy);
  out->data = xmalloc(out->len ? out->len : 1);
  runtime__v1__pod_sandbox_config__pack(copy, out->data);
  runtime__v1__pod_sandbox_config__free_unpacked(copy, NULL);
}

store_record *cri_pod_record_new(const Runtime__V1__RunPodSandboxRequest *req,
                                 const struct cri_config *cfg, const char *id) {
  const Runtime__V1__PodSandboxConfig *c = req->config;
  store_record *rec = store_record_new(STORE_KIND_POD, id);
  cleanup_free char *name = cri_pod_name(c->metadata);
  store_string_set(&rec->name, name);
  rec->state = SM_POD_PENDING;
  rec->goal = SM_POD_READY;
  CRI_RECORD_COPY_MAP(rec->n_labels, rec->labels, crio__store__object_record__labels_entry__init,
                      c->n_labels, c->labels);
  CRI_RECORD_COPY_MAP(rec->n_annotations, rec->annotations,
                      crio__store__object_record__annotations_entry__init, c->n_annotations,
                      c->annotations);

  Crio__Store__PodSandboxBody *body = rec->pod;
  pack_canonical(c, &body->cri_config);
  const struct cri_runtime_handler *h = cri_runtime_handler_find(cfg, req->runtime_handler);
  store_string_set(&body->runtime_handler, h->name);
  body->attempt = c->metadata->attempt;
  store_string_set(&body->namespace_, c->metadata->namespace_);
  store_string_set(&body->uid, c->metadata->uid);
  store_string_set(&body->metadata_name, c->metadata->name);
  store_string_set(&body->hostname, c->hostname);
  if (c->linux)
    store_string_set(&body->cgroup_parent, c->linux->cgroup_parent);
  cleanup_free char *run_dir = xasprintf("%s/pods/%s", cfg->runroot, id);
  store_string_set(&body->run_dir, run_dir);
  return rec;
}

bool cri_pod_record_matches(const store_record *rec, const Runtime__V1__RunPodSandboxRequest *req,
                            const struct cri_config *cfg) {
  const Runtime__V1__PodSandboxConfig *c = req->config;
  const struct cri_runtime_handler *h = cri_runtime_handler_find(cfg, req->runtime_handler);
  if (rec->pod == NULL || h == NULL || strcmp(rec->pod->runtime_handler, h->name) != 0)
    return false;
  /* The whole config, compared in canonical form (maps sorted): a retry
   * sends the same config, a different pod that wants the name does not. */
  ProtobufCBinaryData canonical;
  pack_canonical(c, &canonical);
  bool same = canonical.len == rec->pod->cri_config.len &&
              memcmp(canonical.data, rec->pod->cri_config.data, canonical.len) == 0;
  free(canonical.data);
  return same;
}

Runtime__V1__PodSandboxConfig *cri_pod_record_config(const store_record *rec) {
  if (rec->pod == NULL || rec->pod->cri_config.len == 0)
    return NULL;
  return runtime__v1__pod_sandbox_config__unpack(NULL, rec->pod->cri_config.len,
                                                 rec->pod->cri_config.data);
}

void cri_pod_config_freep(Runtime__V1__PodSandboxConfig **config) {
  if (*config)
    runtime__v1__pod_sandbox_config__free_unpacked(*config, NULL);
  *config = NULL;
}

/* The read txn a lookup by id or prefix runs in. */
static int lookup_begin(struct cri_request *req, const char *id_or_prefix, struct store_txn **txn,
                        crio_error_t *err) {
  if (id_or_prefix == NULL || *id_or_prefix == '\0')
    return crio_error(err, EINVAL, "pod_sandbox_id is required");
  return store_txn_begin(req->ctx->store, STORE_TXN_READ, txn, err);
}

int cri_pod_resolve(struct cri_request *req, const char *id_or_prefix, char **id,
                    crio_error_t *err) {
  cleanup_store_txn struct store_txn *txn = NULL;
  if (lookup_begin(req, id_or_prefix, &txn, err) < 0)
    return -1;
  return store_record_resolve_prefix(txn, STORE_KIND_POD, id_or_prefix, id, err);
}

int cri_pod_resolve_existing(struct cri_request *req, const char *id_or_prefix, char **id,
                             crio_error_t *err) {
  *id = NULL;
  cleanup_error crio_error_t resolve_err = NULL;
  if (cri_pod_resolve(req, id_or_prefix, id, &resolve_err) == 0)
    return 1;
  if (crio_error_status(&resolve_err) != ENOENT)
    return crio_error(err, crio_error_status(&resolve_err), "%s", crio_error_message(&resolve_err));
  return 0;
}

int cri_pod_record_get(struct cri_request *req, const char *id_or_prefix, store_record **out,
                       crio_error_t *err) {
  cleanup_store_txn struct store_txn *txn = NULL;
  if (lookup_begin(req, id_or_prefix, &txn, err) < 0)
    return -1;
  cleanup_free char *id = NULL;
  if (store_record_resolve_prefix(txn, STORE_KIND_POD, id_or_prefix, &id, err) < 0)
    return crio_error_prefix(err, "pod sandbox %s", id_or_prefix);
  if (store_record_get(txn, STORE_KIND_POD, id, out, err) < 0)
    return crio_error_prefix(err, "pod sandbox %s", id);
  return 0;
}
