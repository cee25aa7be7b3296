/* Shared by the layer tests: tar streams built in memory with libarchive's
 * writer, temporary store roots under /tmp removed at exit (even when a
 * CHECK fails), and a helper that pushes a stream through the unpack API
 * in chunks the way a download would. */
#ifndef CRIO_TEST_LAYER_FIXTURE_H
#define CRIO_TEST_LAYER_FIXTURE_H

#include <archive.h>
#include <archive_entry.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "images/layers.h"

struct fx_tar;
/* compression: "none", "gzip" or "zstd". */
struct fx_tar *fx_tar_new(const char *compression);
/* An entry with defaults (0/0, mtime 1700000000) the caller may adjust
 * before fx_tar_add. */
struct archive_entry *fx_entry(const char *path, mode_t type_and_mode);
/* Writes e (and data) and frees e. */
void fx_tar_add(struct fx_tar *t, struct archive_entry *e, const void *data, size_t len);
void fx_tar_dir(struct fx_tar *t, const char *path, mode_t mode);
void fx_tar_file(struct fx_tar *t, const char *path, const char *content);
void fx_tar_symlink(struct fx_tar *t, const char *path, const char *target);
void fx_tar_hardlink(struct fx_tar *t, const char *path, const char *target);
/* A regular file of size zero bytes, written in 1 MiB pieces. */
void fx_tar_zeros(struct fx_tar *t, const char *path, uint64_t size);
/* Ends the archive; returns the compressed stream (malloc'd). */
unsigned char *fx_tar_finish(struct fx_tar *t, size_t *len);

/* "sha256:<hex>" of a buffer, into out. */
void fx_sha256(const void *buf, size_t len, char out[IMG_DIGEST_MAX]);
/* diff_id of a stream: sha256 of its decompressed bytes (via libarchive). */
void fx_diff_id(const unsigned char *buf, size_t len, char out[IMG_DIGEST_MAX]);

/* A fresh directory /tmp/crio-layer-test-XXXXXX, removed at exit by the
 * process that made it. */
const char *fx_tmpdir(void);
struct img_layer_store *fx_store(const char *root, uint64_t max_bytes, uint64_t max_ratio);

struct fx_unpack_opts {
  const char *media_type;
  const char *digest; /* NULL: the stream's own */
  const char *parent_chain_id;
  const char *expected_diff_id;
  size_t chunk; /* 0: 7919 bytes, an odd size on purpose */
};
/* begin/write.../finish; returns what begin (1) or finish returned. */
int fx_unpack(struct img_layer_store *store, const unsigned char *buf, size_t len,
              const struct fx_unpack_opts *opts, struct img_layer_info *info, crio_error_t *err);

/* Entries of <root>/layers named tmp-*, and the number of published
 * layers. */
int fx_count_temps(const char *root);
int fx_count_layers(struct img_layer_store *store);
/* A failed unpack leaves nothing: no tmp-*, no layer. */
void fx_check_nothing_left(const char *root, struct img_layer_store *store);
/* <root>/layers/<hex>/diff/<rel> (malloc'd). */
char *fx_layer_path(const char *root, const char *chain_id, const char *rel);
/* Reads a small file; NULL if absent. */
char *fx_read(const char *path);
bool fx_contains(const char *haystack, const char *needle);

#endif
