/* Pinning a pod's namespaces: a bind mount of the nsfs file of a new
 * namespace on an empty file, so it lives with no process in it. */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "oci/oci.h"

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif
#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x00002000
#endif

char *oci_ns_pin_path(const char *run_dir, enum oci_ns_type type, const char *pod_id) {
  return xasprintf("%s/%sns/%s", run_dir, oci_ns_type_name(type), pod_id);
}

/* What is at a path: nothing, a regular file (with its size), or an nsfs
 * file of some namespace type (its CLONE_NEW* flag). */
struct pin_probe {
  bool exists;
  bool is_nsfs;
  int ns_flag;
  bool is_regular;
  off_t size;
};

static int pin_probe(const char *path, bool follow, struct pin_probe *out, crio_error_t *err) {
  memset(out, 0, sizeof(*out));
  /* A pin is never a symlink (no follow): one planted there must not make
   * us look at, or later mount over, something else.  A source such as
   * /proc/PID/ns/pid is one. */
  cleanup_close int fd =
      open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | (follow ? 0 : O_NOFOLLOW));
  if (fd < 0) {
    if (errno == ENOENT)
      return 0;
    return crio_error_errno(err, errno, "open %s", path);
  }
  out->exists = true;
  struct statfs sfs;
  if (fstatfs(fd, &sfs) < 0)
    return crio_error_errno(err, errno, "statfs %s", path);
  if (sfs.f_type == NSFS_MAGIC) {
    out->is_nsfs = true;
    int type = ioctl(fd, NS_GET_NSTYPE);
    if (type < 0)
      return crio_error_errno(err, errno, "NS_GET_NSTYPE %s", path);
    out->ns_flag = type;
    return 0;
  }
  struct stat st;
  if (fstat(fd, &st) < 0)
    return crio_error_errno(err, errno, "stat %s", path);
  out->is_regular = S_ISREG(st.st_mode);
  out->size = st.st_size;
  return 0;
}

int oci_ns_is_pinned(enum oci_ns_type type, const char *pin_path, crio_error_t *err) {
  struct pin_probe probe;
  if (pin_probe(pin_path, false, &probe, err) < 0)
    return -1;
  return probe.is_nsfs && probe.ns_flag == oci_ns_clone_flag(type);
}

static int is_mount_root(const char *path, bool *root, crio_error_t *err) {
  struct statx stx;
  if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, 0, &stx) < 0)
    return crio_error_errno(err, errno, "statx %s", path);
  if (!(stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT))
    return crio_error(err, ENOSYS, "statx %s: kernel does not report mount roots (< 5.8)", path);
  *root = (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
  return 0;
}

/* Makes the pin directory a bind mount of itself marked unbindable.
 * Unbindable is also private: pins made in it do not propagate to peer or
 * slave mount namespaces (where a copy would keep the namespace alive after
 * we unpin), and an rbind of an ancestor skips it (a hostPath of the run dir
 * does not carry pins into a container).  The check-then-bind is serialised
 * so two pods pinning at once do not stack two self-binds. */
static pthread_mutex_t pin_dir_lock = PTHREAD_MUTEX_INITIALIZER;

static int pin_dir_prepare(const char *dir, crio_error_t *err) {
  if (crio_mkdir_p(dir, 0755, err) < 0)
    return -1;
  pthread_mutex_lock(&pin_dir_lock);
  bool root = false;
  int rc = is_mount_root(dir, &root, err);
  if (rc == 0 && !root && mount(dir, dir, NULL, MS_BIND, NULL) < 0)
    rc = crio_error_errno(err, errno, "bind mount %s on itself", dir);
  if (rc == 0 && mount(NULL, dir, NULL, MS_UNBINDABLE, NULL) < 0)
    rc = crio_error_errno(err, errno, "make %s unbindable", dir);
  pthread_mutex_unlock(&pin_dir_lock);
  return rc;
}

int oci_ns_pin_dir_release(const char *dir, crio_error_t *err) {
  bool root = false;
  if (is_mount_root(dir, &root, err) < 0) {
    if (crio_error_status(err) != ENOENT)
      return -1;
    crio_error_release(err);
    return 0;
  }
  if (root && umount2(dir, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL)
    return crio_error_errno(err, errno, "unmount %s", dir);
  return 0;
}

/* Makes pin_path ready for a bind mount: its directory prepared, an empty
 * file in place.  *done is set when it already holds a namespace of the
 * type (with *pinned_ino its inode), so there is nothing to mount. */
static int pin_path_prepare(enum oci_ns_type type, const char *pin_path, bool *done,
                            ino_t *pinned_ino, crio_error_t *err) {
  const char *name = oci_ns_type_name(type);
  *done = false;
  if (pin_path == NULL || pin_path[0] != '/')
    return crio_error(err, EINVAL, "pin %s namespace: path must be absolute", name);
  struct pin_probe probe;
  if (pin_probe(pin_path, false, &probe, err) < 0)
    return crio_error_prefix(err, "pin %s namespace", name);
  if (probe.is_nsfs) {
    if (probe.ns_flag != oci_ns_clone_flag(type))
      return crio_error(err, EEXIST,
                        "pin %s namespace: %s holds a namespace of another "
                        "type",
                        name, pin_path);
    struct stat st;
    if (stat(pin_path, &st) < 0)
      return crio_error_errno(err, errno, "stat %s", pin_path);
    *pinned_ino = st.st_ino;
    *done = true;
    return 0;
  }
  if (probe.exists && (!probe.is_regular || probe.size != 0))
    return crio_error(err, EEXIST, "pin %s namespace: %s exists and is not an empty file", name,
                      pin_path);

  cleanup_free char *dir = xstrdup(pin_path);
  *strrchr(dir, '/') = '\0';
  if (dir[0] != '\0' && pin_dir_prepare(dir, err) < 0)
    return crio_error_prefix(err, "pin %s namespace", name);
  if (!probe.exists) {
    /* The mount point: an empty file nobody can write (a crash between here
     * and the mount leaves it; the next attempt reuses it). */
    int fd = open(pin_path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0444);
    if (fd < 0)
      return crio_error_errno(err, errno, "pin %s namespace: create %s", name, pin_path);
    close(fd);
  }
  return 0;
}

struct pin_task {
  enum oci_ns_type type;
  const char *pin_path;
  const char *hostname;
};

/* A new network namespace has its loopback down; pods expect it up (the
 * CNI loopback plugin's job, which CRI-O's ocicni runs for every pod):
 * without it nothing in the pod reaches localhost, port forwarding
 * included. */
static int loopback_up(crio_error_t *err) {
  cleanup_close int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return crio_error_errno(err, errno, "socket");
  struct ifreq ifr = {0};
  strcpy(ifr.ifr_name, "lo");
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
    return crio_error_errno(err, errno, "read the flags of lo");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
    return crio_error_errno(err, errno, "bring lo up");
  return 0;
}

/* On its own thread: the new namespace is this thread's only, and the
 * thread still shares the daemon's mount namespace, so the bind mount is
 * made in the host's.  (/proc/self would name the thread group leader,
 * which is still in the host's namespaces.) */
static int pin_task_run(void *arg, crio_error_t *err) {
  struct pin_task *task = arg;
  const char *name = oci_ns_type_name(task->type);
  if (unshare(oci_ns_clone_flag(task->type)) < 0)
    return crio_error_errno(err, errno, "unshare %s namespace", name);
  if (task->type == OCI_NS_NET && loopback_up(err) < 0)
    return crio_error_prefix(err, "network namespace");
  if (task->type == OCI_NS_UTS && task->hostname &&
      sethostname(task->hostname, strlen(task->hostname)) < 0)
    return crio_error_errno(err, errno, "set hostname %s", task->hostname);
  char source[64];
  snprintf(source, sizeof(source), "/proc/thread-self/ns/%s", name);
  if (mount(source, task->pin_path, NULL, MS_BIND, NULL) < 0)
    return crio_error_errno(err, errno, "bind mount %s on %s", source, task->pin_path);
  return 0;
}

int oci_ns_pin(enum oci_ns_type type, const char *pin_path, const char *hostname,
               crio_error_t *err) {
  if (type != OCI_NS_NET && type != OCI_NS_IPC && type != OCI_NS_UTS)
    return crio_error(err, EINVAL, "pin namespace: cannot create an empty %s namespace",
                      oci_ns_type_name(type));
  bool done = false;
  ino_t ino;
  if (pin_path_prepare(type, pin_path, &done, &ino, err) < 0)
    return -1;
  if (done)
    return 0;
  struct pin_task task = {.type = type, .pin_path = pin_path, .hostname = hostname};
  if (oci_ns_run_in(NULL, pin_task_run, &task, err) < 0)
    return crio_error_prefix(err, "pin %s namespace at %s", oci_ns_type_name(type), pin_path);
  return 0;
}

int oci_ns_pin_existing(enum oci_ns_type type, const char *source, const char *pin_path,
                        crio_error_t *err) {
  if ((unsigned)type >= OCI_NS_COUNT)
    return crio_error(err, EINVAL, "pin namespace: unknown type %d", type);
  const char *name = oci_ns_type_name(type);
  struct pin_probe probe;
  if (pin_probe(source, true, &probe, err) < 0)
    return crio_error_prefix(err, "pin %s namespace", name);
  if (!probe.is_nsfs || probe.ns_flag != oci_ns_clone_flag(type))
    return crio_error(err, EINVAL, "pin %s namespace: %s is not one", name, source);
  struct stat src;
  if (stat(source, &src) < 0)
    return crio_error_errno(err, errno, "stat %s", source);
  bool done = false;
  ino_t ino = 0;
  if (pin_path_prepare(type, pin_path, &done, &ino, err) < 0)
    return -1;
  if (done)
    return ino == src.st_ino
               ? 0
               : crio_error(err, EEXIST, "pin %s namespace: %s holds another namespace", name,
                            pin_path);
  if (mount(source, pin_path, NULL, MS_BIND, NULL) < 0)
    return crio_error_errno(err, errno, "pin %s namespace: bind mount %s on %s", name, source,
                            pin_path);
  return 0;
}

int oci_ns_unpin(const char *pin_path, crio_error_t *err) {
  /* Loop: a pin mounted twice (by hand, or a race we did not foresee) must
   * not survive as a lower mount.  EINVAL means "not a mount point". */
  for (int i = 0; i < 16; i++) {
    if (umount2(pin_path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
      continue;
    if (errno == EINVAL)
      break;
    if (errno == ENOENT)
      return 0;
    return crio_error_errno(err, errno, "unmount namespace %s", pin_path);
  }
  if (unlink(pin_path) < 0 && errno != ENOENT)
    return crio_error_errno(err, errno, "remove %s", pin_path);
  return 0;
}
