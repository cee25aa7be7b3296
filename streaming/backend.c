/* What streams act on, read from the records: the one place streaming/
 * looks at the store.  A stream starts only on a running container (a
 * ready pod); what happens to the object afterwards reaches the stream
 * through the host: a stopped container's processes die, the exec's
 * command with them, and the stream ends with its exit code.
 *
 * TODO(onewriter): start the exec and the attach through the reconciler's
 * synchronous operation entry point (reconciler_run_op) once it is on
 * main, so the start is serialised with the container's steps; only this
 * file changes. */
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

void stream_container_release(struct stream_container *c) {
  free(c->bundle);
  free(c->config_json);
  memset(c, 0, sizeof(*c));
}

static int record_read(const struct stream_context *ctx, enum store_kind kind, const char *id,
                       store_record **out, crio_error_t *err) {
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(ctx->store, STORE_TXN_READ, &txn, err) < 0)
    return -1;
  if (store_record_get(txn, kind, id, out, err) < 0)
    return crio_error_prefix(err, "%s %s", kind == STORE_KIND_POD ? "pod" : "container", id);
  return store_txn_commit(steal_pointer(&txn), err);
}

int stream_container_get(const struct stream_context *ctx, const char *id,
                         struct stream_container *out, crio_error_t *err) {
  memset(out, 0, sizeof(*out));
  cleanup_store_record store_record *rec = NULL;
  if (record_read(ctx, STORE_KIND_CONTAINER, id, &rec, err) < 0)
    return -1;
  if (rec->state != SM_CONTAINER_RUNNING)
    return crio_error(err, EBUSY, "container %s is not running (%s)", id,
                      sm_state_name(SM_KIND_CONTAINER, rec->state));
  const char *handler = rec->container->runtime_handler;
  const struct reconciler_container_env *env = ctx->containers;
  for (size_t i = 0; env && i < env->n_runtimes; i++)
    if (strcmp(env->runtimes[i].name, handler) == 0)
      out->runtime = env->runtimes[i].runtime;
  if (out->runtime == NULL)
    return crio_error(err, EINVAL, "container %s: runtime handler \"%s\" is not configured", id,
                      handler);
  if (rec->container->bundle_dir == NULL || *rec->container->bundle_dir == '\0')
    return crio_error(err, EUCLEAN, "container %s: record names no bundle", id);
  Runtime__V1__ContainerConfig *config = runtime__v1__container_config__unpack(
      NULL, rec->container->cri_config.len, rec->container->cri_config.data);
  if (config) {
    out->stdin = config->stdin;
    out->stdin_once = config->stdin_once;
    out->tty = config->tty;
    runtime__v1__container_config__free_unpacked(config, NULL);
  }
  out->bundle = xstrdup(rec->container->bundle_dir);
  out->config_json = xasprintf("%s/config.json", out->bundle);
  return 0;
}

int stream_pod_netns(const struct stream_context *ctx, const char *pod_id, char **netns,
                     crio_error_t *err) {
  *netns = NULL;
  cleanup_store_record store_record *rec = NULL;
  if (record_read(ctx, STORE_KIND_POD, pod_id, &rec, err) < 0)
    return -1;
  if (rec->state != SM_POD_READY)
    return crio_error(err, EBUSY, "pod %s is not ready (%s)", pod_id,
                      sm_state_name(SM_KIND_POD, rec->state));
  if (rec->pod->netns_path && *rec->pod->netns_path)
    *netns = xstrdup(rec->pod->netns_path);
  return 0;
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
