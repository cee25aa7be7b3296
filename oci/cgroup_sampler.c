/* The cgroup stats sampler: CPU, memory, memory limit and process count of
 * a cgroup, read-only, for ContainerStats and PodSandboxStats.
 *
 * The stats calls are the daemon's hottest read path (the kubelet asks for
 * every container every few seconds), so the sampler pays each fixed cost
 * once:
 *   - the mounted hierarchies are read from mountinfo once, at the first
 *     sample (they do not change under a running node; mountinfo grows by
 *     three lines with every pod's pinned namespaces, so parsing it per
 *     call made stats linear in pods twice over);
 *   - the files of a cgroup are opened once and kept, and each sample is one
 *     pread per file: a cgroup file regenerates its text on every read at
 *     offset 0 (seq_file), and pread on a kept fd is a third of the
 *     syscalls of open + read + close by path.
 * A kept file of a removed cgroup answers ENODEV: the entry is dropped and
 * opened again by path once (a cgroup made again under the same path).
 * Entries unused for a minute are closed, and the cache never holds more
 * than half of RLIMIT_NOFILE: beyond that a cgroup is read by path and
 * closed at once.  A kept container holds three descriptors (CPU, memory
 * usage, memory.stat: its limit is read once, by a descriptor closed
 * again), a pod five (its limit and pids.current too).
 *
 * The list calls sample their items on several threads at once
 * (cri_parallel_for), so the cache is split in shards, each with its own
 * lock, held across the reads of the one cgroup sampled: two threads
 * wait for each other only on cgroups of the same shard.
 *
 * Which hierarchy answers (as before this sampler existed): where any v1
 * hierarchy carries cpuacct or memory (legacy and hybrid hosts), CPU
 * (cpuacct.usage) and memory (memory.usage_in_bytes, memory.stat's total_*)
 * are v1's and both must be there; otherwise the v2 hierarchy's cpu.stat,
 * memory.current and memory.stat.  The limit and the process count come
 * from the v1 hierarchy carrying memory (pids), else from v2. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "oci/cgroup_internal.h"
#include "oci/oci.h"

#define SAMPLER_SHARDS 16
#define SHARD_BUCKETS 64
#define SAMPLER_IDLE_NS (60LL * 1000000000LL)
#define SAMPLER_SWEEP_NS (10LL * 1000000000LL)
/* A memory limit at or above this is the kernel's "unlimited" (v1 reports
 * PAGE_COUNTER_MAX pages, about 2^63 bytes). */
#define MEMORY_UNLIMITED (UINT64_C(1) << 62)

enum cg_file {
  CG_CPU,          /* v1 cpuacct.usage; v2 cpu.stat */
  CG_MEM_USAGE,    /* v1 memory.usage_in_bytes; v2 memory.current */
  CG_MEM_STAT,     /* memory.stat */
  CG_MEM_LIMIT,    /* v1 memory.limit_in_bytes; v2 memory.max */
  CG_PIDS_CURRENT, /* pids.current */
  CG_N_FILES,
};

struct cg_entry {
  struct cg_entry *next;
  char *path;
  int fd[CG_N_FILES]; /* -1: not opened (yet), or absent */
  bool tried[CG_N_FILES];
  bool limit_kept; /* OCI_CGROUP_SAMPLE_LIMIT_KEPT: memory_limit read */
  uint64_t memory_limit;
  int64_t last_used_ns; /* CLOCK_MONOTONIC */
};

struct sampler_shard {
  pthread_mutex_t lock;
  struct cg_entry *buckets[SHARD_BUCKETS];
  int64_t last_sweep_ns;
};

struct oci_cgroup_sampler {
  pthread_mutex_t load_lock;
  char *mountinfo_path; /* NULL: /proc/self/mountinfo */
  atomic_bool loaded;   /* set once, after what follows is */
  struct cg_hiers hiers;
  /* The hierarchies each kind of file lives in (NULL: none). */
  const struct cg_hier *cpu, *memory, *pids;
  bool v1; /* cpu and memory from v1 */
  struct sampler_shard shards[SAMPLER_SHARDS];
  atomic_size_t open_fds;
  size_t max_fds;
};

struct oci_cgroup_sampler *oci_cgroup_sampler_new(const char *mountinfo_path) {
  struct oci_cgroup_sampler *s = xzalloc(sizeof(*s));
  pthread_mutex_init(&s->load_lock, NULL);
  for (size_t i = 0; i < SAMPLER_SHARDS; i++)
    pthread_mutex_init(&s->shards[i].lock, NULL);
  s->mountinfo_path = mountinfo_path ? xstrdup(mountinfo_path) : NULL;
  struct rlimit rl;
  s->max_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                   ? (size_t)rl.rlim_cur / 2
                   : 4096;
  return s;
}

static void entry_free(struct oci_cgroup_sampler *s, struct cg_entry *e) {
  for (int i = 0; i < CG_N_FILES; i++)
    if (e->fd[i] >= 0) {
      close(e->fd[i]);
      atomic_fetch_sub(&s->open_fds, 1);
    }
  free(e->path);
  free(e);
}

void oci_cgroup_sampler_free(struct oci_cgroup_sampler *s) {
  if (s == NULL)
    return;
  for (size_t i = 0; i < SAMPLER_SHARDS; i++) {
    struct sampler_shard *sh = &s->shards[i];
    for (size_t b = 0; b < SHARD_BUCKETS; b++)
      while (sh->buckets[b]) {
        struct cg_entry *e = sh->buckets[b];
        sh->buckets[b] = e->next;
        entry_free(s, e);
      }
    pthread_mutex_destroy(&sh->lock);
  }
  cg_hiers_release(&s->hiers);
  free(s->mountinfo_path);
  pthread_mutex_destroy(&s->load_lock);
  free(s);
}

static const struct cg_hier *find_hier(const struct cg_hiers *hs, const char *controller, bool v2) {
  for (size_t i = 0; i < hs->n; i++)
    if (hs->h[i].v2 == v2 && (v2 || hier_has(&hs->h[i], controller)))
      return &hs->h[i];
  return NULL;
}

static int sampler_load_locked(struct oci_cgroup_sampler *s, crio_error_t *err) {
  if (atomic_load_explicit(&s->loaded, memory_order_relaxed))
    return 0;
  if (cg_hiers_load_from(s->mountinfo_path, &s->hiers, err) < 0)
    return crio_error_prefix(err, "cgroup stats");
  const struct cg_hier *v2 = find_hier(&s->hiers, NULL, true);
  const struct cg_hier *cpuacct = find_hier(&s->hiers, "cpuacct", false);
  const struct cg_hier *memory = find_hier(&s->hiers, "memory", false);
  const struct cg_hier *pids = find_hier(&s->hiers, "pids", false);
  s->v1 = cpuacct || memory;
  s->cpu = s->v1 ? cpuacct : v2;
  s->memory = s->v1 ? memory : v2;
  s->pids = pids ? pids : v2;
  atomic_store_explicit(&s->loaded, true, memory_order_release);
  return 0;
}

static int sampler_load(struct oci_cgroup_sampler *s, crio_error_t *err) {
  if (atomic_load_explicit(&s->loaded, memory_order_acquire))
    return 0;
  pthread_mutex_lock(&s->load_lock);
  int rc = sampler_load_locked(s, err);
  pthread_mutex_unlock(&s->load_lock);
  return rc;
}

static uint64_t hash_path(const char *path) {
  uint64_t h = UINT64_C(1469598103934665603);
  for (const unsigned char *p = (const unsigned char *)path; *p; p++)
    h = (h ^ *p) * UINT64_C(1099511628211);
  return h;
}

static struct sampler_shard *shard_of(struct oci_cgroup_sampler *s, uint64_t h) {
  return &s->shards[h % SAMPLER_SHARDS];
}

static struct cg_entry **bucket_of(struct sampler_shard *sh, uint64_t h) {
  return &sh->buckets[(h / SAMPLER_SHARDS) % SHARD_BUCKETS];
}

static const char *const v1_names[CG_N_FILES] = {"cpuacct.usage", "memory.usage_in_bytes",
                                                 "memory.stat", "memory.limit_in_bytes",
                                                 "pids.current"};
static const char *const v2_names[CG_N_FILES] = {"cpu.stat", "memory.current", "memory.stat",
                                                 "memory.max", "pids.current"};

static const struct cg_hier *file_hier(const struct oci_cgroup_sampler *s, enum cg_file f) {
  switch (f) {
  case CG_CPU:
    return s->cpu;
  case CG_PIDS_CURRENT:
    return s->pids;
  default:
    return s->memory;
  }
}

/* Opens file f of the entry's cgroup once; -1 with the open's error. */
static int entry_fd(struct oci_cgroup_sampler *s, struct cg_entry *e, enum cg_file f,
                    crio_error_t *err) {
  if (e->tried[f]) {
    if (e->fd[f] < 0)
      return crio_error(err, ENOENT, "cgroup %s has no %s", e->path, v1_names[f]);
    return e->fd[f];
  }
  const struct cg_hier *h = file_hier(s, f);
  if (h == NULL)
    return crio_error(err, ENOENT, "no cgroup hierarchy carries %s",
                      f == CG_CPU            ? "cpuacct"
                      : f == CG_PIDS_CURRENT ? "pids"
                                             : "memory");
  cleanup_free char *dir = NULL;
  if (hier_dir(h, e->path, &dir, err) < 0)
    return -1;
  cleanup_free char *path = xasprintf("%s/%s", dir, h->v2 ? v2_names[f] : v1_names[f]);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return crio_error_errno(err, errno, "open %s", path);
  e->tried[f] = true;
  e->fd[f] = fd;
  atomic_fetch_add(&s->open_fds, 1);
  return fd;
}

/* The file's text now, NUL-terminated, into buf. */
static int entry_read(struct oci_cgroup_sampler *s, struct cg_entry *e, enum cg_file f, char *buf,
                      size_t size, crio_error_t *err) {
  int fd = entry_fd(s, e, f, err);
  if (fd < 0)
    return -1;
  size_t len = 0;
  while (len < size - 1) {
    size_t want = size - 1 - len;
    ssize_t n = pread(fd, buf + len, want, (off_t)len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return crio_error_errno(err, errno, "read %s of cgroup %s", v1_names[f], e->path);
    len += (size_t)n;
    /* A cgroup file is a seq_file, which fills the buffer while it has
     * text: a short read is its end (and saves the read that returns 0). */
    if ((size_t)n < want)
      break;
  }
  buf[len] = '\0';
  return 0;
}

static int parse_u64(const char *text, uint64_t *out) {
  char *end = NULL;
  errno = 0;
  *out = strtoull(text, &end, 10);
  return errno || end == text ? -1 : 0;
}

/* Value of `key` in a "key value\n" file (memory.stat, cpu.stat). */
static bool flat_keyed(const char *text, const char *key, uint64_t *out) {
  size_t klen = strlen(key);
  for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p) {
    if (strncmp(p, key, klen) == 0 && p[klen] == ' ') {
      *out = strtoull(p + klen + 1, NULL, 10);
      return true;
    }
  }
  return false;
}

/* The values of several keys of a "key value\n" file in one pass over its
 * lines (memory.stat has some fifty; v1's total_* keys come last). */
struct flat_key {
  const char *key;
  uint64_t *out;
};
static void flat_keys(const char *text, const struct flat_key *keys, size_t n) {
  size_t left = n;
  for (const char *p = text; left && *p;) {
    const char *space = strchr(p, ' ');
    if (space == NULL)
      return;
    size_t klen = (size_t)(space - p);
    for (size_t i = 0; i < n; i++)
      if (keys[i].out && strncmp(p, keys[i].key, klen) == 0 && keys[i].key[klen] == '\0') {
        *keys[i].out = strtoull(space + 1, NULL, 10);
        left--;
        break;
      }
    const char *nl = strchr(space, '\n');
    if (nl == NULL)
      return;
    p = nl + 1;
  }
}

static int read_u64(struct oci_cgroup_sampler *s, struct cg_entry *e, enum cg_file f, uint64_t *out,
                    crio_error_t *err) {
  char buf[64];
  if (entry_read(s, e, f, buf, sizeof(buf), err) < 0)
    return -1;
  if (parse_u64(buf, out) < 0)
    return crio_error(err, EINVAL, "cgroup %s: %s is not a number: %.32s", e->path, v1_names[f],
                      buf);
  return 0;
}

static int sample_cpu_memory(struct oci_cgroup_sampler *s, struct cg_entry *e, unsigned flags,
                             struct oci_cgroup_usage *out, crio_error_t *err) {
  if (s->v1 && (s->cpu == NULL || s->memory == NULL))
    return crio_error(err, ENOTSUP, "cgroup stats: no %s hierarchy is mounted",
                      s->cpu ? "memory" : "cpuacct");
  char stat[8192];
  uint64_t inactive_file = 0;
  if (s->v1) {
    if (read_u64(s, e, CG_CPU, &out->cpu_usage_ns, err) < 0 ||
        read_u64(s, e, CG_MEM_USAGE, &out->memory_usage_bytes, err) < 0 ||
        entry_read(s, e, CG_MEM_STAT, stat, sizeof(stat), err) < 0)
      return -1;
    flat_keys(stat,
              (const struct flat_key[]){{"total_inactive_file", &inactive_file},
                                        {"total_rss", &out->memory_rss_bytes},
                                        {"total_pgfault", &out->memory_page_faults},
                                        {"total_pgmajfault", &out->memory_major_page_faults}},
              4);
  } else {
    char cpu[1024];
    uint64_t usage_usec = 0;
    if (s->cpu == NULL)
      return crio_error(err, ENOENT, "no cgroup v2 hierarchy is mounted");
    if (entry_read(s, e, CG_CPU, cpu, sizeof(cpu), err) < 0 ||
        read_u64(s, e, CG_MEM_USAGE, &out->memory_usage_bytes, err) < 0 ||
        entry_read(s, e, CG_MEM_STAT, stat, sizeof(stat), err) < 0)
      return -1;
    if (!flat_keyed(cpu, "usage_usec", &usage_usec))
      return crio_error(err, EINVAL, "cgroup %s: cpu.stat has no usage_usec", e->path);
    out->cpu_usage_ns = usage_usec * 1000;
    flat_keys(stat,
              (const struct flat_key[]){{"inactive_file", &inactive_file},
                                        {"anon", &out->memory_rss_bytes},
                                        {"pgfault", &out->memory_page_faults},
                                        {"pgmajfault", &out->memory_major_page_faults}},
              4);
  }
  out->memory_working_set_bytes =
      out->memory_usage_bytes > inactive_file ? out->memory_usage_bytes - inactive_file : 0;
  /* The cgroup's own limit; none set, or no file, is no limit ("max" on
   * v2 does not parse).  A container's is read once (one read fewer of
   * four per container and call). */
  if ((flags & OCI_CGROUP_SAMPLE_LIMIT_KEPT) && e->limit_kept) {
    out->memory_limit_bytes = e->memory_limit;
    return 0;
  }
  uint64_t limit = 0;
  cleanup_error crio_error_t ignored = NULL;
  if (read_u64(s, e, CG_MEM_LIMIT, &limit, &ignored) == 0 && limit < MEMORY_UNLIMITED)
    out->memory_limit_bytes = limit;
  if (flags & OCI_CGROUP_SAMPLE_LIMIT_KEPT) {
    e->limit_kept = true;
    e->memory_limit = out->memory_limit_bytes;
    /* Not read again: its descriptor need not be kept either. */
    if (e->fd[CG_MEM_LIMIT] >= 0) {
      close(e->fd[CG_MEM_LIMIT]);
      atomic_fetch_sub(&s->open_fds, 1);
      e->fd[CG_MEM_LIMIT] = -1;
      e->tried[CG_MEM_LIMIT] = false;
    }
  }
  return 0;
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

static int sample_processes(struct oci_cgroup_sampler *s, struct cg_entry *e,
                            struct oci_cgroup_usage *out, crio_error_t *err) {
  cleanup_error crio_error_t e1 = NULL;
  if (read_u64(s, e, CG_PIDS_CURRENT, &out->process_count, &e1) == 0) {
    out->has_process_count = true;
    return 0;
  }
  if (crio_error_status(&e1) != ENOENT || s->pids == NULL)
    return crio_error(err, crio_error_status(&e1), "%s", crio_error_message(&e1));
  cleanup_free char *dir = NULL;
  out->process_count = 0;
  if (hier_dir(s->pids, e->path, &dir, err) < 0 ||
      count_procs(dir, 0, &out->process_count, err) < 0)
    return -1;
  out->has_process_count = true;
  return 0;
}

/* With the shard's lock held. */
static void sweep_locked(struct oci_cgroup_sampler *s, struct sampler_shard *sh, int64_t now) {
  if (now - sh->last_sweep_ns < SAMPLER_SWEEP_NS)
    return;
  sh->last_sweep_ns = now;
  for (size_t b = 0; b < SHARD_BUCKETS; b++)
    for (struct cg_entry **pp = &sh->buckets[b]; *pp;) {
      struct cg_entry *e = *pp;
      if (now - e->last_used_ns < SAMPLER_IDLE_NS) {
        pp = &e->next;
        continue;
      }
      *pp = e->next;
      entry_free(s, e);
    }
}

static struct cg_entry *entry_new(const char *path) {
  struct cg_entry *e = xzalloc(sizeof(*e));
  e->path = xstrdup(path);
  for (int i = 0; i < CG_N_FILES; i++)
    e->fd[i] = -1;
  return e;
}

static int sample_entry(struct oci_cgroup_sampler *s, struct cg_entry *e, unsigned flags,
                        struct oci_cgroup_usage *out, crio_error_t *err) {
  memset(out, 0, sizeof(*out));
  out->timestamp_ns = crio_now_ns();
  if (sample_cpu_memory(s, e, flags, out, err) < 0)
    return -1;
  if ((flags & OCI_CGROUP_SAMPLE_PROCESSES) && sample_processes(s, e, out, err) < 0)
    return crio_error_prefix(err, "process count of cgroup %s", e->path);
  return 0;
}

/* With the lock of the path's shard held. */
static int sample_locked(struct oci_cgroup_sampler *s, struct sampler_shard *sh, uint64_t h,
                         const char *path, unsigned flags, struct oci_cgroup_usage *out,
                         crio_error_t *err) {
  int64_t now = crio_monotonic_ns();
  sweep_locked(s, sh, now);
  struct cg_entry **head = bucket_of(sh, h);
  struct cg_entry **pp = head;
  while (*pp && strcmp((*pp)->path, path) != 0)
    pp = &(*pp)->next;
  struct cg_entry *e = *pp;
  if (e) {
    cleanup_error crio_error_t stale = NULL;
    if (sample_entry(s, e, flags, out, &stale) == 0) {
      e->last_used_ns = now;
      return 0;
    }
    /* Dropped whatever went wrong; ENODEV (the kept files are of a cgroup
     * removed since, and maybe made again) and any other error alike are
     * answered by opening the cgroup afresh once. */
    *pp = e->next;
    entry_free(s, e);
  }
  e = entry_new(path);
  int rc = sample_entry(s, e, flags, out, err);
  if (rc < 0 || atomic_load(&s->open_fds) > s->max_fds) {
    entry_free(s, e); /* past the budget: read by path this time */
    return rc;
  }
  e->last_used_ns = now;
  e->next = *head;
  *head = e;
  return 0;
}

int oci_cgroup_sample(struct oci_cgroup_sampler *s, const char *cgroup, unsigned flags,
                      struct oci_cgroup_usage *out, crio_error_t *err) {
  const char *path = strcmp(cgroup, "/") == 0 ? "" : cgroup;
  if (path[0] != '\0' && path[0] != '/')
    return crio_error(err, EINVAL, "cgroup path \"%s\" is not absolute", cgroup);
  if (sampler_load(s, err) < 0)
    return -1;
  uint64_t h = hash_path(path);
  struct sampler_shard *sh = shard_of(s, h);
  pthread_mutex_lock(&sh->lock);
  int rc = sample_locked(s, sh, h, path, flags, out, err);
  pthread_mutex_unlock(&sh->lock);
  if (rc < 0)
    return crio_error_prefix(err, "stats of cgroup %s", path[0] ? path : "/");
  return 0;
}

void oci_cgroup_sampler_forget(struct oci_cgroup_sampler *s, const char *cgroup) {
  if (s == NULL)
    return;
  const char *path = strcmp(cgroup, "/") == 0 ? "" : cgroup;
  uint64_t h = hash_path(path);
  struct sampler_shard *sh = shard_of(s, h);
  pthread_mutex_lock(&sh->lock);
  for (struct cg_entry **pp = bucket_of(sh, h); *pp;) {
    struct cg_entry *e = *pp;
    if (strcmp(e->path, path) != 0) {
      pp = &e->next;
      continue;
    }
    *pp = e->next;
    entry_free(s, e);
  }
  pthread_mutex_unlock(&sh->lock);
}
