# cni/ unit tests: plugin execution with scripted plugins in a temporary
# dir (test_cni_exec: stdin/env/timeout/output caps, chain order,
# runtimeConfig, STATUS, result parsing; no root needed), and the real
# Debian plugins in test-owned netns and bridge (test_cni: root, skips
# with 77 otherwise).  test_cni_fixture.c: temp dirs, netns, iptables.
set(CNI_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})
crio_unit_test(test_cni
  SOURCES ${CNI_TEST_DIR}/test_cni.c ${CNI_TEST_DIR}/test_cni_fixture.c
  LIBS crio_cni Threads::Threads)
set_tests_properties(test_cni PROPERTIES SKIP_RETURN_CODE 77)
crio_unit_test(test_cni_exec
  SOURCES ${CNI_TEST_DIR}/test_cni_exec.c ${CNI_TEST_DIR}/test_cni_fixture.c
  LIBS crio_cni Threads::Threads)
