/* Host helpers for the resource types and wipe: where a path really is,
 * a careful rm -rf, and the cgroup hierarchies. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/oci.h"
#include "recovery/internal.h"

/* realpath of the parent plus the last component, so a path that no
 * longer exists (a dir already removed) still resolves. */
static char *resolve_loosely(const char *path) {
  char *full = realpath(path, NULL);
  if (full)
    return full;
  cleanup_free char *copy = xstrdup(path);
  char *slash = strrchr(copy, '/');
  if (slash == NULL || slash[1] == '\0' || strcmp(slash + 1, "..") == 0 ||
      strcmp(slash + 1, ".") == 0)
    return NULL;
  *slash = '\0';
  cleanup_free char *parent = realpath(copy[0] ? copy : "/", NULL);
  if (parent == NULL)
    return NULL;
  return xasprintf("%s/%s", strcmp(parent, "/") == 0 ? "" : parent, slash + 1);
}

bool recovery_path_below(const char *path, const char *dir) {
  if (path == NULL || dir == NULL || path[0] != '/' || dir[0] == '\0')
    return false;
  cleanup_free char *p = resolve_loosely(path);
  cleanup_free char *d = realpath(dir, NULL);
  if (p == NULL || d == NULL)
    return false;
  size_t n = strlen(d);
  if (strcmp(d, "/") == 0)
    return strcmp(p, "/") != 0;
  return strncmp(p, d, n) == 0 && p[n] == '/' && p[n + 1] != '\0';
}

/* Empties the directory open as `fd` (device `dev`), depth first. */
static int empty_dir_at(int fd, dev_t dev, const char *path, crio_error_t *err) {
  int dup_fd = dup(fd);
  if (dup_fd < 0)
    return crio_error_errno(err, errno, "dup %s", path);
  cleanup_dir DIR *dir = fdopendir(dup_fd);
  if (dir == NULL) {
    close(dup_fd);
    return crio_error_errno(err, errno, "read %s", path);
  }
  struct dirent *de;
  while ((errno = 0, de = readdir(dir)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    struct stat st;
    if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno == ENOENT)
        continue;
      return crio_error_errno(err, errno, "stat %s/%s", path, de->d_name);
    }
    if (S_ISDIR(st.st_mode)) {
      cleanup_free char *child = xasprintf("%s/%s", path, de->d_name);
      if (st.st_dev != dev)
        return crio_error(err, EBUSY, "%s is a mount point; unmount it first", child);
      cleanup_close int child_fd =
          openat(fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (child_fd < 0)
        return crio_error_errno(err, errno, "open %s", child);
      if (empty_dir_at(child_fd, dev, child, err) < 0)
        return -1;
      if (unlinkat(fd, de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return crio_error_errno(err, errno, "remove %s", child);
    } else if (unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT) {
      /* EBUSY: a file bind-mounted over (a pin left in a pod dir). */
      return crio_error_errno(err, errno, "remove %s/%s", path, de->d_name);
    }
  }
  if (errno != 0)
    return crio_error_errno(err, errno, "read %s", path);
  return 0;
}

int recovery_remove_tree(const char *path, crio_error_t *err) {
  struct stat st;
  if (lstat(path, &st) < 0) {
    if (errno == ENOENT)
      return 0;
    return crio_error_errno(err, errno, "stat %s", path);
  }
  if (!S_ISDIR(st.st_mode)) {
    if (unlink(path) < 0 && errno != ENOENT)
      return crio_error_errno(err, errno, "remove %s", path);
    return 0;
  }
  cleanup_close int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return crio_error_errno(err, errno, "open %s", path);
  if (empty_dir_at(fd, st.st_dev, path, err) < 0)
    return -1;
  if (rmdir(path) < 0 && errno != ENOENT)
    return crio_error_errno(err, errno, "remove %s", path);
  return 0;
}

char *recovery_read_text(const char *path) {
  char *text = NULL;
  cleanup_error crio_error_t read_err = NULL;
  if (crio_read_file(path, &text, NULL, &read_err) < 0)
    return NULL;
  return text;
}

void recovery_strv_push(char ***v, size_t *n, char *s) {
  *v = xrealloc(*v, (*n + 2) * sizeof(char *));
  (*v)[(*n)++] = s;
  (*v)[*n] = NULL;
}

/* Mount points of cgroup and cgroup2 filesystems, one per hierarchy
 * (several mounts of one hierarchy share its device number). */
char **recovery_cgroup_roots(void) {
  char **roots = xcalloc(1, sizeof(char *));
  size_t n = 0;
  cleanup_free char *text = recovery_read_text("/proc/self/mountinfo");
  if (text == NULL)
    return roots;
  cleanup_strv char **devs = xcalloc(1, sizeof(char *));
  size_t n_devs = 0;
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    /* id parent major:minor root mountpoint opts [optional...] - fstype ... */
    char *f[5] = {0};
    char *p = line;
    for (int i = 0; i < 5 && p; i++) {
      f[i] = p;
      p = strchr(p, ' ');
      if (p)
        *p++ = '\0';
    }
    char *dash = p ? strstr(p, " - ") : NULL;
    if (f[4] == NULL || dash == NULL)
      continue;
    char *fstype = dash + 3;
    size_t len = strcspn(fstype, " ");
    if (!((len == 6 && strncmp(fstype, "cgroup", 6) == 0) ||
          (len == 7 && strncmp(fstype, "cgroup2", 7) == 0)))
      continue;
    bool seen = false;
    for (size_t i = 0; i < n_devs && !seen; i++)
      seen = strcmp(devs[i], f[2]) == 0;
    if (seen || strchr(f[4], '\\'))
      continue; /* an escaped mount point is not one of the usual ones */
    recovery_strv_push(&devs, &n_devs, xstrdup(f[2]));
    recovery_strv_push(&roots, &n, xstrdup(f[4]));
  }
  return roots;
}

char **recovery_cgroup_dirs(const char *path) {
  char **dirs = xcalloc(1, sizeof(char *));
  size_t n = 0;
  if (path == NULL || path[0] != '/' || strstr(path, "/..") || strcmp(path, "/") == 0)
    return dirs;
  cleanup_strv char **roots = recovery_cgroup_roots();
  for (size_t i = 0; roots[i]; i++) {
    cleanup_free char *dir = xasprintf("%s%s", roots[i], path);
    struct stat st;
    if (lstat(dir, &st) == 0 && S_ISDIR(st.st_mode))
      recovery_strv_push(&dirs, &n, steal_pointer(&dir));
  }
  return dirs;
}

int recovery_parse_process_id(const char *id, int *pid, uint64_t *start_time) {
  if (id == NULL)
    return -1;
  char *end = NULL;
  errno = 0;
  long p = strtol(id, &end, 10);
  if (errno != 0 || end == id || *end != ':' || p <= 0 || p > INT_MAX)
    return -1;
  const char *st = end + 1;
  unsigned long long t = strtoull(st, &end, 10);
  if (errno != 0 || end == st || *end != '\0')
    return -1;
  *pid = (int)p;
  *start_time = t;
  return 0;
}

void recovery_wipe_say(const struct recovery_wipe_options *options, const char *fmt, ...) {
  FILE *out = options->out ? options->out : stdout;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(out, fmt, ap);
  va_end(ap);
  fputc('\n', out);
  fflush(out);
}

/* The self-bound pin directories outlive their last pin; with no pod
 * left they are released too, so a wiped run dir holds no mount. */
void recovery_release_pin_dirs(const char *runroot) {
  if (runroot == NULL)
    return;
  for (int type = 0; type < OCI_NS_COUNT; type++) {
    cleanup_free char *dir =
        xasprintf("%s/%sns", runroot, oci_ns_type_name((enum oci_ns_type)type));
    cleanup_dir DIR *d = opendir(dir);
    if (d == NULL)
      continue;
    bool empty = true;
    struct dirent *de;
    while (empty && (de = readdir(d)) != NULL)
      empty = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
    if (!empty)
      continue;
    cleanup_error crio_error_t dir_err = NULL;
    if (oci_ns_pin_dir_release(dir, &dir_err) < 0)
      crio_error_warn(&dir_err, "release pin directory");
  }
}

char *recovery_mountinfo_mount_point(char *line) {
  char *field = line;
  for (int i = 0; i < 4 && field; i++) {
    field = strchr(field, ' ');
    if (field)
      field++;
  }
  if (field == NULL)
    return NULL;
  field[strcspn(field, " ")] = '\0';
  return field;
}
