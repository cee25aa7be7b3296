#include <errno.h>

#include "cri/image.h"
#include "cri/pod.h"
#include "reconciler/reconciler.h"
#include "statemachine/statemachine.h"

/* How often a pull finds the image's record on its way out (a removal or
 * a failed pull's rollback) before giving up; each round waits for that
 * record to be gone. */
#define PULL_MAX_ROUNDS 8

enum pull_start {
  PULL_DONE,    /* the image was READY: its names now point at it */
  PULL_WAIT,    /* a record is on its way to READY: wait for it */
  PULL_RETIRED, /* the record is on its way out: wait for it to go, retry */
};

/* One write txn: create the record, attach to a pull in flight, or just
 * point the names at a READY image. */
static int pull_start(struct cri_request *req, struct img_pull_plan *plan, enum pull_start *out,
                      crio_error_t *err) {
  struct img_service *images = req->ctx->images;
  const char *id = img_pull_plan_id(plan);
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(req->ctx->store, STORE_TXN_WRITE, &txn, err) < 0)
    return -1;
  cleanup_store_record store_record *rec = NULL;
  cleanup_error crio_error_t get_err = NULL;
  if (store_record_get(txn, STORE_KIND_IMAGE, id, &rec, &get_err) < 0) {
    if (crio_error_status(&get_err) != ENOENT)
      return crio_error(err, crio_error_status(&get_err), "%s", crio_error_message(&get_err));
    cleanup_store_record store_record *fresh = img_pull_plan_record(plan);
    store_create(txn, fresh);
    /* Offered before the commit: the step cannot run before the record
     * exists, and must find the plan when it does. */
    img_service_offer_pull(images, plan);
    if (store_txn_commit(steal_pointer(&txn), err) < 0) {
      img_service_withdraw_pull(images, plan);
      return crio_error_prefix(err, "create image record");
    }
    *out = PULL_WAIT;
    return 0;
  }
  if (rec->goal != SM_IMAGE_READY) {
    *out = PULL_RETIRED;
    return 0;
  }
  if (rec->state == SM_IMAGE_READY) {
    if (img_service_point_names(images, txn, plan, err) < 0 ||
        store_txn_commit(steal_pointer(&txn), err) < 0)
      return crio_error_prefix(err, "image %s: names", id);
    *out = PULL_DONE;
    return 0;
  }
  /* Another pull of the same image is under way: share its download (and
   * lend it our credentials, should its own puller leave). */
  log_info("PullImage %s: joining the pull of image %s in flight", img_pull_plan_reference(plan),
           id);
  img_service_offer_pull(images, plan);
  *out = PULL_WAIT;
  return 0;
}

/* After the wait: the image is READY; point this pull's names at it. */
static int pull_finish(struct cri_request *req, struct img_pull_plan *plan, crio_error_t *err) {
  const char *id = img_pull_plan_id(plan);
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(req->ctx->store, STORE_TXN_WRITE, &txn, err) < 0)
    return -1;
  cleanup_store_record store_record *rec = NULL;
  if (store_record_get(txn, STORE_KIND_IMAGE, id, &rec, err) < 0)
    return crio_error_prefix(err, "image %s", id);
  if (rec->state != SM_IMAGE_READY || rec->goal != SM_IMAGE_READY)
    return crio_error(err, EBUSY, "image %s was removed while the pull finished", id);
  if (img_service_point_names(req->ctx->images, txn, plan, err) < 0)
    return -1;
  return store_txn_commit(steal_pointer(&txn), err);
}

static int pull(struct cri_request *req, struct img_pull_plan *plan, crio_error_t *err) {
  struct reconciler *r = req->ctx->reconciler;
  const char *id = img_pull_plan_id(plan);
  for (int round = 0;; round++) {
    enum pull_start start;
    if (pull_start(req, plan, &start, err) < 0)
      return -1;
    if (start == PULL_DONE)
      return 0;
    if (start == PULL_WAIT)
      break;
    if (round == PULL_MAX_ROUNDS)
      return crio_error(err, EBUSY, "image %s keeps being removed", id);
    reconciler_wake(r, SM_KIND_IMAGE, id);
    if (reconciler_wait(r, SM_KIND_IMAGE, id, SM_IMAGE_REMOVED, req->deadline_mono_ns, err) < 0)
      return crio_error_prefix(err, "wait for the removal of image %s", id);
  }

  reconciler_wake(r, SM_KIND_IMAGE, id);
  if (reconciler_wait(r, SM_KIND_IMAGE, id, SM_IMAGE_READY, req->deadline_mono_ns, err) < 0) {
    /* Out of time, or the daemon is stopping: the pull carries on (or
     * resumes after the restart) without us.  A step that failed with
     * ETIMEDOUT (a stalled transfer) is a failure like any other. */
    bool out_of_time = req->deadline_mono_ns > 0 && crio_monotonic_ns() >= req->deadline_mono_ns;
    if (out_of_time || crio_error_status(err) == ECANCELED)
      return -1;
    /* A failed pull is rolled back; wait for that, so what the failure
     * left (layers, the record) is gone when the kubelet retries. */
    cleanup_error crio_error_t rollback_err = NULL;
    if (reconciler_wait(r, SM_KIND_IMAGE, id, SM_IMAGE_REMOVED, req->deadline_mono_ns,
                        &rollback_err) < 0)
      log_warning("image %s: rollback not finished: %s", id, crio_error_message(&rollback_err));
    return -1;
  }
  return pull_finish(req, plan, err);
}

static const char *nonempty(const char *s) {
  return s && *s ? s : NULL;
}

int cri_pull_image_request_validate(const Runtime__V1__PullImageRequest *in,
                                    const struct cri_config *cfg, const char **image,
                                    crio_error_t *err) {
  if (cri_image_spec_text(in->image, "image.image", image, err) < 0)
    return -1;
  if (img_reference_check(*image, err) < 0)
    return crio_error_prefix(err, "image.image");
  /* Images are not kept per runtime handler; a handler that does not exist
   * is still refused, as the API asks. */
  const char *handler = in->image->runtime_handler;
  if (handler && *handler && cri_runtime_handler_find(cfg, handler) == NULL)
    return crio_error(err, EINVAL,
                      "image.runtime_handler: \"%s\" is not a configured runtime handler", handler);
  return 0;
}

int cri_handle_pull_image(struct cri_request *req, ProtobufCMessage **response, crio_error_t *err) {
  const Runtime__V1__PullImageRequest *in = (const void *)req->message;
  const char *text = NULL;
  if (cri_pull_image_request_validate(in, req->ctx->config, &text, err) < 0)
    return -1;
  struct img_credentials creds = {0};
  if (in->auth) {
    creds.username = nonempty(in->auth->username);
    creds.password = nonempty(in->auth->password);
    creds.auth = nonempty(in->auth->auth);
    creds.identity_token = nonempty(in->auth->identity_token);
    creds.registry_token = nonempty(in->auth->registry_token);
  }

  struct img_service *images = req->ctx->images;
  cleanup_img_pull_plan struct img_pull_plan *plan = NULL;
  if (img_service_plan_pull(images, text, in->auth ? &creds : NULL, &plan, err) < 0)
    return -1; /* "pull <image>: <every source tried and what it said>" */
  int rc = pull(req, plan, err);
  img_service_withdraw_pull(images, plan);
  if (rc < 0)
    return crio_error_prefix(err, "pull image %s", text);
  log_info("PullImage %s: image %s", img_pull_plan_reference(plan), img_pull_plan_id(plan));

  Runtime__V1__PullImageResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__pull_image_response__init(resp);
  resp->image_ref = cri_strdup(req, img_pull_plan_id(plan));
  *response = &resp->base;
  return 0;
}
