/* Checks of a CreateContainerRequest before anything is persisted.  Every
 * failure is INVALID_ARGUMENT naming the field.  The OCI spec builder
 * checks the rest when the container is created (and its EINVAL then
 * reaches the kubelet as INVALID_ARGUMENT too); what can be told from the
 * request alone is told here, before a record exists. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cri/container.h"

static bool has_dotdot(const char *path) {
  for (const char *p = path; *p;) {
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    if (n == 2 && p[0] == '.' && p[1] == '.')
      return true;
    p += n;
    while (*p == '/')
      p++;
  }
  return false;
}

static int check_indexed_path(const char *list, size_t i, const char *member, const char *path,
                              crio_error_t *err) {
  char field[64];
  snprintf(field, sizeof(field), "%s[%zu].%s", list, i, member);
  return cri_check_path_field(field, path, err);
}

static int check_mounts(const Runtime__V1__ContainerConfig *c, crio_error_t *err) {
  for (size_t i = 0; i < c->n_mounts; i++) {
    const Runtime__V1__Mount *m = c->mounts[i];
    if (m->container_path == NULL || m->container_path[0] != '/')
      return crio_error(err, EINVAL, "config.mounts[%zu].container_path: \"%s\" must be absolute",
                        i, m->container_path ? m->container_path : "");
    bool image = m->image && m->image->image && m->image->image[0];
    if (image)
      return crio_error(err, ENOSYS, "config.mounts[%zu].image: image volumes are not supported",
                        i);
    if (m->host_path == NULL || m->host_path[0] != '/')
      return crio_error(err, EINVAL, "config.mounts[%zu].host_path: \"%s\" must be absolute", i,
                        m->host_path ? m->host_path : "");
    if (check_indexed_path("config.mounts", i, "container_path", m->container_path, err) < 0 ||
        check_indexed_path("config.mounts", i, "host_path", m->host_path, err) < 0)
      return -1;
    if ((int)m->propagation < RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE ||
        (int)m->propagation > RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL)
      return crio_error(err, EINVAL, "config.mounts[%zu].propagation: unknown mode %d", i,
                        (int)m->propagation);
  }
  for (size_t i = 0; i < c->n_devices; i++) {
    const Runtime__V1__Device *d = c->devices[i];
    if (d->container_path == NULL || d->container_path[0] != '/')
      return crio_error(err, EINVAL, "config.devices[%zu].container_path: \"%s\" must be absolute",
                        i, d->container_path ? d->container_path : "");
    if (d->host_path == NULL || d->host_path[0] != '/')
      return crio_error(err, EINVAL, "config.devices[%zu].host_path: \"%s\" must be absolute", i,
                        d->host_path ? d->host_path : "");
    if (check_indexed_path("config.devices", i, "container_path", d->container_path, err) < 0 ||
        check_indexed_path("config.devices", i, "host_path", d->host_path, err) < 0)
      return -1;
  }
  return 0;
}

int cri_container_request_validate(const Runtime__V1__CreateContainerRequest *req,
                                   crio_error_t *err) {
  if (req->pod_sandbox_id == NULL || req->pod_sandbox_id[0] == '\0')
    return crio_error(err, EINVAL, "pod_sandbox_id is required");
  const Runtime__V1__ContainerConfig *c = req->config;
  if (c == NULL)
    return crio_error(err, EINVAL, "config is required");
  if (c->metadata == NULL || c->metadata->name == NULL || c->metadata->name[0] == '\0')
    return crio_error(err, EINVAL, "config.metadata.name is required");
  if (cri_check_name_field("config.metadata.name", c->metadata->name, err) < 0)
    return -1;
  if (c->image == NULL || c->image->image == NULL || c->image->image[0] == '\0')
    return crio_error(err, EINVAL, "config.image.image is required");
  if (c->log_path && c->log_path[0] == '/')
    return crio_error(err, EINVAL,
                      "config.log_path: \"%s\" must be relative to the pod's log_directory",
                      c->log_path);
  if (c->log_path && has_dotdot(c->log_path))
    return crio_error(err, EINVAL, "config.log_path: \"%s\" must not climb out with \"..\"",
                      c->log_path);
  if (c->log_path && cri_check_path_field("config.log_path", c->log_path, err) < 0)
    return -1;
  if (c->n_cdi_devices > 0)
    return crio_error(err, ENOSYS, "config.CDI_devices: CDI devices are not supported");
  return check_mounts(c, err);
}
