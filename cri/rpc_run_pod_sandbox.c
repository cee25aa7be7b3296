#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cri/pod.h"
#include "reconciler/reconciler.h"
#include "statemachine/statemachine.h"

enum pod_claim {
  POD_CREATED,  /* a new record */
  POD_ATTACHED, /* the record a previous attempt of the same request made */
  POD_DRAINING, /* the name is held by a pod on its way to REMOVED */
};

/* Writes the new record, or finds the one a previous attempt of the same
 * request made, or the pod that still holds the name while it is removed
 * (a rolled-back attempt, whose rollback a crash may have interrupted). */
static int create_or_attach(struct cri_request *req, const Runtime__V1__RunPodSandboxRequest *in,
                            char **id_out, enum pod_claim *claim, crio_error_t *err) {
  const struct cri_context *ctx = req->ctx;
  cleanup_free char *name = cri_pod_name(in->config->metadata);
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(ctx->store, STORE_TXN_WRITE, &txn, err) < 0)
    return -1;

  cleanup_free char *taken_by = NULL;
  cleanup_error crio_error_t lookup_err = NULL;
  if (store_name_lookup(txn, STORE_NAMES_POD, name, &taken_by, &lookup_err) == 0) {
    cleanup_store_record store_record *rec = NULL;
    if (store_record_get(txn, STORE_KIND_POD, taken_by, &rec, err) < 0)
      return crio_error_prefix(err, "pod name %s", name);
    /* The kubelet retries a RunPodSandbox that outlived its deadline with
     * the same request; it must get the same pod, not "name reserved". */
    if (rec->goal == SM_POD_READY && cri_pod_record_matches(rec, in, ctx->config)) {
      *claim = POD_ATTACHED;
      *id_out = steal_pointer(&taken_by);
      return 0;
    }
    if (rec->goal == SM_POD_REMOVED) {
      *claim = POD_DRAINING;
      *id_out = steal_pointer(&taken_by);
      return 0;
    }
    return crio_error(err, EEXIST, "pod sandbox name %s is reserved by pod %s (%s)", name, taken_by,
                      sm_state_name(SM_KIND_POD, rec->state));
  }
  if (crio_error_status(&lookup_err) != ENOENT)
    return crio_error(err, crio_error_status(&lookup_err), "%s", crio_error_message(&lookup_err));

  char id[65];
  crio_random_id(id);
  cleanup_store_record store_record *rec = cri_pod_record_new(in, ctx->config, id);
  store_create(txn, rec);
  if (store_txn_commit(steal_pointer(&txn), err) < 0)
    return crio_error_prefix(err, "create pod record");
  *claim = POD_CREATED;
  *id_out = xstrdup(id);
  return 0;
}

/* The name is held by a pod being removed: its record and name go once its
 * teardown ends.  The kubelet retries a failed RunPodSandbox with the same
 * name; answering ALREADY_EXISTS while the failed attempt is still being
 * rolled back (after a restart, say) would fail the retry for nothing. */
static int wait_for_name(struct cri_request *req, const char *holder, crio_error_t *err) {
  struct reconciler *r = req->ctx->reconciler;
  log_info("RunPodSandbox: the name is held by pod %s, being removed; waiting for it", holder);
  reconciler_wake(r, SM_KIND_POD, holder);
  if (reconciler_wait(r, SM_KIND_POD, holder, SM_POD_REMOVED, req->deadline_mono_ns, err) < 0) {
    int status = crio_error_status(err);
    if (status == ETIMEDOUT || status == ECANCELED)
      return crio_error_prefix(err, "pod sandbox name held by pod %s being removed", holder);
    cleanup_free char *why = xstrdup(crio_error_message(err));
    crio_error_release(err);
    return crio_error(err, EEXIST, "pod sandbox name is held by pod %s, whose removal failed: %s",
                      holder, why);
  }
  return 0;
}

int cri_handle_run_pod_sandbox(struct cri_request *req, ProtobufCMessage **response,
                               crio_error_t *err) {
  const Runtime__V1__RunPodSandboxRequest *in = (const void *)req->message;
  if (cri_pod_config_validate(in, req->ctx->config, err) < 0)
    return -1;
  cleanup_free char *id = NULL;
  enum pod_claim claim = POD_DRAINING;
  /* A few rounds: another request may take the freed name first. */
  for (int round = 0; claim == POD_DRAINING; round++) {
    free(steal_pointer(&id));
    if (round == 3)
      return crio_error(err, EEXIST, "pod sandbox name %s is still reserved",
                        in->config->metadata->name);
    if (create_or_attach(req, in, &id, &claim, err) < 0)
      return -1;
    if (claim == POD_DRAINING && wait_for_name(req, id, err) < 0)
      return -1;
  }
  if (claim == POD_ATTACHED)
    log_info("RunPodSandbox: attaching a retry to pod %s", id);

  struct reconciler *r = req->ctx->reconciler;
  reconciler_wake(r, SM_KIND_POD, id);
  if (reconciler_wait(r, SM_KIND_POD, id, SM_POD_READY, req->deadline_mono_ns, err) < 0) {
    if (crio_error_status(err) == ETIMEDOUT || crio_error_status(err) == ECANCELED)
      return crio_error_prefix(err, "run pod sandbox %s", id);
    /* A failed creation is rolled back; wait for that, so the name is free
     * again when the kubelet retries. */
    cleanup_error crio_error_t rollback_err = NULL;
    if (reconciler_wait(r, SM_KIND_POD, id, SM_POD_REMOVED, req->deadline_mono_ns, &rollback_err) <
        0)
      log_warning("pod %s: rollback not finished: %s", id, crio_error_message(&rollback_err));
    /* The request was valid (it was checked before anything was written):
     * what failed is the node's side, whatever errno the step carried. */
    crio_error_set_status(err, EIO);
    return crio_error_prefix(err, "run pod sandbox %s", id);
  }
  Runtime__V1__RunPodSandboxResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__run_pod_sandbox_response__init(resp);
  resp->pod_sandbox_id = cri_strdup(req, id);
  *response = &resp->base;
  return 0;
}
