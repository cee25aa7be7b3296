/* CRI requests as the server receives them: the first byte picks one of
 * the methods the proto declares (cri_dispatch, sorted by path), the rest
 * is decoded with that method's input descriptor as the server does, then
 * given to the checks the handler makes before anything is persisted —
 * the side-effect-free part of each handler:
 *   RunPodSandbox      cri_pod_config_validate, then the record it makes
 *   CreateContainer    cri_container_request_validate, then the OCI spec
 *                      the create step builds from it (and the rootfs
 *                      preparation, which must stay inside the root)
 *   ExecSync           cri_exec_sync_request_validate
 *   PullImage          cri_pull_image_request_validate
 *   ImageStatus, RemoveImage   the image reference check
 *   UpdateContainerResources   the resources the runtime would be given
 * Every decoded request must re-encode to bytes that decode again. */
#include <string.h>

#include "cri/call.h"
#include "cri/container.h"
#include "cri/ctr_ops.h"
#include "cri/image.h"
#include "cri/pod.h"
#include "fuzz/fuzz.h"
#include "fuzz/fuzz_spec.h"

static struct cri_dispatch dispatch;

static const struct cri_runtime_handler runtimes[] = {
    {.name = "runc", .runtime_path = "/usr/sbin/runc", .runtime_root = "/run/runc"},
    {.name = "crun", .runtime_path = "/usr/bin/crun", .runtime_root = "/run/crun"},
};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  fuzz_quiet_logs();
  cri_dispatch_init(&dispatch);
  return 0;
}

static void check_round_trip(const ProtobufCMessage *m) {
  size_t len = protobuf_c_message_get_packed_size(m);
  cleanup_free uint8_t *buf = xmalloc(len ? len : 1);
  FUZZ_ASSERT(protobuf_c_message_pack(m, buf) == len);
  ProtobufCMessage *again = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
  FUZZ_ASSERT(again != NULL);
  size_t len2 = protobuf_c_message_get_packed_size(again);
  cleanup_free uint8_t *buf2 = xmalloc(len2 ? len2 : 1);
  FUZZ_ASSERT(protobuf_c_message_pack(again, buf2) == len2);
  FUZZ_ASSERT(len == len2 && memcmp(buf, buf2, len) == 0);
  protobuf_c_message_free_unpacked(again, NULL);
}

static void run_pod_sandbox(const Runtime__V1__RunPodSandboxRequest *in,
                            const struct cri_config *cfg) {
  cleanup_error crio_error_t err = NULL;
  if (cri_pod_config_validate(in, cfg, &err) < 0) {
    FUZZ_ASSERT(crio_error_status(&err) != 0);
    return;
  }
  cleanup_free char *name = cri_pod_name(in->config->metadata);
  FUZZ_ASSERT(name != NULL);
  store_record *rec = cri_pod_record_new(in, cfg, "0123456789abcdef");
  FUZZ_ASSERT(rec != NULL);
  /* A kubelet retry of the same request must be recognised as such. */
  FUZZ_ASSERT(cri_pod_record_matches(rec, in, cfg));
  cleanup_pod_config Runtime__V1__PodSandboxConfig *stored = cri_pod_record_config(rec);
  FUZZ_ASSERT(stored != NULL);
  store_record_free(rec);
}

static void create_container(const Runtime__V1__CreateContainerRequest *in,
                             const struct cri_config *cfg) {
  cleanup_error crio_error_t err = NULL;
  if (cri_container_request_validate(in, &err) < 0) {
    FUZZ_ASSERT(crio_error_status(&err) != 0);
    return;
  }
  const Runtime__V1__PodSandboxConfig *pod = in->sandbox_config;
  if (pod == NULL || pod->metadata == NULL)
    pod = fuzz_spec_default_pod();
  cleanup_free char *name = cri_container_name(in->config->metadata, pod->metadata);
  FUZZ_ASSERT(name != NULL);
  const char *rootfs = fuzz_rootfs_reset();
  struct oci_spec_input spec_in = {
      .container_id = "c1",
      .sandbox_id = "p1",
      .config = in->config,
      .sandbox_config = pod,
      .rootfs = rootfs,
      .host = fuzz_spec_host(),
      .cgroup_driver = cfg->cgroup_driver == CRI_CGROUP_DRIVER_CGROUPFS ? OCI_CGROUP_DRIVER_CGROUPFS
                                                                        : OCI_CGROUP_DRIVER_SYSTEMD,
  };
  cJSON *spec = NULL;
  cleanup_oci_spec_warnings struct oci_spec_warnings w = {0};
  cleanup_error crio_error_t serr = NULL;
  if (oci_spec_build(&spec_in, &spec, &w, &serr) == 0) {
    cleanup_error crio_error_t perr = NULL;
    oci_spec_prepare_rootfs(rootfs, spec, NULL, &perr);
    fuzz_rootfs_check_contained();
    cJSON_Delete(spec);
  } else {
    FUZZ_ASSERT(spec == NULL && crio_error_status(&serr) != 0);
  }
  int signo = 0;
  cleanup_error crio_error_t gerr = NULL;
  if (oci_spec_stop_signal(in->config, NULL, &signo, &gerr) == 0)
    FUZZ_ASSERT(signo > 0 && signo < 65);
}

static void update_container_resources(const Runtime__V1__UpdateContainerResourcesRequest *in) {
  if (in->linux == NULL)
    return;
  cJSON *out = NULL;
  cleanup_oci_spec_warnings struct oci_spec_warnings w = {0};
  cleanup_error crio_error_t err = NULL;
  if (oci_spec_update_resources("c1", in->linux, fuzz_spec_host(), &out, &w, &err) == 0)
    cJSON_Delete(out);
}

static void image_reference(const Runtime__V1__ImageSpec *spec) {
  const char *text = NULL;
  cleanup_error crio_error_t err = NULL;
  if (cri_image_spec_text(spec, "image.image", &text, &err) == 0)
    img_reference_check(text, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || dispatch.n_methods == 0)
    return 0;
  const struct cri_method *method = &dispatch.methods[data[0] % dispatch.n_methods];
  struct cri_config cfg = {
      .default_runtime = "runc",
      .runtimes = runtimes,
      .n_runtimes = sizeof(runtimes) / sizeof(*runtimes),
      .cgroup_driver = (data[0] / dispatch.n_methods) & 1 ? CRI_CGROUP_DRIVER_CGROUPFS
                                                          : CRI_CGROUP_DRIVER_SYSTEMD,
      .root = "/var/lib/crio",
      .runroot = "/run/crio",
  };
  ProtobufCMessage *msg = cri_request_decode(method->input, data + 1, size - 1);
  if (msg == NULL)
    return 0;
  const ProtobufCMessageDescriptor *d = method->input;
  if (d == &runtime__v1__run_pod_sandbox_request__descriptor) {
    run_pod_sandbox((const void *)msg, &cfg);
  } else if (d == &runtime__v1__create_container_request__descriptor) {
    create_container((const void *)msg, &cfg);
  } else if (d == &runtime__v1__exec_sync_request__descriptor) {
    cleanup_error crio_error_t err = NULL;
    cri_exec_sync_request_validate((const void *)msg, &err);
  } else if (d == &runtime__v1__pull_image_request__descriptor) {
    const char *image = NULL;
    cleanup_error crio_error_t err = NULL;
    cri_pull_image_request_validate((const void *)msg, &cfg, &image, &err);
  } else if (d == &runtime__v1__image_status_request__descriptor) {
    image_reference(((const Runtime__V1__ImageStatusRequest *)msg)->image);
  } else if (d == &runtime__v1__remove_image_request__descriptor) {
    image_reference(((const Runtime__V1__RemoveImageRequest *)msg)->image);
  } else if (d == &runtime__v1__update_container_resources_request__descriptor) {
    update_container_resources((const void *)msg);
  }
  check_round_trip(msg);
  protobuf_c_message_free_unpacked(msg, NULL);
  return 0;
}
