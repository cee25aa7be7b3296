/* The layer store: <root>/layers/<chain id hex>/{diff/,layer.json},
 * published by rename from tmp-* (see layers.h for the layout and the
 * crash argument).  Also the per-chain-id lock that serialises unpacks and
 * removals of one layer within the process. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "images/layer_internal.h"

struct name_set {
  char **v;
  size_t n, cap;
};

struct img_layer_store {
  char *layers_path; /* <root>/layers */
  int layers_fd;
  struct layer_limits limits;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct name_set busy;  /* chain ids being unpacked or removed */
  struct name_set temps; /* tmp-* names of unpacks in flight */
};

static bool name_set_has(const struct name_set *s, const char *name) {
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->v[i], name) == 0)
      return true;
  return false;
}

static void name_set_add(struct name_set *s, const char *name) {
  if (s->n == s->cap) {
    s->cap = s->cap ? 2 * s->cap : 8;
    s->v = xrealloc(s->v, s->cap * sizeof *s->v);
  }
  s->v[s->n++] = xstrdup(name);
}

static void name_set_del(struct name_set *s, const char *name) {
  for (size_t i = 0; i < s->n; i++) {
    if (strcmp(s->v[i], name) == 0) {
      free(s->v[i]);
      s->v[i] = s->v[--s->n];
      return;
    }
  }
}

static void name_set_free(struct name_set *s) {
  for (size_t i = 0; i < s->n; i++)
    free(s->v[i]);
  free(s->v);
}

int img_layer_store_open(const struct img_layer_store_options *opts, struct img_layer_store **out,
                         crio_error_t *err) {
  if (opts == NULL || opts->root == NULL || opts->root[0] != '/')
    return crio_error(err, EINVAL, "layer store root must be an absolute path");
  cleanup_free char *path = xasprintf("%s/layers", opts->root);
  if (crio_mkdir_p(path, 0700, err) < 0)
    return crio_error_prefix(err, "layer store");
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return crio_error_errno(err, errno, "open layer store %s", path);
  struct img_layer_store *s = xzalloc(sizeof *s);
  s->layers_path = steal_pointer(&path);
  s->layers_fd = fd;
  s->limits.max_uncompressed_bytes =
      opts->max_uncompressed_bytes ? opts->max_uncompressed_bytes : IMG_LAYER_DEFAULT_MAX_BYTES;
  s->limits.max_ratio = opts->max_ratio ? opts->max_ratio : UINT64_MAX;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  *out = s;
  return 0;
}

void img_layer_store_close(struct img_layer_store *store) {
  if (store == NULL)
    return;
  close(store->layers_fd);
  free(store->layers_path);
  name_set_free(&store->busy);
  name_set_free(&store->temps);
  pthread_mutex_destroy(&store->mu);
  pthread_cond_destroy(&store->cv);
  free(store);
}

const struct layer_limits *layer_store_limits(struct img_layer_store *store) {
  return &store->limits;
}

void layer_store_lock(struct img_layer_store *store, const char *chain_id) {
  pthread_mutex_lock(&store->mu);
  while (name_set_has(&store->busy, chain_id))
    pthread_cond_wait(&store->cv, &store->mu);
  name_set_add(&store->busy, chain_id);
  pthread_mutex_unlock(&store->mu);
}

void layer_store_unlock(struct img_layer_store *store, const char *chain_id) {
  pthread_mutex_lock(&store->mu);
  name_set_del(&store->busy, chain_id);
  pthread_cond_broadcast(&store->cv);
  pthread_mutex_unlock(&store->mu);
}

static void temp_name(char name[32]) {
  char id[65];
  crio_random_id(id);
  snprintf(name, 32, "tmp-%.16s", id);
}

static void temp_track(struct img_layer_store *store, const char *name, bool add) {
  pthread_mutex_lock(&store->mu);
  if (add)
    name_set_add(&store->temps, name);
  else
    name_set_del(&store->temps, name);
  pthread_mutex_unlock(&store->mu);
}

int layer_store_make_temp(struct img_layer_store *store, char name[32], int *diff_fd,
                          crio_error_t *err) {
  temp_name(name);
  if (mkdirat(store->layers_fd, name, 0700) < 0)
    return crio_error_errno(err, errno, "create %s/%s", store->layers_path, name);
  temp_track(store, name, true);
  cleanup_close int tmpfd =
      openat(store->layers_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  /* diff/ is the container's "/" once mounted: 0755 whatever the umask,
   * unless the layer's "./" entry says otherwise. */
  if (tmpfd < 0 || mkdirat(tmpfd, "diff", 0755) < 0 ||
      (*diff_fd = openat(tmpfd, "diff", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) < 0 ||
      fchmod(*diff_fd, 0755) < 0) {
    int e = errno;
    crio_error_t ignored = NULL;
    layer_store_remove_temp(store, name, &ignored);
    crio_error_warn(&ignored, "remove temporary layer directory");
    return crio_error_errno(err, e, "create %s/%s/diff", store->layers_path, name);
  }
  return 0;
}

int layer_store_remove_temp(struct img_layer_store *store, const char *name, crio_error_t *err) {
  int r = layer_rm_rf_at(store->layers_fd, name, err);
  temp_track(store, name, false);
  if (r < 0)
    return crio_error_prefix(err, "remove %s/%s", store->layers_path, name);
  return 0;
}

static int sync_layers_dir(struct img_layer_store *store, crio_error_t *err) {
  if (fsync(store->layers_fd) < 0)
    return crio_error_errno(err, errno, "fsync %s", store->layers_path);
  return 0;
}

int layer_store_publish(struct img_layer_store *store, const char *tmp_name,
                        struct img_layer_info *info, crio_error_t *err) {
  const char *hex = img_chain_id_hex(info->chain_id);
  if (hex == NULL)
    return crio_error(err, EINVAL, "chain id \"%s\" malformed", info->chain_id);
  {
    cleanup_close int tmpfd =
        openat(store->layers_fd, tmp_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (tmpfd < 0)
      return crio_error_errno(err, errno, "open %s", tmp_name);
    if (layer_meta_write(tmpfd, info, err) < 0)
      return -1;
  }
  /* One syncfs instead of an fsync per file: a layer is thousands of
   * files, and everything must be on disk before the name says "whole". */
  if (syncfs(store->layers_fd) < 0)
    return crio_error_errno(err, errno, "syncfs %s", store->layers_path);
  int r = renameat2(store->layers_fd, tmp_name, store->layers_fd, hex, RENAME_NOREPLACE);
  if (r < 0 && errno == EINVAL) /* filesystem without RENAME_NOREPLACE */
    r = renameat(store->layers_fd, tmp_name, store->layers_fd, hex);
  if (r < 0 && (errno == EEXIST || errno == ENOTEMPTY)) {
    if (layer_store_remove_temp(store, tmp_name, err) < 0)
      return -1;
    return 1;
  }
  if (r < 0)
    return crio_error_errno(err, errno, "publish layer %s", info->chain_id);
  temp_track(store, tmp_name, false);
  return sync_layers_dir(store, err);
}

/* ---- queries -------------------------------------------------------------- */
static int checked_hex(const char *chain_id, const char **hex, crio_error_t *err) {
  *hex = img_chain_id_hex(chain_id);
  if (*hex == NULL)
    return crio_error(err, EINVAL, "chain id \"%s\" is not a sha256 digest",
                      chain_id ? chain_id : "");
  return 0;
}

int img_layer_store_exists(struct img_layer_store *store, const char *chain_id, crio_error_t *err) {
  const char *hex;
  struct stat st;
  if (checked_hex(chain_id, &hex, err) < 0)
    return -1;
  if (fstatat(store->layers_fd, hex, &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT)
      return 0;
    return crio_error_errno(err, errno, "stat layer %s", chain_id);
  }
  return S_ISDIR(st.st_mode) ? 1 : 0;
}

int img_layer_store_get(struct img_layer_store *store, const char *chain_id,
                        struct img_layer_info *info, crio_error_t *err) {
  const char *hex;
  if (checked_hex(chain_id, &hex, err) < 0)
    return -1;
  cleanup_close int fd =
      openat(store->layers_fd, hex, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && errno == ENOENT)
    return crio_error(err, ENOENT, "layer %s not in the store", chain_id);
  if (fd < 0)
    return crio_error_errno(err, errno, "open layer %s", chain_id);
  if (layer_meta_read(fd, info, err) < 0)
    return crio_error_prefix(err, "layer %s", chain_id);
  return 0;
}

int img_layer_store_remove(struct img_layer_store *store, const char *chain_id, crio_error_t *err) {
  const char *hex;
  char tmp[32];
  if (checked_hex(chain_id, &hex, err) < 0)
    return -1;
  temp_name(tmp);
  layer_store_lock(store, chain_id);
  /* Unpublish first, atomically; the slow delete happens under a tmp-*
   * name that start-up cleanup finishes if we crash. */
  int r = renameat(store->layers_fd, hex, store->layers_fd, tmp);
  int e = errno;
  if (r == 0)
    temp_track(store, tmp, true);
  layer_store_unlock(store, chain_id);
  if (r < 0 && e == ENOENT)
    return crio_error(err, ENOENT, "layer %s not in the store", chain_id);
  if (r < 0)
    return crio_error_errno(err, e, "unpublish layer %s", chain_id);
  if (sync_layers_dir(store, err) < 0)
    return -1;
  crio_error_t rm_err = NULL;
  if (layer_store_remove_temp(store, tmp, &rm_err) < 0)
    crio_error_warn(&rm_err, "delete removed layer (start-up cleanup retries)");
  return 0;
}

static int name_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names in the layers directory, filtered. */
static int list_names(struct img_layer_store *store, bool (*want)(const char *name), char ***out,
                      size_t *n_out, crio_error_t *err) {
  int fd = openat(store->layers_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return crio_error_errno(err, errno, "open %s", store->layers_path);
  cleanup_dir DIR *d = fdopendir(fd);
  if (d == NULL) {
    close(fd);
    return crio_error_errno(err, errno, "open %s", store->layers_path);
  }
  cleanup_strv char **v = xcalloc(1, sizeof *v);
  size_t n = 0;
  for (;;) {
    errno = 0;
    struct dirent *de = readdir(d);
    if (de == NULL && errno != 0)
      return crio_error_errno(err, errno, "read %s", store->layers_path);
    if (de == NULL)
      break;
    if (!want(de->d_name))
      continue;
    v = xrealloc(v, (n + 2) * sizeof *v);
    v[n++] = xstrdup(de->d_name);
    v[n] = NULL;
  }
  qsort(v, n, sizeof *v, name_cmp);
  *out = steal_pointer(&v);
  *n_out = n;
  return 0;
}

static bool is_chain_hex(const char *name) {
  return strlen(name) == 64 && crio_is_hex_id(name, 64);
}

static bool is_temp(const char *name) {
  return strncmp(name, "tmp-", 4) == 0;
}

int img_layer_store_list(struct img_layer_store *store, char ***out, crio_error_t *err) {
  cleanup_strv char **names = NULL;
  size_t n = 0;
  if (list_names(store, is_chain_hex, &names, &n, err) < 0)
    return -1;
  for (size_t i = 0; i < n; i++) {
    char *id = xasprintf("sha256:%s", names[i]);
    free(names[i]);
    names[i] = id;
  }
  *out = steal_pointer(&names);
  return 0;
}

int img_layer_store_cleanup_temp(struct img_layer_store *store, crio_error_t *err) {
  cleanup_strv char **names = NULL;
  size_t n = 0;
  if (list_names(store, is_temp, &names, &n, err) < 0)
    return -1;
  for (size_t i = 0; i < n; i++) {
    pthread_mutex_lock(&store->mu);
    bool in_flight = name_set_has(&store->temps, names[i]);
    pthread_mutex_unlock(&store->mu);
    if (in_flight)
      continue;
    log_info("layer store: removing leftover %s/%s", store->layers_path, names[i]);
    if (layer_rm_rf_at(store->layers_fd, names[i], err) < 0)
      return crio_error_prefix(err, "remove %s/%s", store->layers_path, names[i]);
  }
  return 0;
}

int img_layer_store_usage(struct img_layer_store *store, uint64_t *bytes, uint64_t *inodes,
                          crio_error_t *err) {
  if (layer_usage_at(store->layers_fd, ".", bytes, inodes, err) < 0)
    return crio_error_prefix(err, "usage of %s", store->layers_path);
  return 0;
}

int img_layer_store_diff_dir(struct img_layer_store *store, const char *chain_id, char **out,
                             crio_error_t *err) {
  int r = img_layer_store_exists(store, chain_id, err);
  if (r < 0)
    return -1;
  if (r == 0)
    return crio_error(err, ENOENT, "layer %s not in the store", chain_id);
  *out = xasprintf("%s/%s/diff", store->layers_path, img_chain_id_hex(chain_id));
  return 0;
}

int img_layer_store_diff_dirs(struct img_layer_store *store, const char *const *chain_ids, size_t n,
                              char ***out, crio_error_t *err) {
  cleanup_strv char **v = xcalloc(n + 1, sizeof *v);
  for (size_t i = 0; i < n; i++)
    if (img_layer_store_diff_dir(store, chain_ids[i], &v[i], err) < 0)
      return -1;
  *out = steal_pointer(&v);
  return 0;
}

int img_layer_store_lowerdir_option(struct img_layer_store *store, const char *const *chain_ids,
                                    size_t n, char **out, crio_error_t *err) {
  cleanup_strv char **dirs = NULL;
  if (n == 0)
    return crio_error(err, EINVAL, "an overlay needs at least one lower layer");
  if (img_layer_store_diff_dirs(store, chain_ids, n, &dirs, err) < 0)
    return -1;
  size_t len = 0;
  for (size_t i = 0; i < n; i++) {
    if (strpbrk(dirs[i], ":,\\") != NULL)
      return crio_error(err, EINVAL,
                        "layer path %s holds a character overlayfs options "
                        "cannot carry",
                        dirs[i]);
    len += strlen(dirs[i]) + 1;
  }
  /* overlayfs lists the topmost lower directory first. */
  char *s = xmalloc(len);
  s[0] = '\0';
  for (size_t i = n; i-- > 0;) {
    strcat(s, dirs[i]);
    if (i > 0)
      strcat(s, ":");
  }
  *out = s;
  return 0;
}
