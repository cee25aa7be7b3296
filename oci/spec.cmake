# oci/ spec part: the OCI runtime spec (config.json) of a container, built
# from the CRI request, the pod, the image config and host facts (spec.h).
list(APPEND CRIO_OCI_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/spec_build.c
  ${CMAKE_CURRENT_LIST_DIR}/spec_process.c
  ${CMAKE_CURRENT_LIST_DIR}/spec_mounts.c
  ${CMAKE_CURRENT_LIST_DIR}/spec_linux.c
  ${CMAKE_CURRENT_LIST_DIR}/spec_seccomp.c
  ${CMAKE_CURRENT_LIST_DIR}/spec_caps.c
  ${CMAKE_CURRENT_LIST_DIR}/spec_image.c
  ${CMAKE_CURRENT_LIST_DIR}/spec_host.c
  ${CMAKE_CURRENT_LIST_DIR}/spec_rootfs.c
  ${CMAKE_CURRENT_LIST_DIR}/spec_sandbox.c
  ${CMAKE_CURRENT_LIST_DIR}/spec_util.c
  ${CMAKE_CURRENT_LIST_DIR}/seccomp_default.c
  ${CMAKE_CURRENT_LIST_DIR}/user.c)
list(APPEND CRIO_OCI_LIBS crio_api PkgConfig::CJSON)
