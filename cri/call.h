/* Internal to cri/: one gRPC call in flight, shared by the completion-queue
 * thread and the handler thread that serves it. */
#ifndef CRIO_CRI_CALL_H
#define CRIO_CRI_CALL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <grpc/grpc.h>

#include "cri/internal.h"

struct cri_server;
struct cri_call;

enum cri_tag_kind {
  CRI_TAG_NEW_CALL = 1, /* request_call matched an incoming call */
  CRI_TAG_RECV,         /* the request message arrived (or did not) */
  CRI_TAG_CLOSE,        /* RECV_CLOSE_ON_SERVER: the call is over */
  CRI_TAG_SEND,         /* final status (and unary response) sent */
  CRI_TAG_WRITE,        /* one streamed message sent */
  CRI_TAG_SHUTDOWN,     /* grpc_server_shutdown_and_notify finished */
};

/* Every batch names its completion by a tag; the tags live inside the
 * call so the completion-queue thread finds the call from the event. */
struct cri_tag {
  enum cri_tag_kind kind;
  struct cri_call *call;
};

struct cri_arena {
  struct arena_block *blocks;
};
void *cri_arena_alloc(struct cri_arena *arena, size_t size);
/* Moves every allocation of `from` into `into` (freed with it). */
void cri_arena_adopt(struct cri_arena *into, struct cri_arena *from);
void cri_arena_release(struct cri_arena *arena);

struct cri_method; /* dispatch.c */

struct cri_call {
  struct cri_server *server;
  grpc_call *call;
  grpc_call_details details;
  grpc_metadata_array request_metadata;
  grpc_byte_buffer *request_payload;
  grpc_byte_buffer *response_payload;
  grpc_slice status_details;
  bool status_details_set;
  int close_cancelled; /* filled by RECV_CLOSE_ON_SERVER */
  char *method;        /* NUL-terminated copy of details.method */
  const struct cri_method *dispatch;
  int64_t started_ns; /* CLOCK_MONOTONIC at arrival, for the operation metrics */
  struct cri_tag new_tag, recv_tag, close_tag, send_tag, write_tag;
  struct cri_arena arena;

  pthread_mutex_t lock;
  pthread_cond_t changed;
  int refs;    /* outstanding batches + a running handler */
  bool closed; /* CLOSE completed */
  bool initial_metadata_sent;
  bool write_pending, write_ok;
};

/* A scratch request (arena.c): a copy of a request whose call carries
 * nothing but an arena of its own, for what a stream builds and drops
 * batch by batch.  The view functions allocate through a cri_request;
 * only cri_alloc touches the scratch call, and sending uses the real
 * request. */
struct cri_scratch {
  struct cri_call call; /* only .arena is used */
  struct cri_request req;
};
void cri_scratch_begin(struct cri_scratch *s, const struct cri_request *req);
/* Frees everything allocated through s->req. */
void cri_scratch_end(struct cri_scratch *s);

/* dispatch.c */
struct cri_method {
  char *path; /* "/runtime.v1.RuntimeService/Version" */
  const ProtobufCMessageDescriptor *input;
  const ProtobufCMessageDescriptor *output;
  const struct cri_handler *handler; /* NULL: not implemented yet */
};
struct cri_dispatch {
  struct cri_method *methods; /* sorted by path */
  size_t n_methods;
};
void cri_dispatch_init(struct cri_dispatch *dispatch);
/* decode.c: a request as the server decodes it (protobuf-c, refusing what
 * would not survive being packed again); NULL when it does not decode. */
ProtobufCMessage *cri_request_decode(const ProtobufCMessageDescriptor *input, const uint8_t *data,
                                     size_t len);
void cri_dispatch_release(struct cri_dispatch *dispatch);
const struct cri_method *cri_dispatch_find(const struct cri_dispatch *dispatch, const char *path);

/* ---- the server (server.c), as far as a call's lifetime touches it -------- */
struct cri_workers;

struct cri_op_counter {
  atomic_uint_fast64_t total, errors, latency_ns, last_ns;
};

/* The server's state; server.c runs it, call.c counts the calls in flight
 * (active_calls, under lock), reads shutting_down and fills the operation
 * counters. */
struct cri_server {
  const struct cri_context *context;
  grpc_server *server;
  grpc_completion_queue *cq;
  pthread_t cq_thread;
  bool cq_thread_started;
  struct cri_workers *workers;
  struct cri_dispatch dispatch;
  char *socket_path;
  bool keep_socket_file;
  int lock_fd;
  int64_t grace_ms;

  pthread_mutex_t lock;
  pthread_cond_t changed;
  unsigned active_calls;
  bool shutting_down;
  bool shutdown_notified;
  struct cri_tag shutdown_tag;
  atomic_uint_fast64_t calls_served;
  atomic_uint streams;        /* server streams being handled, <= server.c's MAX_STREAMS */
  struct cri_op_counter *ops; /* indexed like dispatch.methods */
};

/* ---- a call's lifetime and what handlers do on it (call.c) ----------------- */
struct cri_call *cri_call_new(struct cri_server *s);
/* A reference per outstanding batch and per running handler; the last
 * unref destroys the call (and counts it out of the server's). */
void cri_call_ref(struct cri_call *c);
void cri_call_unref(struct cri_call *c);
/* For a call that never got a batch started (request_call failed). */
void cri_call_destroy(struct cri_call *c);
/* Ends the call: optional response message, then the status.  One batch. */
void cri_call_send_final(struct cri_call *c, const ProtobufCMessage *response,
                         grpc_status_code code, const char *message);

#endif
