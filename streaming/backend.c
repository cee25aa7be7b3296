/* What streams act on, and their place in the objects' lifecycles: a
 * stream is a shared operation of the reconciler (reconciler_run_op,
 * RECONCILE_OP_SHARED) on its container or pod for as long as it lasts.
 * It starts between two steps of the object, on the committed record (a
 * running container, a ready pod), runs beside later steps without holding
 * them up, and is told through its cancel descriptor when a transition
 * moves the object out of that state (a StopContainer, a RemovePodSandbox):
 * the stream then ends cleanly, an exec with the exit status of its
 * command, which dies with the container.  This file is the one place
 * streaming/ meets the reconciler and the records. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/api.pb-c.h"
#include "oci/oci.h"
#include "reconciler/reconciler.h"
#include "statemachine/statemachine.h"
#include "store/store.h"
#include "streaming/internal.h"

/* How long a stream waits for a step of its object under way to finish
 * before it starts. */
#define CLAIM_TIMEOUT_MS 30000

struct stream_op {
  const struct stream_context *ctx;
  int cancel_fd;
  stream_container_fn on_container;
  stream_pod_fn on_pod;
  void *arg;
};

static void cancel_stream(void *data) {
  struct stream_op *so = data;
  uint64_t one = 1;
  /* Only a signal here: the reconciler's lock is held. */
  if (write(so->cancel_fd, &one, sizeof(one)) < 0)
    return;
}

static int check_running(struct reconcile_op *op, crio_error_t *err) {
  if (op->record->state == SM_CONTAINER_RUNNING)
    return 0;
  return crio_error(err, EBUSY, "container %s is not running (%s)", op->record->id,
                    sm_state_name(SM_KIND_CONTAINER, op->record->state));
}

static int check_ready(struct reconcile_op *op, crio_error_t *err) {
  if (op->record->state == SM_POD_READY)
    return 0;
  return crio_error(err, EBUSY, "pod %s is not ready (%s)", op->record->id,
                    sm_state_name(SM_KIND_POD, op->record->state));
}

static const struct reconcile_op_type stream_exec = {
    .name = "container.stream_exec",
    .kind = SM_KIND_CONTAINER,
    .mode = RECONCILE_OP_SHARED,
    .check = check_running,
    .cancel = cancel_stream,
};
static const struct reconcile_op_type stream_attach = {
    .name = "container.stream_attach",
    .kind = SM_KIND_CONTAINER,
    .mode = RECONCILE_OP_SHARED,
    .check = check_running,
    .cancel = cancel_stream,
};
static const struct reconcile_op_type stream_port_forward = {
    .name = "pod.stream_port_forward",
    .kind = SM_KIND_POD,
    .mode = RECONCILE_OP_SHARED,
    .check = check_ready,
    .cancel = cancel_stream,
};

static int container_of(const struct stream_context *ctx, const store_record *rec,
                        struct stream_container *out, crio_error_t *err) {
  const char *handler = rec->container->runtime_handler;
  const struct reconciler_container_env *env = ctx->containers;
  for (size_t i = 0; env && i < env->n_runtimes; i++)
    if (strcmp(env->runtimes[i].name, handler) == 0)
      out->runtime = env->runtimes[i].runtime;
  if (out->runtime == NULL)
    return crio_error(err, EINVAL, "container %s: runtime handler \"%s\" is not configured",
                      rec->id, handler);
  if (rec->container->bundle_dir == NULL || *rec->container->bundle_dir == '\0')
    return crio_error(err, EUCLEAN, "container %s: record names no bundle", rec->id);
  Runtime__V1__ContainerConfig *config = runtime__v1__container_config__unpack(
      NULL, rec->container->cri_config.len, rec->container->cri_config.data);
  if (config) {
    out->stdin = config->stdin;
    out->stdin_once = config->stdin_once;
    out->tty = config->tty;
    runtime__v1__container_config__free_unpacked(config, NULL);
  }
  out->bundle = rec->container->bundle_dir;
  out->config_json = xasprintf("%s/config.json", out->bundle);
  return 0;
}

static int op_container(struct reconcile_op *op, crio_error_t *err) {
  struct stream_op *so = op->data;
  struct stream_container c = {0};
  int rc = container_of(so->ctx, op->record, &c, err);
  if (rc == 0)
    rc = so->on_container(so->arg, &c, err);
  free(c.config_json);
  return rc;
}

static int op_pod(struct reconcile_op *op, crio_error_t *err) {
  struct stream_op *so = op->data;
  const char *netns = op->record->pod->netns_path;
  return so->on_pod(so->arg, netns && *netns ? netns : NULL, err);
}

int stream_with_container(const struct stream_context *ctx, const char *id, bool attach,
                          int cancel_fd, stream_container_fn fn, void *arg, crio_error_t *err) {
  struct stream_op so = {.ctx = ctx, .cancel_fd = cancel_fd, .on_container = fn, .arg = arg};
  int64_t deadline = crio_monotonic_ns() + (int64_t)CLAIM_TIMEOUT_MS * 1000000;
  return reconciler_run_op(ctx->reconciler, attach ? &stream_attach : &stream_exec, id, NULL,
                           op_container, &so, deadline, err);
}

int stream_with_pod(const struct stream_context *ctx, const char *pod_id, int cancel_fd,
                    stream_pod_fn fn, void *arg, crio_error_t *err) {
  struct stream_op so = {.ctx = ctx, .cancel_fd = cancel_fd, .on_pod = fn, .arg = arg};
  int64_t deadline = crio_monotonic_ns() + (int64_t)CLAIM_TIMEOUT_MS * 1000000;
  return reconciler_run_op(ctx->reconciler, &stream_port_forward, pod_id, NULL, op_pod, &so,
                           deadline, err);
}

struct dial {
  uint16_t port;
  int fd;
};

/* A pod that drops packets to its loopback must not hold the connection's
 * thread for the kernel's two minutes of SYN retries. */
#define DIAL_TIMEOUT_MS 10000

static int dial_one(int family, uint16_t port, int *fd_out) {
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return -errno;
  struct sockaddr_storage ss = {0};
  socklen_t len;
  if (family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof(*a);
  } else {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    a->sin6_addr = in6addr_loopback;
    len = sizeof(*a);
  }
  int rc = connect(fd, (struct sockaddr *)&ss, len);
  if (rc < 0 && errno == EINPROGRESS) {
    struct pollfd p = {fd, POLLOUT, 0};
    int e = 0;
    socklen_t elen = sizeof(e);
    rc = poll(&p, 1, DIAL_TIMEOUT_MS);
    if (rc == 0)
      errno = ETIMEDOUT, rc = -1;
    else if (rc > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) == 0 && e != 0)
      errno = e, rc = -1;
    else if (rc > 0)
      rc = 0;
  }
  if (rc < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  *fd_out = fd;
  return 0;
}

/* Runs on a thread that joined the pod's network namespace: the socket
 * belongs to the namespace it was made in, whatever thread uses it. */
static int dial_in_ns(void *arg, crio_error_t *err) {
  struct dial *d = arg;
  int rc = dial_one(AF_INET, d->port, &d->fd);
  if (rc < 0) {
    int rc6 = dial_one(AF_INET6, d->port, &d->fd);
    if (rc6 < 0)
      return crio_error_errno(err, -rc, "dial tcp 127.0.0.1:%u", d->port);
  }
  return 0;
}

int stream_pod_connect(const char *netns, uint16_t port, int *fd, crio_error_t *err) {
  struct dial d = {.port = port, .fd = -1};
  int rc;
  if (netns) {
    struct oci_ns_paths ns = {0};
    ns.path[OCI_NS_NET] = netns;
    rc = oci_ns_run_in(&ns, dial_in_ns, &d, err);
  } else {
    rc = dial_in_ns(&d, err);
  }
  if (rc < 0)
    return -1;
  *fd = d.fd;
  return 0;
}
