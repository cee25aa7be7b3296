#include "cri/image.h"

static Runtime__V1__FilesystemUsage *usage_view(struct cri_request *req,
                                                const struct img_fs_usage *u) {
  Runtime__V1__FilesystemUsage *f = cri_alloc(req, sizeof(*f));
  runtime__v1__filesystem_usage__init(f);
  f->timestamp = u->timestamp;
  f->fs_id = cri_alloc(req, sizeof(*f->fs_id));
  runtime__v1__filesystem_identifier__init(f->fs_id);
  f->fs_id->mountpoint = cri_strdup(req, u->mountpoint);
  f->used_bytes = cri_alloc(req, sizeof(*f->used_bytes));
  runtime__v1__uint64_value__init(f->used_bytes);
  f->used_bytes->value = u->bytes;
  f->inodes_used = cri_alloc(req, sizeof(*f->inodes_used));
  runtime__v1__uint64_value__init(f->inodes_used);
  f->inodes_used->value = u->inodes;
  return f;
}

/* The layer store's usage.  Writable container layers will live under the
 * same root, so container_filesystems names the same filesystem, as CRI-O
 * does when images and containers share a storage root: the kubelet sees
 * one filesystem (same mountpoint), not a split image filesystem. */
int cri_handle_image_fs_info(struct cri_request *req, ProtobufCMessage **response,
                             crio_error_t *err) {
  struct img_fs_usage usage;
  if (img_service_fs_usage(req->ctx->images, &usage, err) < 0)
    return crio_error_prefix(err, "image filesystem usage");
  Runtime__V1__ImageFsInfoResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__image_fs_info_response__init(resp);
  resp->n_image_filesystems = 1;
  resp->image_filesystems = cri_alloc(req, sizeof(*resp->image_filesystems));
  resp->image_filesystems[0] = usage_view(req, &usage);
  resp->n_container_filesystems = 1;
  resp->container_filesystems = cri_alloc(req, sizeof(*resp->container_filesystems));
  resp->container_filesystems[0] = usage_view(req, &usage);
  *response = &resp->base;
  return 0;
}
