# cri/ handler pool (cri/workers.c, which needs only common/): calls never
# starve behind long handlers while the pool can grow.
crio_unit_test(test_cri_workers
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cri_workers.c ${CMAKE_SOURCE_DIR}/cri/workers.c
  LIBS crio_common Threads::Threads)
