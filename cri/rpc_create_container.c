#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cri/container.h"
#include "cri/pod.h"
#include "images/images.h"
#include "reconciler/reconciler.h"
#include "statemachine/statemachine.h"

enum container_claim {
  CONTAINER_CREATED,  /* a new record */
  CONTAINER_ATTACHED, /* the record a previous attempt of the same request made */
  CONTAINER_DRAINING, /* the name is held by a container on its way to REMOVED */
};

static char *log_path_of(const struct cri_request *req, const Runtime__V1__PodSandboxConfig *pod,
                         const Runtime__V1__ContainerConfig *c, const char *id) {
  const char *dir = pod->log_directory;
  if (dir == NULL || *dir == '\0')
    return reconciler_container_default_log_path(req->ctx->containers, id);
  if (c->log_path && *c->log_path)
    return xasprintf("%s/%s", dir, c->log_path);
  return xasprintf("%s/%s.log", dir, id);
}

/* The image the request names, if it is pulled and not being removed. */
static int find_image(struct cri_request *req, struct store_txn *txn, const char *text,
                      store_record **out, crio_error_t *err) {
  cleanup_free char *id = NULL;
  cleanup_error crio_error_t lookup_err = NULL;
  if (img_service_lookup(req->ctx->images, txn, text, &id, &lookup_err) < 0) {
    if (crio_error_status(&lookup_err) == ENOENT)
      return crio_error(err, ENOENT, "config.image.image: image \"%s\" not known: pull it first",
                        text);
    return crio_error(err, crio_error_status(&lookup_err), "config.image.image: %s",
                      crio_error_message(&lookup_err));
  }
  if (store_record_get(txn, STORE_KIND_IMAGE, id, out, err) < 0)
    return crio_error_prefix(err, "config.image.image: image %s", id);
  if ((*out)->state != SM_IMAGE_READY || (*out)->goal != SM_IMAGE_READY)
    return crio_error(err, ENOENT, "config.image.image: image \"%s\" not known (%s)", text,
                      (*out)->goal == SM_IMAGE_REMOVED ? "being removed" : "being pulled");
  return 0;
}

/* Writes the new record, or finds the one a previous attempt of the same
 * request made, or the container that holds the name while it is removed.
 * The pod and the image are checked in the same write txn, so neither a
 * StopPodSandbox nor a RemoveImage can slip between check and record. */
static int create_or_attach(struct cri_request *req, const Runtime__V1__CreateContainerRequest *in,
                            const char *pod_id, char **id_out, enum container_claim *claim,
                            crio_error_t *err) {
  const struct cri_context *ctx = req->ctx;
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(ctx->store, STORE_TXN_WRITE, &txn, err) < 0)
    return -1;
  cleanup_store_record store_record *pod = NULL;
  if (store_record_get(txn, STORE_KIND_POD, pod_id, &pod, err) < 0)
    return crio_error_prefix(err, "pod sandbox %s", pod_id);
  if (pod->state != SM_POD_READY || pod->goal != SM_POD_READY)
    return crio_error(err, EBUSY, "pod sandbox %s is not ready (%s)", pod_id,
                      sm_state_name(SM_KIND_POD, pod->state));
  cleanup_pod_config Runtime__V1__PodSandboxConfig *pod_config = cri_pod_record_config(pod);
  if (pod_config == NULL || pod_config->metadata == NULL)
    return crio_error(err, EIO, "pod sandbox %s: stored config does not decode", pod_id);
  cleanup_store_record store_record *image = NULL;
  if (find_image(req, txn, in->config->image->image, &image, err) < 0)
    return -1;

  cleanup_free char *name = cri_container_name(in->config->metadata, pod_config->metadata);
  cleanup_free char *taken_by = NULL;
  cleanup_error crio_error_t lookup_err = NULL;
  if (store_name_lookup(txn, STORE_NAMES_CONTAINER, name, &taken_by, &lookup_err) == 0) {
    cleanup_store_record store_record *rec = NULL;
    if (store_record_get(txn, STORE_KIND_CONTAINER, taken_by, &rec, err) < 0)
      return crio_error_prefix(err, "container name %s", name);
    /* The kubelet retries a CreateContainer that outlived its deadline with
     * the same request; it must get the same container. */
    if (rec->goal == SM_CONTAINER_CREATED && cri_container_record_matches(rec, in, pod_id)) {
      *claim = CONTAINER_ATTACHED;
      *id_out = steal_pointer(&taken_by);
      return 0;
    }
    if (rec->goal == SM_CONTAINER_REMOVED) {
      *claim = CONTAINER_DRAINING;
      *id_out = steal_pointer(&taken_by);
      return 0;
    }
    return crio_error(err, EEXIST, "container name %s is reserved by container %s (%s)", name,
                      taken_by, sm_state_name(SM_KIND_CONTAINER, rec->state));
  }
  if (crio_error_status(&lookup_err) != ENOENT)
    return crio_error(err, crio_error_status(&lookup_err), "%s", crio_error_message(&lookup_err));

  char id[65];
  crio_random_id(id);
  cleanup_free char *log_path = log_path_of(req, pod_config, in->config, id);
  if (cri_check_path_field("config.log_path (under the pod's log_directory)", log_path, err) < 0)
    return -1;
  struct cri_container_origin origin = {
      .pod = pod, .pod_config = pod_config, .image = image, .id = id, .log_path = log_path};
  cleanup_store_record store_record *rec = cri_container_record_new(in, &origin);
  store_create(txn, rec);
  if (store_txn_commit(steal_pointer(&txn), err) < 0)
    return crio_error_prefix(err, "create container record");
  *claim = CONTAINER_CREATED;
  *id_out = xstrdup(id);
  return 0;
}

static int wait_for_name(struct cri_request *req, const char *holder, crio_error_t *err) {
  struct reconciler *r = req->ctx->reconciler;
  log_info("CreateContainer: the name is held by container %s, being removed; waiting for it",
           holder);
  reconciler_wake(r, SM_KIND_CONTAINER, holder);
  if (reconciler_wait(r, SM_KIND_CONTAINER, holder, SM_CONTAINER_REMOVED, req->deadline_mono_ns,
                      err) < 0) {
    int status = crio_error_status(err);
    if (status == ETIMEDOUT || status == ECANCELED)
      return crio_error_prefix(err, "container name held by container %s being removed", holder);
    cleanup_free char *why = xstrdup(crio_error_message(err));
    crio_error_release(err);
    return crio_error(err, EEXIST,
                      "container name is held by container %s, whose removal failed: %s", holder,
                      why);
  }
  return 0;
}

int cri_handle_create_container(struct cri_request *req, ProtobufCMessage **response,
                                crio_error_t *err) {
  const Runtime__V1__CreateContainerRequest *in = (const void *)req->message;
  if (cri_container_request_validate(in, err) < 0)
    return -1;
  cleanup_free char *pod_id = NULL;
  if (cri_pod_resolve(req, in->pod_sandbox_id, &pod_id, err) < 0)
    return crio_error_prefix(err, "pod_sandbox_id");
  cleanup_free char *id = NULL;
  enum container_claim claim = CONTAINER_DRAINING;
  for (int round = 0; claim == CONTAINER_DRAINING; round++) {
    free(steal_pointer(&id));
    if (round == 3)
      return crio_error(err, EEXIST, "container name %s is still reserved",
                        in->config->metadata->name);
    if (create_or_attach(req, in, pod_id, &id, &claim, err) < 0)
      return -1;
    if (claim == CONTAINER_DRAINING && wait_for_name(req, id, err) < 0)
      return -1;
  }
  if (claim == CONTAINER_ATTACHED)
    log_info("CreateContainer: attaching a retry to container %s", id);

  struct reconciler *r = req->ctx->reconciler;
  reconciler_wake(r, SM_KIND_CONTAINER, id);
  if (reconciler_wait(r, SM_KIND_CONTAINER, id, SM_CONTAINER_CREATED, req->deadline_mono_ns, err) <
      0) {
    int status = crio_error_status(err);
    if (status == ETIMEDOUT || status == ECANCELED)
      return crio_error_prefix(err, "create container %s", id);
    /* A failed creation is rolled back; wait for that, so the name is free
     * again when the kubelet retries. */
    cleanup_error crio_error_t rollback_err = NULL;
    if (reconciler_wait(r, SM_KIND_CONTAINER, id, SM_CONTAINER_REMOVED, req->deadline_mono_ns,
                        &rollback_err) < 0)
      log_warning("container %s: rollback not finished: %s", id, crio_error_message(&rollback_err));
    /* What the spec builder refuses is the request's fault (its message
     * names the field); anything else failed on the node's side. */
    if (status != EINVAL && status != ENOSYS)
      crio_error_set_status(err, EIO);
    return crio_error_prefix(err, "create container %s", id);
  }
  Runtime__V1__CreateContainerResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__create_container_response__init(resp);
  resp->container_id = cri_strdup(req, id);
  *response = &resp->base;
  return 0;
}
