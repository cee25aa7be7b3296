/* Internal to cri/: container events read from the state log, for the
 * GetContainerEvents stream (rpc_get_container_events.c). */
#ifndef CRIO_CRI_EVENTS_H
#define CRIO_CRI_EVENTS_H

#include "cri/internal.h"
#include "store/store.h"

/* How many log entries one pass reads, so a stream that fell behind
 * catches up in bounded steps: each pass's messages are built in one read
 * txn and sent after it has ended. */
#define CRI_EVENTS_BATCH 64

/* The CRI event a log entry stands for: a container's transition into
 * CREATED, RUNNING or EXITED, or its deletion.  false for every other
 * entry (pods, images, goals, failures, notes, other transitions). */
bool cri_event_type_of(const store_log_entry *entry, Runtime__V1__ContainerEventType *type);

/* One pass: the container events among the log entries after *cursor (at
 * most CRI_EVENTS_BATCH entries), as messages allocated in `req`'s arena,
 * read in one read txn that has ended when this returns.  *cursor moves to
 * the last entry looked at, whether or not it made an event. */
struct cri_event_batch {
  Runtime__V1__ContainerEventResponse **events;
  size_t n;
};
int cri_events_read(struct cri_request *req, uint64_t *cursor, struct cri_event_batch *out,
                    crio_error_t *err);

#endif
