# oci/ rootfs part: a container's overlay root filesystem (rootfs.h).
list(APPEND CRIO_OCI_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/rootfs.c
  ${CMAKE_CURRENT_LIST_DIR}/rootfs_usage.c)
list(APPEND CRIO_OCI_LIBS Threads::Threads)
