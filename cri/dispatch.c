#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "cri/call.h"

/* The method table is built from the services the proto declares, so every
 * RPC the kubelet may call has an entry: implemented ones point to their
 * handler, the rest answer UNIMPLEMENTED with their name. */
static const ProtobufCServiceDescriptor *const services[] = {
    &runtime__v1__runtime_service__descriptor,
    &runtime__v1__image_service__descriptor,
};

static int compare_methods(const void *a, const void *b) {
  const struct cri_method *ma = a, *mb = b;
  return strcmp(ma->path, mb->path);
}

static const struct cri_handler *find_handler(const char *service, const char *method) {
  for (size_t i = 0; i < cri_n_handlers; i++) {
    if (strcmp(cri_handlers[i].service, service) == 0 &&
        strcmp(cri_handlers[i].method, method) == 0)
      return &cri_handlers[i];
  }
  return NULL;
}

void cri_dispatch_init(struct cri_dispatch *dispatch) {
  size_t total = 0;
  for (size_t s = 0; s < sizeof(services) / sizeof(services[0]); s++)
    total += services[s]->n_methods;
  dispatch->methods = xcalloc(total, sizeof(*dispatch->methods));
  dispatch->n_methods = 0;
  for (size_t s = 0; s < sizeof(services) / sizeof(services[0]); s++) {
    const ProtobufCServiceDescriptor *svc = services[s];
    for (unsigned m = 0; m < svc->n_methods; m++) {
      struct cri_method *entry = &dispatch->methods[dispatch->n_methods++];
      entry->path = xasprintf("/%s/%s", svc->name, svc->methods[m].name);
      entry->input = svc->methods[m].input;
      entry->output = svc->methods[m].output;
      entry->handler = find_handler(svc->short_name, svc->methods[m].name);
    }
  }
  qsort(dispatch->methods, dispatch->n_methods, sizeof(*dispatch->methods), compare_methods);
}

void cri_dispatch_release(struct cri_dispatch *dispatch) {
  for (size_t i = 0; i < dispatch->n_methods; i++)
    free(dispatch->methods[i].path);
  free(dispatch->methods);
  dispatch->methods = NULL;
  dispatch->n_methods = 0;
}

const struct cri_method *cri_dispatch_find(const struct cri_dispatch *dispatch, const char *path) {
  struct cri_method key = {.path = (char *)path};
  return bsearch(&key, dispatch->methods, dispatch->n_methods, sizeof(*dispatch->methods),
                 compare_methods);
}
