# oci/ runtime unit tests.  test_oci_runtime_cli: the runc and crun
# handlers' command lines against a scripted stand-in, failure classes,
# deadlines, and the real binaries on unknown containers (no containers
# run).  The others run real containers through conmon and runc (root;
# skip with 77 otherwise): _conmon (create, logs, exits, exit watch, a
# monitor outliving its daemon, log reopen, OOM, crun where the host
# allows), _stop (signal, grace, SIGKILL, pause, update, stats), _exec
# (ExecSync).  A busybox rootfs is made per container from busybox-static.
# test_oci_fixture.c and test_oci_runtime_fixture.c undo what a test made
# (runtime state, conmon, cgroups, temp dirs) even when a check fails.
if(TARGET crio_oci)
  set(OCI_RT_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})
  crio_unit_test(test_oci_runtime_cli
    SOURCES ${OCI_RT_TEST_DIR}/test_oci_runtime_cli.c ${OCI_RT_TEST_DIR}/test_oci_fixture.c
    LIBS crio_oci)
  foreach(t conmon stop exec)
    crio_unit_test(test_oci_runtime_${t}
      SOURCES ${OCI_RT_TEST_DIR}/test_oci_runtime_${t}.c
              ${OCI_RT_TEST_DIR}/test_oci_runtime_fixture.c ${OCI_RT_TEST_DIR}/test_oci_fixture.c
      LIBS crio_oci Threads::Threads)
    set_tests_properties(test_oci_runtime_${t} PROPERTIES SKIP_RETURN_CODE 77)
  endforeach()
endif()
