/* PodSandboxConfig <-> pod record. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cri/pod.h"
#include "statemachine/statemachine.h"

typedef Crio__Store__ObjectRecord__LabelsEntry record_label;
typedef Crio__Store__ObjectRecord__AnnotationsEntry record_annotation;

static void copy_labels(store_record *rec, Runtime__V1__PodSandboxConfig__LabelsEntry **in,
                        size_t n) {
  rec->labels = xcalloc(n ? n : 1, sizeof(*rec->labels));
  for (size_t i = 0; i < n; i++) {
    record_label *e = xmalloc(sizeof(*e));
    crio__store__object_record__labels_entry__init(e);
    e->key = NULL;
    e->value = NULL;
    store_string_set(&e->key, in[i]->key);
    store_string_set(&e->value, in[i]->value);
    rec->labels[i] = e;
  }
  rec->n_labels = n;
}

static void copy_annotations(store_record *rec,
                             Runtime__V1__PodSandboxConfig__AnnotationsEntry **in, size_t n) {
  rec->annotations = xcalloc(n ? n : 1, sizeof(*rec->annotations));
  for (size_t i = 0; i < n; i++) {
    record_annotation *e = xmalloc(sizeof(*e));
    crio__store__object_record__annotations_entry__init(e);
    e->key = NULL;
    e->value = NULL;
    store_string_set(&e->key, in[i]->key);
    store_string_set(&e->value, in[i]->value);
    rec->annotations[i] = e;
  }
  rec->n_annotations = n;
}

/* Map entries sorted by key, so that equal configs pack to equal bytes:
 * the kubelet's Go client serialises maps in random order. */
static int compare_entry_keys(const void *a, const void *b) {
  /* Every map entry message starts with base, key, value. */
  const Runtime__V1__PodSandboxConfig__LabelsEntry *ea = *(void *const *)a;
  const Runtime__V1__PodSandboxConfig__LabelsEntry *eb = *(void *const *)b;
  return strcmp(ea->key, eb->key);
}

static void sort_entries(void *entries, size_t n) {
  if (n > 1)
    qsort(entries, n, sizeof(void *), compare_entry_keys);
}

/* The config's canonical encoding: maps sorted by key. */
static void pack_canonical(const Runtime__V1__PodSandboxConfig *c, ProtobufCBinaryData *out) {
  size_t len = runtime__v1__pod_sandbox_config__get_packed_size(c);
  cleanup_free uint8_t *raw = xmalloc(len ? len : 1);
  runtime__v1__pod_sandbox_config__pack(c, raw);
  Runtime__V1__PodSandboxConfig *copy = runtime__v1__pod_sandbox_config__unpack(NULL, len, raw);
  if (copy == NULL)
    abort(); /* we just packed it */
  sort_entries(copy->labels, copy->n_labels);
  sort_entries(copy->annotations, copy->n_annotations);
  if (copy->linux)
    sort_entries(copy->linux->sysctls, copy->linux->n_sysctls);
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
  copy_labels(rec, c->labels, c->n_labels);
  copy_annotations(rec, c->annotations, c->n_annotations);

  Crio__Store__PodSandboxBody *body = rec->pod;
  pack_canonical(c, &body->cri_config);
  const struct cri_runtime_handler *h = cri_runtime_handler_find(cfg, req->runtime_handler);
  store_string_set(&body->runtime_handler, h->name);
  body->attempt = c->metadata->attempt;
  store_string_set(&body->namespace_, c->metadata->namespace_);
  store_string_set(&body->uid, c->metadata->uid);
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

int cri_pod_resolve(struct cri_request *req, const char *id_or_prefix, char **id,
                    crio_error_t *err) {
  if (id_or_prefix == NULL || *id_or_prefix == '\0')
    return crio_error(err, EINVAL, "pod_sandbox_id is required");
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(req->ctx->store, STORE_TXN_READ, &txn, err) < 0)
    return -1;
  return store_record_resolve_prefix(txn, STORE_KIND_POD, id_or_prefix, id, err);
}
