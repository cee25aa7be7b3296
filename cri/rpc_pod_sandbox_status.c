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
  cJSON_AddStringToObject(root, "state", sm_state_name(SM_KIND_POD, rec->state));
  cJSON_AddStringToObject(root, "goal", sm_state_name(SM_KIND_POD, rec->goal));
  if (rec->error_status)
    cJSON_AddStringToObject(root, "lastError", rec->error_message);
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
  cJSON *resources = cJSON_AddArrayToObject(root, "resources");
  for (size_t i = 0; i < rec->n_resources; i++) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "type", rec->resources[i]->type);
    cJSON_AddStringToObject(r, "id", rec->resources[i]->id);
    cJSON_AddItemToArray(resources, r);
  }
  char *printed = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  char *out = cri_strdup(req, printed);
  free(printed);
  return out;
}

int cri_handle_pod_sandbox_status(struct cri_request *req, ProtobufCMessage **response,
                                  crio_error_t *err) {
  const Runtime__V1__PodSandboxStatusRequest *in = (const void *)req->message;
  if (in->pod_sandbox_id == NULL || *in->pod_sandbox_id == '\0')
    return crio_error(err, EINVAL, "pod_sandbox_id is required");
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(req->ctx->store, STORE_TXN_READ, &txn, err) < 0)
    return -1;
  cleanup_free char *id = NULL;
  if (store_record_resolve_prefix(txn, STORE_KIND_POD, in->pod_sandbox_id, &id, err) < 0)
    return crio_error_prefix(err, "pod sandbox %s", in->pod_sandbox_id);
  cleanup_store_record store_record *rec = NULL;
  if (store_record_get(txn, STORE_KIND_POD, id, &rec, err) < 0)
    return crio_error_prefix(err, "pod sandbox %s", id);
  store_txn_abort(steal_pointer(&txn));

  Runtime__V1__PodSandboxStatusResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__pod_sandbox_status_response__init(resp);
  resp->status = cri_pod_status_view(req, rec);
  resp->timestamp = crio_now_ns();
  if (in->verbose) {
    resp->n_info = 1;
    resp->info = cri_alloc(req, sizeof(*resp->info));
    Runtime__V1__PodSandboxStatusResponse__InfoEntry *e = cri_alloc(req, sizeof(*e));
    runtime__v1__pod_sandbox_status_response__info_entry__init(e);
    e->key = "info";
    e->value = verbose_info(req, rec);
    resp->info[0] = e;
  }
  *response = &resp->base;
  return 0;
}
