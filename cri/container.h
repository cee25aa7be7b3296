/* Internal to cri/: what the container handlers share. */
#ifndef CRIO_CRI_CONTAINER_H
#define CRIO_CRI_CONTAINER_H

#include "cri/internal.h"
#include "store/store.h"

/* Checks of a CreateContainerRequest that need nothing but the request
 * (INVALID_ARGUMENT naming the field). */
int cri_container_request_validate(const Runtime__V1__CreateContainerRequest *req,
                                   crio_error_t *err);

/* The reserved name: k8s_<container>_<pod>_<namespace>_<uid>_<attempt>
 * (the kubelet's docker-era form, which CRI-O keeps).  malloc'd. */
char *cri_container_name(const Runtime__V1__ContainerMetadata *container,
                         const Runtime__V1__PodSandboxMetadata *pod);

/* What a new record is made from, besides the request. */
struct cri_container_origin {
  const store_record *pod;
  const Runtime__V1__PodSandboxConfig *pod_config;
  const store_record *image;
  const char *id;
  const char *log_path;
};
/* State PENDING, goal CREATED. */
store_record *cri_container_record_new(const Runtime__V1__CreateContainerRequest *req,
                                       const struct cri_container_origin *origin);
/* Whether a record was made by the same request for the same pod (a
 * kubelet retry) rather than a different one that wants the name. */
bool cri_container_record_matches(const store_record *rec,
                                  const Runtime__V1__CreateContainerRequest *req,
                                  const char *pod_id);
/* The stored ContainerConfig; NULL if absent. */
Runtime__V1__ContainerConfig *cri_container_record_config(const store_record *rec);
void cri_container_config_freep(Runtime__V1__ContainerConfig **config);
#define cleanup_container_config __attribute__((cleanup(cri_container_config_freep)))

/* A container exists for the CRI once its runtime create committed: one
 * being created (PENDING, ROOTFS_MOUNTED), or a creation being rolled back
 * (which never got a conmon), is not listed and has no status. */
bool cri_container_visible(const store_record *rec);

/* Views for responses, in the request's arena.  image_ref: the reference
 * to report (a repo digest, or the image id). */
Runtime__V1__Container *cri_container_view(struct cri_request *req, const store_record *rec);
Runtime__V1__ContainerStatus *
cri_container_status_view(struct cri_request *req, const store_record *rec, const char *image_ref);

/* Full id or unique prefix of a visible container: ENOENT / EINVAL
 * (ambiguous or empty).  *rec (may be NULL) gets the record. */
int cri_container_resolve(struct cri_request *req, const char *id_or_prefix, char **id,
                          store_record **rec, crio_error_t *err);
/* The same for the idempotent RPCs, to which a container that is gone is
 * no error: 1 and *id (and *rec), or 0 (no such container). */
int cri_container_resolve_existing(struct cri_request *req, const char *id_or_prefix, char **id,
                                   store_record **rec, crio_error_t *err);

#endif
