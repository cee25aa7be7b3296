/* Internal to cri/: the pool of handler threads.  Handlers may block (a
 * RunPodSandbox waits for the reconciler for minutes), so they never run on
 * the completion-queue thread.  The pool grows on demand up to a cap and
 * idle threads beyond a small core exit after a while, so an idle daemon
 * stays lean. */
#ifndef CRIO_CRI_WORKERS_H
#define CRIO_CRI_WORKERS_H

#include <stddef.h>

struct cri_workers;

struct cri_workers *cri_workers_new(unsigned max_threads);
/* Never fails: past the cap, jobs queue. */
void cri_workers_submit(struct cri_workers *workers, void (*fn)(void *arg), void *arg);
/* Runs every queued job, waits for all threads to exit, frees. */
void cri_workers_free(struct cri_workers *workers);

#endif
