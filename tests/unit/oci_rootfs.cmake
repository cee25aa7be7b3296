# oci/ rootfs unit test (root): overlay mounts of many layers, idempotent
# mount and unmount, and a tree removal that never crosses a mount.
if(TARGET crio_oci)
  crio_unit_test(test_oci_rootfs
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_oci_rootfs.c
    LIBS crio_oci)
endif()
