/* A container's usage read from the host: CPU and memory of its cgroup
 * (the cgroup manager's stats) and the size of its writable layer (the
 * overlay's upper dir).  Shared by ContainerStats, ListContainerStats and
 * the containers of PodSandboxStats.
 *
 * The cgroup is the one the runtime created from the spec's cgroupsPath,
 * which the record keeps: a cgroupfs path is the cgroup path itself; the
 * systemd form "<slice>:<prefix>:<name>" is <slice's path>/<prefix>-<name>.scope,
 * as runc expands it.  Deriving it from the record rather than from
 * /proc/<pid>/cgroup also covers a created container whose init has not
 * run the command yet, and one that has exited (the cgroup then lives
 * until the runtime deletes the container).
 *
 * The writable layer is walked (lstat of every entry, never following a
 * link or crossing into another filesystem) with a budget: a container
 * that wrote millions of files must not stall a stats call for seconds.
 * Past the budget the sum so far is reported, a lower bound.  Where the
 * upper dir is its own filesystem (a quota'd volume), statfs would answer
 * at once; here it shares the daemon's root, so only a walk can tell the
 * container's share. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cri/container.h"
#include "cri/ctr_ops.h"
#include "oci/oci.h"
#include "statemachine/statemachine.h"

#define LAYER_WALK_MAX_ENTRIES 200000u
#define LAYER_WALK_MAX_DEPTH 128u

/* The cgroup path of a spec's cgroupsPath (see above); NULL if it is in
 * neither form. */
static char *cgroup_of_spec_path(const char *spec_path) {
  if (spec_path[0] == '/')
    return xstrdup(spec_path);
  const char *c1 = strchr(spec_path, ':');
  const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
  if (c2 == NULL || strchr(c2 + 1, ':') || strchr(spec_path, '/'))
    return NULL;
  cleanup_free char *slice = xstrndup(spec_path, (size_t)(c1 - spec_path));
  cleanup_free char *prefix = xstrndup(c1 + 1, (size_t)(c2 - c1 - 1));
  cleanup_free char *slice_path = NULL;
  cleanup_error crio_error_t e = NULL;
  if (oci_systemd_slice_path(slice[0] ? slice : "system.slice", &slice_path, &e) < 0)
    return NULL;
  return xasprintf("%s/%s%s%s.scope", strcmp(slice_path, "/") == 0 ? "" : slice_path, prefix,
                   prefix[0] ? "-" : "", c2 + 1);
}

/* Metadata, labels and annotations exactly as the ContainerConfig gave
 * them. */
static Runtime__V1__ContainerAttributes *attributes_view(struct cri_request *req,
                                                         const store_record *rec) {
  Runtime__V1__ContainerAttributes *a = cri_alloc(req, sizeof(*a));
  runtime__v1__container_attributes__init(a);
  a->id = cri_strdup(req, rec->id);
  a->metadata = cri_alloc(req, sizeof(*a->metadata));
  runtime__v1__container_metadata__init(a->metadata);
  cleanup_container_config Runtime__V1__ContainerConfig *config = cri_container_record_config(rec);
  if (config == NULL) {
    a->labels = cri_alloc(req, sizeof(*a->labels));
    a->annotations = cri_alloc(req, sizeof(*a->annotations));
    return a;
  }
  if (config->metadata) {
    a->metadata->name = cri_strdup(req, config->metadata->name);
    a->metadata->attempt = config->metadata->attempt;
  }
  CRI_COPY_MAP(req, a->n_labels, a->labels, Runtime__V1__ContainerAttributes__LabelsEntry,
               runtime__v1__container_attributes__labels_entry__init, config->n_labels,
               config->labels);
  CRI_COPY_MAP(req, a->n_annotations, a->annotations,
               Runtime__V1__ContainerAttributes__AnnotationsEntry,
               runtime__v1__container_attributes__annotations_entry__init, config->n_annotations,
               config->annotations);
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
    cleanup_free char *cgroup = cgroup_of_spec_path(c->cgroup_path);
    if (cgroup)
      out->cgroup_path = cri_strdup(req, cgroup);
    else
      log_debug("container %s: cgroupsPath \"%s\" is in no form known", rec->id, c->cgroup_path);
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

/* ---- the host side ---------------------------------------------------------- */

struct layer_usage {
  dev_t dev;
  uint64_t bytes, inodes;
  unsigned entries;
  bool partial;
};

/* Adds what lives under the open directory `dfd` (consumed). */
static void walk_dir(int dfd, unsigned depth, struct layer_usage *u) {
  DIR *d = fdopendir(dfd);
  if (d == NULL) {
    close(dfd);
    u->partial = true;
    return;
  }
  for (struct dirent *de; (de = readdir(d)) != NULL;) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    if (++u->entries > LAYER_WALK_MAX_ENTRIES) {
      u->partial = true;
      break;
    }
    struct stat st;
    if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
      continue; /* removed meanwhile */
    if (st.st_dev != u->dev)
      continue; /* a mount inside the upper dir is not the layer's */
    u->inodes++;
    u->bytes += (uint64_t)st.st_blocks * 512;
    if (!S_ISDIR(st.st_mode))
      continue;
    if (depth >= LAYER_WALK_MAX_DEPTH) {
      u->partial = true;
      continue;
    }
    int child =
        openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
    if (child < 0 && errno == EPERM)
      child = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (child < 0)
      continue;
    walk_dir(child, depth + 1, u);
    if (u->entries > LAYER_WALK_MAX_ENTRIES)
      break;
  }
  closedir(d);
}

static int layer_usage(const char *upper, struct layer_usage *u, crio_error_t *err) {
  memset(u, 0, sizeof(*u));
  int fd = open(upper, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return crio_error_errno(err, errno, "open %s", upper);
  struct stat st;
  if (fstat(fd, &st) < 0) {
    int saved = errno;
    close(fd);
    return crio_error_errno(err, saved, "stat %s", upper);
  }
  u->dev = st.st_dev;
  u->inodes = 1;
  u->bytes = (uint64_t)st.st_blocks * 512;
  walk_dir(fd, 0, u);
  return 0;
}

static void sample_layer(struct cri_request *req, const struct cri_ctr_stats_source *src,
                         Runtime__V1__ContainerStats *s) {
  struct layer_usage u;
  cleanup_error crio_error_t e = NULL;
  int64_t now = crio_now_ns();
  if (layer_usage(src->upper_dir, &u, &e) < 0) {
    log_debug("writable layer of container %s: %s", src->attributes->id, crio_error_message(&e));
    return;
  }
  if (u.partial)
    log_debug("writable layer of container %s: walk cut short after %u entries; usage is a "
              "lower bound",
              src->attributes->id, u.entries);
  Runtime__V1__FilesystemUsage *f = cri_alloc(req, sizeof(*f));
  runtime__v1__filesystem_usage__init(f);
  f->timestamp = now;
  f->fs_id = cri_alloc(req, sizeof(*f->fs_id));
  runtime__v1__filesystem_identifier__init(f->fs_id);
  f->fs_id->mountpoint = cri_strdup(req, src->layer_fs);
  f->used_bytes = cri_u64_value(req, u.bytes);
  f->inodes_used = cri_u64_value(req, u.inodes);
  s->writable_layer = f;
}

Runtime__V1__ContainerStats *cri_ctr_stats_sample(struct cri_request *req,
                                                  struct cri_pod_stats_host *host,
                                                  const struct cri_ctr_stats_source *src) {
  Runtime__V1__ContainerStats *s = cri_alloc(req, sizeof(*s));
  runtime__v1__container_stats__init(s);
  s->attributes = src->attributes;
  if (src->cgroup_path) {
    cleanup_error crio_error_t e = NULL;
    if (cri_stats_cgroup_usage(req, host, src->cgroup_path, &s->cpu, &s->memory, &e) < 0) {
      s->cpu = NULL;
      s->memory = NULL;
      log_debug("stats of container %s: %s", src->attributes->id, crio_error_message(&e));
    }
  }
  if (src->upper_dir)
    sample_layer(req, src, s);
  return s;
}

int cri_ctr_stats_of_pod(struct cri_request *req, struct cri_pod_stats_host *host,
                         const char *pod_id, Runtime__V1__ContainerStats ***out, size_t *n_out,
                         crio_error_t *err) {
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
    stats[i] = cri_ctr_stats_sample(req, host, &srcs[i]);
  *out = stats;
  *n_out = n;
  return 0;
}
