# The image service's store side (images/images.h): lookups, names, the
# removal intent, layer collection with pull holds, start-up sweep, pinned.
if(TARGET crio_images)
  crio_unit_test(test_images_service
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_images_service.c
    LIBS crio_images crio_store)
endif()
