/* What the verbose "info" of the status RPCs (Status, PodSandboxStatus,
 * ContainerStatus, ImageStatus) builds alike: the JSON text in the
 * request's arena, and the lifecycle facts every record has. */
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "cri/internal.h"

char *cri_json_print(struct cri_request *req, cJSON *root) {
  char *printed = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  char *out = cri_strdup(req, printed);
  free(printed);
  return out;
}

void cri_json_add_lifecycle(cJSON *root, enum sm_kind kind, const store_record *rec) {
  cJSON_AddStringToObject(root, "state", sm_state_name(kind, rec->state));
  cJSON_AddStringToObject(root, "goal", sm_state_name(kind, rec->goal));
  if (rec->error_status)
    cJSON_AddStringToObject(root, "lastError", rec->error_message);
}

void cri_json_add_resources(cJSON *root, const store_record *rec) {
  cJSON *resources = cJSON_AddArrayToObject(root, "resources");
  for (size_t i = 0; i < rec->n_resources; i++) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "type", rec->resources[i]->type);
    cJSON_AddStringToObject(r, "id", rec->resources[i]->id);
    cJSON_AddItemToArray(resources, r);
  }
}
