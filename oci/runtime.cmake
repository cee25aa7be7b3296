# oci/ runtime part: runtime handlers (runc, crun) behind oci_runtime_ops,
# the stop helper, conmon (create, control FIFO), exit files and their
# watch, ExecSync, a process's cgroup for stats.  runtime_proc.c is the one
# place helper processes are spawned and reaped.
list(APPEND CRIO_OCI_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/runtime_proc.c
  ${CMAKE_CURRENT_LIST_DIR}/runtime_cli.c
  ${CMAKE_CURRENT_LIST_DIR}/runtime_runc.c
  ${CMAKE_CURRENT_LIST_DIR}/runtime_crun.c
  ${CMAKE_CURRENT_LIST_DIR}/runtime_stop.c
  ${CMAKE_CURRENT_LIST_DIR}/runtime_stats.c
  ${CMAKE_CURRENT_LIST_DIR}/conmon.c
  ${CMAKE_CURRENT_LIST_DIR}/conmon_ctl.c
  ${CMAKE_CURRENT_LIST_DIR}/exit_watch.c
  ${CMAKE_CURRENT_LIST_DIR}/exec_sync.c)
list(APPEND CRIO_OCI_LIBS PkgConfig::CJSON Threads::Threads)
