# oci/ spec unit tests: users and in-rootfs paths (test_oci_spec_user), the
# spec's rules (test_oci_spec_build: process and confinement;
# test_oci_spec_linux: mounts, namespaces, cgroups, resources, devices;
# test_oci_spec_update: the resources UpdateContainerResources applies),
# the seccomp profiles
# (test_oci_spec_seccomp, names checked against libseccomp), and a
# container run by runc from a built spec (test_oci_spec_runc, root).
# test_oci_spec_fixture.c undoes what a test made (runc containers,
# cgroups, temporary directories), even when a check fails.
if(TARGET crio_oci)
  set(OCI_SPEC_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})
  foreach(t user build linux seccomp runc update)
    crio_unit_test(test_oci_spec_${t}
      SOURCES ${OCI_SPEC_TEST_DIR}/test_oci_spec_${t}.c
              ${OCI_SPEC_TEST_DIR}/test_oci_spec_fixture.c
      LIBS crio_oci)
  endforeach()
  pkg_check_modules(OCI_SPEC_TEST_SECCOMP REQUIRED IMPORTED_TARGET libseccomp)
  target_link_libraries(test_oci_spec_seccomp PRIVATE PkgConfig::OCI_SPEC_TEST_SECCOMP)
endif()
