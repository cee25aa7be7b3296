#include <errno.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "cri/container.h"
#include "images/images.h"
#include "statemachine/statemachine.h"

/* verbose: what CRI-O's info carries (pid, sandbox id, the runtime spec)
 * and what an operator debugging a container wants of ours: lifecycle
 * state and goal, the last error, the host resources it holds. */
static char *verbose_info(struct cri_request *req, const store_record *rec) {
  const Crio__Store__ContainerBody *b = rec->container;
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "sandboxID", rec->parent_id);
  cJSON_AddNumberToObject(root, "pid", b->pid);
  cri_json_add_lifecycle(root, SM_KIND_CONTAINER, rec);
  cJSON_AddStringToObject(root, "runtimeHandler", b->runtime_handler);
  cJSON_AddStringToObject(root, "bundle", b->bundle_dir);
  cJSON_AddStringToObject(root, "rootfs", b->rootfs);
  cJSON_AddStringToObject(root, "cgroupsPath", b->cgroup_path);
  cJSON_AddNumberToObject(root, "conmonPid", b->conmon_pid);
  if (b->exit_code_lost)
    cJSON_AddBoolToObject(root, "exitCodeLost", true);
  cri_json_add_resources(root, rec);
  if (*b->bundle_dir) {
    cleanup_free char *path = xasprintf("%s/config.json", b->bundle_dir);
    cleanup_free char *text = NULL;
    cleanup_error crio_error_t e = NULL;
    if (crio_read_file(path, &text, NULL, &e) == 0) {
      cJSON *spec = cJSON_Parse(text);
      if (spec)
        cJSON_AddItemToObject(root, "runtimeSpec", spec);
    }
  }
  return cri_json_print(req, root);
}

int cri_handle_container_status(struct cri_request *req, ProtobufCMessage **response,
                                crio_error_t *err) {
  const Runtime__V1__ContainerStatusRequest *in = (const void *)req->message;
  if (in->container_id == NULL || *in->container_id == '\0')
    return crio_error(err, EINVAL, "container_id is required");
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(req->ctx->store, STORE_TXN_READ, &txn, err) < 0)
    return -1;
  cleanup_free char *id = NULL;
  cleanup_store_record store_record *rec = NULL;
  if (store_record_resolve_prefix(txn, STORE_KIND_CONTAINER, in->container_id, &id, err) < 0 ||
      store_record_get(txn, STORE_KIND_CONTAINER, id, &rec, err) < 0)
    return crio_error_prefix(err, "container %s", in->container_id);
  if (!cri_container_visible(rec))
    return crio_error(err, ENOENT, "container %s: not found (it is being created)", id);
  /* The kubelet reports image_ref as the pod's imageID: a repo digest
   * names the image across nodes, the id only here. */
  struct img_names names = {0};
  const char *image_ref = NULL;
  cleanup_error crio_error_t names_err = NULL;
  if (img_service_names_of(txn, rec->container->image_id, &names, &names_err) == 0 &&
      names.n_digests > 0)
    image_ref = cri_strdup(req, names.digests[0]);
  img_names_clear(&names);
  store_txn_abort(steal_pointer(&txn));

  Runtime__V1__ContainerStatusResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__container_status_response__init(resp);
  resp->status = cri_container_status_view(req, rec, image_ref);
  if (in->verbose) {
    CRI_MAP_ONE(req, resp->n_info, resp->info, Runtime__V1__ContainerStatusResponse__InfoEntry,
                runtime__v1__container_status_response__info_entry__init, "info",
                verbose_info(req, rec));
  }
  *response = &resp->base;
  return 0;
}
