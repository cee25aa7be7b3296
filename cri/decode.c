/* Request decoding, shared by the server and the fuzz target: protobuf-c,
 * and a message that would not decode again once packed (a field number 0,
 * see store/pb_check.c) is refused like one that does not decode, since
 * handlers store parts of requests packed. */
#include "cri/call.h"

ProtobufCMessage *cri_request_decode(const ProtobufCMessageDescriptor *input, const uint8_t *data,
                                     size_t len) {
  ProtobufCMessage *msg = protobuf_c_message_unpack(input, NULL, len, data);
  if (msg && !store_protobuf_repackable(msg)) {
    protobuf_c_message_free_unpacked(msg, NULL);
    return NULL;
  }
  return msg;
}
