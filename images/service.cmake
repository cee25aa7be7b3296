# The image service (images/images.h): pull plans, the fetch step's side
# effects, names and lookups, layer collection.  Uses the registry client
# and the layer store of this folder, and the store for records and names.
list(APPEND CRIO_IMAGES_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/service.c
  ${CMAKE_CURRENT_LIST_DIR}/service_plan.c
  ${CMAKE_CURRENT_LIST_DIR}/service_fetch.c
  ${CMAKE_CURRENT_LIST_DIR}/resolve.c
  ${CMAKE_CURRENT_LIST_DIR}/gc.c
  ${CMAKE_CURRENT_LIST_DIR}/rootfs.c)
list(APPEND CRIO_IMAGES_LIBS crio_store PkgConfig::CJSON Threads::Threads)
