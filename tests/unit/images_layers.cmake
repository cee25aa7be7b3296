# images/ layer unpacking and layer store (images/layers.h), as root:
# extraction round trips and whiteouts (test_layer_extract), hostile layers
# and bombs (test_layer_hostile), the store: publication, crash, races
# (test_layer_store).  test_layer_fixture.c: tar streams built in memory.
if(TARGET crio_images)
  # The fixtures write tar streams with libarchive, which crio_images only
  # loads on demand.
  pkg_check_modules(TEST_LAYERS_ARCHIVE REQUIRED IMPORTED_TARGET libarchive)
  set(LAYER_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})
  foreach(t test_layer_extract test_layer_hostile test_layer_store)
    if(EXISTS ${LAYER_TEST_DIR}/${t}.c)
      crio_unit_test(${t}
        SOURCES ${LAYER_TEST_DIR}/${t}.c ${LAYER_TEST_DIR}/test_layer_fixture.c
        LIBS crio_images PkgConfig::TEST_LAYERS_ARCHIVE Threads::Threads)
      set_tests_properties(${t} PROPERTIES SKIP_RETURN_CODE 77)
    endif()
  endforeach()
endif()
