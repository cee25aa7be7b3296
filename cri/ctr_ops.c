/* The lookups of the container handlers that act on a live container
 * (cri/ctr_ops.h). */
#include <errno.h>

#include "cri/container.h"
#include "cri/ctr_ops.h"
#include "reconciler/reconciler.h"
#include "statemachine/statemachine.h"

int cri_ctr_record_get(struct cri_request *req, const char *id_or_prefix, store_record **out,
                       crio_error_t *err) {
  cleanup_free char *id = NULL;
  if (cri_container_resolve(req, id_or_prefix, &id, out, err) < 0)
    return -1;
  return 0;
}

int cri_ctr_check_running(const store_record *rec, crio_error_t *err) {
  if (rec->state == SM_CONTAINER_RUNNING)
    return 0;
  return crio_error(err, EBUSY, "container %s is not running (%s)", rec->id,
                    sm_state_name(SM_KIND_CONTAINER, rec->state));
}

static void *arena_alloc(void *data, size_t size) {
  return cri_alloc(data, size);
}
static void arena_free(void *data, void *ptr) {
  (void)data, (void)ptr;
}

const Runtime__V1__LinuxContainerResources *cri_ctr_resources(struct cri_request *req,
                                                              const store_record *rec) {
  ProtobufCAllocator arena = {.alloc = arena_alloc, .free = arena_free, .allocator_data = req};
  return reconciler_container_resources(rec, &arena);
}
