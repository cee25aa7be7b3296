#include "cri/internal.h"

/* The RPCs implemented so far.  Anything the proto declares that is not in
 * this table answers UNIMPLEMENTED with its name (dispatch.c). */
const struct cri_handler cri_handlers[] = {
    {"RuntimeService", "Version", cri_handle_version, NULL},
    {"RuntimeService", "Status", cri_handle_status, NULL},
    {"RuntimeService", "RuntimeConfig", cri_handle_runtime_config, NULL},
    {"RuntimeService", "UpdateRuntimeConfig", cri_handle_update_runtime_config,
     NULL},
    {"RuntimeService", "RunPodSandbox", cri_handle_run_pod_sandbox, NULL},
    {"RuntimeService", "StopPodSandbox", cri_handle_stop_pod_sandbox, NULL},
    {"RuntimeService", "RemovePodSandbox", cri_handle_remove_pod_sandbox, NULL},
    {"RuntimeService", "PodSandboxStatus", cri_handle_pod_sandbox_status, NULL},
    {"RuntimeService", "ListPodSandbox", cri_handle_list_pod_sandbox, NULL},
    {"RuntimeService", "PodSandboxStats", cri_handle_pod_sandbox_stats, NULL},
    {"RuntimeService", "ListPodSandboxStats", cri_handle_list_pod_sandbox_stats, NULL},
    {"RuntimeService", "CreateContainer", cri_handle_create_container, NULL},
    {"RuntimeService", "StartContainer", cri_handle_start_container, NULL},
    {"RuntimeService", "StopContainer", cri_handle_stop_container, NULL},
    {"RuntimeService", "RemoveContainer", cri_handle_remove_container, NULL},
    {"RuntimeService", "ContainerStatus", cri_handle_container_status, NULL},
    {"RuntimeService", "ListContainers", cri_handle_list_containers, NULL},
    {"RuntimeService", "ExecSync", cri_handle_exec_sync, NULL},
    {"RuntimeService", "ReopenContainerLog", cri_handle_reopen_container_log, NULL},
    {"RuntimeService", "UpdateContainerResources", cri_handle_update_container_resources, NULL},
    {"RuntimeService", "ContainerStats", cri_handle_container_stats, NULL},
    {"RuntimeService", "ListContainerStats", cri_handle_list_container_stats, NULL},
    {"RuntimeService", "GetContainerEvents", NULL, cri_handle_get_container_events},
    {"ImageService", "PullImage", cri_handle_pull_image, NULL},
    {"ImageService", "ListImages", cri_handle_list_images, NULL},
    {"ImageService", "ImageStatus", cri_handle_image_status, NULL},
    {"ImageService", "RemoveImage", cri_handle_remove_image, NULL},
    {"ImageService", "ImageFsInfo", cri_handle_image_fs_info, NULL},
};
const size_t cri_n_handlers = sizeof(cri_handlers) / sizeof(cri_handlers[0]);
