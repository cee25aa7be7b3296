/* OCI whiteouts turned into overlayfs ones.  The OCI image spec marks a
 * deletion with an empty file ".wh.NAME" and a directory that hides what
 * lower layers had with ".wh..wh..opq"; overlayfs wants a 0/0 character
 * device named NAME and the xattr trusted.overlay.opaque=y on the
 * directory.  Converting at unpack time lets a layer's diff/ serve as an
 * overlay lowerdir as is. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "images/layer_internal.h"

#define WH_PREFIX ".wh."
#define WH_META_PREFIX ".wh..wh."
#define WH_OPAQUE ".wh..wh..opq"

enum layer_whiteout_kind layer_whiteout_classify(const char *base, const char **target) {
  if (strncmp(base, WH_PREFIX, strlen(WH_PREFIX)) != 0)
    return LAYER_NOT_WHITEOUT;
  if (strcmp(base, WH_OPAQUE) == 0)
    return LAYER_WHITEOUT_OPAQUE;
  if (strncmp(base, WH_META_PREFIX, strlen(WH_META_PREFIX)) == 0)
    return LAYER_WHITEOUT_META;
  *target = base + strlen(WH_PREFIX);
  return LAYER_WHITEOUT;
}

int layer_replace_existing(int parentfd, const char *name, bool keep_dir, crio_error_t *err) {
  struct stat st;
  if (fstatat(parentfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT)
      return 0;
    return crio_error_errno(err, errno, "stat %s", name);
  }
  if (S_ISDIR(st.st_mode) && keep_dir)
    return 0;
  return layer_rm_rf_at(parentfd, name, err);
}

int layer_whiteout_create(int parentfd, const char *target, crio_error_t *err) {
  if (target[0] == '\0' || strcmp(target, ".") == 0 || strcmp(target, "..") == 0 ||
      strchr(target, '/') != NULL)
    return crio_error(err, EINVAL, "whiteout of \"%s\" names no entry", target);
  if (layer_replace_existing(parentfd, target, false, err) < 0)
    return -1;
  if (mknodat(parentfd, target, S_IFCHR | 0, makedev(0, 0)) < 0)
    return crio_error_errno(err, errno, "create whiteout %s", target);
  if (fchownat(parentfd, target, 0, 0, AT_SYMLINK_NOFOLLOW) < 0)
    return crio_error_errno(err, errno, "chown whiteout %s", target);
  return 0;
}

int layer_whiteout_mark_opaque(int dirfd, crio_error_t *err) {
  if (fsetxattr(dirfd, "trusted.overlay.opaque", "y", 1, 0) < 0)
    return crio_error_errno(err, errno, "set trusted.overlay.opaque on an opaque directory");
  return 0;
}
