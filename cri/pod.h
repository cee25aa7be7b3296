/* Internal to cri/: what the pod sandbox handlers share. */
#ifndef CRIO_CRI_POD_H
#define CRIO_CRI_POD_H

#include "cri/internal.h"
#include "store/store.h"

int cri_pod_config_validate(const Runtime__V1__RunPodSandboxRequest *req,
                            const struct cri_config *cfg, crio_error_t *err);
const struct cri_runtime_handler *cri_runtime_handler_find(const struct cri_config *cfg,
                                                           const char *name);
/* The reserved name: k8s_<name>_<namespace>_<uid>_<attempt>.  malloc'd. */
char *cri_pod_name(const Runtime__V1__PodSandboxMetadata *md);

/* A new record for a validated request (state PENDING, goal READY). */
store_record *cri_pod_record_new(const Runtime__V1__RunPodSandboxRequest *req,
                                 const struct cri_config *cfg, const char *id);
/* Whether an existing record was made by the same request (a kubelet
 * retry) rather than a different one that wants the same name. */
bool cri_pod_record_matches(const store_record *rec, const Runtime__V1__RunPodSandboxRequest *req,
                            const struct cri_config *cfg);
/* The record's stored PodSandboxConfig, decoded; NULL if absent. */
Runtime__V1__PodSandboxConfig *cri_pod_record_config(const store_record *rec);
void cri_pod_config_freep(Runtime__V1__PodSandboxConfig **config);
#define cleanup_pod_config __attribute__((cleanup(cri_pod_config_freep)))

/* Views of a record for responses, allocated in the request's arena. */
/* The metadata its PodSandboxConfig gave (empty fields if none). */
Runtime__V1__PodSandboxMetadata *cri_pod_metadata_view(struct cri_request *req,
                                                       const store_record *rec);
Runtime__V1__PodSandbox *cri_pod_view(struct cri_request *req, const store_record *rec);
Runtime__V1__PodSandboxStatus *cri_pod_status_view(struct cri_request *req,
                                                   const store_record *rec);

/* Resolves a full id or unique prefix; ENOENT / EINVAL (ambiguous). */
int cri_pod_resolve(struct cri_request *req, const char *id_or_prefix, char **id,
                    crio_error_t *err);
/* The record of a pod by full id or unique prefix (pending ones too),
 * read in a read txn that has ended when this returns. */
int cri_pod_record_get(struct cri_request *req, const char *id_or_prefix, store_record **out,
                       crio_error_t *err);
/* The same for the idempotent RPCs, to which a pod that is gone is no
 * error: 1 and *id, or 0 (no such pod) with *id NULL. */
int cri_pod_resolve_existing(struct cri_request *req, const char *id_or_prefix, char **id,
                             crio_error_t *err);

#endif
