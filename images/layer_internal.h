/* Private to the layer files of images/ (layer_*.c, decompress.c,
 * whiteout.c): digests, safe filesystem walking, the decompressing tar
 * reader, the extractor and the store's publication steps. */
#ifndef CRIO_IMAGES_LAYER_INTERNAL_H
#define CRIO_IMAGES_LAYER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "common/common.h"
#include "images/layers.h"

struct archive;

/* ---- digests (layer_digest.c) ---------------------------------------------- */
struct img_hash {
  void *md_ctx;          /* EVP_MD_CTX */
  const char *algorithm; /* "sha256" or "sha512" */
};
/* algorithm: the part before ':' of a digest, or a digest itself. */
int img_hash_init(struct img_hash *h, const char *algorithm, crio_error_t *err);
void img_hash_update(struct img_hash *h, const void *buf, size_t len);
/* Writes "<algorithm>:<hex>" and releases the context. */
void img_hash_final(struct img_hash *h, char out[IMG_DIGEST_MAX]);
void img_hash_release(struct img_hash *h);
/* The hex part of a "sha256:<hex>" chain id, checked; NULL if malformed. */
const char *img_chain_id_hex(const char *chain_id);

/* ---- filesystem helpers (layer_fs.c) -------------------------------------- */
/* (openat2 is common/syscalls.h's crio_openat2.) */
/* Lexically cleans a tar member name into a path relative to the layer
 * root: leading '/' and "." components dropped, "x/.." folded.  "" is the
 * root itself.  EINVAL if ".." would climb above the root. */
int layer_clean_path(const char *name, char **out, crio_error_t *err);
/* Opens directory rel (cleaned, "" = root) inside the tree rooted at
 * rootfd, O_RDONLY|O_DIRECTORY.  Symlinks met on the way resolve as if
 * rootfd were "/" (RESOLVE_IN_ROOT); a final symlink is refused when
 * nofollow_last.  create: missing components are made (0755, owned by the
 * caller).  allow_openat2=false forces the fallback walk, which refuses
 * every symlink instead of confining it (tests use it; the extractor
 * falls back on its own when openat2 is ENOSYS). */
int layer_open_dir_in_root(int rootfd, const char *rel, bool create, bool nofollow_last,
                           bool allow_openat2, crio_error_t *err);
/* Removes name under dirfd whatever it is (a tree, recursively, without
 * following symlinks).  Absent is fine.  Deep trees use a bounded number
 * of fds. */
int layer_rm_rf_at(int dirfd, const char *name, crio_error_t *err);
/* Sum of st_blocks*512 and count of inodes under dirfd/name (name
 * included), each multiply-linked inode once. */
int layer_usage_at(int dirfd, const char *name, uint64_t *bytes, uint64_t *inodes,
                   crio_error_t *err);
/* setxattr on the inode an O_PATH fd names (symlinks, devices and fifos
 * cannot be opened for fsetxattr without side effects); via
 * /proc/self/fd, the same trick crun and runc use. */
int layer_setxattr_opath(int opath_fd, const char *name, const void *value, size_t size);

/* ---- decompressing tar reader (decompress.c) ------------------------------ */
enum layer_compression {
  LAYER_COMPRESSION_NONE,
  LAYER_COMPRESSION_GZIP,
  LAYER_COMPRESSION_ZSTD,
};
const char *layer_compression_name(enum layer_compression c);
/* What the media type allows: a compression the stream must have
 * (strict), or any of none/gzip/zstd with the magic bytes deciding. */
struct layer_media_policy {
  enum layer_compression declared;
  bool strict;
};
int layer_media_type_policy(const char *media_type, struct layer_media_policy *out,
                            crio_error_t *err);
enum layer_compression layer_compression_sniff(const unsigned char *magic, size_t n);

/* Pulls the next chunk of the compressed stream: returns its length with
 * *buf set (valid until the next pull), 0 at end of stream, -1 (with err
 * set) when the stream was abandoned. */
typedef ssize_t (*layer_pull_fn)(void *opaque, const void **buf, crio_error_t *err);

struct layer_limits {
  uint64_t max_uncompressed_bytes;
  uint64_t max_ratio;
};

/* Two libarchive readers stacked: `raw` decompresses (format "raw" with
 * exactly the detected filter), `tar` parses the decompressed stream,
 * which passes through the diff_id hash and the bomb limits on its way. */
struct layer_tar {
  struct archive *raw;
  struct archive *tar;
  layer_pull_fn pull;
  void *pull_opaque;
  struct layer_limits limits;
  enum layer_compression compression;
  unsigned char peek[4]; /* magic bytes, replayed to `raw` */
  size_t peek_len, peek_pos;
  const void *rest; /* the rest of the chunk the magic came from */
  size_t rest_len;
  uint64_t compressed_in;   /* bytes handed to the decompressor */
  uint64_t uncompressed_in; /* bytes of tar stream seen */
  struct img_hash diff_hash;
  unsigned char *buf; /* between raw and tar */
  bool libs_held;     /* libarchive (pull_libs.h), until layer_tar_close */
  crio_error_t err;   /* set by callbacks: says more than libarchive */
};
/* On failure, t must still be closed with layer_tar_close(). */
int layer_tar_open(struct layer_tar *t, const struct layer_media_policy *policy,
                   const struct layer_limits *limits, layer_pull_fn pull, void *opaque,
                   crio_error_t *err);
/* Turns a libarchive failure on t->tar into an error, preferring the
 * reason a callback recorded (bomb limit, abandoned stream). */
int layer_tar_fail(struct layer_tar *t, const char *what, crio_error_t *err);
/* After the tar end marker: hashes the rest of the uncompressed stream and
 * writes the diff_id. */
int layer_tar_drain(struct layer_tar *t, char diff_id[IMG_DIGEST_MAX], crio_error_t *err);
void layer_tar_close(struct layer_tar *t);

/* ---- extraction (layer_extract.c, whiteout.c) ------------------------------- */
/* Creates every member of t->tar under rootfd (the layer's diff/). */
int layer_extract(struct layer_tar *t, int rootfd, crio_error_t *err);

enum layer_whiteout_kind {
  LAYER_NOT_WHITEOUT,
  LAYER_WHITEOUT,        /* ".wh.NAME": NAME is deleted */
  LAYER_WHITEOUT_OPAQUE, /* ".wh..wh..opq": the directory hides lowers */
  LAYER_WHITEOUT_META,   /* other ".wh..wh.*": aufs bookkeeping, skipped */
};
/* Classifies a base name; for LAYER_WHITEOUT *target is the hidden name. */
enum layer_whiteout_kind layer_whiteout_classify(const char *base, const char **target);
/* overlayfs whiteout: char device 0/0 named target in parentfd, replacing
 * whatever this layer had there. */
int layer_whiteout_create(int parentfd, const char *target, crio_error_t *err);
/* trusted.overlay.opaque=y on the directory dirfd. */
int layer_whiteout_mark_opaque(int dirfd, crio_error_t *err);
/* Removes what parentfd/name is, if anything, unless it is a directory and
 * keep_dir: the tar's later entry replaces an earlier one. */
int layer_replace_existing(int parentfd, const char *name, bool keep_dir, crio_error_t *err);

/* ---- metadata (layer_meta.c) -------------------------------------------- */
/* layer.json in the layer directory dirfd. */
int layer_meta_write(int dirfd, const struct img_layer_info *info, crio_error_t *err);
int layer_meta_read(int dirfd, struct img_layer_info *info, crio_error_t *err);

/* ---- store internals (layer_store.c) ------------------------------------- */
const struct layer_limits *layer_store_limits(struct img_layer_store *store);
/* Waits until no other unpack or removal holds chain_id, then holds it. */
void layer_store_lock(struct img_layer_store *store, const char *chain_id);
void layer_store_unlock(struct img_layer_store *store, const char *chain_id);
/* Makes <root>/layers/tmp-<random>/diff; returns the tmp dir's name and
 * an fd of diff/. */
int layer_store_make_temp(struct img_layer_store *store, char name[32], int *diff_fd,
                          crio_error_t *err);
int layer_store_remove_temp(struct img_layer_store *store, const char *name, crio_error_t *err);
/* Writes the metadata, syncs, renames tmp to the chain id and syncs the
 * parent.  Returns 1 (and removes tmp) if the chain id was published by
 * someone else meanwhile. Caller holds the chain id's lock. */
int layer_store_publish(struct img_layer_store *store, const char *tmp_name,
                        struct img_layer_info *info, crio_error_t *err);

#endif
