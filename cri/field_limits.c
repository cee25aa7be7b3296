/* The limits a request's names and paths meet on their way to the kernel
 * and the file system, checked before anything is persisted so that a
 * value that cannot work is refused naming its field, instead of failing
 * deep inside a step (sethostname's 64 bytes, NAME_MAX per path component,
 * PATH_MAX per path, CNI_ARGS' "K=V;K=V" syntax). */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "cri/internal.h"

int cri_check_name_field(const char *field, const char *value, crio_error_t *err) {
  size_t len = strlen(value);
  if (len > CRI_NAME_MAX)
    return crio_error(err, EINVAL, "%s: %zu characters, at most %d allowed", field, len,
                      CRI_NAME_MAX);
  for (const char *s = value; *s; s++) {
    unsigned char c = (unsigned char)*s;
    /* '/' would split the name's paths; ';' and '=' would break the
     * CNI_ARGS the pod's name and namespace travel in. */
    if (c <= ' ' || c == 0x7f || c == '/' || c == ';' || c == '=')
      return crio_error(err, EINVAL,
                        "%s: \"%s\" is not a valid name (printable characters without spaces, "
                        "'/', ';' or '=')",
                        field, value);
  }
  return 0;
}

int cri_check_path_field(const char *field, const char *path, crio_error_t *err) {
  size_t len = strlen(path);
  if (len >= PATH_MAX)
    return crio_error(err, EINVAL, "%s: a path of %zu bytes, at most %d allowed", field, len,
                      PATH_MAX - 1);
  for (const char *p = path; *p;) {
    size_t n = strcspn(p, "/");
    if (n > NAME_MAX)
      return crio_error(err, EINVAL, "%s: a path component of %zu bytes, at most %d allowed", field,
                        n, NAME_MAX);
    p += n;
    p += strspn(p, "/");
  }
  return 0;
}
