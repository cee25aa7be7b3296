/* The decompressing tar reader: compressed chunks pulled from the
 * download -> libarchive "raw" reader with exactly the filter the magic
 * bytes call for -> diff_id hash and bomb limits -> libarchive tar reader.
 * Two stacked readers rather than one tar reader with a filter because the
 * diff_id is the digest of the uncompressed stream, which a single reader
 * never shows; neither keeps more than a buffer of it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "images/layer_internal.h"
#include "images/pull_libs.h"

#define TAR_BUF_SIZE (128 * 1024)

const char *layer_compression_name(enum layer_compression c) {
  switch (c) {
  case LAYER_COMPRESSION_GZIP:
    return "gzip";
  case LAYER_COMPRESSION_ZSTD:
    return "zstd";
  case LAYER_COMPRESSION_NONE:
    break;
  }
  return "uncompressed";
}

static const struct {
  const char *media_type;
  enum layer_compression compression;
  /* Docker's types say gzip, but registries hold docker layers pushed
   * uncompressed under them; like containerd we let the bytes decide. */
  bool strict;
} media_types[] = {
    {"application/vnd.oci.image.layer.v1.tar", LAYER_COMPRESSION_NONE, true},
    {"application/vnd.oci.image.layer.v1.tar+gzip", LAYER_COMPRESSION_GZIP, true},
    {"application/vnd.oci.image.layer.v1.tar+zstd", LAYER_COMPRESSION_ZSTD, true},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar", LAYER_COMPRESSION_NONE, true},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", LAYER_COMPRESSION_GZIP, true},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", LAYER_COMPRESSION_ZSTD, true},
    {"application/vnd.docker.image.rootfs.diff.tar.gzip", LAYER_COMPRESSION_GZIP, false},
    {"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", LAYER_COMPRESSION_GZIP, false},
};

int layer_media_type_policy(const char *media_type, struct layer_media_policy *out,
                            crio_error_t *err) {
  *out = (struct layer_media_policy){LAYER_COMPRESSION_NONE, false};
  if (media_type == NULL || media_type[0] == '\0')
    return 0;
  for (size_t i = 0; i < sizeof media_types / sizeof media_types[0]; i++) {
    if (strcmp(media_type, media_types[i].media_type) == 0) {
      out->declared = media_types[i].compression;
      out->strict = media_types[i].strict;
      return 0;
    }
  }
  if (strstr(media_type, "+encrypted") != NULL)
    return crio_error(err, ENOSYS, "encrypted layers (%s) are not supported", media_type);
  return crio_error(err, EINVAL, "unsupported layer media type \"%s\"", media_type);
}

enum layer_compression layer_compression_sniff(const unsigned char *magic, size_t n) {
  if (n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b)
    return LAYER_COMPRESSION_GZIP;
  if (n >= 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd)
    return LAYER_COMPRESSION_ZSTD;
  return LAYER_COMPRESSION_NONE;
}

/* ---- compressed side -------------------------------------------------------- */
/* raw's read callback: the magic bytes peek_magic() copied, then the rest
 * of the chunk they came from (still valid: no pull since), then pulls. */
static la_ssize_t raw_read(struct archive *a, void *opaque, const void **buf) {
  struct layer_tar *t = opaque;
  la_ssize_t n;
  if (t->peek_pos < t->peek_len) {
    *buf = t->peek + t->peek_pos;
    n = (la_ssize_t)(t->peek_len - t->peek_pos);
    t->peek_pos = t->peek_len;
  } else if (t->rest_len > 0) {
    *buf = t->rest;
    n = (la_ssize_t)t->rest_len;
    t->rest_len = 0;
  } else {
    n = t->pull(t->pull_opaque, buf, &t->err);
    if (n < 0) {
      img_archive_set_error(a, ECANCELED, "%s", crio_error_message(&t->err));
      return ARCHIVE_FATAL;
    }
  }
  t->compressed_in += (uint64_t)n;
  return n;
}

static int peek_magic(struct layer_tar *t, crio_error_t *err) {
  while (t->peek_len < sizeof t->peek) {
    const void *buf = NULL;
    ssize_t n = t->pull(t->pull_opaque, &buf, err);
    if (n < 0)
      return -1;
    if (n == 0)
      break;
    size_t want = sizeof t->peek - t->peek_len;
    size_t take = want < (size_t)n ? want : (size_t)n;
    memcpy(t->peek + t->peek_len, buf, take);
    t->peek_len += take;
    t->rest = (const char *)buf + take;
    t->rest_len = (size_t)n - take;
  }
  return 0;
}

static int enable_filter(struct archive *a, enum layer_compression c, crio_error_t *err) {
  int r = ARCHIVE_OK;
  if (c == LAYER_COMPRESSION_GZIP)
    r = img_archive_read_support_filter_gzip(a);
  else if (c == LAYER_COMPRESSION_ZSTD)
    r = img_archive_read_support_filter_zstd(a);
  /* ARCHIVE_WARN means libarchive would run an external program: we
   * decompress in process or not at all. */
  if (r != ARCHIVE_OK)
    return crio_error(err, ENOSYS, "libarchive cannot decompress %s in process",
                      layer_compression_name(c));
  return 0;
}

static const char *archive_msg(struct archive *a) {
  const char *m = a ? img_archive_error_string(a) : NULL;
  return m ? m : "read error";
}

/* ---- uncompressed side ----------------------------------------------------- */
static int account(struct layer_tar *t, const void *buf, size_t n) {
  t->uncompressed_in += n;
  img_hash_update(&t->diff_hash, buf, n);
  if (t->uncompressed_in > t->limits.max_uncompressed_bytes)
    return crio_error(&t->err, EINVAL,
                      "layer expands beyond the limit of %llu bytes "
                      "(decompression bomb?)",
                      (unsigned long long)t->limits.max_uncompressed_bytes);
  uint64_t in = t->compressed_in ? t->compressed_in : 1;
  if (t->limits.max_ratio != UINT64_MAX && t->uncompressed_in > IMG_LAYER_RATIO_FLOOR &&
      t->uncompressed_in / in > t->limits.max_ratio)
    return crio_error(&t->err, EINVAL,
                      "layer expands %llu bytes from %llu compressed, beyond "
                      "the ratio limit of %llu:1 (decompression bomb?)",
                      (unsigned long long)t->uncompressed_in, (unsigned long long)t->compressed_in,
                      (unsigned long long)t->limits.max_ratio);
  return 0;
}

static la_ssize_t tar_read(struct archive *a, void *opaque, const void **buf) {
  struct layer_tar *t = opaque;
  la_ssize_t n = img_archive_read_data(t->raw, t->buf, TAR_BUF_SIZE);
  if (n < 0) {
    crio_error(&t->err, EINVAL, "%s stream: %s", layer_compression_name(t->compression),
               archive_msg(t->raw));
    img_archive_set_error(a, EINVAL, "%s", crio_error_message(&t->err));
    return ARCHIVE_FATAL;
  }
  if (account(t, t->buf, (size_t)n) < 0) {
    img_archive_set_error(a, EINVAL, "%s", crio_error_message(&t->err));
    return ARCHIVE_FATAL;
  }
  *buf = t->buf;
  return n;
}

int layer_tar_fail(struct layer_tar *t, const char *what, crio_error_t *err) {
  if (t->err)
    return crio_error(err, crio_error_status(&t->err), "%s: %s", what, crio_error_message(&t->err));
  return crio_error(err, EINVAL, "%s: %s", what, archive_msg(t->tar));
}

int layer_tar_open(struct layer_tar *t, const struct layer_media_policy *policy,
                   const struct layer_limits *limits, layer_pull_fn pull, void *opaque,
                   crio_error_t *err) {
  memset(t, 0, sizeof *t);
  t->pull = pull;
  t->pull_opaque = opaque;
  t->limits = *limits;
  if (img_hash_init(&t->diff_hash, "sha256", err) < 0)
    return -1;
  t->buf = xmalloc(TAR_BUF_SIZE);
  if (img_pull_libs_hold(err) < 0)
    return crio_error_prefix(err, "unpack layer");
  t->libs_held = true;
  if (peek_magic(t, err) < 0)
    return crio_error_prefix(err, "read layer stream");
  t->compression = layer_compression_sniff(t->peek, t->peek_len);
  if (policy->strict && t->compression != policy->declared)
    return crio_error(err, EINVAL, "layer media type says %s but the stream is %s",
                      layer_compression_name(policy->declared),
                      layer_compression_name(t->compression));
  t->raw = img_archive_read_new();
  t->tar = img_archive_read_new();
  if (t->raw == NULL || t->tar == NULL)
    return crio_error(err, ENOMEM, "libarchive: cannot allocate a reader");
  if (enable_filter(t->raw, t->compression, err) < 0)
    return -1;
  if (img_archive_read_support_format_raw(t->raw) != ARCHIVE_OK ||
      img_archive_read_support_format_tar(t->tar) != ARCHIVE_OK)
    return crio_error(err, ENOSYS, "libarchive: raw or tar format missing");
  struct archive_entry *entry = NULL;
  if (img_archive_read_open(t->raw, t, NULL, raw_read, NULL) != ARCHIVE_OK ||
      img_archive_read_next_header(t->raw, &entry) != ARCHIVE_OK)
    return crio_error(err, t->err ? crio_error_status(&t->err) : EINVAL, "open %s layer stream: %s",
                      layer_compression_name(t->compression),
                      t->err ? crio_error_message(&t->err) : archive_msg(t->raw));
  if (img_archive_read_open(t->tar, t, NULL, tar_read, NULL) != ARCHIVE_OK)
    return layer_tar_fail(t, "open layer tar", err);
  return 0;
}

int layer_tar_drain(struct layer_tar *t, char diff_id[IMG_DIGEST_MAX], crio_error_t *err) {
  for (;;) {
    la_ssize_t n = img_archive_read_data(t->raw, t->buf, TAR_BUF_SIZE);
    if (n < 0)
      return crio_error(err, EINVAL, "%s stream after the tar end: %s",
                        layer_compression_name(t->compression),
                        t->err ? crio_error_message(&t->err) : archive_msg(t->raw));
    if (n == 0)
      break;
    if (account(t, t->buf, (size_t)n) < 0)
      return layer_tar_fail(t, "layer stream", err);
  }
  img_hash_final(&t->diff_hash, diff_id);
  return 0;
}

void layer_tar_close(struct layer_tar *t) {
  if (t->tar)
    img_archive_read_free(t->tar);
  if (t->raw)
    img_archive_read_free(t->raw);
  t->tar = t->raw = NULL;
  if (t->libs_held)
    img_pull_libs_release();
  t->libs_held = false;
  img_hash_release(&t->diff_hash);
  free(t->buf);
  t->buf = NULL;
  crio_error_release(&t->err);
}
