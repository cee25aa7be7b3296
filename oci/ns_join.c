/* Running a function inside other namespaces without moving the daemon.
 *
 * Namespaces of the types we use (net, ipc, uts, pid-for-children) belong to
 * a task, not to the process: setns() or unshare() on a thread changes that
 * thread only.  So the work runs on a fresh thread that joins, works and
 * exits; no thread of the daemon ever has to find its way back. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include "oci/oci.h"

static const char *const ns_names[OCI_NS_COUNT] = {
    [OCI_NS_NET] = "net",
    [OCI_NS_IPC] = "ipc",
    [OCI_NS_UTS] = "uts",
    [OCI_NS_PID] = "pid",
};

static const int ns_flags[OCI_NS_COUNT] = {
    [OCI_NS_NET] = CLONE_NEWNET,
    [OCI_NS_IPC] = CLONE_NEWIPC,
    [OCI_NS_UTS] = CLONE_NEWUTS,
    [OCI_NS_PID] = CLONE_NEWPID,
};

const char *oci_ns_type_name(enum oci_ns_type type) {
  return (unsigned)type < OCI_NS_COUNT ? ns_names[type] : "?";
}

int oci_ns_clone_flag(enum oci_ns_type type) {
  return (unsigned)type < OCI_NS_COUNT ? ns_flags[type] : 0;
}

struct ns_thread {
  int fds[OCI_NS_COUNT];
  int (*fn)(void *arg, crio_error_t *err);
  void *arg;
  int rc;
  crio_error_t err;
};

static void *ns_thread_main(void *opaque) {
  struct ns_thread *t = opaque;
  for (int i = 0; i < OCI_NS_COUNT; i++) {
    if (t->fds[i] < 0)
      continue;
    if (setns(t->fds[i], ns_flags[i]) < 0) {
      t->rc = crio_error_errno(&t->err, errno, "join %s namespace", ns_names[i]);
      return NULL;
    }
  }
  t->rc = t->fn(t->arg, &t->err);
  if (t->rc < 0 && t->err == NULL)
    t->rc = crio_error(&t->err, EIO, "namespace task failed");
  return NULL;
}

static void ns_fds_close(struct ns_thread *t) {
  for (int i = 0; i < OCI_NS_COUNT; i++)
    if (t->fds[i] >= 0)
      close(t->fds[i]);
}

int oci_ns_run_in(const struct oci_ns_paths *ns, int (*fn)(void *arg, crio_error_t *err), void *arg,
                  crio_error_t *err) {
  struct ns_thread t = {.fn = fn, .arg = arg};
  for (int i = 0; i < OCI_NS_COUNT; i++)
    t.fds[i] = -1;

  /* Open every path here, so a missing namespace is reported with its path
   * and nothing has run yet. */
  for (int i = 0; ns && i < OCI_NS_COUNT; i++) {
    if (ns->path[i] == NULL)
      continue;
    t.fds[i] = open(ns->path[i], O_RDONLY | O_CLOEXEC);
    if (t.fds[i] < 0) {
      int e = errno;
      ns_fds_close(&t);
      return crio_error_errno(err, e, "open %s namespace %s", ns_names[i], ns->path[i]);
    }
  }

  pthread_t thread;
  int rc = pthread_create(&thread, NULL, ns_thread_main, &t);
  if (rc != 0) {
    ns_fds_close(&t);
    return crio_error_errno(err, rc, "start namespace thread");
  }
  pthread_join(thread, NULL);
  ns_fds_close(&t);

  if (t.rc < 0) {
    if (err && *err == NULL)
      *err = steal_pointer(&t.err);
    else
      crio_error_release(&t.err);
    return -1;
  }
  return 0;
}
