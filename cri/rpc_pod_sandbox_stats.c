/* PodSandboxStats, and the sampling ListPodSandboxStats shares: a pod's
 * usage read from the host — CPU and memory of its cgroup (the cgroup
 * manager's stats), the memory limit and process count of the same cgroup,
 * and the counters of eth0 inside its network namespace.
 *
 * Sampling is split in two so that no store read transaction is ever held
 * across host I/O: cri_pod_stats_prepare() copies what is needed out of the
 * record while the transaction is open, cri_pod_stats_sample() reads the
 * host after it has ended.
 *
 * usage_nano_cores is left unset: it needs a previous sample, and the
 * handlers have no place for one (no state outside the daemon context, and
 * struct cri_context has no cache).  The kubelet derives it itself from two
 * usage_core_nano_seconds samples when it is missing. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cni/cni.h"
#include "cri/ctr_ops.h"
#include "cri/pod.h"
#include "oci/oci.h"
#include "statemachine/statemachine.h"

#define POD_IFNAME "eth0" /* what the pod's CNI ADD names the interface */

/* A memory limit at or above this is the kernel's "unlimited" (v1 reports
 * PAGE_COUNTER_MAX pages, about 2^63 bytes). */
#define MEMORY_UNLIMITED (UINT64_C(1) << 62)

/* The cgroup that holds the whole pod.  The kubelet's cgroup_parent is the
 * pod-level cgroup (pod<uid>) in which containers will be siblings of our
 * sandbox cgroup, so it is the one to read.  Without one the pod lives in
 * the daemon's default parent, which every such pod shares: then only the
 * sandbox's own cgroup is the pod's. */
static int stats_cgroup_path(const struct cri_context *ctx, const store_record *rec, char **path,
                             crio_error_t *err) {
  *path = NULL;
  /* Our cgroup exists from create_cgroup to remove_cgroup, and only then. */
  if (*rec->pod->cgroup_path == '\0')
    return 0;
  if (*rec->pod->cgroup_parent == '\0') {
    *path = xstrdup(rec->pod->cgroup_path);
    return 0;
  }
  const struct oci_cgroup_manager *mgr = cri_cgroup_manager(ctx, err);
  if (mgr == NULL)
    return -1;
  return mgr->parent_path(rec->pod->cgroup_parent, path, err);
}

static Runtime__V1__PodSandboxAttributes *attributes_view(struct cri_request *req,
                                                          const store_record *rec) {
  Runtime__V1__PodSandboxAttributes *a = cri_alloc(req, sizeof(*a));
  runtime__v1__pod_sandbox_attributes__init(a);
  a->id = cri_strdup(req, rec->id);
  a->metadata = cri_pod_metadata_view(req, rec);
  CRI_COPY_MAP(req, a->n_labels, a->labels, Runtime__V1__PodSandboxAttributes__LabelsEntry,
               runtime__v1__pod_sandbox_attributes__labels_entry__init, rec->n_labels, rec->labels);
  CRI_COPY_MAP(req, a->n_annotations, a->annotations,
               Runtime__V1__PodSandboxAttributes__AnnotationsEntry,
               runtime__v1__pod_sandbox_attributes__annotations_entry__init, rec->n_annotations,
               rec->annotations);
  return a;
}

int cri_pod_stats_prepare(struct cri_request *req, const store_record *rec,
                          struct cri_pod_stats_source *out, crio_error_t *err) {
  memset(out, 0, sizeof(*out));
  if (rec->pod == NULL)
    return crio_error(err, EINVAL, "pod sandbox %s: record has no pod body", rec->id);
  cleanup_free char *cgroup = NULL;
  if (stats_cgroup_path(req->ctx, rec, &cgroup, err) < 0)
    return crio_error_prefix(err, "pod sandbox %s: cgroup", rec->id);
  out->attributes = attributes_view(req, rec);
  out->cgroup_path = cgroup ? cri_strdup(req, cgroup) : NULL;
  /* eth0 exists from the CNI ADD until the DEL; a host-network pod has no
   * netns of its own (its traffic is the node's). */
  if (*rec->pod->netns_path &&
      sm_pod_cri_state(rec->state) == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY)
    out->netns_path = cri_strdup(req, rec->pod->netns_path);
  return 0;
}

/* ---- the host side ------------------------------------------------------------- */

/* Where the memory and pids controllers are mounted.  The cgroup manager
 * keeps its view of the hierarchies private and its stats carry no limit
 * or process count, so these two are found here, from one read of
 * mountinfo per call: it grows by three lines with every pod's pinned
 * namespaces, and reading it per pod made ListPodSandboxStats linear in
 * pods twice over. */
struct cgroup_mount {
  char *mount, *root; /* NULL: no hierarchy carries the controller */
};
struct cri_pod_stats_host {
  struct cri_request *req;
  bool loaded;
  struct cgroup_mount memory, pids;
};

struct cri_pod_stats_host *cri_pod_stats_host_new(struct cri_request *req) {
  struct cri_pod_stats_host *host = cri_alloc(req, sizeof(*host));
  host->req = req;
  return host;
}

static bool has_option(const char *superopts, const char *name) {
  size_t len = strlen(name);
  for (const char *p = superopts; *p;) {
    size_t n = strcspn(p, ",");
    if (n == len && strncmp(p, name, len) == 0)
      return true;
    p += n + (p[n] == ',');
  }
  return false;
}

/* A v1 hierarchy whose super options name the controller, else the v2 one
 * (where the controller's files may be absent). */
static int host_load(struct cri_pod_stats_host *host, crio_error_t *err) {
  if (host->loaded)
    return 0;
  cleanup_free char *text = NULL;
  if (crio_read_file("/proc/self/mountinfo", &text, NULL, err) < 0)
    return -1;
  struct cgroup_mount v2 = {0};
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    /* id parent major:minor root mountpoint opts [optional...] - fstype
     * source superopts */
    char root[4096], mount[4096], fstype[32], superopts[1024];
    const char *dash = strstr(line, " - ");
    if (dash == NULL || sscanf(line, "%*s %*s %*s %4095s %4095s", root, mount) != 2 ||
        sscanf(dash, " - %31s %*s %1023s", fstype, superopts) != 2)
      continue;
    /* Escaped paths (\040 ...) are not cgroup mounts we would use. */
    if (strchr(mount, '\\') || strchr(root, '\\'))
      continue;
    struct cgroup_mount found = {cri_strdup(host->req, mount), cri_strdup(host->req, root)};
    if (strcmp(fstype, "cgroup2") == 0 && v2.mount == NULL)
      v2 = found;
    if (strcmp(fstype, "cgroup") != 0)
      continue;
    if (host->memory.mount == NULL && has_option(superopts, "memory"))
      host->memory = found;
    if (host->pids.mount == NULL && has_option(superopts, "pids"))
      host->pids = found;
  }
  if (host->memory.mount == NULL)
    host->memory = v2;
  if (host->pids.mount == NULL)
    host->pids = v2;
  host->loaded = true;
  return 0;
}

/* The directory of cgroup `path` under one controller's mount. */
static int cgroup_dir(const struct cgroup_mount *m, const char *controller, const char *path,
                      char **dir, crio_error_t *err) {
  if (m->mount == NULL)
    return crio_error(err, ENOENT, "no cgroup hierarchy carries %s", controller);
  /* Inside a cgroup namespace a mount shows only a subtree. */
  size_t rlen = strcmp(m->root, "/") == 0 ? 0 : strlen(m->root);
  if (rlen && (strncmp(path, m->root, rlen) != 0 || (path[rlen] && path[rlen] != '/')))
    return crio_error(err, EXDEV, "cgroup %s is outside the hierarchy mounted at %s", path,
                      m->mount);
  *dir = xasprintf("%s%s", m->mount, strcmp(path, "/") == 0 ? "" : path + rlen);
  return 0;
}

static int read_u64_file(const char *dir, const char *file, uint64_t *out, crio_error_t *err) {
  cleanup_free char *path = xasprintf("%s/%s", dir, file);
  cleanup_free char *text = NULL;
  if (crio_read_file(path, &text, NULL, err) < 0)
    return -1;
  char *end = NULL;
  errno = 0;
  *out = strtoull(text, &end, 10);
  if (errno || end == text)
    return crio_error(err, EINVAL, "%s: not a number: %.32s", path, text);
  return 0;
}

/* The cgroup's own limit (v1 memory.limit_in_bytes, v2 memory.max); 0 when
 * none is set or the file is absent.  Containers' stats use it too. */
uint64_t cri_pod_stats_memory_limit(struct cri_pod_stats_host *host, const char *cgroup) {
  cleanup_free char *dir = NULL;
  cleanup_error crio_error_t e = NULL;
  if (host_load(host, &e) < 0 || cgroup_dir(&host->memory, "memory", cgroup, &dir, &e) < 0)
    return 0;
  uint64_t limit = 0;
  if (read_u64_file(dir, "memory.limit_in_bytes", &limit, &e) < 0) {
    crio_error_release(&e);
    /* v2 "max" does not parse: no limit. */
    if (read_u64_file(dir, "memory.max", &limit, &e) < 0)
      return 0;
  }
  return limit >= MEMORY_UNLIMITED ? 0 : limit;
}

/* Processes in a cgroup and its descendants, from cgroup.procs: for a v2
 * hierarchy without the pids controller. */
static int count_procs(const char *dir, unsigned depth, uint64_t *count, crio_error_t *err) {
  if (depth > 32)
    return crio_error(err, ELOOP, "%s: cgroup tree too deep", dir);
  cleanup_free char *procs_path = xasprintf("%s/cgroup.procs", dir);
  cleanup_free char *procs = NULL;
  if (crio_read_file(procs_path, &procs, NULL, err) < 0)
    return -1;
  for (const char *p = procs; *p; p++)
    *count += *p == '\n';
  cleanup_dir DIR *d = opendir(dir);
  if (d == NULL)
    return crio_error_errno(err, errno, "open %s", dir);
  for (struct dirent *de; (de = readdir(d)) != NULL;) {
    if (de->d_type != DT_DIR || de->d_name[0] == '.')
      continue;
    cleanup_free char *child = xasprintf("%s/%s", dir, de->d_name);
    if (count_procs(child, depth + 1, count, err) < 0)
      return -1;
  }
  return 0;
}

/* pids.current: every task in the cgroup's subtree. */
static int process_count(struct cri_pod_stats_host *host, const char *cgroup, uint64_t *count,
                         crio_error_t *err) {
  cleanup_free char *dir = NULL;
  if (host_load(host, err) < 0 || cgroup_dir(&host->pids, "pids", cgroup, &dir, err) < 0)
    return -1;
  cleanup_error crio_error_t e = NULL;
  if (read_u64_file(dir, "pids.current", count, &e) == 0)
    return 0;
  if (crio_error_status(&e) != ENOENT)
    return crio_error(err, crio_error_status(&e), "%s", crio_error_message(&e));
  *count = 0;
  return count_procs(dir, 0, count, err);
}

static int sample_cgroup(struct cri_request *req, struct cri_pod_stats_host *host,
                         const char *cgroup, Runtime__V1__LinuxPodSandboxStats *linux,
                         crio_error_t *err) {
  if (cri_stats_cgroup_usage(req, host, cgroup, &linux->cpu, &linux->memory, err) < 0)
    return -1;

  uint64_t count = 0;
  if (process_count(host, cgroup, &count, err) < 0)
    return crio_error_prefix(err, "process count of cgroup %s", cgroup);
  Runtime__V1__ProcessUsage *proc = cri_alloc(req, sizeof(*proc));
  runtime__v1__process_usage__init(proc);
  proc->timestamp = crio_now_ns();
  proc->process_count = cri_u64_value(req, count);
  linux->process = proc;
  return 0;
}

static int sample_network(struct cri_request *req, const char *netns_path,
                          Runtime__V1__LinuxPodSandboxStats *linux, crio_error_t *err) {
  struct cni_if_stats st;
  if (cni_netns_interface_stats(netns_path, POD_IFNAME, &st, err) < 0)
    return crio_error_prefix(err, "network counters of %s in %s", POD_IFNAME, netns_path);
  Runtime__V1__NetworkInterfaceUsage *iface = cri_alloc(req, sizeof(*iface));
  runtime__v1__network_interface_usage__init(iface);
  iface->name = POD_IFNAME;
  iface->rx_bytes = cri_u64_value(req, st.rx_bytes);
  iface->rx_errors = cri_u64_value(req, st.rx_errors);
  iface->tx_bytes = cri_u64_value(req, st.tx_bytes);
  iface->tx_errors = cri_u64_value(req, st.tx_errors);
  Runtime__V1__NetworkUsage *net = cri_alloc(req, sizeof(*net));
  runtime__v1__network_usage__init(net);
  net->timestamp = crio_now_ns();
  net->default_interface = iface;
  linux->network = net;
  return 0;
}

int cri_pod_stats_sample(struct cri_request *req, struct cri_pod_stats_host *host,
                         const struct cri_pod_stats_source *src, Runtime__V1__PodSandboxStats **out,
                         crio_error_t *err) {
  Runtime__V1__PodSandboxStats *s = cri_alloc(req, sizeof(*s));
  runtime__v1__pod_sandbox_stats__init(s);
  s->attributes = src->attributes;
  s->linux = cri_alloc(req, sizeof(*s->linux));
  runtime__v1__linux_pod_sandbox_stats__init(s->linux);
  *out = s;

  /* Both halves are tried; the first failure is returned with what the
   * other could still read. */
  int rc = 0;
  cleanup_error crio_error_t first = NULL;
  if (src->cgroup_path && sample_cgroup(req, host, src->cgroup_path, s->linux, &first) < 0) {
    s->linux->cpu = NULL;
    s->linux->memory = NULL;
    s->linux->process = NULL;
    rc = -1;
  }
  cleanup_error crio_error_t second = NULL;
  if (src->netns_path && sample_network(req, src->netns_path, s->linux, &second) < 0)
    rc = -1;
  /* The pod's containers, read in a short transaction of their own (a pod
   * without any gets an empty list, not an absent one). */
  cleanup_error crio_error_t third = NULL;
  if (cri_ctr_stats_of_pod(req, host, src->attributes->id, &s->linux->containers,
                           &s->linux->n_containers, &third) < 0) {
    s->linux->containers = cri_alloc(req, sizeof(*s->linux->containers));
    rc = -1;
  }
  if (rc == 0)
    return 0;
  crio_error_t *e = first ? &first : second ? &second : &third;
  crio_error(err, crio_error_status(e), "stats of pod sandbox %s: %s", src->attributes->id,
             crio_error_message(e));
  return -1;
}

int cri_handle_pod_sandbox_stats(struct cri_request *req, ProtobufCMessage **response,
                                 crio_error_t *err) {
  const Runtime__V1__PodSandboxStatsRequest *in = (const void *)req->message;
  /* The read transaction has ended before the host is read. */
  cleanup_store_record store_record *rec = NULL;
  struct cri_pod_stats_source src;
  if (cri_pod_record_get(req, in->pod_sandbox_id, &rec, err) < 0 ||
      cri_pod_stats_prepare(req, rec, &src, err) < 0)
    return -1;

  Runtime__V1__PodSandboxStatsResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__pod_sandbox_stats_response__init(resp);
  if (cri_pod_stats_sample(req, cri_pod_stats_host_new(req), &src, &resp->stats, err) < 0)
    return -1;
  *response = &resp->base;
  return 0;
}
