#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

static int error_set(crio_error_t *err, int status, char *msg) {
  if (status <= 0)
    status = EIO;
  if (err == NULL) {
    free(msg);
    return -1;
  }
  if (*err != NULL) {
    /* Keep the first error: it is the cause; later ones are consequences. */
    free(msg);
    return -1;
  }
  *err = xmalloc(sizeof(**err));
  (*err)->status = status;
  (*err)->msg = msg;
  return -1;
}

int crio_error(crio_error_t *err, int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *msg = xvasprintf(fmt, ap);
  va_end(ap);
  return error_set(err, status, msg);
}

int crio_error_errno(crio_error_t *err, int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cleanup_free char *head = xvasprintf(fmt, ap);
  va_end(ap);
  return error_set(err, status, xasprintf("%s: %s", head, strerror(status)));
}

int crio_error_prefix(crio_error_t *err, const char *fmt, ...) {
  if (err == NULL || *err == NULL)
    return -1;
  va_list ap;
  va_start(ap, fmt);
  cleanup_free char *head = xvasprintf(fmt, ap);
  va_end(ap);
  char *msg = xasprintf("%s: %s", head, (*err)->msg ? (*err)->msg : "");
  free((*err)->msg);
  (*err)->msg = msg;
  return -1;
}

void crio_error_release(crio_error_t *err) {
  if (err == NULL || *err == NULL)
    return;
  free((*err)->msg);
  free(*err);
  *err = NULL;
}

void crio_error_warn(crio_error_t *err, const char *what) {
  if (err == NULL || *err == NULL)
    return;
  log_warning("%s: %s", what, (*err)->msg);
  crio_error_release(err);
}
