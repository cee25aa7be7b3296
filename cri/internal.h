/* Internal to cri/: the contract between the server core and the per-RPC
 * handlers. */
#ifndef CRIO_CRI_INTERNAL_H
#define CRIO_CRI_INTERNAL_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>

#include "api/api.pb-c.h"
#include "cri/cri.h"
#include "statemachine/statemachine.h"
#include "store/store.h"

struct cri_call;

/* One request as a handler sees it.  Memory for the response comes from
 * the request's arena (cri_alloc, cri_strdup) and is freed after the
 * response is sent, so handlers never free what they return. */
struct cri_request {
  const struct cri_context *ctx;
  const char *method;              /* "/runtime.v1.RuntimeService/Version" */
  const ProtobufCMessage *message; /* the decoded request */
  int64_t deadline_mono_ns;        /* CLOCK_MONOTONIC; 0 = none */
  struct cri_call *call;
};

typedef int (*cri_unary_fn)(struct cri_request *req, ProtobufCMessage **response,
                            crio_error_t *err);
typedef int (*cri_stream_fn)(struct cri_request *req, crio_error_t *err);

struct cri_handler {
  const char *service; /* "RuntimeService" or "ImageService" */
  const char *method;  /* "Version" */
  cri_unary_fn unary;
  cri_stream_fn stream;
};

/* The implemented RPCs (handlers.c); every other method of the proto's
 * services answers UNIMPLEMENTED. */
extern const struct cri_handler cri_handlers[];
extern const size_t cri_n_handlers;

void *cri_alloc(struct cri_request *req, size_t size); /* zeroed */
char *cri_strdup(struct cri_request *req, const char *s);
/* fn(r, i, data) for every i in [0, n), spread over the CPUs
 * (crio_parallel_for in common.h: at least min_per_worker items a
 * worker); r is req or a copy of it whose allocations are the request's
 * when this returns.  For the list calls that read the host per item. */
typedef void (*cri_parallel_fn)(struct cri_request *r, size_t i, void *data);
void cri_parallel_for(struct cri_request *req, size_t n, size_t min_per_worker, cri_parallel_fn fn,
                      void *data);
char *cri_printf(struct cri_request *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Server streaming: sends one message, waiting until gRPC took it (one
 * write in flight per call).  ECANCELED once the client has gone. */
int cri_stream_send(struct cri_request *req, const ProtobufCMessage *msg, crio_error_t *err);
bool cri_request_cancelled(const struct cri_request *req);

/* errno-like status -> grpc_status_code. */
grpc_status_code cri_status_from_errno(int status);

/* Record maps -> CRI maps: both are arrays of {key, value} messages, of a
 * type generated per map field, hence a macro.  Copied into the request's
 * arena; `out` is never NULL, even for an empty map. */
#define CRI_COPY_MAP(req, out_n, out, entry_type, entry_init, in_n, in)                            \
  do {                                                                                             \
    (out_n) = (in_n);                                                                              \
    (out) = cri_alloc((req), ((in_n) ? (in_n) : 1) * sizeof(*(out)));                              \
    for (size_t i_ = 0; i_ < (in_n); i_++) {                                                       \
      entry_type *e_ = cri_alloc((req), sizeof(*e_));                                              \
      entry_init(e_);                                                                              \
      e_->key = cri_strdup((req), (in)[i_]->key);                                                  \
      e_->value = cri_strdup((req), (in)[i_]->value);                                              \
      (out)[i_] = e_;                                                                              \
    }                                                                                              \
  } while (0)

/* CRI maps -> record maps (pod and container records keep the config's
 * labels and annotations): malloc'd, as the record is freed. */
#define CRI_RECORD_COPY_MAP(out_n, out, entry_init, in_n, in)                                      \
  do {                                                                                             \
    (out) = xcalloc((in_n) ? (in_n) : 1, sizeof(*(out)));                                          \
    for (size_t i_ = 0; i_ < (in_n); i_++) {                                                       \
      (out)[i_] = xmalloc(sizeof(*(out)[i_]));                                                     \
      entry_init((out)[i_]);                                                                       \
      (out)[i_]->key = NULL;                                                                       \
      (out)[i_]->value = NULL;                                                                     \
      store_string_set(&(out)[i_]->key, (in)[i_]->key);                                            \
      store_string_set(&(out)[i_]->value, (in)[i_]->value);                                        \
    }                                                                                              \
    (out_n) = (in_n);                                                                              \
  } while (0)

/* Sorts the entries of a map field by key (map_sort.c), so that equal
 * configs pack to equal bytes: the kubelet's Go client serialises maps in
 * random order.  entries: the field's array of entry messages. */
void cri_map_sort_by_key(void *entries, size_t n);

/* A map field holding the one entry key=value (the verbose "info" of the
 * status RPCs); key and value are not copied. */
#define CRI_MAP_ONE(req, out_n, out, entry_type, entry_init, k, v)                                 \
  do {                                                                                             \
    (out_n) = 1;                                                                                   \
    (out) = cri_alloc((req), sizeof(*(out)));                                                      \
    entry_type *e_ = cri_alloc((req), sizeof(*e_));                                                \
    entry_init(e_);                                                                                \
    e_->key = (k);                                                                                 \
    e_->value = (v);                                                                               \
    (out)[0] = e_;                                                                                 \
  } while (0)

/* ---- verbose info (verbose_info.c) --------------------------------------------
 * The JSON the status RPCs put under "info" when asked to be verbose. */
struct cJSON;
/* root printed compactly into the request's arena; root is deleted. */
char *cri_json_print(struct cri_request *req, struct cJSON *root);
/* "state", "goal" (our state names) and, after a failed step, "lastError". */
void cri_json_add_lifecycle(struct cJSON *root, enum sm_kind kind, const store_record *rec);
/* "resources": the host resources the record holds, [{type, id}]. */
void cri_json_add_resources(struct cJSON *root, const store_record *rec);

/* ---- what the List handlers share (list_walk.c) -------------------------------- */
/* Whether id starts with prefix; an absent or empty prefix matches every
 * id (the CRI's id filters take any prefix). */
bool cri_id_has_prefix(const char *id, const char *prefix);
/* Whether the record carries the label key=value: one term of a filter's
 * label_selector, which matches when every term does. */
bool cri_record_has_label(const store_record *rec, const char *key, const char *value);
/* Makes room for one more element in an array in the request's arena that
 * holds n of size `size` and has room for *cap, doubling it when full.
 * Returns the array (a new one when it grew; the old stays in the arena). */
void *cri_array_reserve(struct cri_request *req, void *items, size_t n, size_t *cap, size_t size);
/* store_record_foreach over one kind in a read txn that has ended when
 * this returns. */
int cri_records_walk(struct cri_request *req, enum store_kind kind, store_record_visit_fn visit,
                     void *data, crio_error_t *err);
/* The same, narrowed by what a filter names exactly: a full record id
 * (one lookup) or, for containers, a full pod id (that pod's containers,
 * through the pod_containers index).  Anything shorter walks every record.
 * The visitor still applies the whole filter; this only skips records it
 * would reject, so a filtered List costs the same with 250 pods as with
 * none. */
int cri_records_walk_narrowed(struct cri_request *req, enum store_kind kind, const char *id,
                              const char *pod_id, store_record_visit_fn visit, void *data,
                              crio_error_t *err);

/* ---- field limits (field_limits.c) ---------------------------------------------
 * Checks of values bound for the kernel or the file system; EINVAL naming
 * the field.  CRI_NAME_MAX: what Kubernetes allows a DNS subdomain name. */
#define CRI_NAME_MAX 253
int cri_check_name_field(const char *field, const char *value, crio_error_t *err);
/* At most PATH_MAX - 1 bytes, every component at most NAME_MAX. */
int cri_check_path_field(const char *field, const char *path, crio_error_t *err);

/* ---- handlers --------------------------------------------------------------- */
int cri_handle_version(struct cri_request *req, ProtobufCMessage **response, crio_error_t *err);
int cri_handle_status(struct cri_request *req, ProtobufCMessage **response, crio_error_t *err);
int cri_handle_runtime_config(struct cri_request *req, ProtobufCMessage **response,
                              crio_error_t *err);
int cri_handle_update_runtime_config(struct cri_request *req, ProtobufCMessage **response,
                                     crio_error_t *err);

int cri_handle_run_pod_sandbox(struct cri_request *req, ProtobufCMessage **response,
                               crio_error_t *err);
int cri_handle_stop_pod_sandbox(struct cri_request *req, ProtobufCMessage **response,
                                crio_error_t *err);
int cri_handle_remove_pod_sandbox(struct cri_request *req, ProtobufCMessage **response,
                                  crio_error_t *err);
int cri_handle_pod_sandbox_status(struct cri_request *req, ProtobufCMessage **response,
                                  crio_error_t *err);
int cri_handle_list_pod_sandbox(struct cri_request *req, ProtobufCMessage **response,
                                crio_error_t *err);

int cri_handle_create_container(struct cri_request *req, ProtobufCMessage **response,
                                crio_error_t *err);
int cri_handle_start_container(struct cri_request *req, ProtobufCMessage **response,
                               crio_error_t *err);
int cri_handle_stop_container(struct cri_request *req, ProtobufCMessage **response,
                              crio_error_t *err);
int cri_handle_remove_container(struct cri_request *req, ProtobufCMessage **response,
                                crio_error_t *err);
int cri_handle_container_status(struct cri_request *req, ProtobufCMessage **response,
                                crio_error_t *err);
int cri_handle_list_containers(struct cri_request *req, ProtobufCMessage **response,
                               crio_error_t *err);
int cri_handle_exec_sync(struct cri_request *req, ProtobufCMessage **response, crio_error_t *err);
/* Exec, Attach, PortForward: validate and mint a streaming URL. */
int cri_handle_exec(struct cri_request *req, ProtobufCMessage **response, crio_error_t *err);
int cri_handle_attach(struct cri_request *req, ProtobufCMessage **response, crio_error_t *err);
int cri_handle_port_forward(struct cri_request *req, ProtobufCMessage **response,
                            crio_error_t *err);
int cri_handle_reopen_container_log(struct cri_request *req, ProtobufCMessage **response,
                                    crio_error_t *err);
int cri_handle_update_container_resources(struct cri_request *req, ProtobufCMessage **response,
                                          crio_error_t *err);
int cri_handle_container_stats(struct cri_request *req, ProtobufCMessage **response,
                               crio_error_t *err);
int cri_handle_list_container_stats(struct cri_request *req, ProtobufCMessage **response,
                                    crio_error_t *err);
int cri_handle_get_container_events(struct cri_request *req, crio_error_t *err);

int cri_handle_pull_image(struct cri_request *req, ProtobufCMessage **response, crio_error_t *err);
int cri_handle_list_images(struct cri_request *req, ProtobufCMessage **response, crio_error_t *err);
int cri_handle_image_status(struct cri_request *req, ProtobufCMessage **response,
                            crio_error_t *err);
int cri_handle_remove_image(struct cri_request *req, ProtobufCMessage **response,
                            crio_error_t *err);
int cri_handle_image_fs_info(struct cri_request *req, ProtobufCMessage **response,
                             crio_error_t *err);
int cri_handle_pod_sandbox_stats(struct cri_request *req, ProtobufCMessage **response,
                                 crio_error_t *err);
int cri_handle_list_pod_sandbox_stats(struct cri_request *req, ProtobufCMessage **response,
                                      crio_error_t *err);

/* Pod usage (rpc_pod_sandbox_stats.c, shared with ListPodSandboxStats), in
 * two halves so no store transaction is held across host reads: prepare
 * copies what sampling needs out of the record inside the transaction,
 * sample reads the host after it.  Both allocate in the request's arena.
 * sample always sets *out; on failure it holds what could still be read. */
struct Crio__Store__ObjectRecord;
struct cri_ctr_stats_source;
struct cri_pod_stats_source {
  Runtime__V1__PodSandboxAttributes *attributes;
  const char *cgroup_path; /* the pod's cgroup to read; NULL: none exists */
  const char *netns_path;  /* NULL: host network, or eth0 is gone (not ready) */
  /* The pod's containers, when a list prepared them with the pods (one
   * walk of the containers for every pod listed); else the sample reads
   * them in a short read txn of its own. */
  bool containers_known;
  struct cri_ctr_stats_source *containers;
  size_t n_containers, cap_containers;
};
int cri_pod_stats_prepare(struct cri_request *req, const struct Crio__Store__ObjectRecord *rec,
                          struct cri_pod_stats_source *out, crio_error_t *err);
int cri_pod_stats_sample(struct cri_request *req, const struct cri_pod_stats_source *src,
                         Runtime__V1__PodSandboxStats **out, crio_error_t *err);

/* ---- lists and their streams -------------------------------------------------
 * What a List handler reads, shared with its Stream form: the matching
 * objects (or, for stats, what sampling needs) read in one read txn that
 * has ended when these return.  Allocated in the request's arena; *items
 * may be NULL when *n is 0. */
int cri_pod_list(struct cri_request *req, const Runtime__V1__PodSandboxFilter *filter,
                 Runtime__V1__PodSandbox ***items, size_t *n, crio_error_t *err);
int cri_container_list(struct cri_request *req, const Runtime__V1__ContainerFilter *filter,
                       Runtime__V1__Container ***items, size_t *n, crio_error_t *err);
int cri_image_list(struct cri_request *req, const Runtime__V1__ImageFilter *filter,
                   Runtime__V1__Image ***items, size_t *n, crio_error_t *err);
int cri_pod_stats_list_prepare(struct cri_request *req,
                               const Runtime__V1__PodSandboxStatsFilter *filter,
                               struct cri_pod_stats_source **items, size_t *n, crio_error_t *err);
struct cri_ctr_stats_source;
int cri_ctr_stats_list_prepare(struct cri_request *req,
                               const Runtime__V1__ContainerStatsFilter *filter,
                               struct cri_ctr_stats_source **items, size_t *n, crio_error_t *err);

/* Streams n items (rpc_stream_batch.c): item(scratch, i, data) makes item i
 * in a scratch arena that lives until its batch is sent (NULL: nothing for
 * i); batches fill the one repeated field of `response`.  0 also when the
 * client went away (the stream just ends). */
typedef ProtobufCMessage *(*cri_stream_item_fn)(struct cri_request *scratch, size_t i, void *data);
int cri_stream_items(struct cri_request *req, const ProtobufCMessageDescriptor *response, size_t n,
                     cri_stream_item_fn item, void *data, crio_error_t *err);
/* item for an array of ready messages: data is the array. */
ProtobufCMessage *cri_stream_item_of_array(struct cri_request *scratch, size_t i, void *data);

int cri_handle_stream_pod_sandboxes(struct cri_request *req, crio_error_t *err);
int cri_handle_stream_containers(struct cri_request *req, crio_error_t *err);
int cri_handle_stream_images(struct cri_request *req, crio_error_t *err);
int cri_handle_stream_pod_sandbox_stats(struct cri_request *req, crio_error_t *err);
int cri_handle_stream_container_stats(struct cri_request *req, crio_error_t *err);

/* ---- pod resources and metrics ------------------------------------------------ */
int cri_handle_update_pod_sandbox_resources(struct cri_request *req, ProtobufCMessage **response,
                                            crio_error_t *err);
int cri_handle_list_metric_descriptors(struct cri_request *req, ProtobufCMessage **response,
                                       crio_error_t *err);
int cri_handle_list_pod_sandbox_metrics(struct cri_request *req, ProtobufCMessage **response,
                                        crio_error_t *err);
int cri_handle_stream_pod_sandbox_metrics(struct cri_request *req, crio_error_t *err);
/* The metrics of one pod and its containers (rpc_metric_set.c), sampled
 * now from the stats sources; in the request's arena. */
Runtime__V1__PodSandboxMetrics *cri_pod_metrics_sample(struct cri_request *req,
                                                       const struct cri_pod_stats_source *src);

#endif
