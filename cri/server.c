/* The gRPC server core: one completion queue, one thread draining it, and
 * a pool of handler threads.  The completion-queue thread only routes
 * events; decoding, handlers and encoding run on handler threads.
 *
 * Pitfalls of the C core this code is shaped by (measured on gRPC 1.51):
 * - a call can only arrive while a request_call is outstanding, so several
 *   are kept armed and each arrival re-arms one;
 * - RECV_CLOSE_ON_SERVER goes in its own batch, started first: it is how a
 *   long stream learns that its client went away, and it completes last,
 *   which makes it the natural end of a call;
 * - recv_message may deliver NULL (the client half-closed without a
 *   message): that is a bad request, not a crash;
 * - gRPC unlinks whatever exists at the socket path when it binds, so the
 *   lock file is taken before binding and a second daemon refuses. */
#include <errno.h>
#include <libgen.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_posix.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "common/common.h"
#include "cri/call.h"
#include "cri/workers.h"

enum {
  ARMED_REQUESTS = 16,
  MAX_MESSAGE_BYTES = 16 * 1024 * 1024,
  /* A server stream holds a handler thread while it lives (an event
   * stream, for ever; any stream, while its client does not read).  At
   * most this many at once, so that streams can never take every handler
   * thread (256) and leave the kubelet's unary calls queued behind them:
   * the next one is refused with RESOURCE_EXHAUSTED. */
  MAX_STREAMS = 64,
  /* HTTP/2 streams one connection may have open (gRPC's default has no
   * bound): each open call costs memory before any handler runs. */
  MAX_CONCURRENT_STREAMS_PER_CONNECTION = 1024,
};

static void arm_request(struct cri_server *s) {
  pthread_mutex_lock(&s->lock);
  bool stop = s->shutting_down;
  if (!stop)
    s->active_calls++; /* the armed slot counts until it fails or ends */
  pthread_mutex_unlock(&s->lock);
  if (stop)
    return;
  struct cri_call *c = cri_call_new(s);
  grpc_call_error rc = grpc_server_request_call(s->server, &c->call, &c->details,
                                                &c->request_metadata, s->cq, s->cq, &c->new_tag);
  if (rc != GRPC_CALL_OK) {
    log_error("grpc_server_request_call: %s", grpc_call_error_to_string(rc));
    cri_call_destroy(c);
  }
}

/* ---- handling (on a handler thread) -------------------------------------- */

static int64_t deadline_to_monotonic_ns(gpr_timespec deadline) {
  if (gpr_time_cmp(deadline, gpr_inf_future(deadline.clock_type)) == 0)
    return 0;
  /* gRPC's clocks need not share CLOCK_MONOTONIC's epoch: convert the
   * remaining time, not the absolute value. */
  gpr_timespec now = gpr_now(deadline.clock_type);
  gpr_timespec left = gpr_time_sub(deadline, now);
  int64_t left_ns = (int64_t)left.tv_sec * 1000000000LL + left.tv_nsec;
  if (left_ns < 0)
    left_ns = 0;
  return crio_monotonic_ns() + left_ns;
}

static ProtobufCMessage *decode_request(struct cri_call *c) {
  grpc_byte_buffer_reader reader;
  if (!grpc_byte_buffer_reader_init(&reader, c->request_payload))
    return NULL;
  grpc_slice slice = grpc_byte_buffer_reader_readall(&reader);
  grpc_byte_buffer_reader_destroy(&reader);
  ProtobufCMessage *msg =
      cri_request_decode(c->dispatch->input, GRPC_SLICE_START_PTR(slice), GRPC_SLICE_LENGTH(slice));
  grpc_slice_unref(slice);
  return msg;
}

static void handle_call(void *arg) {
  struct cri_call *c = arg;
  const struct cri_handler *h = c->dispatch->handler;
  ProtobufCMessage *request = decode_request(c);
  if (request == NULL) {
    cleanup_free char *msg =
        xasprintf("%s: request does not decode as %s", c->method, c->dispatch->input->name);
    cri_call_send_final(c, NULL, GRPC_STATUS_INVALID_ARGUMENT, msg);
    cri_call_unref(c);
    return;
  }
  struct cri_request req = {
      .ctx = c->server->context,
      .method = c->method,
      .message = request,
      .deadline_mono_ns = deadline_to_monotonic_ns(c->details.deadline),
      .call = c,
  };
  cleanup_error crio_error_t err = NULL;
  ProtobufCMessage *response = NULL;
  int rc;
  if (h->unary) {
    rc = h->unary(&req, &response, &err);
  } else if (atomic_fetch_add(&c->server->streams, 1) >= MAX_STREAMS) {
    atomic_fetch_sub(&c->server->streams, 1);
    rc = crio_error(&err, EAGAIN, "%s: %d streams are open already: try again later", c->method,
                    MAX_STREAMS);
  } else {
    rc = h->stream(&req, &err);
    atomic_fetch_sub(&c->server->streams, 1);
  }
  protobuf_c_message_free_unpacked(request, NULL);
  if (rc < 0) {
    grpc_status_code code = cri_status_from_errno(err ? err->status : EIO);
    const char *msg = err ? err->msg : "handler failed without an error";
    if (code == GRPC_STATUS_INTERNAL || code == GRPC_STATUS_UNKNOWN)
      log_warning("%s: %s", c->method, msg);
    else
      log_debug("%s: %s", c->method, msg);
    cri_call_send_final(c, NULL, code, msg);
  } else {
    cri_call_send_final(c, response, GRPC_STATUS_OK, NULL);
  }
  atomic_fetch_add(&c->server->calls_served, 1);
  cri_call_unref(c);
}

/* ---- completion-queue thread --------------------------------------------- */

static void on_new_call(struct cri_call *c, bool ok) {
  struct cri_server *s = c->server;
  if (!ok) { /* the server is shutting down: the armed slot is returned */
    cri_call_destroy(c);
    return;
  }
  arm_request(s);

  size_t len = GRPC_SLICE_LENGTH(c->details.method);
  c->method = xstrndup((const char *)GRPC_SLICE_START_PTR(c->details.method), len);
  c->dispatch = cri_dispatch_find(&s->dispatch, c->method);
  c->started_ns = crio_monotonic_ns();

  /* Its own batch, first: see the comment at the top. */
  grpc_op close_op = {.op = GRPC_OP_RECV_CLOSE_ON_SERVER};
  close_op.data.recv_close_on_server.cancelled = &c->close_cancelled;
  c->refs = 1;
  if (grpc_call_start_batch(c->call, &close_op, 1, &c->close_tag, NULL) != GRPC_CALL_OK) {
    cri_call_destroy(c);
    return;
  }
  grpc_op recv_op = {.op = GRPC_OP_RECV_MESSAGE};
  recv_op.data.recv_message.recv_message = &c->request_payload;
  cri_call_ref(c);
  if (grpc_call_start_batch(c->call, &recv_op, 1, &c->recv_tag, NULL) != GRPC_CALL_OK) {
    cri_call_unref(c);
    grpc_call_cancel(c->call, NULL);
  }
}

static void on_recv(struct cri_call *c, bool ok) {
  if (!ok || c->request_payload == NULL) {
    /* No message: the client half-closed early or the call broke. */
    if (ok)
      cri_call_send_final(c, NULL, GRPC_STATUS_INVALID_ARGUMENT, "request message missing");
    cri_call_unref(c);
    return;
  }
  if (c->dispatch == NULL) {
    cleanup_free char *msg = xasprintf("unknown method %s", c->method);
    cri_call_send_final(c, NULL, GRPC_STATUS_UNIMPLEMENTED, msg);
    cri_call_unref(c);
    return;
  }
  if (c->dispatch->handler == NULL) {
    cleanup_free char *msg = xasprintf("%s is not implemented yet by this runtime", c->method);
    cri_call_send_final(c, NULL, GRPC_STATUS_UNIMPLEMENTED, msg);
    atomic_fetch_add(&c->server->calls_served, 1);
    cri_call_unref(c);
    return;
  }
  /* The reference taken for RECV passes to the handler. */
  cri_workers_submit(c->server->workers, handle_call, c);
}

static void on_close(struct cri_call *c, bool ok) {
  pthread_mutex_lock(&c->lock);
  c->closed = true;
  pthread_cond_broadcast(&c->changed);
  pthread_mutex_unlock(&c->lock);
  cri_call_unref(c);
}

static void on_write(struct cri_call *c, bool ok) {
  pthread_mutex_lock(&c->lock);
  c->write_pending = false;
  c->write_ok = ok;
  pthread_cond_broadcast(&c->changed);
  pthread_mutex_unlock(&c->lock);
  cri_call_unref(c);
}

static void *cq_thread_main(void *arg) {
  struct cri_server *s = arg;
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN)
      break;
    if (ev.type != GRPC_OP_COMPLETE)
      continue;
    struct cri_tag *tag = ev.tag;
    bool ok = ev.success != 0;
    switch (tag->kind) {
    case CRI_TAG_NEW_CALL:
      on_new_call(tag->call, ok);
      break;
    case CRI_TAG_RECV:
      on_recv(tag->call, ok);
      break;
    case CRI_TAG_CLOSE:
      on_close(tag->call, ok);
      break;
    case CRI_TAG_SEND:
      cri_call_unref(tag->call);
      break;
    case CRI_TAG_WRITE:
      on_write(tag->call, ok);
      break;
    case CRI_TAG_SHUTDOWN:
      pthread_mutex_lock(&s->lock);
      s->shutdown_notified = true;
      pthread_cond_broadcast(&s->changed);
      pthread_mutex_unlock(&s->lock);
      break;
    }
  }
  return NULL;
}

/* ---- start and stop ------------------------------------------------------ */

static int take_lock(const char *socket_path, int *fd_out, crio_error_t *err) {
  cleanup_free char *lock_path = xasprintf("%s.lock", socket_path);
  cleanup_error crio_error_t lock_err = NULL;
  if (crio_lock_file_try(lock_path, fd_out, &lock_err) == 0)
    return 0;
  if (crio_error_status(&lock_err) == EBUSY)
    return crio_error(err, EBUSY, "another crio is serving %s (lock %s is held)", socket_path,
                      lock_path);
  return crio_error(err, crio_error_status(&lock_err), "%s", crio_error_message(&lock_err));
}

int cri_server_start(const struct cri_server_options *options, const struct cri_context *context,
                     struct cri_server **out, crio_error_t *err) {
  cleanup_free char *dir_copy = xstrdup(options->socket_path);
  if (crio_mkdir_p(dirname(dir_copy), 0755, err) < 0)
    return crio_error_prefix(err, "socket directory");
  int lock_fd = -1;
  if (take_lock(options->socket_path, &lock_fd, err) < 0)
    return -1;

  struct cri_server *s = xzalloc(sizeof(*s));
  s->context = context;
  s->lock_fd = lock_fd;
  s->socket_path = xstrdup(options->socket_path);
  s->keep_socket_file = options->keep_socket_file;
  s->grace_ms = options->shutdown_grace_ms > 0 ? options->shutdown_grace_ms : 10000;
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->changed, NULL);
  s->shutdown_tag = (struct cri_tag){CRI_TAG_SHUTDOWN, NULL};
  cri_dispatch_init(&s->dispatch);
  s->ops = xcalloc(s->dispatch.n_methods ? s->dispatch.n_methods : 1, sizeof(*s->ops));
  s->workers = cri_workers_new(options->max_handler_threads);

  grpc_arg args[] = {
      {.type = GRPC_ARG_INTEGER,
       .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
       .value.integer = MAX_MESSAGE_BYTES},
      {.type = GRPC_ARG_INTEGER,
       .key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH,
       .value.integer = MAX_MESSAGE_BYTES},
      {.type = GRPC_ARG_INTEGER,
       .key = GRPC_ARG_MAX_CONCURRENT_STREAMS,
       .value.integer = MAX_CONCURRENT_STREAMS_PER_CONNECTION},
  };
  grpc_channel_args channel_args = {.num_args = sizeof(args) / sizeof(args[0]), .args = args};
  s->server = grpc_server_create(&channel_args, NULL);
  s->cq = grpc_completion_queue_create_for_next(NULL);
  grpc_server_register_completion_queue(s->server, s->cq, NULL);

  if (!options->external_listener) {
    cleanup_free char *address = xasprintf("unix:%s", options->socket_path);
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    int port = grpc_server_add_http2_port(s->server, address, creds);
    grpc_server_credentials_release(creds);
    if (port == 0) {
      crio_error(err, EADDRINUSE, "cannot listen on %s", address);
      grpc_server_destroy(s->server);
      s->server = NULL;
      cri_server_free(s);
      return -1;
    }
  }
  grpc_server_start(s->server);
  /* The kubelet runs as root; group access is for operators' tools. */
  if (!options->external_listener && chmod(options->socket_path, 0660) < 0)
    log_warning("chmod 0660 %s: %s", options->socket_path, strerror(errno));

  for (int i = 0; i < ARMED_REQUESTS; i++)
    arm_request(s);
  if (pthread_create(&s->cq_thread, NULL, cq_thread_main, s) != 0) {
    crio_error_errno(err, errno, "start completion-queue thread");
    cri_server_shutdown(s, NULL, NULL);
    cri_server_free(s);
    return -1;
  }
  s->cq_thread_started = true;
  *out = s;
  return 0;
}

void cri_server_shutdown(struct cri_server *s, void (*before_cancel)(void *), void *data) {
  if (s == NULL || s->server == NULL)
    return;
  pthread_mutex_lock(&s->lock);
  s->shutting_down = true;
  pthread_mutex_unlock(&s->lock);
  /* No new calls from here; armed slots come back with ok = false. */
  grpc_server_shutdown_and_notify(s->server, s->cq, &s->shutdown_tag);

  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += s->grace_ms / 1000;
  until.tv_nsec += (s->grace_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&s->lock);
  while (s->active_calls > 0 && s->cq_thread_started) {
    if (pthread_cond_timedwait(&s->changed, &s->lock, &until) == ETIMEDOUT)
      break;
  }
  unsigned left = s->active_calls;
  pthread_mutex_unlock(&s->lock);
  if (left > 0)
    log_info("shutdown: %u call(s) still running after the grace period; "
             "cancelling",
             left);
  if (before_cancel)
    before_cancel(data);
  grpc_server_cancel_all_calls(s->server);

  /* Handlers end promptly once cancelled and released by the reconciler. */
  cri_workers_free(s->workers);
  s->workers = NULL;
  pthread_mutex_lock(&s->lock);
  while ((s->active_calls > 0 || !s->shutdown_notified) && s->cq_thread_started)
    pthread_cond_wait(&s->changed, &s->lock);
  pthread_mutex_unlock(&s->lock);

  grpc_server_destroy(s->server);
  s->server = NULL;
  grpc_completion_queue_shutdown(s->cq);
  if (s->cq_thread_started) {
    pthread_join(s->cq_thread, NULL);
    s->cq_thread_started = false;
  }
  if (!s->keep_socket_file && unlink(s->socket_path) < 0 && errno != ENOENT)
    log_warning("remove %s: %s", s->socket_path, strerror(errno));
}

void cri_server_free(struct cri_server *s) {
  if (s == NULL)
    return;
  if (s->server)
    grpc_server_destroy(s->server);
  if (s->cq) {
    if (!s->cq_thread_started) {
      grpc_completion_queue_shutdown(s->cq);
      while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
             GRPC_QUEUE_SHUTDOWN)
        ;
    }
    grpc_completion_queue_destroy(s->cq);
  }
  cri_workers_free(s->workers);
  cri_dispatch_release(&s->dispatch);
  free(s->ops);
  if (s->lock_fd >= 0)
    close(s->lock_fd);
  pthread_mutex_destroy(&s->lock);
  pthread_cond_destroy(&s->changed);
  free(s->socket_path);
  free(s);
}

size_t cri_server_op_stats(const struct cri_server *cs, struct cri_op_stat **out) {
  struct cri_server *s = (struct cri_server *)cs;
  *out = xcalloc(s->dispatch.n_methods ? s->dispatch.n_methods : 1, sizeof(**out));
  size_t n = 0;
  for (size_t i = 0; i < s->dispatch.n_methods; i++) {
    uint64_t total = atomic_load_explicit(&s->ops[i].total, memory_order_relaxed);
    if (total == 0)
      continue;
    const char *path = s->dispatch.methods[i].path;
    const char *slash = strrchr(path, '/');
    (*out)[n++] = (struct cri_op_stat){
        .operation = slash ? slash + 1 : path,
        .total = total,
        .errors = atomic_load_explicit(&s->ops[i].errors, memory_order_relaxed),
        .latency_ns_total = atomic_load_explicit(&s->ops[i].latency_ns, memory_order_relaxed),
        .last_latency_ns = atomic_load_explicit(&s->ops[i].last_ns, memory_order_relaxed),
    };
  }
  return n;
}

void cri_server_add_connection(struct cri_server *s, int fd) {
  grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
  grpc_server_add_channel_from_fd(s->server, fd, creds);
  grpc_server_credentials_release(creds);
}

uint64_t cri_server_calls_served(const struct cri_server *s) {
  return atomic_load(&((struct cri_server *)s)->calls_served);
}
