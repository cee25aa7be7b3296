/* What the server-streaming forms of the list RPCs share (StreamPodSandboxes,
 * StreamContainers, StreamImages, StreamPodSandboxStats,
 * StreamContainerStats, StreamPodSandboxMetrics): sending n items as a
 * sequence of response messages.
 *
 * Every one of those responses is a message whose only field is a repeated
 * message ("one batch (at least one entry)", says the proto), so one
 * function fills any of them through the descriptor.  A batch ends once it
 * holds BATCH_MAX_ITEMS items or BATCH_SOFT_BYTES bytes: small enough for
 * a client's default 4 MiB receive limit (an item larger than that alone
 * is still sent, by itself), large enough that ten thousand containers are
 * not ten thousand round trips through the completion queue.  No message
 * is ever empty: nothing to send is a stream without messages.
 *
 * Items are made on demand by the caller's function, in a scratch arena
 * released once their batch is on the wire, so a stream of stats samples
 * does not hold every sample of the call at once.  The callers have ended
 * their store transaction before calling this: a slow client blocks only
 * its own handler thread, never a writer.  A client that goes away ends
 * the stream quietly (0): it is not there to read a status. */
#include <errno.h>

#include "cri/call.h"

#define BATCH_MAX_ITEMS 128
#define BATCH_SOFT_BYTES (512u * 1024u)

/* `response`'s repeated message field, set to items[0..n). */
static ProtobufCMessage *batch_message(struct cri_request *scratch,
                                       const ProtobufCMessageDescriptor *response,
                                       ProtobufCMessage **items, size_t n) {
  const ProtobufCFieldDescriptor *f = &response->fields[0];
  ProtobufCMessage *msg = cri_alloc(scratch, response->sizeof_message);
  protobuf_c_message_init(response, msg);
  *(size_t *)((char *)msg + f->quantifier_offset) = n;
  *(ProtobufCMessage ***)((char *)msg + f->offset) = items;
  return msg;
}

/* 1: the client went away. */
static int send_batch(struct cri_request *req, const ProtobufCMessage *msg, crio_error_t *err) {
  cleanup_error crio_error_t send_err = NULL;
  if (cri_stream_send(req, msg, &send_err) == 0)
    return 0;
  if (crio_error_status(&send_err) == ECANCELED)
    return 1;
  return crio_error(err, crio_error_status(&send_err), "%s", crio_error_message(&send_err));
}

int cri_stream_items(struct cri_request *req, const ProtobufCMessageDescriptor *response, size_t n,
                     cri_stream_item_fn item, void *data, crio_error_t *err) {
  const ProtobufCFieldDescriptor *f = &response->fields[0];
  if (response->n_fields != 1 || f->label != PROTOBUF_C_LABEL_REPEATED ||
      f->type != PROTOBUF_C_TYPE_MESSAGE)
    return crio_error(err, EINVAL, "%s: not a response of one repeated message field",
                      response->name);
  size_t sent = 0;
  bool gone = false;
  for (size_t i = 0; i < n && !gone;) {
    if (cri_request_cancelled(req)) {
      gone = true;
      break;
    }
    struct cri_scratch s;
    cri_scratch_begin(&s, req);
    ProtobufCMessage **batch = cri_alloc(&s.req, BATCH_MAX_ITEMS * sizeof(*batch));
    size_t count = 0, bytes = 0;
    while (i < n && count < BATCH_MAX_ITEMS && bytes < BATCH_SOFT_BYTES) {
      ProtobufCMessage *one = item(&s.req, i++, data);
      if (one == NULL)
        continue;
      batch[count++] = one;
      bytes += protobuf_c_message_get_packed_size(one);
    }
    int rc = count ? send_batch(req, batch_message(&s.req, response, batch, count), err) : 0;
    cri_scratch_end(&s);
    if (rc < 0)
      return -1;
    gone = rc > 0;
    sent += gone ? 0 : count;
  }
  if (gone)
    log_debug("%s: client gone after %zu of %zu items", req->method, sent, n);
  return 0;
}

/* For streams whose items were all built before the store txn ended. */
ProtobufCMessage *cri_stream_item_of_array(struct cri_request *scratch, size_t i, void *data) {
  (void)scratch;
  return ((ProtobufCMessage **)data)[i];
}
