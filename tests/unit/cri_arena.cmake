# cri/arena.c: the per-call allocator every handler builds its response
# in (zeroed, aligned, apart; adopting a worker's arena).
crio_unit_test(test_cri_arena
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cri_arena.c
  LIBS crio_cri)
