# store/ unit tests: record+log atomicity, names, index, meta, schema,
# read-only opens, close-on-exec and compaction (test_store); SIGKILL in
# the middle of a write txn (test_store_crash); many threads on one store
# (test_store_threads).  test_store_fixture.c: temporary directories.
set(STORE_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})
crio_unit_test(test_store
  SOURCES ${STORE_TEST_DIR}/test_store.c ${STORE_TEST_DIR}/test_store_fixture.c
  LIBS crio_store)
crio_unit_test(test_store_crash
  SOURCES ${STORE_TEST_DIR}/test_store_crash.c
          ${STORE_TEST_DIR}/test_store_fixture.c
  LIBS crio_store)
crio_unit_test(test_store_threads
  SOURCES ${STORE_TEST_DIR}/test_store_threads.c
          ${STORE_TEST_DIR}/test_store_fixture.c
  LIBS crio_store Threads::Threads)
# store_log_wait: followers of the log woken by commits that appended.
crio_unit_test(test_store_log_wait
  SOURCES ${STORE_TEST_DIR}/test_store_log_wait.c
          ${STORE_TEST_DIR}/test_store_fixture.c
  LIBS crio_store Threads::Threads)
