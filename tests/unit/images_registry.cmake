# images/ registry client: unit tests per concern, and crio-image-fetch, a
# test-only tool that pulls an image's manifest, config and layers into a
# directory (driven by tests/integration/test_registry_client.py).
set(IMAGES_REGISTRY_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})
if(TARGET crio_images)
  foreach(t reference digest registries_conf auth manifest pull_libs)
    crio_unit_test(test_images_${t}
      SOURCES ${IMAGES_REGISTRY_TEST_DIR}/test_images_${t}.c
      LIBS crio_images)
  endforeach()
  set_tests_properties(test_images_pull_libs PROPERTIES SKIP_RETURN_CODE 77)
  add_executable(crio-image-fetch ${IMAGES_REGISTRY_TEST_DIR}/images_fetch_tool.c)
  target_link_libraries(crio-image-fetch PRIVATE crio_images)
endif()
