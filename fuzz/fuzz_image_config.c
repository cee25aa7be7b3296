/* Image configs (OCI image-spec or Docker JSON, from a registry, verified
 * only against their own digest): what CreateContainer's create step does
 * with one — the spec built from it (Entrypoint, Cmd, Env, WorkingDir,
 * User resolved in the rootfs, StopSignal), then the rootfs prepared for
 * it (working and VOLUME directories made inside the root, never outside). */
#include <cjson/cJSON.h>

#include "fuzz/fuzz.h"
#include "fuzz/fuzz_spec.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  fuzz_quiet_logs();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cJSON *image = cJSON_ParseWithLength((const char *)data, size);
  if (image == NULL)
    return 0;
  Runtime__V1__ContainerMetadata md = RUNTIME__V1__CONTAINER_METADATA__INIT;
  md.name = "app";
  Runtime__V1__ContainerConfig config = RUNTIME__V1__CONTAINER_CONFIG__INIT;
  config.metadata = &md;
  const char *rootfs = fuzz_rootfs_reset();
  struct oci_spec_input in = {
      .container_id = "c1",
      .sandbox_id = "p1",
      .config = &config,
      .sandbox_config = fuzz_spec_default_pod(),
      .image_config = image,
      .image_name = "example.com/app:1",
      .rootfs = rootfs,
      .host = fuzz_spec_host(),
  };
  cJSON *spec = NULL;
  cleanup_oci_spec_warnings struct oci_spec_warnings w = {0};
  cleanup_error crio_error_t err = NULL;
  if (oci_spec_build(&in, &spec, &w, &err) == 0) {
    FUZZ_ASSERT(spec != NULL);
    cleanup_error crio_error_t perr = NULL;
    oci_spec_prepare_rootfs(rootfs, spec, image, &perr);
    fuzz_rootfs_check_contained();
    cJSON_Delete(spec);
  } else {
    FUZZ_ASSERT(spec == NULL && crio_error_status(&err) != 0);
  }
  int signo = 0;
  cleanup_error crio_error_t serr = NULL;
  if (oci_spec_stop_signal(&config, image, &signo, &serr) == 0)
    FUZZ_ASSERT(signo > 0 && signo < 65);
  cJSON_Delete(image);
  return 0;
}
