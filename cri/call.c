/* One gRPC call in flight: its lifetime (references held by its batches
 * and by the handler serving it), the final status, and what a handler
 * does on the call (stream a message, ask whether the client is still
 * there).  server.c routes the completion queue's events here; the
 * handlers call in here too, and this file calls neither, so the server,
 * the dispatch table and the handlers do not call each other round. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>

#include "common/common.h"
#include "cri/call.h"

/* ---- call lifetime ------------------------------------------------------- */

void cri_call_destroy(struct cri_call *c) {
  struct cri_server *s = c->server;
  if (c->call)
    grpc_call_unref(c->call);
  grpc_call_details_destroy(&c->details);
  grpc_metadata_array_destroy(&c->request_metadata);
  if (c->request_payload)
    grpc_byte_buffer_destroy(c->request_payload);
  if (c->response_payload)
    grpc_byte_buffer_destroy(c->response_payload);
  if (c->status_details_set)
    grpc_slice_unref(c->status_details);
  cri_arena_release(&c->arena);
  free(c->method);
  pthread_mutex_destroy(&c->lock);
  pthread_cond_destroy(&c->changed);
  free(c);

  pthread_mutex_lock(&s->lock);
  s->active_calls--;
  pthread_cond_broadcast(&s->changed);
  pthread_mutex_unlock(&s->lock);
}

void cri_call_ref(struct cri_call *c) {
  pthread_mutex_lock(&c->lock);
  c->refs++;
  pthread_mutex_unlock(&c->lock);
}

void cri_call_unref(struct cri_call *c) {
  pthread_mutex_lock(&c->lock);
  bool last = --c->refs == 0;
  pthread_mutex_unlock(&c->lock);
  if (last)
    cri_call_destroy(c);
}

struct cri_call *cri_call_new(struct cri_server *s) {
  struct cri_call *c = xzalloc(sizeof(*c));
  c->server = s;
  grpc_call_details_init(&c->details);
  grpc_metadata_array_init(&c->request_metadata);
  pthread_mutex_init(&c->lock, NULL);
  pthread_cond_init(&c->changed, NULL);
  c->new_tag = (struct cri_tag){CRI_TAG_NEW_CALL, c};
  c->recv_tag = (struct cri_tag){CRI_TAG_RECV, c};
  c->close_tag = (struct cri_tag){CRI_TAG_CLOSE, c};
  c->send_tag = (struct cri_tag){CRI_TAG_SEND, c};
  c->write_tag = (struct cri_tag){CRI_TAG_WRITE, c};
  return c;
}

/* ---- sending ------------------------------------------------------------- */

static grpc_byte_buffer *pack_message(const ProtobufCMessage *msg) {
  size_t len = protobuf_c_message_get_packed_size(msg);
  uint8_t *buf = xmalloc(len ? len : 1);
  protobuf_c_message_pack(msg, buf);
  grpc_slice slice = grpc_slice_new(buf, len, free);
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1);
  grpc_slice_unref(slice);
  return bb;
}

/* Relaxed atomics: each counter is read alone by a scrape. */
static void count_operation(struct cri_call *c, grpc_status_code code) {
  struct cri_server *s = c->server;
  if (c->dispatch == NULL || s->ops == NULL)
    return;
  struct cri_op_counter *op = &s->ops[c->dispatch - s->dispatch.methods];
  uint64_t ns = (uint64_t)(crio_monotonic_ns() - c->started_ns);
  atomic_fetch_add_explicit(&op->total, 1, memory_order_relaxed);
  if (code != GRPC_STATUS_OK)
    atomic_fetch_add_explicit(&op->errors, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&op->latency_ns, ns, memory_order_relaxed);
  atomic_store_explicit(&op->last_ns, ns, memory_order_relaxed);
}

void cri_call_send_final(struct cri_call *c, const ProtobufCMessage *response,
                         grpc_status_code code, const char *message) {
  grpc_op ops[3];
  size_t n = 0;
  memset(ops, 0, sizeof(ops));
  pthread_mutex_lock(&c->lock);
  bool need_initial = !c->initial_metadata_sent;
  c->initial_metadata_sent = true;
  pthread_mutex_unlock(&c->lock);
  if (need_initial) {
    ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
    n++;
  }
  if (response != NULL && code == GRPC_STATUS_OK) {
    c->response_payload = pack_message(response);
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].data.send_message.send_message = c->response_payload;
    n++;
  }
  c->status_details = grpc_slice_from_copied_string(message ? message : "");
  c->status_details_set = true;
  count_operation(c, code);
  ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  ops[n].data.send_status_from_server.status = code;
  ops[n].data.send_status_from_server.status_details =
      code == GRPC_STATUS_OK ? NULL : &c->status_details;
  n++;
  cri_call_ref(c);
  grpc_call_error rc = grpc_call_start_batch(c->call, ops, n, &c->send_tag, NULL);
  if (rc != GRPC_CALL_OK) {
    log_warning("%s: send status: %s", c->method, grpc_call_error_to_string(rc));
    cri_call_unref(c);
  }
}

int cri_stream_send(struct cri_request *req, const ProtobufCMessage *msg, crio_error_t *err) {
  struct cri_call *c = req->call;
  pthread_mutex_lock(&c->lock);
  bool closed = c->closed;
  bool need_initial = !c->initial_metadata_sent;
  c->initial_metadata_sent = true;
  pthread_mutex_unlock(&c->lock);
  if (closed)
    return crio_error(err, ECANCELED, "%s: client went away", c->method);

  grpc_op ops[2];
  size_t n = 0;
  memset(ops, 0, sizeof(ops));
  if (need_initial)
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
  grpc_byte_buffer *bb = pack_message(msg);
  ops[n].op = GRPC_OP_SEND_MESSAGE;
  ops[n].data.send_message.send_message = bb;
  n++;

  pthread_mutex_lock(&c->lock);
  c->write_pending = true;
  c->refs++;
  pthread_mutex_unlock(&c->lock);
  grpc_call_error rc = grpc_call_start_batch(c->call, ops, n, &c->write_tag, NULL);
  if (rc != GRPC_CALL_OK) {
    grpc_byte_buffer_destroy(bb);
    cri_call_unref(c);
    return crio_error(err, EIO, "%s: start write: %s", c->method, grpc_call_error_to_string(rc));
  }
  pthread_mutex_lock(&c->lock);
  while (c->write_pending)
    pthread_cond_wait(&c->changed, &c->lock);
  bool ok = c->write_ok;
  pthread_mutex_unlock(&c->lock);
  grpc_byte_buffer_destroy(bb);
  if (!ok)
    return crio_error(err, ECANCELED, "%s: client went away", c->method);
  return 0;
}

/* Also true once the daemon is shutting down: a long stream (events)
 * would otherwise hold SIGTERM for the whole grace period, though its
 * client can simply reconnect to the next daemon. */
bool cri_request_cancelled(const struct cri_request *req) {
  struct cri_call *c = req->call;
  pthread_mutex_lock(&c->lock);
  bool closed = c->closed;
  pthread_mutex_unlock(&c->lock);
  struct cri_server *s = c->server;
  pthread_mutex_lock(&s->lock);
  bool stopping = s->shutting_down;
  pthread_mutex_unlock(&s->lock);
  return closed || stopping;
}
