/* UpdatePodSandboxResources: the kubelet's new pod-level resources (the sum
 * of its containers' resources, and the RuntimeClass overhead) after an
 * in-place resize.  The handler checks the request and the pod's state and
 * asks the reconciler, which writes the pod cgroup (the one PodSandboxStats
 * reads) as an operation serialised with the pod's steps, logs its intent
 * and outcome, and keeps the new overhead and resources in the pod's
 * ObjectRecord.resources_update (reconciler/pod_ops.c says which cgroup and
 * which values). */
#include <errno.h>

#include "cri/pod.h"
#include "reconciler/reconciler.h"
#include "statemachine/statemachine.h"

static int validate(const Runtime__V1__UpdatePodSandboxResourcesRequest *in, crio_error_t *err) {
  if (in->pod_sandbox_id == NULL || *in->pod_sandbox_id == '\0')
    return crio_error(err, EINVAL, "pod_sandbox_id is required");
  if (in->resources == NULL && in->overhead == NULL)
    return crio_error(err, EINVAL, "resources (or overhead) is required: nothing to update");
  return reconciler_pod_resources_check(in->resources, in->overhead, err);
}

/* The record, READY and meant to stay so. */
static int pod_get(struct cri_request *req, const char *id_or_prefix, store_record **out,
                   crio_error_t *err) {
  cleanup_store_record store_record *rec = NULL;
  if (cri_pod_record_get(req, id_or_prefix, &rec, err) < 0)
    return -1;
  const char *id = rec->id;
  if (rec->state == SM_POD_PENDING)
    return crio_error(err, ENOENT, "pod sandbox %s: not found (still being created)", id);
  if (rec->state != SM_POD_READY || rec->goal != SM_POD_READY)
    return crio_error(err, EBUSY, "pod sandbox %s is not ready (%s%s)", id,
                      sm_state_name(SM_KIND_POD, rec->state),
                      rec->goal != SM_POD_READY ? ", stopping" : "");
  *out = steal_pointer(&rec);
  return 0;
}

int cri_handle_update_pod_sandbox_resources(struct cri_request *req, ProtobufCMessage **response,
                                            crio_error_t *err) {
  const Runtime__V1__UpdatePodSandboxResourcesRequest *in = (const void *)req->message;
  if (validate(in, err) < 0)
    return -1;
  cleanup_store_record store_record *rec = NULL;
  if (pod_get(req, in->pod_sandbox_id, &rec, err) < 0)
    return -1;
  if (reconciler_pod_update_resources(req->ctx->reconciler, rec->id, in->resources, in->overhead,
                                      req->deadline_mono_ns, err) < 0)
    return -1;

  Runtime__V1__UpdatePodSandboxResourcesResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__update_pod_sandbox_resources_response__init(resp);
  *response = &resp->base;
  return 0;
}
