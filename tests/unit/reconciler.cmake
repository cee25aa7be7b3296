# reconciler/ unit tests: a real store in a temporary directory, recording
# steps, and a forked child for the crash-point hook.
crio_unit_test(test_reconciler
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_reconciler.c
  LIBS crio_reconciler)
