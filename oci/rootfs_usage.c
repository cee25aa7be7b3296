/* The writable layer's usage (oci_rootfs_upper_usage, rootfs.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/rootfs.h"

#define LAYER_WALK_MAX_ENTRIES 200000u
#define LAYER_WALK_MAX_DEPTH 128u

/* Adds what lives under the open directory `dfd` (consumed). */
static void walk_dir(int dfd, dev_t dev, unsigned depth, struct oci_layer_usage *u) {
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
    if (st.st_dev != dev)
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
    walk_dir(child, dev, depth + 1, u);
    if (u->entries > LAYER_WALK_MAX_ENTRIES)
      break;
  }
  closedir(d);
}

int oci_rootfs_upper_usage(const char *upper, struct oci_layer_usage *u, crio_error_t *err) {
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
  u->inodes = 1;
  u->bytes = (uint64_t)st.st_blocks * 512;
  walk_dir(fd, st.st_dev, 0, u);
  return 0;
}

/* ---- the sampler ---------------------------------------------------------------- */

#define LAYER_MAX_AGE_NS ((int64_t)OCI_LAYER_SAMPLE_MAX_AGE_S * 1000000000LL)

struct layer_entry {
  struct layer_entry *next;
  char *upper_dir;
  struct oci_layer_usage usage;
  int64_t walked_mono_ns, walked_real_ns;
};

#define LAYER_BUCKETS 512

struct oci_layer_sampler {
  pthread_mutex_t lock;
  struct layer_entry *buckets[LAYER_BUCKETS];
  int64_t last_sweep_ns;
};

static size_t layer_hash(const char *path) {
  uint64_t h = UINT64_C(1469598103934665603);
  for (const unsigned char *p = (const unsigned char *)path; *p; p++)
    h = (h ^ *p) * UINT64_C(1099511628211);
  return (size_t)(h % LAYER_BUCKETS);
}

struct oci_layer_sampler *oci_layer_sampler_new(void) {
  struct oci_layer_sampler *s = xzalloc(sizeof(*s));
  pthread_mutex_init(&s->lock, NULL);
  return s;
}

static void layer_entry_free(struct layer_entry *e) {
  free(e->upper_dir);
  free(e);
}

/* Drops the walks older than the age limit in bucket b. */
static void drop_stale(struct oci_layer_sampler *s, size_t b, int64_t now) {
  for (struct layer_entry **pp = &s->buckets[b]; *pp;) {
    struct layer_entry *e = *pp;
    if (now - e->walked_mono_ns < LAYER_MAX_AGE_NS) {
      pp = &e->next;
      continue;
    }
    *pp = e->next;
    layer_entry_free(e);
  }
}

void oci_layer_sampler_free(struct oci_layer_sampler *s) {
  if (s == NULL)
    return;
  for (size_t b = 0; b < LAYER_BUCKETS; b++)
    drop_stale(s, b, INT64_MAX);
  pthread_mutex_destroy(&s->lock);
  free(s);
}

/* A fresh walk of `upper`, copied out; with the lock held. */
static bool cached_locked(struct oci_layer_sampler *s, const char *upper, int64_t now,
                          struct oci_layer_usage *out, int64_t *sampled_ns) {
  if (now - s->last_sweep_ns > LAYER_MAX_AGE_NS) {
    s->last_sweep_ns = now;
    for (size_t b = 0; b < LAYER_BUCKETS; b++)
      drop_stale(s, b, now);
  }
  size_t b = layer_hash(upper);
  drop_stale(s, b, now);
  for (struct layer_entry *e = s->buckets[b]; e; e = e->next)
    if (strcmp(e->upper_dir, upper) == 0) {
      *out = e->usage;
      *sampled_ns = e->walked_real_ns;
      return true;
    }
  return false;
}

int oci_layer_sample(struct oci_layer_sampler *s, const char *upper_dir,
                     struct oci_layer_usage *out, int64_t *sampled_ns, crio_error_t *err) {
  int64_t now = crio_monotonic_ns();
  pthread_mutex_lock(&s->lock);
  bool hit = cached_locked(s, upper_dir, now, out, sampled_ns);
  pthread_mutex_unlock(&s->lock);
  if (hit)
    return 0;
  /* Walked outside the lock: two callers may walk the same dir at once;
   * both results are right, and the later one is kept. */
  *sampled_ns = crio_now_ns();
  if (oci_rootfs_upper_usage(upper_dir, out, err) < 0)
    return -1;
  struct layer_entry *e = xzalloc(sizeof(*e));
  e->upper_dir = xstrdup(upper_dir);
  e->usage = *out;
  e->walked_mono_ns = now;
  e->walked_real_ns = *sampled_ns;
  size_t b = layer_hash(upper_dir);
  pthread_mutex_lock(&s->lock);
  e->next = s->buckets[b];
  s->buckets[b] = e;
  pthread_mutex_unlock(&s->lock);
  return 0;
}
