/* UpdateContainerResources: new cgroup limits for a created or running
 * container.  The handler checks the request and the container's state,
 * and asks the reconciler (reconciler_container_update_resources), which
 * runs the runtime's `update` as an operation serialised with the
 * container's steps, logs its intent and outcome, and keeps the effective
 * resources in the record (ObjectRecord.resources_update) so that
 * ContainerStatus reports them and a daemon restart keeps them
 * (reconciler/container_ops.c says how). */
#include <errno.h>
#include <string.h>

#include "cri/container.h"
#include "cri/ctr_ops.h"
#include "reconciler/reconciler.h"
#include "statemachine/statemachine.h"

static int validate(const Runtime__V1__UpdateContainerResourcesRequest *in, crio_error_t *err) {
  if (in->container_id == NULL || *in->container_id == '\0')
    return crio_error(err, EINVAL, "container_id is required");
  if (in->linux == NULL)
    return crio_error(err, EINVAL, "linux is required (windows resources do not apply here)");
  if (in->linux->oom_score_adj < -1000 || in->linux->oom_score_adj > 1000)
    return crio_error(err, EINVAL, "linux.oom_score_adj: %lld is outside -1000..1000",
                      (long long)in->linux->oom_score_adj);
  return 0;
}

static int check_updatable(const store_record *rec, crio_error_t *err) {
  if (rec->state == SM_CONTAINER_CREATED || rec->state == SM_CONTAINER_RUNNING)
    return 0;
  return crio_error(err, EBUSY, "container %s is not running (%s)", rec->id,
                    sm_state_name(SM_KIND_CONTAINER, rec->state));
}

/* The request's field names: the reconciler checks the resources as the
 * spec builder does, naming them as in a ContainerConfig. */
static int request_error(crio_error_t *err) {
  static const char prefix[] = "config.linux.resources.";
  const char *msg = crio_error_message(err);
  if (strncmp(msg, prefix, sizeof(prefix) - 1) != 0)
    return -1;
  cleanup_free char *renamed = xasprintf("linux.%s", msg + sizeof(prefix) - 1);
  int status = crio_error_status(err);
  crio_error_release(err);
  return crio_error(err, status, "%s", renamed);
}

int cri_handle_update_container_resources(struct cri_request *req, ProtobufCMessage **response,
                                          crio_error_t *err) {
  const Runtime__V1__UpdateContainerResourcesRequest *in = (const void *)req->message;
  if (validate(in, err) < 0)
    return -1;
  cleanup_store_record store_record *rec = NULL;
  if (cri_ctr_record_get(req, in->container_id, &rec, err) < 0 || check_updatable(rec, err) < 0)
    return -1;
  if (reconciler_container_update_resources(req->ctx->reconciler, rec->id, in->linux,
                                            req->deadline_mono_ns, err) < 0)
    return request_error(err);

  Runtime__V1__UpdateContainerResourcesResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__update_container_resources_response__init(resp);
  *response = &resp->base;
  return 0;
}
