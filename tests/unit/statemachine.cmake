# statemachine/ unit tests, and the program that regenerates
# docs/state-diagrams.md from the tables (an executable, not a test):
#   build/tests/statemachine-diagrams > docs/state-diagrams.md
crio_unit_test(test_statemachine
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_statemachine.c
  LIBS crio_statemachine)

crio_unit_test(test_state_diagrams
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_state_diagrams.c
          ${CMAKE_CURRENT_LIST_DIR}/state_diagrams_doc.c
  LIBS crio_statemachine)

add_executable(statemachine-diagrams
  ${CMAKE_CURRENT_LIST_DIR}/statemachine_diagrams.c
  ${CMAKE_CURRENT_LIST_DIR}/state_diagrams_doc.c)
target_link_libraries(statemachine-diagrams PRIVATE crio_statemachine)
