# oci/ runtime part: runtime handlers (runc, crun) behind oci_runtime_ops,
# the stop helper, conmon (create, control FIFO), exit files and their
# watch, ExecSync, a process's cgroup for stats.  Helper processes are
# spawned and reaped by common/'s spawner (common/spawn.c).
list(APPEND CRIO_OCI_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/runtime_registry.c
  ${CMAKE_CURRENT_LIST_DIR}/runtime_cli.c
  ${CMAKE_CURRENT_LIST_DIR}/runtime_runc.c
  ${CMAKE_CURRENT_LIST_DIR}/runtime_crun.c
  ${CMAKE_CURRENT_LIST_DIR}/runtime_runsc.c
  ${CMAKE_CURRENT_LIST_DIR}/runtime_stop.c
  ${CMAKE_CURRENT_LIST_DIR}/runtime_stats.c
  ${CMAKE_CURRENT_LIST_DIR}/conmon.c
  ${CMAKE_CURRENT_LIST_DIR}/conmon_ctl.c
  ${CMAKE_CURRENT_LIST_DIR}/conmon_attach.c
  ${CMAKE_CURRENT_LIST_DIR}/exit_watch.c
  ${CMAKE_CURRENT_LIST_DIR}/exec_sync.c
  ${CMAKE_CURRENT_LIST_DIR}/exec_session.c)
list(APPEND CRIO_OCI_LIBS PkgConfig::CJSON Threads::Threads)

# crio-runsc-shim: what conmon runs as the runtime of a gVisor handler (it
# runs `runsc create`, then waits for the container with `runsc wait` so
# conmon sees its exit).  Static, like crio-pause; daemon/ places it beside
# crio.
add_executable(crio-runsc-shim ${CMAKE_CURRENT_LIST_DIR}/runsc_shim/runsc_shim.c)
crio_static_helper(crio-runsc-shim)
