/* The push API over the pull-driven libarchive readers: write() hands
 * chunks to an extractor thread through a bounded slot (at most
 * SLOT_MAX bytes wait, plus the chunk libarchive is working on), so the
 * download and the extraction overlap and no layer is held in memory.
 * The compressed digest is computed in write() on the caller's thread;
 * the diff_id on the extractor's, as libarchive decompresses. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "images/layer_internal.h"

#define SLOT_MAX (1024 * 1024)

struct img_layer_unpack {
  struct img_layer_store *store;
  char compressed_digest[IMG_DIGEST_MAX];
  char expected_diff_id[IMG_DIGEST_MAX]; /* "" when not given */
  char parent_chain_id[IMG_DIGEST_MAX];
  char chain_id[IMG_DIGEST_MAX]; /* held in the store's lock if locked */
  bool locked;
  char media_type[128];
  struct layer_media_policy policy;
  char tmp_name[32];
  int diff_fd;
  struct img_hash compressed_hash;
  uint64_t compressed_size;

  pthread_t thread;
  bool thread_started;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  unsigned char *slot; /* bytes written, not yet pulled */
  size_t slot_len, slot_cap;
  unsigned char *consuming; /* pulled: libarchive's until the next pull */
  bool eof, aborted, done;
  crio_error_t thread_err;
  char diff_id[IMG_DIGEST_MAX];
  uint64_t uncompressed_size;
};

static void unpack_free(struct img_layer_unpack *ctx) {
  if (ctx->diff_fd >= 0)
    close(ctx->diff_fd);
  if (ctx->locked)
    layer_store_unlock(ctx->store, ctx->chain_id);
  img_hash_release(&ctx->compressed_hash);
  pthread_mutex_destroy(&ctx->mu);
  pthread_cond_destroy(&ctx->cv);
  free(ctx->slot);
  free(ctx->consuming);
  crio_error_release(&ctx->thread_err);
  free(ctx);
}

/* Removes the temporary directory and frees; for every failure path. */
static void unpack_discard(struct img_layer_unpack *ctx) {
  if (ctx->tmp_name[0] != '\0') {
    crio_error_t err = NULL;
    if (ctx->diff_fd >= 0)
      close(ctx->diff_fd);
    ctx->diff_fd = -1;
    if (layer_store_remove_temp(ctx->store, ctx->tmp_name, &err) < 0)
      crio_error_warn(&err, "discard partial layer (start-up cleanup retries)");
  }
  unpack_free(ctx);
}

static ssize_t pull(void *opaque, const void **buf, crio_error_t *err) {
  struct img_layer_unpack *ctx = opaque;
  pthread_mutex_lock(&ctx->mu);
  free(ctx->consuming);
  ctx->consuming = NULL;
  while (ctx->slot_len == 0 && !ctx->eof && !ctx->aborted)
    pthread_cond_wait(&ctx->cv, &ctx->mu);
  if (ctx->aborted) {
    pthread_mutex_unlock(&ctx->mu);
    return crio_error(err, ECANCELED, "layer unpack aborted");
  }
  size_t n = ctx->slot_len;
  ctx->consuming = ctx->slot;
  ctx->slot = NULL;
  ctx->slot_len = ctx->slot_cap = 0;
  pthread_cond_broadcast(&ctx->cv);
  pthread_mutex_unlock(&ctx->mu);
  *buf = ctx->consuming;
  return (ssize_t)n;
}

static void *extract_thread(void *opaque) {
  struct img_layer_unpack *ctx = opaque;
  crio_error_t err = NULL;
  struct layer_tar t;
  int r = layer_tar_open(&t, &ctx->policy, layer_store_limits(ctx->store), pull, ctx, &err);
  if (r == 0)
    r = layer_extract(&t, ctx->diff_fd, &err);
  if (r == 0)
    r = layer_tar_drain(&t, ctx->diff_id, &err);
  uint64_t size = t.uncompressed_in;
  layer_tar_close(&t);
  pthread_mutex_lock(&ctx->mu);
  ctx->done = true;
  ctx->thread_err = err;
  ctx->uncompressed_size = size;
  free(ctx->consuming);
  ctx->consuming = NULL;
  pthread_cond_broadcast(&ctx->cv);
  pthread_mutex_unlock(&ctx->mu);
  return NULL;
}

static int copy_string(char *out, size_t size, const char *what, const char *value,
                       crio_error_t *err) {
  if (value == NULL)
    value = "";
  if (strlen(value) >= size)
    return crio_error(err, EINVAL, "%s too long", what);
  memcpy(out, value, strlen(value) + 1);
  return 0;
}

static int check_params(const struct img_layer_unpack_params *p, crio_error_t *err) {
  if (!img_digest_valid(p->compressed_digest))
    return crio_error(err, EINVAL, "layer digest \"%s\" is not a digest",
                      p->compressed_digest ? p->compressed_digest : "");
  if (p->parent_chain_id && p->parent_chain_id[0] && img_chain_id_hex(p->parent_chain_id) == NULL)
    return crio_error(err, EINVAL, "parent chain id \"%s\" is not sha256", p->parent_chain_id);
  if (p->expected_diff_id && img_chain_id_hex(p->expected_diff_id) == NULL)
    return crio_error(err, EINVAL, "diff_id \"%s\" is not sha256", p->expected_diff_id);
  return 0;
}

int img_layer_unpack_begin(struct img_layer_store *store,
                           const struct img_layer_unpack_params *params,
                           struct img_layer_unpack **out, struct img_layer_info *info,
                           crio_error_t *err) {
  *out = NULL;
  if (check_params(params, err) < 0)
    return -1;
  struct img_layer_unpack *ctx = xzalloc(sizeof *ctx);
  ctx->store = store;
  ctx->diff_fd = -1;
  pthread_mutex_init(&ctx->mu, NULL);
  pthread_cond_init(&ctx->cv, NULL);
  if (copy_string(ctx->compressed_digest, IMG_DIGEST_MAX, "digest", params->compressed_digest,
                  err) < 0 ||
      copy_string(ctx->parent_chain_id, IMG_DIGEST_MAX, "parent chain id", params->parent_chain_id,
                  err) < 0 ||
      copy_string(ctx->expected_diff_id, IMG_DIGEST_MAX, "diff_id", params->expected_diff_id, err) <
          0 ||
      copy_string(ctx->media_type, sizeof ctx->media_type, "media type", params->media_type, err) <
          0 ||
      layer_media_type_policy(params->media_type, &ctx->policy, err) < 0) {
    unpack_free(ctx);
    return -1;
  }
  if (ctx->expected_diff_id[0] != '\0') {
    if (img_layer_chain_id(ctx->parent_chain_id, ctx->expected_diff_id, ctx->chain_id, err) < 0) {
      unpack_free(ctx);
      return -1;
    }
    /* Waits for any other unpack of this layer: then it is there. */
    layer_store_lock(store, ctx->chain_id);
    ctx->locked = true;
    int r = img_layer_store_exists(store, ctx->chain_id, err);
    if (r != 0) {
      if (r > 0 && info != NULL) {
        r = img_layer_store_get(store, ctx->chain_id, info, err) < 0 ? -1 : 1;
        info->already_present = true;
      }
      unpack_free(ctx);
      return r;
    }
  }
  if (layer_store_make_temp(store, ctx->tmp_name, &ctx->diff_fd, err) < 0) {
    ctx->tmp_name[0] = '\0';
    unpack_free(ctx);
    return -1;
  }
  if (img_hash_init(&ctx->compressed_hash, ctx->compressed_digest, err) < 0) {
    unpack_discard(ctx);
    return -1;
  }
  int r = crio_thread_start(&ctx->thread, CRIO_THREAD_STACK_SMALL, extract_thread, ctx);
  if (r != 0) {
    unpack_discard(ctx);
    return crio_error_errno(err, r, "start layer extractor thread");
  }
  ctx->thread_started = true;
  *out = ctx;
  return 0;
}

int img_layer_unpack_write(struct img_layer_unpack *ctx, const void *buf, size_t len,
                           crio_error_t *err) {
  if (len == 0)
    return 0;
  img_hash_update(&ctx->compressed_hash, buf, len);
  ctx->compressed_size += len;
  pthread_mutex_lock(&ctx->mu);
  while (ctx->slot_len >= SLOT_MAX && !ctx->done)
    pthread_cond_wait(&ctx->cv, &ctx->mu);
  if (ctx->done && ctx->thread_err) {
    int r = crio_error(err, crio_error_status(&ctx->thread_err), "%s",
                       crio_error_message(&ctx->thread_err));
    pthread_mutex_unlock(&ctx->mu);
    return r;
  }
  /* After the end of the compressed stream: hashed above, not needed. */
  if (!ctx->done) {
    if (ctx->slot_len + len > ctx->slot_cap) {
      size_t cap = ctx->slot_len + len;
      ctx->slot_cap = cap < 64 * 1024 ? 64 * 1024 : cap;
      ctx->slot = xrealloc(ctx->slot, ctx->slot_cap);
    }
    memcpy(ctx->slot + ctx->slot_len, buf, len);
    ctx->slot_len += len;
    pthread_cond_broadcast(&ctx->cv);
  }
  pthread_mutex_unlock(&ctx->mu);
  return 0;
}

int img_layer_unpack_sink(void *opaque, const void *data, size_t len, crio_error_t *err) {
  return img_layer_unpack_write(opaque, data, len, err);
}

static void stop_thread(struct img_layer_unpack *ctx, bool abort) {
  pthread_mutex_lock(&ctx->mu);
  if (abort)
    ctx->aborted = true;
  else
    ctx->eof = true;
  pthread_cond_broadcast(&ctx->cv);
  pthread_mutex_unlock(&ctx->mu);
  pthread_join(ctx->thread, NULL);
  ctx->thread_started = false;
}

static int verify(struct img_layer_unpack *ctx, struct img_layer_info *info, crio_error_t *err) {
  char digest[IMG_DIGEST_MAX];
  if (ctx->thread_err)
    return crio_error(err, crio_error_status(&ctx->thread_err), "unpack layer %s: %s",
                      ctx->compressed_digest, crio_error_message(&ctx->thread_err));
  img_hash_final(&ctx->compressed_hash, digest);
  if (strcmp(digest, ctx->compressed_digest) != 0)
    return crio_error(err, EINVAL, "layer blob digest mismatch: expected %s, got %s",
                      ctx->compressed_digest, digest);
  if (ctx->expected_diff_id[0] != '\0' && strcmp(ctx->diff_id, ctx->expected_diff_id) != 0)
    return crio_error(err, EINVAL, "layer %s: diff_id mismatch: expected %s, got %s",
                      ctx->compressed_digest, ctx->expected_diff_id, ctx->diff_id);
  memset(info, 0, sizeof *info);
  if (img_layer_chain_id(ctx->parent_chain_id, ctx->diff_id, info->chain_id, err) < 0)
    return -1;
  memcpy(info->parent_chain_id, ctx->parent_chain_id, IMG_DIGEST_MAX);
  memcpy(info->diff_id, ctx->diff_id, IMG_DIGEST_MAX);
  memcpy(info->compressed_digest, ctx->compressed_digest, IMG_DIGEST_MAX);
  snprintf(info->media_type, sizeof info->media_type, "%s", ctx->media_type);
  info->compressed_size = ctx->compressed_size;
  info->uncompressed_size = ctx->uncompressed_size;
  info->created_ns = crio_now_ns();
  return 0;
}

int img_layer_unpack_finish(struct img_layer_unpack *ctx, struct img_layer_info *info,
                            crio_error_t *err) {
  struct img_layer_info mine, unused;
  if (info == NULL)
    info = &unused;
  stop_thread(ctx, false);
  if (verify(ctx, &mine, err) < 0) {
    unpack_discard(ctx);
    return -1;
  }
  if (!ctx->locked) {
    memcpy(ctx->chain_id, mine.chain_id, IMG_DIGEST_MAX);
    layer_store_lock(ctx->store, ctx->chain_id);
    ctx->locked = true;
  }
  close(ctx->diff_fd);
  ctx->diff_fd = -1;
  int r = layer_store_publish(ctx->store, ctx->tmp_name, &mine, err);
  if (r < 0) {
    unpack_discard(ctx);
    return -1;
  }
  ctx->tmp_name[0] = '\0'; /* published or removed by publish */
  crio_error_t get_err = NULL;
  /* Someone else's copy won: describe what the store holds. */
  if (r == 1 && img_layer_store_get(ctx->store, mine.chain_id, info, &get_err) == 0)
    info->already_present = true;
  else
    *info = mine, info->already_present = r == 1;
  crio_error_release(&get_err);
  unpack_free(ctx);
  return 0;
}

void img_layer_unpack_abort(struct img_layer_unpack *ctx) {
  if (ctx == NULL)
    return;
  if (ctx->thread_started)
    stop_thread(ctx, true);
  unpack_discard(ctx);
}
