# recovery/reboot.c: start-up after a node reboot, against a real store and
# a reconciler whose steps do nothing on the host (test_recovery_reboot).
crio_unit_test(test_recovery_reboot
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_recovery_reboot.c
          ${CMAKE_CURRENT_LIST_DIR}/test_store_fixture.c
  LIBS crio_recovery)
