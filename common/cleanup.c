#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/common.h"

void cleanup_freep(void *p) {
  void **pp = p;
  free(*pp);
  *pp = NULL;
}

void cleanup_closep(int *fd) {
  if (*fd >= 0) {
    int saved = errno;
    close(*fd);
    errno = saved;
  }
  *fd = -1;
}

void cleanup_fclosep(FILE **f) {
  if (*f)
    fclose(*f);
  *f = NULL;
}

void cleanup_closedirp(DIR **d) {
  if (*d)
    closedir(*d);
  *d = NULL;
}

void cleanup_strvp(char ***v) {
  if (*v) {
    for (char **it = *v; *it; it++)
      free(*it);
    free(*v);
  }
  *v = NULL;
}
