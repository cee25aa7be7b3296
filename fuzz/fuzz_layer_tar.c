/* Layer blobs (tar, gzip or zstd, detected from the magic bytes as for a
 * docker media type) through the same reader and extractor a pull uses
 * (layer_tar_open, layer_extract, layer_tar_drain) into a fresh root next
 * to an "outside" directory holding one file.  Hostile names, links,
 * whiteouts and sizes must be refused or kept inside the root: after every
 * input the outside file is untouched and nothing new exists beside the
 * root, or the target aborts. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz/fuzz.h"
#include "fuzz/fuzz_spec.h"
#include "images/layer_internal.h"

struct feed {
  const uint8_t *data;
  size_t size, off;
};

/* Chunks of at most 4 KiB, so the magic-byte peek and libarchive's reads
 * meet chunk boundaries as they do with a download. */
static ssize_t pull(void *opaque, const void **buf, crio_error_t *err) {
  struct feed *f = opaque;
  size_t n = f->size - f->off;
  if (n > 4096)
    n = 4096;
  *buf = f->data + f->off;
  f->off += n;
  return (ssize_t)n;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  fuzz_quiet_logs();
  return 0;
}

static void put_sentinel(void) {
  char path[512];
  snprintf(path, sizeof(path), "%s/outside/secret", fuzz_workdir());
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  FUZZ_ASSERT(fd >= 0 && write(fd, "secret", 6) == 6 && close(fd) == 0);
}

static void check_sentinel(void) {
  char path[512];
  snprintf(path, sizeof(path), "%s/outside/secret", fuzz_workdir());
  struct stat st;
  if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 || st.st_size != 6 ||
      (st.st_mode & 07777) != 0600) {
    fprintf(stderr, "the file outside the root was changed, linked or replaced\n");
    abort();
  }
  FUZZ_ASSERT(unlink(path) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *root = fuzz_rootfs_reset();
  put_sentinel();
  int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  FUZZ_ASSERT(rootfd >= 0);

  struct layer_media_policy policy = {0};
  cleanup_error crio_error_t perr = NULL;
  FUZZ_ASSERT(layer_media_type_policy(NULL, &policy, &perr) == 0);
  /* Small bounds: a bomb is refused at 16 MiB rather than filling /tmp. */
  struct layer_limits limits = {.max_uncompressed_bytes = 16 << 20, .max_ratio = 0};
  struct feed feed = {.data = data, .size = size};
  struct layer_tar t;
  cleanup_error crio_error_t err = NULL;
  int r = layer_tar_open(&t, &policy, &limits, pull, &feed, &err);
  if (r == 0)
    r = layer_extract(&t, rootfd, &err);
  if (r == 0) {
    char diff_id[IMG_DIGEST_MAX];
    r = layer_tar_drain(&t, diff_id, &err);
    if (r == 0)
      FUZZ_ASSERT(img_digest_valid(diff_id));
  }
  if (r < 0)
    FUZZ_ASSERT(crio_error_status(&err) != 0);
  layer_tar_close(&t);
  close(rootfd);

  check_sentinel();
  fuzz_rootfs_check_contained();
  return 0;
}
