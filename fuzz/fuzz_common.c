/* Helpers every target links (fuzz.h). */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz/fuzz.h"

void fuzz_quiet_logs(void) {
  crio_log_init(CRIO_LOG_ERROR, false);
}

char *fuzz_cstring(const uint8_t *data, size_t size) {
  char *s = xmalloc(size + 1);
  memcpy(s, data, size);
  s[size] = '\0';
  return s;
}

static char workdir[256];

static void remove_workdir(void) {
  if (workdir[0])
    fuzz_rm_rf(workdir);
}

const char *fuzz_workdir(void) {
  if (workdir[0])
    return workdir;
  const char *tmp = getenv("TMPDIR");
  snprintf(workdir, sizeof(workdir), "%s/crio-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (mkdtemp(workdir) == NULL) {
    perror("fuzz: mkdtemp");
    abort();
  }
  atexit(remove_workdir);
  return workdir;
}

static void rm_rf_at(int parent, const char *name) {
  if (unlinkat(parent, name, 0) == 0)
    return;
  int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return;
  /* Entries without search or read permission cannot be listed. */
  fchmod(fd, 0700);
  DIR *d = fdopendir(fd);
  if (d == NULL) {
    close(fd);
    return;
  }
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    rm_rf_at(dirfd(d), e->d_name);
  }
  closedir(d);
  unlinkat(parent, name, AT_REMOVEDIR);
}

void fuzz_rm_rf(const char *path) {
  rm_rf_at(AT_FDCWD, path);
}

int fuzz_memfd(const uint8_t *data, size_t size, char path[64]) {
  int fd = memfd_create("fuzz-input", MFD_CLOEXEC);
  if (fd < 0) {
    perror("fuzz: memfd_create");
    abort();
  }
  size_t off = 0;
  while (off < size) {
    ssize_t n = write(fd, data + off, size - off);
    if (n <= 0) {
      perror("fuzz: write");
      abort();
    }
    off += (size_t)n;
  }
  snprintf(path, 64, "/proc/self/fd/%d", fd);
  return fd;
}
