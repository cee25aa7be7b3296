/* oci_spec_build: the container's OCI runtime spec from the request, the
 * pod, the image and the host — process (spec_process.c), mounts
 * (spec_mounts.c), linux (spec_linux.c) — plus root, hostname and
 * annotations here. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oci/spec_internal.h"

/* The kubelet's labels and annotations are copied as they are; these keys
 * then say what the runtime knows for sure (containerd's names, which
 * tools such as crictl inspect, nerdctl and NRI plugins read). */
#define ANN_CONTAINER_TYPE "io.kubernetes.cri.container-type"
#define ANN_SANDBOX_ID "io.kubernetes.cri.sandbox-id"
#define ANN_CONTAINER_NAME "io.kubernetes.cri.container-name"
#define ANN_SANDBOX_NAME "io.kubernetes.cri.sandbox-name"
#define ANN_SANDBOX_NAMESPACE "io.kubernetes.cri.sandbox-namespace"
#define ANN_SANDBOX_UID "io.kubernetes.cri.sandbox-uid"
#define ANN_IMAGE_NAME "io.kubernetes.cri.image-name"
/* The kubelet's own label keys (pkg/kubelet/types), set from the metadata
 * even if the request's labels lack them. */
#define LABEL_CONTAINER_NAME "io.kubernetes.container.name"
#define LABEL_POD_NAME "io.kubernetes.pod.name"
#define LABEL_POD_NAMESPACE "io.kubernetes.pod.namespace"
#define LABEL_POD_UID "io.kubernetes.pod.uid"

static void annotation_set(cJSON *obj, const char *key, const char *value) {
  if (key == NULL || key[0] == '\0')
    return;
  cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
  cJSON_AddStringToObject(obj, key, value ? value : "");
}

static void build_annotations(const struct spec_ctx *c, cJSON *spec) {
  const Runtime__V1__ContainerConfig *cfg = c->cfg;
  const Runtime__V1__PodSandboxMetadata *pod = c->in->sandbox_config->metadata;
  cJSON *a = cJSON_AddObjectToObject(spec, "annotations");
  for (size_t i = 0; i < cfg->n_labels; i++)
    annotation_set(a, cfg->labels[i]->key, cfg->labels[i]->value);
  for (size_t i = 0; i < cfg->n_annotations; i++)
    annotation_set(a, cfg->annotations[i]->key, cfg->annotations[i]->value);
  annotation_set(a, LABEL_CONTAINER_NAME, cfg->metadata->name);
  annotation_set(a, ANN_CONTAINER_NAME, cfg->metadata->name);
  if (pod) {
    annotation_set(a, LABEL_POD_NAME, pod->name);
    annotation_set(a, LABEL_POD_NAMESPACE, pod->namespace_);
    annotation_set(a, LABEL_POD_UID, pod->uid);
    annotation_set(a, ANN_SANDBOX_NAME, pod->name);
    annotation_set(a, ANN_SANDBOX_NAMESPACE, pod->namespace_);
    annotation_set(a, ANN_SANDBOX_UID, pod->uid);
  }
  annotation_set(a, ANN_CONTAINER_TYPE, "container");
  annotation_set(a, ANN_SANDBOX_ID, c->in->sandbox_id);
  if (c->in->image_name)
    annotation_set(a, ANN_IMAGE_NAME, c->in->image_name);
}

static int check_input(const struct oci_spec_input *in, crio_error_t *err) {
  if (in->container_id == NULL || in->container_id[0] == '\0' || strchr(in->container_id, '/'))
    return crio_error(err, EINVAL, "container_id: empty or has '/'");
  if (in->sandbox_id == NULL || in->sandbox_id[0] == '\0')
    return crio_error(err, EINVAL, "sandbox_id: empty");
  if (in->config == NULL)
    return crio_error(err, EINVAL, "config: missing");
  if (in->sandbox_config == NULL)
    return crio_error(err, EINVAL, "sandbox_config: missing");
  if (in->host == NULL)
    return crio_error(err, EINVAL, "host: missing");
  if (in->rootfs == NULL || in->rootfs[0] != '/')
    return crio_error(err, EINVAL, "rootfs: \"%s\" must be absolute", in->rootfs ? in->rootfs : "");
  if (in->config->metadata == NULL || in->config->metadata->name == NULL ||
      in->config->metadata->name[0] == '\0')
    return crio_error(err, EINVAL, "config.metadata.name: required");
  if (in->image_config && !cJSON_IsObject(in->image_config))
    return crio_error(err, EINVAL, "image config: not a JSON object");
  return 0;
}

/* Host network and IPC are the pod's choice (the kubelet repeats it in
 * each container's options); a container's own options count only when
 * the pod's are missing. */
static void pod_namespaces(struct spec_ctx *c) {
  const Runtime__V1__LinuxPodSandboxConfig *pl = c->in->sandbox_config->linux;
  const Runtime__V1__NamespaceOption *pod =
      pl && pl->security_context ? pl->security_context->namespace_options : NULL;
  const Runtime__V1__NamespaceOption *own = c->sc ? c->sc->namespace_options : NULL;
  const Runtime__V1__NamespaceOption *opts = pod ? pod : own;
  c->host_network = opts && opts->network == RUNTIME__V1__NAMESPACE_MODE__NODE;
  c->host_ipc = opts && opts->ipc == RUNTIME__V1__NAMESPACE_MODE__NODE;
  /* The kubelet gives host-network pods the host's UTS namespace too. */
  c->host_uts = c->host_network;
}

static int build(struct spec_ctx *c, cJSON *spec, crio_error_t *err) {
  const struct oci_spec_input *in = c->in;
  cJSON_AddStringToObject(spec, "ociVersion", OCI_SPEC_VERSION);
  /* linux first: process and mounts add to it. */
  cJSON_AddObjectToObject(spec, "linux");
  if (spec_process(c, spec, err) < 0)
    return -1;
  cJSON *root = cJSON_AddObjectToObject(spec, "root");
  cJSON_AddStringToObject(root, "path", in->rootfs);
  cJSON_AddBoolToObject(root, "readonly", c->sc && c->sc->readonly_rootfs);
  const char *hostname = in->pod_hostname;
  if (!c->host_uts && hostname && hostname[0])
    cJSON_AddStringToObject(spec, "hostname", hostname);
  if (spec_mounts(c, spec, err) < 0 || spec_linux(c, spec, err) < 0)
    return -1;
  build_annotations(c, spec);
  return 0;
}

int oci_spec_build(const struct oci_spec_input *in, cJSON **out, struct oci_spec_warnings *w,
                   crio_error_t *err) {
  *out = NULL;
  if (check_input(in, err) < 0)
    return -1;
  const Runtime__V1__ContainerConfig *cfg = in->config;
  struct spec_ctx c = {
      .in = in,
      .cfg = cfg,
      .sc = cfg->linux ? cfg->linux->security_context : NULL,
      .res = cfg->linux ? cfg->linux->resources : NULL,
      .img = spec_image_section(in->image_config),
      .w = w,
  };
  c.privileged = c.sc && c.sc->privileged;
  if (c.privileged) {
    const Runtime__V1__LinuxPodSandboxConfig *pl = in->sandbox_config->linux;
    if (!(pl && pl->security_context && pl->security_context->privileged))
      return crio_error(err, EINVAL,
                        "config.linux.security_context.privileged: the pod sandbox is not "
                        "privileged");
  }
  /* Labels for processes and mounts would be needed, and picking MCS
   * levels is not implemented: refuse rather than run unlabeled. */
  if (in->host->selinux_enabled)
    return crio_error(err, ENOSYS,
                      "SELinux is enabled on this host; SELinux labels are not "
                      "implemented");
  pod_namespaces(&c);

  cleanup_close int rootfd = open(in->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0)
    return crio_error_errno(err, errno, "open rootfs %s", in->rootfs);
  c.rootfd = rootfd;
  cleanup_cjson cJSON *spec = cJSON_CreateObject();
  if (build(&c, spec, err) < 0)
    return -1;
  *out = steal_pointer(&spec);
  return 0;
}

int oci_spec_write(const char *bundle_dir, const cJSON *spec, crio_error_t *err) {
  cleanup_free char *text = cJSON_PrintUnformatted(spec);
  if (text == NULL)
    return crio_error(err, ENOMEM, "serialise the OCI spec");
  cleanup_free char *path = xasprintf("%s/config.json", bundle_dir);
  return crio_write_file_atomic(path, text, strlen(text), 0600, err);
}
