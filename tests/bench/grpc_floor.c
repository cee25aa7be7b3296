/* The floor for bench.py: the least a gRPC C-core server on a unix socket
 * can be.  It links only libgrpc, calls grpc_init, serves one socket with
 * one completion queue on one thread, and answers every call, whatever its
 * method, with the same canned bytes (a serialized VersionResponse) and
 * status OK.  No decoding, no handler, no database: what is left is the
 * transport, so the daemon's figures minus these are what the daemon adds.
 *
 * Usage: grpc_floor SOCKET [RESPONSE_HEX]
 * Prints "ready" on stdout once serving; exits 0 on SIGTERM or SIGINT. */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

enum tag_kind { TAG_NEW_CALL, TAG_CALL_DONE, TAG_SHUTDOWN };

struct call {
  enum tag_kind kind; /* first member: a tag is a pointer to its kind */
  grpc_call *call;
  grpc_call_details details;
  grpc_metadata_array request_metadata;
  grpc_byte_buffer *request;
  int cancelled;
  enum tag_kind done_kind;
};

static grpc_server *server;
static grpc_completion_queue *cq;
static grpc_slice response_slice;

static void die(const char *what) {
  fprintf(stderr, "grpc_floor: %s\n", what);
  exit(1);
}

static void arm(void) {
  struct call *c = calloc(1, sizeof(*c));
  if (c == NULL)
    die("out of memory");
  c->kind = TAG_NEW_CALL;
  c->done_kind = TAG_CALL_DONE;
  grpc_call_details_init(&c->details);
  grpc_metadata_array_init(&c->request_metadata);
  if (grpc_server_request_call(server, &c->call, &c->details, &c->request_metadata, cq, cq, c) !=
      GRPC_CALL_OK)
    die("grpc_server_request_call failed");
}

static void free_call(struct call *c) {
  if (c->call)
    grpc_call_unref(c->call);
  if (c->request)
    grpc_byte_buffer_destroy(c->request);
  grpc_call_details_destroy(&c->details);
  grpc_metadata_array_destroy(&c->request_metadata);
  free(c);
}

/* All of a unary call in one batch: the answer does not depend on the
 * request, so there is nothing to wait for between receiving and sending. */
static void answer(struct call *c) {
  grpc_byte_buffer *reply = grpc_raw_byte_buffer_create(&response_slice, 1);
  grpc_op ops[5];
  memset(ops, 0, sizeof(ops));
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_RECV_MESSAGE;
  ops[1].data.recv_message.recv_message = &c->request;
  ops[2].op = GRPC_OP_SEND_MESSAGE;
  ops[2].data.send_message.send_message = reply;
  ops[3].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  ops[3].data.send_status_from_server.status = GRPC_STATUS_OK;
  ops[4].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  ops[4].data.recv_close_on_server.cancelled = &c->cancelled;
  grpc_call_error rc = grpc_call_start_batch(c->call, ops, 5, &c->done_kind, NULL);
  grpc_byte_buffer_destroy(reply); /* the batch took its own reference */
  if (rc != GRPC_CALL_OK)
    die("grpc_call_start_batch failed");
}

static int hex_value(char ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: grpc_floor SOCKET [RESPONSE_HEX]\n");
    return 2;
  }
  const char *hex = argc == 3 ? argv[2] : "";
  size_t len = strlen(hex) / 2;
  unsigned char *bytes = malloc(len + 1);
  for (size_t i = 0; i < len; i++) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      die("RESPONSE_HEX is not hex");
    bytes[i] = (unsigned char)(hi << 4 | lo);
  }
  response_slice = grpc_slice_from_copied_buffer((const char *)bytes, len);
  free(bytes);

  struct sigaction sa = {.sa_handler = on_signal};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  grpc_init();
  server = grpc_server_create(NULL, NULL);
  cq = grpc_completion_queue_create_for_next(NULL);
  grpc_server_register_completion_queue(server, cq, NULL);
  char address[256];
  snprintf(address, sizeof(address), "unix:%s", argv[1]);
  grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
  if (grpc_server_add_http2_port(server, address, creds) == 0)
    die("cannot listen on the socket");
  grpc_server_credentials_release(creds);
  grpc_server_start(server);
  for (int i = 0; i < 4; i++)
    arm();
  printf("ready\n");
  fflush(stdout);

  enum tag_kind shutdown_kind = TAG_SHUTDOWN;
  int shutting_down = 0;
  for (;;) {
    if (stop_requested && !shutting_down) {
      shutting_down = 1;
      grpc_server_shutdown_and_notify(server, cq, &shutdown_kind);
      grpc_server_cancel_all_calls(server);
    }
    grpc_event ev = grpc_completion_queue_next(
        cq, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(100, GPR_TIMESPAN)),
        NULL);
    if (ev.type == GRPC_QUEUE_TIMEOUT)
      continue;
    if (ev.type != GRPC_OP_COMPLETE)
      break;
    enum tag_kind kind = *(enum tag_kind *)ev.tag;
    if (kind == TAG_SHUTDOWN)
      break;
    if (kind == TAG_NEW_CALL) {
      struct call *c = ev.tag;
      if (!ev.success) { /* shutting down: the armed slot comes back */
        free_call(c);
        continue;
      }
      if (!shutting_down)
        arm();
      answer(c);
    } else {
      struct call *c = (struct call *)((char *)ev.tag - offsetof(struct call, done_kind));
      free_call(c);
    }
  }
  grpc_server_destroy(server);
  grpc_completion_queue_shutdown(cq);
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN)
      break;
    if (ev.type != GRPC_OP_COMPLETE)
      continue;
    enum tag_kind kind = *(enum tag_kind *)ev.tag;
    if (kind == TAG_NEW_CALL)
      free_call(ev.tag);
    else if (kind == TAG_CALL_DONE)
      free_call((struct call *)((char *)ev.tag - offsetof(struct call, done_kind)));
  }
  grpc_completion_queue_destroy(cq);
  grpc_slice_unref(response_slice);
  grpc_shutdown();
  return 0;
}
