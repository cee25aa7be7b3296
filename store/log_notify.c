/* Commit notification for followers of the state log (GetContainerEvents
 * streams): a follower remembers the last seq it has seen and sleeps until
 * a write txn of this process that appended log entries has committed.
 *
 * Only the newest committed seq is kept, never the entries: a follower
 * reads what it missed from the log itself, at its own pace, so a slow one
 * costs nothing here and cannot hold back a writer.  Writers only take the
 * lock for a store and a broadcast after their commit has returned. */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "store/internal.h"

void store_log_notify_init(struct store *store) {
  pthread_mutex_init(&store->notify_lock, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&store->notify_cond, &attr);
  pthread_condattr_destroy(&attr);
  store->notify_ready = true;
}

void store_log_notify_release(struct store *store) {
  if (!store->notify_ready)
    return;
  pthread_cond_destroy(&store->notify_cond);
  pthread_mutex_destroy(&store->notify_lock);
  store->notify_ready = false;
}

void store_log_notify_commit(struct store *store, uint64_t seq) {
  pthread_mutex_lock(&store->notify_lock);
  if (seq > store->notify_seq)
    store->notify_seq = seq;
  pthread_cond_broadcast(&store->notify_cond);
  pthread_mutex_unlock(&store->notify_lock);
}

uint64_t store_log_wait(struct store *store, uint64_t seen, int64_t deadline_ns) {
  struct timespec until = {0};
  if (deadline_ns > 0) {
    until.tv_sec = deadline_ns / 1000000000LL;
    until.tv_nsec = deadline_ns % 1000000000LL;
  }
  pthread_mutex_lock(&store->notify_lock);
  while (store->notify_seq <= seen) {
    int rc = deadline_ns > 0
                 ? pthread_cond_timedwait(&store->notify_cond, &store->notify_lock, &until)
                 : pthread_cond_wait(&store->notify_cond, &store->notify_lock);
    if (rc == ETIMEDOUT)
      break;
  }
  uint64_t seq = store->notify_seq;
  pthread_mutex_unlock(&store->notify_lock);
  return seq;
}
