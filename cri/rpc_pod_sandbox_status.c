#include <errno.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "cri/pod.h"
#include "statemachine/statemachine.h"

/* verbose: what an operator debugging a pod wants — our lifecycle state
 * and goal, the last error, the host resources the pod holds, the CNI
 * result. */
static char *verbose_info(struct cri_request *req, const store_record *rec) {
  cJSON *root = cJSON_CreateObject();
  cri_json_add_lifecycle(root, SM_KIND_POD, rec);
  if (rec->pod) {
    cJSON_AddStringToObject(root, "runDir", rec->pod->run_dir);
    cJSON_AddStringToObject(root, "netnsPath", rec->pod->netns_path);
    cJSON_AddStringToObject(root, "cgroupPath", rec->pod->cgroup_path);
    cJSON_AddStringToObject(root, "network", rec->pod->network_name);
    if (rec->pod->infra_pid)
      cJSON_AddNumberToObject(root, "infraPid", rec->pod->infra_pid);
    if (rec->pod->network_status.len) {
      cleanup_free char *text =
          xstrndup((const char *)rec->pod->network_status.data, rec->pod->network_status.len);
      cJSON *result = cJSON_Parse(text);
      if (result)
        cJSON_AddItemToObject(root, "cniResult", result);
    }
  }
  cri_json_add_resources(root, rec);
  return cri_json_print(req, root);
}

int cri_handle_pod_sandbox_status(struct cri_request *req, ProtobufCMessage **response,
                                  crio_error_t *err) {
  const Runtime__V1__PodSandboxStatusRequest *in = (const void *)req->message;
  cleanup_store_record store_record *rec = NULL;
  if (cri_pod_record_get(req, in->pod_sandbox_id, &rec, err) < 0)
    return -1;

  Runtime__V1__PodSandboxStatusResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__pod_sandbox_status_response__init(resp);
  resp->status = cri_pod_status_view(req, rec);
  resp->timestamp = crio_now_ns();
  if (in->verbose) {
    CRI_MAP_ONE(req, resp->n_info, resp->info, Runtime__V1__PodSandboxStatusResponse__InfoEntry,
                runtime__v1__pod_sandbox_status_response__info_entry__init, "info",
                verbose_info(req, rec));
  }
  *response = &resp->base;
  return 0;
}
