# streaming/: tokens, SPDY frames and header compression, WebSocket frames,
# without a server or a client.
crio_unit_test(test_streaming_protocol
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_streaming_protocol.c
  LIBS crio_streaming)
