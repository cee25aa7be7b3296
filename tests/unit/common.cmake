# common/ unit tests: the spawner every runtime, conmon and CNI plugin
# call goes through (test_common_spawn: exit status, output caps, the
# deadline's kill of the process group, the exact environment, no fd
# leaks, default signal state; no root needed).
crio_unit_test(test_common_spawn
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_common_spawn.c
  LIBS crio_common Threads::Threads)

# common/parallel.c: the list calls' loop over the CPUs (every item once,
# worker indexes, how many workers).
crio_unit_test(test_common_parallel
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_common_parallel.c
  LIBS crio_common Threads::Threads)

# common/sd_proto.c: sd_notify (path and abstract sockets), socket
# activation, the watchdog period and journald's native protocol, spoken
# without libsystemd (no systemd needed: the test listens itself).
crio_unit_test(test_common_sd_proto
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_common_sd_proto.c
  LIBS crio_common)
