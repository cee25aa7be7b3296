/* A container's usage: CPU and memory of its cgroup and the size of its
 * writable layer, as the reconciler's read-only samplers read them
 * (reconciler.h), converted to messages.  Shared by ContainerStats,
 * ListContainerStats and the containers of PodSandboxStats.
 *
 * The cgroup is the one the runtime created from the spec's cgroupsPath,
 * which the record keeps.  Deriving it from the record rather than from
 * /proc/<pid>/cgroup also covers a created container whose init has not
 * run the command yet, and one that has exited (the cgroup then lives
 * until the runtime deletes the container). */
#include <errno.h>
#include <string.h>

#include "cri/container.h"
#include "cri/ctr_ops.h"
#include "reconciler/reconciler.h"
#include "statemachine/statemachine.h"

/* The bytes of field 1 (metadata) of the stored ContainerConfig, found by
 * walking the message's top-level fields on the wire: the stats need only
 * the name and attempt, and unpacking the whole config (mounts, envs,
 * security context) for each container on every stats call was a measured
 * share of the calls' time.  false if the config has no such field or does
 * not parse. */
static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
  *v = 0;
  for (unsigned shift = 0; *p < end && shift < 64; shift += 7) {
    uint8_t b = *(*p)++;
    *v |= (uint64_t)(b & 0x7f) << shift;
    if ((b & 0x80) == 0)
      return true;
  }
  return false;
}

static bool config_metadata_bytes(const ProtobufCBinaryData *config, const uint8_t **out,
                                  size_t *len) {
  const uint8_t *p = config->data, *end = config->data + config->len;
  while (p < end) {
    uint64_t key, n;
    if (!varint(&p, end, &key))
      return false;
    switch (key & 7) {
    case 0: /* varint */
      if (!varint(&p, end, &n))
        return false;
      break;
    case 1: /* fixed64 */
      if (end - p < 8)
        return false;
      p += 8;
      break;
    case 2: /* length-delimited */
      if (!varint(&p, end, &n) || n > (uint64_t)(end - p))
        return false;
      if ((key >> 3) == 1) {
        *out = p;
        *len = (size_t)n;
        return true;
      }
      p += n;
      break;
    case 5: /* fixed32 */
      if (end - p < 4)
        return false;
      p += 4;
      break;
    default:
      return false;
    }
  }
  return false;
}

/* Metadata as the ContainerConfig gave it; labels and annotations as the
 * record keeps them (copied from that config at creation, as ListContainers
 * shows them). */
static Runtime__V1__ContainerAttributes *attributes_view(struct cri_request *req,
                                                         const store_record *rec) {
  Runtime__V1__ContainerAttributes *a = cri_alloc(req, sizeof(*a));
  runtime__v1__container_attributes__init(a);
  a->id = cri_strdup(req, rec->id);
  a->metadata = cri_alloc(req, sizeof(*a->metadata));
  runtime__v1__container_metadata__init(a->metadata);
  const uint8_t *md_bytes = NULL;
  size_t md_len = 0;
  if (rec->container && config_metadata_bytes(&rec->container->cri_config, &md_bytes, &md_len)) {
    Runtime__V1__ContainerMetadata *md =
        runtime__v1__container_metadata__unpack(NULL, md_len, md_bytes);
    if (md) {
      a->metadata->name = cri_strdup(req, md->name);
      a->metadata->attempt = md->attempt;
      runtime__v1__container_metadata__free_unpacked(md, NULL);
    }
  }
  CRI_COPY_MAP(req, a->n_labels, a->labels, Runtime__V1__ContainerAttributes__LabelsEntry,
               runtime__v1__container_attributes__labels_entry__init, rec->n_labels, rec->labels);
  CRI_COPY_MAP(req, a->n_annotations, a->annotations,
               Runtime__V1__ContainerAttributes__AnnotationsEntry,
               runtime__v1__container_attributes__annotations_entry__init, rec->n_annotations,
               rec->annotations);
  return a;
}

int cri_ctr_stats_prepare(struct cri_request *req, const store_record *rec,
                          struct cri_ctr_stats_source *out, crio_error_t *err) {
  memset(out, 0, sizeof(*out));
  const Crio__Store__ContainerBody *c = rec->container;
  if (c == NULL)
    return crio_error(err, EUCLEAN, "container %s: record has no container body", rec->id);
  out->attributes = attributes_view(req, rec);
  /* The runtime's container, and so its cgroup, exists from the create
   * until the runtime delete. */
  if (rec->state >= SM_CONTAINER_CREATED && rec->state <= SM_CONTAINER_EXITED &&
      c->cgroup_path[0]) {
    cleanup_free char *cgroup = reconciler_container_cgroup(rec);
    if (cgroup)
      out->cgroup_path = cri_strdup(req, cgroup);
    else
      log_debug("container %s: cgroupsPath \"%s\" is in no form known", rec->id, c->cgroup_path);
  }
  if (rec->state == SM_CONTAINER_RUNNING) {
    out->runtime_handler = cri_strdup(req, c->runtime_handler);
    out->runtime_id = cri_strdup(req, rec->id);
  }
  /* The overlay is mounted from mount_rootfs until unmount_rootfs; the
   * upper dir lives with the container dir. */
  if (rec->state >= SM_CONTAINER_ROOTFS_MOUNTED && rec->state <= SM_CONTAINER_RUNTIME_DELETED &&
      c->container_dir[0]) {
    out->upper_dir = cri_printf(req, "%s/upper", c->container_dir);
    /* Every container dir is <root>/containers/<id>: their parent names
     * the filesystem all writable layers share. */
    const char *slash = strrchr(c->container_dir, '/');
    out->layer_fs = slash && slash != c->container_dir
                        ? cri_printf(req, "%.*s", (int)(slash - c->container_dir), c->container_dir)
                        : cri_strdup(req, c->container_dir);
  }
  return 0;
}

static void sample_layer(struct cri_request *req, const struct cri_ctr_stats_source *src,
                         Runtime__V1__ContainerStats *s) {
  struct reconciler_layer_usage u;
  cleanup_error crio_error_t e = NULL;
  if (reconciler_sample_layer(req->ctx->reconciler, src->upper_dir, &u, &e) < 0) {
    log_debug("writable layer of container %s: %s", src->attributes->id, crio_error_message(&e));
    return;
  }
  if (u.partial)
    log_debug("writable layer of container %s: walk cut short after %u entries; usage is a "
              "lower bound",
              src->attributes->id, u.entries);
  Runtime__V1__FilesystemUsage *f = cri_alloc(req, sizeof(*f));
  runtime__v1__filesystem_usage__init(f);
  f->timestamp = u.timestamp_ns;
  f->fs_id = cri_alloc(req, sizeof(*f->fs_id));
  runtime__v1__filesystem_identifier__init(f->fs_id);
  f->fs_id->mountpoint = cri_strdup(req, src->layer_fs);
  f->used_bytes = cri_u64_value(req, u.bytes);
  f->inodes_used = cri_u64_value(req, u.inodes);
  s->writable_layer = f;
}

/* true when the container's runtime answered for it. */
static bool sample_runtime(struct cri_request *req, const struct cri_ctr_stats_source *src,
                           Runtime__V1__ContainerStats *s) {
  struct reconciler_runtime_usage st;
  cleanup_error crio_error_t e = NULL;
  int64_t now = crio_now_ns();
  if (reconciler_container_runtime_stats(req->ctx->containers, src->runtime_handler,
                                         src->runtime_id, &st, &e) < 0) {
    if (crio_error_status(&e) != ENOSYS)
      log_debug("stats of container %s: %s", src->attributes->id, crio_error_message(&e));
    return false;
  }
  Runtime__V1__CpuUsage *cpu = cri_alloc(req, sizeof(*cpu));
  runtime__v1__cpu_usage__init(cpu);
  cpu->timestamp = now;
  cpu->usage_core_nano_seconds = cri_u64_value(req, st.cpu_usage_ns);
  s->cpu = cpu;
  Runtime__V1__MemoryUsage *mem = cri_alloc(req, sizeof(*mem));
  runtime__v1__memory_usage__init(mem);
  mem->timestamp = now;
  /* gVisor's sentry counts what the sandbox's memory holds; its working
   * set is what it reports in use. */
  mem->working_set_bytes = cri_u64_value(req, st.memory_usage_bytes);
  mem->usage_bytes = cri_u64_value(req, st.memory_usage_bytes);
  s->memory = mem;
  return true;
}

Runtime__V1__ContainerStats *cri_ctr_stats_sample(struct cri_request *req,
                                                  const struct cri_ctr_stats_source *src) {
  Runtime__V1__ContainerStats *s = cri_alloc(req, sizeof(*s));
  runtime__v1__container_stats__init(s);
  s->attributes = src->attributes;
  bool counted = src->runtime_handler && sample_runtime(req, src, s);
  if (!counted && src->cgroup_path) {
    cleanup_error crio_error_t e = NULL;
    struct reconciler_cgroup_usage u;
    if (reconciler_sample_cgroup(req->ctx->reconciler, src->cgroup_path,
                                 RECONCILER_CGROUP_CONTAINER, &u, &e) < 0)
      log_debug("stats of container %s: %s", src->attributes->id, crio_error_message(&e));
    else
      cri_stats_cgroup_view(req, &u, &s->cpu, &s->memory);
  }
  if (src->upper_dir)
    sample_layer(req, src, s);
  return s;
}

int cri_ctr_stats_of_pod(struct cri_request *req, const char *pod_id,
                         Runtime__V1__ContainerStats ***out, size_t *n_out, crio_error_t *err) {
  struct cri_ctr_stats_source *srcs = NULL;
  size_t n = 0;
  {
    cleanup_store_txn struct store_txn *txn = NULL;
    if (store_txn_begin(req->ctx->store, STORE_TXN_READ, &txn, err) < 0)
      return -1;
    cleanup_strv char **ids = NULL;
    size_t n_ids = 0;
    if (store_pod_container_ids(txn, pod_id, &ids, &n_ids, err) < 0)
      return -1;
    srcs = cri_alloc(req, (n_ids + 1) * sizeof(*srcs));
    for (size_t i = 0; i < n_ids; i++) {
      cleanup_store_record store_record *rec = NULL;
      cleanup_error crio_error_t e = NULL;
      if (store_record_get(txn, STORE_KIND_CONTAINER, ids[i], &rec, &e) < 0)
        continue; /* removed meanwhile */
      if (!cri_container_visible(rec))
        continue;
      if (cri_ctr_stats_prepare(req, rec, &srcs[n], &e) < 0) {
        log_debug("stats of pod %s: container %s: %s", pod_id, ids[i], crio_error_message(&e));
        continue;
      }
      n++;
    }
  } /* the read transaction ends here, before the host is read */
  Runtime__V1__ContainerStats **stats = cri_alloc(req, (n + 1) * sizeof(*stats));
  for (size_t i = 0; i < n; i++)
    stats[i] = cri_ctr_stats_sample(req, &srcs[i]);
  *out = stats;
  *n_out = n;
  return 0;
}
