/* Interface counters inside a pod's network namespace, read-only.
 *
 * A netlink socket answers for the network namespace it was created in,
 * whatever namespace the thread asking is in later.  So a socket is made
 * once per namespace, by a short-lived thread that setns()es into it (a
 * namespace switch is per thread for CLONE_NEWNET, and the calling thread's
 * must never change), and from then on a sample is one RTM_GETLINK request
 * and its answer (IFLA_STATS64), with no thread and no namespace switch.
 *
 * The sampler keeps those sockets, keyed by the namespace's path and
 * checked against its inode on every sample: the pin of a stopped pod is
 * gone (or is another namespace), and its socket is closed then.  A kept
 * socket holds its namespace alive, so sockets unused for a minute are
 * closed too: a pod stopped and never sampled again keeps its emptied
 * namespace (the CNI DEL has removed its interfaces) at most that long. */
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "cni/internal.h"

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

#define SAMPLER_IDLE_NS (60LL * 1000000000LL)
#define SAMPLER_SWEEP_NS (10LL * 1000000000LL)

/* ---- a netlink socket inside a namespace ---------------------------------- */

struct socket_job {
  int netns_fd;
  int sock;
  crio_error_t error;
};

static void *socket_in_netns(void *arg) {
  struct socket_job *job = arg;
  if (setns(job->netns_fd, CLONE_NEWNET) < 0) {
    crio_error_errno(&job->error, errno, "enter network namespace");
    return NULL;
  }
  job->sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (job->sock < 0)
    crio_error_errno(&job->error, errno, "netlink socket");
  return NULL;
}

/* A NETLINK_ROUTE socket of the namespace pinned at netns_path, and the
 * namespace's identity (device and inode of the nsfs file). */
static int netns_socket(const char *netns_path, int *sock, struct stat *id, crio_error_t *err) {
  cleanup_close int fd = open(netns_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return crio_error_errno(err, errno, "open netns %s", netns_path);
  struct statfs sfs;
  if (fstatfs(fd, &sfs) < 0 || sfs.f_type != NSFS_MAGIC || fstat(fd, id) < 0)
    return crio_error(err, EINVAL, "%s is not a network namespace", netns_path);
  struct socket_job job = {fd, -1, NULL};
  pthread_t thread;
  int rc = pthread_create(&thread, NULL, socket_in_netns, &job);
  if (rc != 0)
    return crio_error_errno(err, rc, "start thread to enter netns %s", netns_path);
  pthread_join(thread, NULL);
  if (job.error) {
    *err = steal_pointer(&job.error);
    return crio_error_prefix(err, "netns %s", netns_path);
  }
  *sock = job.sock;
  return 0;
}

/* RTM_GETLINK of `ifname` on `sock`; ENOENT if there is no such interface. */

/* NLMSG_OK with its comparisons in one signedness: the macro compares the
 * header's unsigned length with the caller's int, which clang's
 * -Wsign-compare refuses. */
static bool nlmsg_fits(const struct nlmsghdr *nh, int len) {
  return len >= (int)sizeof(*nh) && nh->nlmsg_len >= sizeof(*nh) && nh->nlmsg_len <= (unsigned)len;
}
static int link_stats(int sock, uint32_t seq, const char *ifname, struct cni_if_stats *out,
                      crio_error_t *err) {
  size_t name_len = strlen(ifname) + 1;
  if (name_len > 16)
    return crio_error(err, EINVAL, "interface name \"%s\" is too long", ifname);
  struct {
    struct nlmsghdr nh;
    struct ifinfomsg ifi;
    char attrs[RTA_SPACE(16)];
  } req;
  memset(&req, 0, sizeof(req));
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)) + RTA_LENGTH(name_len);
  req.nh.nlmsg_type = RTM_GETLINK;
  req.nh.nlmsg_flags = NLM_F_REQUEST;
  req.nh.nlmsg_seq = seq;
  req.ifi.ifi_family = AF_UNSPEC;
  struct rtattr *rta = (struct rtattr *)req.attrs;
  rta->rta_type = IFLA_IFNAME;
  rta->rta_len = (unsigned short)RTA_LENGTH(name_len);
  memcpy(RTA_DATA(rta), ifname, name_len);
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(sock, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
    return crio_error_errno(err, errno, "netlink RTM_GETLINK %s", ifname);

  /* One answer: the link, or an error.  Anything older (of a request whose
   * answer was never read) is skipped by its sequence number. */
  union {
    struct nlmsghdr nh;
    char bytes[32768];
  } buf;
  for (;;) {
    ssize_t got = recv(sock, &buf, sizeof(buf), 0);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0)
      return crio_error_errno(err, errno, "netlink RTM_GETLINK %s", ifname);
    int n = (int)got;
    for (struct nlmsghdr *nh = &buf.nh; nlmsg_fits(nh, n); nh = NLMSG_NEXT(nh, n)) {
      if (nh->nlmsg_seq != seq)
        continue;
      if (nh->nlmsg_type == NLMSG_ERROR) {
        const struct nlmsgerr *e = NLMSG_DATA(nh);
        int status = -e->error;
        if (status == ENODEV)
          return crio_error(err, ENOENT, "no interface %s", ifname);
        return crio_error_errno(err, status, "netlink RTM_GETLINK %s", ifname);
      }
      if (nh->nlmsg_type != RTM_NEWLINK)
        continue;
      struct ifinfomsg *ifi = NLMSG_DATA(nh);
      int len = (int)IFLA_PAYLOAD(nh);
      for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (a->rta_type != IFLA_STATS64 || RTA_PAYLOAD(a) < sizeof(struct rtnl_link_stats64))
          continue;
        struct rtnl_link_stats64 st;
        memcpy(&st, RTA_DATA(a), sizeof(st));
        /* As /proc/net/dev counts them: its rx "drop" adds the misses. */
        *out = (struct cni_if_stats){.rx_bytes = st.rx_bytes,
                                     .rx_packets = st.rx_packets,
                                     .rx_errors = st.rx_errors,
                                     .rx_dropped = st.rx_dropped + st.rx_missed_errors,
                                     .tx_bytes = st.tx_bytes,
                                     .tx_packets = st.tx_packets,
                                     .tx_errors = st.tx_errors,
                                     .tx_dropped = st.tx_dropped};
        return 0;
      }
      return crio_error(err, EPROTO, "netlink: %s has no IFLA_STATS64", ifname);
    }
  }
}

int cni_netns_interface_stats(const char *netns_path, const char *ifname, struct cni_if_stats *out,
                              crio_error_t *err) {
  memset(out, 0, sizeof(*out));
  struct stat id;
  cleanup_close int sock = -1;
  if (netns_socket(netns_path, &sock, &id, err) < 0 || link_stats(sock, 1, ifname, out, err) < 0)
    return crio_error_prefix(err, "interface stats in netns %s", netns_path);
  return 0;
}

/* ---- the sampler -------------------------------------------------------------- */

struct ns_entry {
  struct ns_entry *next;
  char *path;
  dev_t dev;
  ino_t ino;
  int sock;
  int64_t last_used_ns;
};

#define SAMPLER_BUCKETS 512

struct cni_stats_sampler {
  pthread_mutex_t lock;
  struct ns_entry *buckets[SAMPLER_BUCKETS];
  uint32_t seq;
  int64_t last_sweep_ns;
};

static size_t hash_path(const char *path) {
  uint64_t h = UINT64_C(1469598103934665603);
  for (const unsigned char *p = (const unsigned char *)path; *p; p++)
    h = (h ^ *p) * UINT64_C(1099511628211);
  return (size_t)(h % SAMPLER_BUCKETS);
}

struct cni_stats_sampler *cni_stats_sampler_new(void) {
  struct cni_stats_sampler *s = xzalloc(sizeof(*s));
  pthread_mutex_init(&s->lock, NULL);
  return s;
}

static void ns_entry_free(struct ns_entry *e) {
  close(e->sock);
  free(e->path);
  free(e);
}

void cni_stats_sampler_free(struct cni_stats_sampler *s) {
  if (s == NULL)
    return;
  for (size_t b = 0; b < SAMPLER_BUCKETS; b++)
    while (s->buckets[b]) {
      struct ns_entry *e = s->buckets[b];
      s->buckets[b] = e->next;
      ns_entry_free(e);
    }
  pthread_mutex_destroy(&s->lock);
  free(s);
}

static void sweep_locked(struct cni_stats_sampler *s, int64_t now) {
  if (now - s->last_sweep_ns < SAMPLER_SWEEP_NS)
    return;
  s->last_sweep_ns = now;
  for (size_t b = 0; b < SAMPLER_BUCKETS; b++)
    for (struct ns_entry **pp = &s->buckets[b]; *pp;) {
      struct ns_entry *e = *pp;
      if (now - e->last_used_ns < SAMPLER_IDLE_NS) {
        pp = &e->next;
        continue;
      }
      *pp = e->next;
      ns_entry_free(e);
    }
}

static int sample_locked(struct cni_stats_sampler *s, const char *netns_path, const char *ifname,
                         struct cni_if_stats *out, crio_error_t *err) {
  int64_t now = crio_monotonic_ns();
  sweep_locked(s, now);
  size_t b = hash_path(netns_path);
  struct ns_entry **pp = &s->buckets[b];
  while (*pp && strcmp((*pp)->path, netns_path) != 0)
    pp = &(*pp)->next;
  struct stat st;
  bool same = stat(netns_path, &st) == 0;
  if (*pp && !(same && st.st_dev == (*pp)->dev && st.st_ino == (*pp)->ino)) {
    struct ns_entry *gone = *pp; /* unpinned, or pinned anew */
    *pp = gone->next;
    ns_entry_free(gone);
  }
  struct ns_entry *e = *pp;
  if (e == NULL) {
    struct stat id;
    int sock = -1;
    if (netns_socket(netns_path, &sock, &id, err) < 0)
      return -1;
    e = xzalloc(sizeof(*e));
    e->path = xstrdup(netns_path);
    e->dev = id.st_dev;
    e->ino = id.st_ino;
    e->sock = sock;
    e->next = s->buckets[b];
    s->buckets[b] = e;
  }
  e->last_used_ns = now;
  return link_stats(e->sock, ++s->seq, ifname, out, err);
}

int cni_stats_sample(struct cni_stats_sampler *s, const char *netns_path, const char *ifname,
                     struct cni_if_stats *out, crio_error_t *err) {
  memset(out, 0, sizeof(*out));
  pthread_mutex_lock(&s->lock);
  int rc = sample_locked(s, netns_path, ifname, out, err);
  pthread_mutex_unlock(&s->lock);
  if (rc < 0)
    return crio_error_prefix(err, "interface stats in netns %s", netns_path);
  return 0;
}
