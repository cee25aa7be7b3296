# toml/: the TOML reader behind crio.conf and registries.conf.
crio_unit_test(test_toml
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_toml.c
  LIBS crio_toml)
