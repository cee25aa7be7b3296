#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/common.h"
#include "tests/unit/test_layer_fixture.h"
#include "tests/unit/test_host_cleanup.h"
#include "tests/unit/testing.h"

struct fx_tar {
  struct archive *a;
  unsigned char *buf;
  size_t len, cap;
};

static la_ssize_t tar_write_cb(struct archive *a, void *opaque, const void *data, size_t n) {
  struct fx_tar *t = opaque;
  if (t->len + n > t->cap) {
    t->cap = (t->len + n) * 2;
    t->buf = xrealloc(t->buf, t->cap);
  }
  memcpy(t->buf + t->len, data, n);
  t->len += n;
  return (la_ssize_t)n;
}

struct fx_tar *fx_tar_new(const char *compression) {
  struct fx_tar *t = xzalloc(sizeof *t);
  /* The writer needs a UTF-8 locale to store non-ASCII names; the reader
   * under test runs in the C locale, as the daemon may (fx_tar_finish
   * switches back). */
  CHECK(setlocale(LC_CTYPE, "C.UTF-8") != NULL);
  t->a = archive_write_new();
  CHECK(archive_write_set_format_pax(t->a) == ARCHIVE_OK);
  if (strcmp(compression, "gzip") == 0)
    CHECK(archive_write_add_filter_gzip(t->a) == ARCHIVE_OK);
  else if (strcmp(compression, "zstd") == 0)
    CHECK(archive_write_add_filter_zstd(t->a) == ARCHIVE_OK);
  else
    CHECK(strcmp(compression, "none") == 0);
  /* No zero padding after the compressed stream (bsdtar does the same):
   * zstd would read it as a broken frame. */
  CHECK(archive_write_set_bytes_in_last_block(t->a, 1) == ARCHIVE_OK);
  CHECK(archive_write_open(t->a, t, NULL, tar_write_cb, NULL) == ARCHIVE_OK);
  return t;
}

struct archive_entry *fx_entry(const char *path, mode_t type_and_mode) {
  struct archive_entry *e = archive_entry_new();
  archive_entry_copy_pathname(e, path);
  archive_entry_set_mode(e, type_and_mode);
  archive_entry_set_uid(e, 0);
  archive_entry_set_gid(e, 0);
  archive_entry_set_mtime(e, 1700000000, 0);
  return e;
}

void fx_tar_add(struct fx_tar *t, struct archive_entry *e, const void *data, size_t len) {
  if (archive_entry_filetype(e) == AE_IFREG && archive_entry_hardlink(e) == NULL)
    archive_entry_set_size(e, (la_int64_t)len);
  if (archive_write_header(t->a, e) != ARCHIVE_OK) {
    fprintf(stderr, "archive_write_header %s: %s\n", archive_entry_pathname(e),
            archive_error_string(t->a));
    exit(1);
  }
  if (len > 0)
    CHECK(archive_write_data(t->a, data, len) == (la_ssize_t)len);
  archive_entry_free(e);
}

void fx_tar_dir(struct fx_tar *t, const char *path, mode_t mode) {
  fx_tar_add(t, fx_entry(path, AE_IFDIR | mode), NULL, 0);
}

void fx_tar_file(struct fx_tar *t, const char *path, const char *content) {
  fx_tar_add(t, fx_entry(path, AE_IFREG | 0644), content, strlen(content));
}

void fx_tar_symlink(struct fx_tar *t, const char *path, const char *target) {
  struct archive_entry *e = fx_entry(path, AE_IFLNK | 0777);
  archive_entry_copy_symlink(e, target);
  fx_tar_add(t, e, NULL, 0);
}

void fx_tar_hardlink(struct fx_tar *t, const char *path, const char *target) {
  struct archive_entry *e = fx_entry(path, AE_IFREG | 0644);
  archive_entry_copy_hardlink(e, target);
  archive_entry_set_size(e, 0);
  fx_tar_add(t, e, NULL, 0);
}

void fx_tar_zeros(struct fx_tar *t, const char *path, uint64_t size) {
  static const char zeros[1 << 20];
  struct archive_entry *e = fx_entry(path, AE_IFREG | 0644);
  archive_entry_set_size(e, (la_int64_t)size);
  CHECK(archive_write_header(t->a, e) == ARCHIVE_OK);
  for (uint64_t done = 0; done < size;) {
    size_t n = size - done < sizeof zeros ? (size_t)(size - done) : sizeof zeros;
    CHECK(archive_write_data(t->a, zeros, n) == (la_ssize_t)n);
    done += n;
  }
  archive_entry_free(e);
}

unsigned char *fx_tar_finish(struct fx_tar *t, size_t *len) {
  CHECK(archive_write_close(t->a) == ARCHIVE_OK);
  archive_write_free(t->a);
  setlocale(LC_CTYPE, "C");
  unsigned char *buf = t->buf;
  *len = t->len;
  free(t);
  return buf;
}

void fx_sha256(const void *buf, size_t len, char out[IMG_DIGEST_MAX]) {
  unsigned char md[32];
  unsigned int n = 0;
  CHECK(EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL) == 1);
  strcpy(out, "sha256:");
  for (unsigned i = 0; i < n; i++)
    sprintf(out + 7 + 2 * i, "%02x", md[i]);
}

void fx_diff_id(const unsigned char *buf, size_t len, char out[IMG_DIGEST_MAX]) {
  struct archive *a = archive_read_new();
  struct archive_entry *e;
  archive_read_support_filter_all(a);
  archive_read_support_format_raw(a);
  if (archive_read_open_memory(a, buf, len) != ARCHIVE_OK) {
    fprintf(stderr, "fx_diff_id: %s\n", archive_error_string(a));
    exit(1);
  }
  CHECK(archive_read_next_header(a, &e) == ARCHIVE_OK);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
  char chunk[65536];
  la_ssize_t n;
  while ((n = archive_read_data(a, chunk, sizeof chunk)) > 0)
    EVP_DigestUpdate(ctx, chunk, (size_t)n);
  CHECK(n == 0);
  unsigned char md[32];
  unsigned int mdlen = 0;
  EVP_DigestFinal_ex(ctx, md, &mdlen);
  EVP_MD_CTX_free(ctx);
  archive_read_free(a);
  strcpy(out, "sha256:");
  for (unsigned i = 0; i < mdlen; i++)
    sprintf(out + 7 + 2 * i, "%02x", md[i]);
}

/* ---- temporary directories -------------------------------------------------- */
static char *tmpdirs[64];
static size_t n_tmpdirs;
static pid_t tmpdir_owner;

static void remove_tmpdirs(void) {
  if (getpid() != tmpdir_owner)
    return;
  for (size_t i = 0; i < n_tmpdirs; i++) {
    test_rm_tree(tmpdirs[i], FTW_MOUNT);
    free(tmpdirs[i]);
  }
  n_tmpdirs = 0;
}

/* A crash or ctest's SIGTERM should not leave directories behind either;
 * nftw is not async-signal-safe, but the process is dying anyway. */
static void remove_tmpdirs_on_signal(int sig) {
  remove_tmpdirs();
  raise(sig);
}

const char *fx_tmpdir(void) {
  if (tmpdir_owner == 0) {
    tmpdir_owner = getpid();
    atexit(remove_tmpdirs);
    struct sigaction sa = {.sa_handler = remove_tmpdirs_on_signal, .sa_flags = SA_RESETHAND};
    int sigs[] = {SIGABRT, SIGSEGV, SIGBUS, SIGTERM, SIGINT};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
      sigaction(sigs[i], &sa, NULL);
  }
  CHECK(n_tmpdirs < sizeof tmpdirs / sizeof tmpdirs[0]);
  char *dir = xstrdup("/tmp/crio-layer-test-XXXXXX");
  CHECK(mkdtemp(dir) != NULL);
  tmpdirs[n_tmpdirs++] = dir;
  return dir;
}

struct img_layer_store *fx_store(const char *root, uint64_t max_bytes, uint64_t max_ratio) {
  struct img_layer_store *s = NULL;
  cleanup_error crio_error_t err = NULL;
  struct img_layer_store_options o = {
      .root = root, .max_uncompressed_bytes = max_bytes, .max_ratio = max_ratio};
  if (img_layer_store_open(&o, &s, &err) < 0) {
    fprintf(stderr, "img_layer_store_open: %s\n", crio_error_message(&err));
    exit(1);
  }
  CHECK(img_layer_store_cleanup_temp(s, &err) == 0);
  return s;
}

int fx_unpack(struct img_layer_store *store, const unsigned char *buf, size_t len,
              const struct fx_unpack_opts *opts, struct img_layer_info *info, crio_error_t *err) {
  static const struct fx_unpack_opts defaults = {0};
  char digest[IMG_DIGEST_MAX];
  if (opts == NULL)
    opts = &defaults;
  fx_sha256(buf, len, digest);
  struct img_layer_unpack_params p = {
      .compressed_digest = opts->digest ? opts->digest : digest,
      .media_type = opts->media_type,
      .parent_chain_id = opts->parent_chain_id,
      .expected_diff_id = opts->expected_diff_id,
  };
  struct img_layer_unpack *u = NULL;
  int r = img_layer_unpack_begin(store, &p, &u, info, err);
  if (r != 0)
    return r;
  size_t chunk = opts->chunk ? opts->chunk : 7919;
  /* The first bytes one at a time: the magic must survive being split. */
  size_t off = 0;
  for (; off < len && off < 3; off++)
    if (img_layer_unpack_sink(u, buf + off, 1, err) < 0) {
      img_layer_unpack_abort(u);
      return -1;
    }
  while (off < len) {
    size_t n = len - off < chunk ? len - off : chunk;
    if (img_layer_unpack_write(u, buf + off, n, err) < 0) {
      img_layer_unpack_abort(u);
      return -1;
    }
    off += n;
  }
  return img_layer_unpack_finish(u, info, err);
}

int fx_count_temps(const char *root) {
  cleanup_free char *path = xasprintf("%s/layers", root);
  DIR *d = opendir(path);
  CHECK(d != NULL);
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    if (strncmp(de->d_name, "tmp-", 4) == 0)
      n++;
  closedir(d);
  return n;
}

int fx_count_layers(struct img_layer_store *store) {
  cleanup_error crio_error_t err = NULL;
  cleanup_strv char **ids = NULL;
  CHECK(img_layer_store_list(store, &ids, &err) == 0);
  int n = 0;
  while (ids[n])
    n++;
  return n;
}

void fx_check_nothing_left(const char *root, struct img_layer_store *store) {
  CHECK_INT_EQ(fx_count_temps(root), 0);
  CHECK_INT_EQ(fx_count_layers(store), 0);
}

char *fx_layer_path(const char *root, const char *chain_id, const char *rel) {
  return xasprintf("%s/layers/%s/diff/%s", root, chain_id + 7, rel);
}

char *fx_read(const char *path) {
  char *out = NULL;
  size_t len = 0;
  cleanup_error crio_error_t err = NULL;
  if (crio_read_file(path, &out, &len, &err) < 0)
    return NULL;
  return out;
}

bool fx_contains(const char *haystack, const char *needle) {
  return haystack != NULL && strstr(haystack, needle) != NULL;
}
