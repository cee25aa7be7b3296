/* images/layers.h: layer unpacking and the layer store — internal to
 * images/ (images/images.h is the folder's interface; it re-exports what
 * other folders need).
 *
 * A layer blob arrives as a byte stream pushed in chunks (the registry
 * client's download callback).  It is decompressed while streaming
 * (gzip, zstd or none: chosen from the media type and checked against the
 * magic bytes), hashed twice while streaming (the compressed digest, which
 * must equal the blob digest of the manifest, and the uncompressed digest:
 * the diff_id of the image config's rootfs.diff_ids) and extracted into a
 * temporary directory of the store.  Nothing holds a whole layer in
 * memory: about a megabyte of compressed bytes waits, at most, between the
 * download and the extractor (write() blocks beyond that).  A blob or
 * diff_id digest mismatch fails with EINVAL at finish, before publication.
 *
 * Store layout (everything under <root>/layers, one filesystem):
 *   <root>/layers/<chain id hex>/diff/       the layer's files, with OCI
 *                                           whiteouts turned into overlayfs
 *                                           ones (0/0 char devices, and
 *                                           trusted.overlay.opaque=y dirs)
 *   <root>/layers/<chain id hex>/layer.json  metadata (img_layer_info)
 *   <root>/layers/tmp-<random>/              unpacks in flight, and layers
 *                                           being removed
 * A directory named by a chain id exists only after its content was
 * synced: it is published by rename(2) from tmp-*, so a crash never leaves
 * a half layer that looks whole.  img_layer_store_cleanup_temp() removes
 * the tmp-* leftovers at start-up.
 *
 * Chain ids follow the OCI image spec:
 *   ChainID(L0)    = DiffID(L0)
 *   ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(Ln))
 * so one directory serves every image whose layer stack shares that
 * prefix.  Reference counting is the image records' business: the store
 * only adds, lists and removes.
 *
 * Security: every file is created with *at() syscalls relative to the
 * layer's root directory fd; parents are resolved with
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), so a symlink in the
 * layer ("link -> /" then "link/etc/passwd") stays confined inside the
 * layer directory, as containerd and docker's chrooted applier do; where
 * openat2 is missing, a component walk that refuses symlinked parents is
 * used instead.  Entries whose cleaned path climbs above the root (".."),
 * hard links to such paths or to directories, and streams beyond the
 * configured size or compression ratio are rejected with EINVAL, and the
 * partial layer is removed.  trusted.overlay.* xattrs in the tar
 * (overlayfs metadata a layer must not forge) and security.selinux are
 * ignored with a warning.
 *
 * Digests are strings "<algorithm>:<lowercase hex>".  Compressed digests
 * may be sha256 or sha512; diff_ids and chain ids are sha256.
 *
 * Threads: one store serves every thread.  Each unpack runs its extractor
 * on a thread of its own; a context (struct img_layer_unpack) is used by
 * one caller thread at a time. */
#ifndef CRIO_IMAGES_LAYERS_H
#define CRIO_IMAGES_LAYERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

/* "sha512:" + 128 hex + NUL */
#define IMG_DIGEST_MAX 136

struct img_layer_store;
struct img_layer_unpack;

struct img_layer_store_options {
  const char *root; /* <root>/layers is created (0700) if missing */
  /* Decompression bomb limits, on the uncompressed tar stream (every
   * byte of it, so also what sparse entries and padding claim).
   * 0 selects the default, 64 GiB; a single entry declaring more is
   * refused before it is read. */
  uint64_t max_uncompressed_bytes;
  /* Uncompressed/compressed bytes so far, checked once more than
   * IMG_LAYER_RATIO_FLOOR bytes were uncompressed.  0: off, the default,
   * because legitimate layers hit any fixed ratio: zstd packs a
   * zero-filled file (a preallocated disk image, a swap file) better than
   * 10000:1, gzip about 1000:1.  The size limit is the default guard. */
  uint64_t max_ratio;
};
#define IMG_LAYER_DEFAULT_MAX_BYTES (64ULL << 30) /* 64 GiB */
#define IMG_LAYER_RATIO_FLOOR (64ULL << 20)       /* 64 MiB */

/* Opens (creating if needed) the store.  Does not remove tmp-* leftovers:
 * call img_layer_store_cleanup_temp() once at start-up, before unpacks. */
int img_layer_store_open(const struct img_layer_store_options *opts, struct img_layer_store **out,
                         crio_error_t *err);
/* No unpack may be in flight. */
void img_layer_store_close(struct img_layer_store *store);

/* ---- identifiers ---------------------------------------------------------- */
/* True for "sha256:<64 hex>" / "sha512:<128 hex>" (lowercase). */
bool img_digest_valid(const char *digest);
/* ChainID of a layer on top of parent_chain_id (NULL or "" for the bottom
 * layer, whose chain id is its diff_id). */
int img_layer_chain_id(const char *parent_chain_id, const char *diff_id, char out[IMG_DIGEST_MAX],
                       crio_error_t *err);

/* ---- what a published layer is ------------------------------------------- */
struct img_layer_info {
  char chain_id[IMG_DIGEST_MAX];
  char parent_chain_id[IMG_DIGEST_MAX];   /* "" for a bottom layer */
  char diff_id[IMG_DIGEST_MAX];           /* sha256 of the uncompressed tar */
  char compressed_digest[IMG_DIGEST_MAX]; /* the blob digest */
  char media_type[128];
  uint64_t compressed_size;   /* bytes of the blob */
  uint64_t uncompressed_size; /* bytes of the tar stream */
  int64_t created_ns;         /* when it was published, CLOCK_REALTIME */
  /* Set by img_layer_unpack_begin/finish when another unpack had already
   * published this chain id: nothing of ours was kept. */
  bool already_present;
};

/* ---- streaming unpack ------------------------------------------------------ */
struct img_layer_unpack_params {
  /* Required: the blob digest from the manifest; the stream is rejected
   * unless it hashes to it. */
  const char *compressed_digest;
  /* The descriptor's media type: OCI image layer types (tar, tar+gzip,
   * tar+zstd, and their nondistributable variants) and docker's
   * rootfs.diff.tar.gzip / foreign.diff.tar.gzip.  NULL: detect from the
   * magic bytes.  For docker's types, which registries are known to serve
   * uncompressed, the magic bytes decide; an OCI type that names a
   * compression must match the stream.  Encrypted types: ENOSYS. */
  const char *media_type;
  /* NULL or "" for the bottom layer. */
  const char *parent_chain_id;
  /* Optional: the config's diff_id for this layer.  When given, the layer
   * is refused before publication unless its uncompressed digest matches,
   * and begin can tell the layer is already present before any download:
   * it serialises with any other unpack of the same chain id in this
   * process (it waits for that one to finish).  When NULL, the chain id is
   * only known at finish; the caller must then compare info->diff_id with
   * the config itself (and img_layer_store_remove() on mismatch). */
  const char *expected_diff_id;
};

/* Starts an unpack.  Returns 0 with *out set, or 1 with *out NULL when
 * expected_diff_id was given and the layer is already in the store (info,
 * if non-NULL, is then filled from the store), or -1.  Never call begin
 * for a chain id whose own unpack this thread has not finished. */
int img_layer_unpack_begin(struct img_layer_store *store,
                           const struct img_layer_unpack_params *params,
                           struct img_layer_unpack **out, struct img_layer_info *info,
                           crio_error_t *err);
/* Pushes the next chunk of the blob (any size, including 0).  Returns -1
 * as soon as the layer is known bad (a hostile entry, a corrupt stream, a
 * bomb): the caller stops the download and calls _abort(). */
int img_layer_unpack_write(struct img_layer_unpack *ctx, const void *buf, size_t len,
                           crio_error_t *err);
/* The same with the shape of images/registry.h's img_blob_sink, so a
 * download can feed an unpack directly: opaque is the unpack context. */
int img_layer_unpack_sink(void *opaque, const void *data, size_t len, crio_error_t *err);
/* End of the blob: waits for extraction, verifies digests, publishes the
 * layer (or finds it published by someone else: info->already_present,
 * and info describes the copy in the store).  info may be NULL.  Frees
 * ctx whatever the outcome; on failure nothing is left on disk. */
int img_layer_unpack_finish(struct img_layer_unpack *ctx, struct img_layer_info *info,
                            crio_error_t *err);
/* Stops and frees the unpack, removing its temporary directory. */
void img_layer_unpack_abort(struct img_layer_unpack *ctx);

/* ---- the store ------------------------------------------------------------- */
/* 1 if published, 0 if not, -1 on error (e.g. a malformed chain id). */
int img_layer_store_exists(struct img_layer_store *store, const char *chain_id, crio_error_t *err);
/* Reads a published layer's metadata; ENOENT if absent. */
int img_layer_store_get(struct img_layer_store *store, const char *chain_id,
                        struct img_layer_info *info, crio_error_t *err);
/* Unpublishes atomically (rename to tmp-*), then deletes.  ENOENT if
 * absent.  Callers make sure no image or container uses it. */
int img_layer_store_remove(struct img_layer_store *store, const char *chain_id, crio_error_t *err);
/* Published chain ids ("sha256:..."), NULL-terminated, sorted; free with
 * cleanup_strv. */
int img_layer_store_list(struct img_layer_store *store, char ***out, crio_error_t *err);
/* Removes every tmp-* directory: unpacks and removals a crash interrupted.
 * Call at start-up, before any unpack begins. */
int img_layer_store_cleanup_temp(struct img_layer_store *store, crio_error_t *err);
/* Disk blocks (in bytes) and inodes under <root>/layers, each hard-linked
 * inode counted once: what ImageFsInfo reports. */
int img_layer_store_usage(struct img_layer_store *store, uint64_t *bytes, uint64_t *inodes,
                          crio_error_t *err);
/* Absolute path of a published layer's diff/ directory (malloc'd). */
int img_layer_store_diff_dir(struct img_layer_store *store, const char *chain_id, char **out,
                             crio_error_t *err);

/* ---- overlay lower dirs ---------------------------------------------------- */
/* Given chain ids bottom -> top, the diff/ directories in the same order,
 * each checked to be published; NULL-terminated, free with cleanup_strv. */
int img_layer_store_diff_dirs(struct img_layer_store *store, const char *const *chain_ids, size_t n,
                              char ***out, crio_error_t *err);
/* The same as an overlayfs "lowerdir=" value: top first, ':'-separated.
 * EINVAL if a path holds a character overlayfs options cannot carry
 * (':' ',' '\\'). */
int img_layer_store_lowerdir_option(struct img_layer_store *store, const char *const *chain_ids,
                                    size_t n, char **out, crio_error_t *err);

#endif
