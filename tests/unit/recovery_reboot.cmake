# recovery/reboot.c: start-up after a node reboot, against a real store and
# a reconciler whose steps do nothing on the host (test_recovery_reboot).
crio_unit_test(test_recovery_reboot
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_recovery_reboot.c
          ${CMAKE_CURRENT_LIST_DIR}/test_store_fixture.c
  LIBS crio_recovery)

# Not a test: writes synthetic pod and container records through the store
# API, for test_reboot.py's start-up test and bench_recovery.py.
add_executable(crio-synthetic-records ${CMAKE_CURRENT_LIST_DIR}/../bench/synthetic_records.c)
target_link_libraries(crio-synthetic-records PRIVATE crio_store)
