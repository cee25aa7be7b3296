# oci/ sandbox part: the host side of a pod sandbox — pinned namespaces,
# sysctls, pod files, cgroup managers, the infra (pause) process.
list(APPEND CRIO_OCI_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/ns_join.c
  ${CMAKE_CURRENT_LIST_DIR}/ns_pin.c
  ${CMAKE_CURRENT_LIST_DIR}/ns_infra.c
  ${CMAKE_CURRENT_LIST_DIR}/sysctl.c
  ${CMAKE_CURRENT_LIST_DIR}/pod_files.c
  ${CMAKE_CURRENT_LIST_DIR}/cgroup_manager.c
  ${CMAKE_CURRENT_LIST_DIR}/cgroup_hiers.c
  ${CMAKE_CURRENT_LIST_DIR}/cgroup_fs.c
  ${CMAKE_CURRENT_LIST_DIR}/cgroup_sampler.c
  ${CMAKE_CURRENT_LIST_DIR}/cgroup_systemd.c)
list(APPEND CRIO_OCI_LIBS Threads::Threads ${CMAKE_DL_LIBS})

# crio-pause: PID 1 of a pod's shared PID namespace.  Linked statically so
# it depends on nothing at run time (it is exec'd with an empty
# environment and may outlive a libc upgrade).  daemon/ places it beside
# crio; tests find it with $<TARGET_FILE:crio-pause>.
add_executable(crio-pause ${CMAKE_CURRENT_LIST_DIR}/pause/pause.c)
crio_static_helper(crio-pause)
