#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"

int64_t crio_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t crio_monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int crio_mkdir_p(const char *path, mode_t mode, crio_error_t *err) {
  cleanup_free char *copy = xstrdup(path);
  size_t len = strlen(copy);
  while (len > 1 && copy[len - 1] == '/')
    copy[--len] = '\0';
  for (char *p = copy + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(copy, mode) < 0 && errno != EEXIST)
      return crio_error_errno(err, errno, "mkdir %s", copy);
    *p = '/';
  }
  if (mkdir(copy, mode) < 0 && errno != EEXIST)
    return crio_error_errno(err, errno, "mkdir %s", copy);
  return 0;
}

static int write_all(int fd, const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Temp name, then rename: readers see the old or the new content, never a
 * half.  With `durable`, the data and the directory entry are synced so
 * the new content survives a power loss too. */
static int write_file_replace(const char *path, const void *data, size_t len, mode_t mode,
                              bool durable, crio_error_t *err) {
  /* pid and thread id: two threads may replace the same file. */
  cleanup_free char *tmp = xasprintf("%s.tmp.%d.%d", path, (int)getpid(), (int)gettid());
  cleanup_close int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0)
    return crio_error_errno(err, errno, "create %s", tmp);
  if (write_all(fd, data, len) < 0 || (durable && fsync(fd) < 0)) {
    int saved = errno;
    unlink(tmp);
    return crio_error_errno(err, saved, "write %s", tmp);
  }
  if (rename(tmp, path) < 0) {
    int saved = errno;
    unlink(tmp);
    return crio_error_errno(err, saved, "rename %s to %s", tmp, path);
  }
  if (durable) {
    /* The rename is durable only once the directory entry is. */
    cleanup_free char *dircopy = xstrdup(path);
    cleanup_close int dirfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd >= 0)
      (void)fsync(dirfd);
  }
  return 0;
}

int crio_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                           crio_error_t *err) {
  return write_file_replace(path, data, len, mode, true, err);
}

int crio_write_file_replace(const char *path, const void *data, size_t len, mode_t mode,
                            crio_error_t *err) {
  return write_file_replace(path, data, len, mode, false, err);
}

/* Read fd to its end, failing with EFBIG past `max` bytes (0: no bound). */
static int read_fd_whole(int fd, const char *path, size_t max, char **out, size_t *len,
                         crio_error_t *err) {
  size_t cap = 4096, used = 0;
  cleanup_free char *buf = xmalloc(cap);
  for (;;) {
    if (used + 1 >= cap) {
      cap *= 2;
      buf = xrealloc(buf, cap);
    }
    ssize_t n = read(fd, buf + used, cap - used - 1);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return crio_error_errno(err, errno, "read %s", path);
    }
    if (n == 0)
      break;
    used += (size_t)n;
    if (max > 0 && used > max)
      return crio_error(err, EFBIG, "%s: larger than %zu bytes", path, max);
  }
  buf[used] = '\0';
  if (len)
    *len = used;
  *out = steal_pointer(&buf);
  return 0;
}

int crio_read_file(const char *path, char **out, size_t *len, crio_error_t *err) {
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return crio_error_errno(err, errno, "open %s", path);
  return read_fd_whole(fd, path, 0, out, len, err);
}

int crio_read_regular_file(const char *path, size_t max, char **out, size_t *len,
                           crio_error_t *err) {
  /* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused
   * below like any other file that is not regular (a device such as
   * /dev/zero would never end). */
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0)
    return crio_error_errno(err, errno, "open %s", path);
  struct stat st;
  if (fstat(fd, &st) < 0)
    return crio_error_errno(err, errno, "stat %s", path);
  if (!S_ISREG(st.st_mode))
    return crio_error(err, EINVAL, "%s: not a regular file", path);
  if ((uint64_t)st.st_size > max)
    return crio_error(err, EFBIG, "%s: %lld bytes, more than %zu", path, (long long)st.st_size,
                      max);
  /* The size can still grow while we read: the bound holds there too. */
  return read_fd_whole(fd, path, max, out, len, err);
}

int crio_proc_start_time(pid_t pid, uint64_t *start_time, crio_error_t *err) {
  cleanup_free char *path = xasprintf("/proc/%d/stat", (int)pid);
  cleanup_free char *stat = NULL;
  if (crio_read_file(path, &stat, NULL, err) < 0)
    return -1;
  /* comm (field 2) may contain spaces and parentheses: parse after the last ')'. */
  char *p = strrchr(stat, ')');
  if (p == NULL)
    return crio_error(err, EINVAL, "parse %s", path);
  p++;
  /* After ')' comes field 3 (state); start time is field 22. */
  for (int field = 3; field < 22; field++) {
    p = strchr(p + 1, ' ');
    if (p == NULL)
      return crio_error(err, EINVAL, "parse %s: too few fields", path);
  }
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(p + 1, &end, 10);
  if (errno != 0 || end == p + 1)
    return crio_error(err, EINVAL, "parse %s: bad start time", path);
  *start_time = v;
  return 0;
}

int crio_proc_alive(pid_t pid, uint64_t start_time, crio_error_t *err) {
  cleanup_free char *path = xasprintf("/proc/%d/stat", (int)pid);
  cleanup_free char *stat = NULL;
  crio_error_t e = NULL;
  if (crio_read_file(path, &stat, NULL, &e) < 0) {
    int status = crio_error_status(&e);
    crio_error_release(&e);
    if (status == ENOENT || status == ESRCH)
      return 0;
    return crio_error_errno(err, status, "read %s", path);
  }
  /* comm (field 2) may hold spaces and parentheses: start after the last
   * ')'.  Field 3 is the state, field 22 the start time. */
  char *p = strrchr(stat, ')');
  if (p == NULL || p[1] != ' ' || p[2] == '\0')
    return crio_error(err, EINVAL, "parse %s", path);
  char state = p[2];
  uint64_t seen = 0;
  if (crio_proc_start_time(pid, &seen, &e) < 0) {
    crio_error_release(&e);
    return 0; /* exited between the two reads */
  }
  return seen == start_time && state != 'Z' && state != 'X';
}

void crio_random_bytes(void *buf, size_t len) {
  unsigned char *bytes = buf;
  size_t got = 0;
  while (got < len) {
    ssize_t n = getrandom(bytes + got, len - got, 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      abort(); /* the kernel's random source does not fail after boot */
    }
    got += (size_t)n;
  }
}

void crio_random_id(char out[65]) {
  unsigned char bytes[32];
  crio_random_bytes(bytes, sizeof(bytes));
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < sizeof(bytes); i++) {
    out[2 * i] = hex[bytes[i] >> 4];
    out[2 * i + 1] = hex[bytes[i] & 0xf];
  }
  out[64] = '\0';
}

bool crio_is_hex_id(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return false;
  }
  return len > 0;
}

int crio_lock_file_try(const char *path, int *fd_out, crio_error_t *err) {
  cleanup_close int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return crio_error_errno(err, errno, "open %s", path);
  if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
    if (errno == EWOULDBLOCK)
      return crio_error(err, EBUSY, "%s is locked", path);
    return crio_error_errno(err, errno, "lock %s", path);
  }
  *fd_out = steal_fd(&fd);
  return 0;
}

int crio_thread_start(pthread_t *thread, size_t stack_size, void *(*fn)(void *), void *arg) {
  pthread_attr_t attr;
  int r = pthread_attr_init(&attr);
  if (r != 0)
    return r;
#if defined(__SANITIZE_ADDRESS__)
  stack_size *= 4;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  stack_size *= 4;
#endif
#endif
  r = pthread_attr_setstacksize(&attr, stack_size);
  if (r == 0)
    r = pthread_create(thread, &attr, fn, arg);
  pthread_attr_destroy(&attr);
  return r;
}
