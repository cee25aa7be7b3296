# recovery/ unit tests: the ledger (what the log says is held, from entries
# alone: test_recovery_ledger), wipe against a real store with resource
# types of the test's own (test_recovery_wipe), the resource registry on
# the host (test_recovery_resources, root), and the data.mdb check and
# SIGBUS guard (test_recovery_db_check), and the running daemon's log
# retention (test_recovery_compactor).
set(RECOVERY_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})
crio_unit_test(test_recovery_ledger
  SOURCES ${RECOVERY_TEST_DIR}/test_recovery_ledger.c
  LIBS crio_recovery_resources)
crio_unit_test(test_recovery_wipe
  SOURCES ${RECOVERY_TEST_DIR}/test_recovery_wipe.c ${RECOVERY_TEST_DIR}/test_store_fixture.c
  LIBS crio_recovery_resources)
crio_unit_test(test_recovery_db_check
  SOURCES ${RECOVERY_TEST_DIR}/test_recovery_db_check.c ${RECOVERY_TEST_DIR}/test_store_fixture.c
  LIBS crio_recovery_resources)
crio_unit_test(test_recovery_resources
  SOURCES ${RECOVERY_TEST_DIR}/test_recovery_resources.c ${RECOVERY_TEST_DIR}/test_oci_fixture.c
  LIBS crio_recovery_resources)
crio_unit_test(test_recovery_compactor
  SOURCES ${RECOVERY_TEST_DIR}/test_recovery_compactor.c ${RECOVERY_TEST_DIR}/test_store_fixture.c
  LIBS crio_recovery)
