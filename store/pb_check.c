/* store_protobuf_repackable (store.h).
 *
 * protobuf-c 1.4 accepts a field number 0 when its tag is written in more
 * than one byte (0x80 0x00) and keeps it as an unknown field; packing the
 * message again writes it as 0x00, which no decoder accepts.  Records are
 * decoded, changed and packed again on every transition, and requests are
 * partly stored packed (a pod's PodSandboxConfig), so such a message would
 * become one that never decodes again.  Field number 0 is invalid in
 * protobuf: the message is refused where it enters instead (found by
 * fuzz/fuzz_store_record.c and fuzz/fuzz_cri_request.c). */
#include "store/store.h"

static bool repackable(const ProtobufCMessage *m, int depth) {
  if (depth > 100)
    return false; /* far deeper than any of our schemas nests */
  for (unsigned i = 0; i < m->n_unknown_fields; i++)
    if (m->unknown_fields[i].tag == 0)
      return false;
  const ProtobufCMessageDescriptor *d = m->descriptor;
  const char *base = (const char *)m;
  for (unsigned f = 0; f < d->n_fields; f++) {
    const ProtobufCFieldDescriptor *fd = &d->fields[f];
    if (fd->type != PROTOBUF_C_TYPE_MESSAGE)
      continue;
    if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
      size_t n = *(const size_t *)(base + fd->quantifier_offset);
      ProtobufCMessage *const *items = *(ProtobufCMessage *const *const *)(base + fd->offset);
      for (size_t k = 0; k < n; k++)
        if (items[k] && !repackable(items[k], depth + 1))
          return false;
      continue;
    }
    if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
        *(const uint32_t *)(base + fd->quantifier_offset) != fd->id)
      continue;
    const ProtobufCMessage *sub = *(ProtobufCMessage *const *)(base + fd->offset);
    if (sub && !repackable(sub, depth + 1))
      return false;
  }
  return true;
}

bool store_protobuf_repackable(const ProtobufCMessage *m) {
  return repackable(m, 0);
}
