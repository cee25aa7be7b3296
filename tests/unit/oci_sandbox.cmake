# oci/ sandbox unit tests (root): pinned namespaces (test_oci_ns), sysctls
# (test_oci_sysctl), pod files (test_oci_pod_files), cgroup managers
# (test_oci_cgroup), the pause process (test_oci_infra), the cgroup stats
# sampler on fake trees (test_oci_cgroup_sampler).
# test_oci_fixture.c undoes whatever a test made on the host, even when a
# check fails.
if(TARGET crio_oci)
  set(OCI_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})
  foreach(t ns sysctl pod_files cgroup infra)
    crio_unit_test(test_oci_${t}
      SOURCES ${OCI_TEST_DIR}/test_oci_${t}.c ${OCI_TEST_DIR}/test_oci_fixture.c
      LIBS crio_oci)
  endforeach()
  # test_oci_cgroup builds sd-bus messages of its own; the daemon loads
  # libsystemd only when the systemd manager is used.
  target_link_libraries(test_oci_cgroup PRIVATE PkgConfig::SYSTEMD)
  target_compile_definitions(test_oci_infra PRIVATE
    CRIO_PAUSE_PATH="$<TARGET_FILE:crio-pause>")
  add_dependencies(test_oci_infra crio-pause)
  # The stats sampler on fake cgroup v1 and v2 trees (no root needed).
  crio_unit_test(test_oci_cgroup_sampler
    SOURCES ${OCI_TEST_DIR}/test_oci_cgroup_sampler.c LIBS crio_oci)
endif()
