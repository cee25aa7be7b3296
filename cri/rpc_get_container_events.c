/* GetContainerEvents: a server stream of container lifecycle events, fed
 * by the state log (cri/events.c).
 *
 * Each stream keeps its own cursor, a seq in the persistent log, so
 * nothing queues in memory for a slow client: while it is not reading,
 * its cri_stream_send waits (this handler thread only; the pool grows for
 * other calls) and the entries wait in the log.  Nothing here holds a store
 * transaction while sending: a pass reads at most CRI_EVENTS_BATCH entries,
 * builds their messages in one read txn, ends it, then sends.
 *
 * Waking: store_log_wait() returns as soon as a commit of this process
 * appended log entries, so an event is sent within the commit's own
 * latency.  The wait is bounded (WAKE_CHECK_MS) because the client's going
 * away is not a store event: the stream looks at cri_request_cancelled()
 * between waits and ends within that bound.
 *
 * The stream starts at the log's end: the kubelet asks for events from now
 * on and relists for the past.
 *
 * Each pass's messages live in a scratch arena released after they are
 * sent; the call's own arena lives as long as the stream and must not grow
 * with every event (a cri_scratch). */
#include <errno.h>

#include "cri/call.h"
#include "cri/events.h"

#define WAKE_CHECK_MS 250

static int start_seq(struct cri_request *req, uint64_t *seq, crio_error_t *err) {
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(req->ctx->store, STORE_TXN_READ, &txn, err) < 0)
    return -1;
  *seq = store_log_last_seq(txn);
  return store_txn_commit(steal_pointer(&txn), err);
}

/* One pass: read, then send with no txn open.  1 when the client has gone
 * (the stream simply ends), 0 when it is caught up or sent a batch. */
static int pass(struct cri_request *req, uint64_t *cursor, bool *more, crio_error_t *err) {
  struct cri_scratch s;
  cri_scratch_begin(&s, req);
  struct cri_event_batch batch;
  uint64_t before = *cursor;
  int rc = cri_events_read(&s.req, cursor, &batch, err);
  *more = rc == 0 && *cursor != before;
  for (size_t i = 0; rc == 0 && i < batch.n; i++) {
    cleanup_error crio_error_t send_err = NULL;
    if (cri_stream_send(req, &batch.events[i]->base, &send_err) < 0) {
      if (crio_error_status(&send_err) != ECANCELED) {
        rc = crio_error(err, crio_error_status(&send_err), "%s", crio_error_message(&send_err));
        break;
      }
      rc = 1;
    }
  }
  cri_scratch_end(&s);
  return rc;
}

int cri_handle_get_container_events(struct cri_request *req, crio_error_t *err) {
  uint64_t cursor = 0;
  if (start_seq(req, &cursor, err) < 0)
    return -1;
  log_debug("GetContainerEvents: stream starts after log entry %llu", (unsigned long long)cursor);
  while (!cri_request_cancelled(req)) {
    bool more = false;
    int rc = pass(req, &cursor, &more, err);
    if (rc < 0)
      return -1;
    if (rc > 0)
      break;
    if (!more)
      store_log_wait(req->ctx->store, cursor, crio_monotonic_ns() + WAKE_CHECK_MS * 1000000LL);
  }
  log_debug("GetContainerEvents: client gone after log entry %llu", (unsigned long long)cursor);
  return 0;
}
