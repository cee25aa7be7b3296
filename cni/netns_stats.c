/* Interface counters inside a pod's network namespace, read-only.
 *
 * A netlink socket answers for the network namespace it was created in,
 * whatever namespace the thread asking is in later.  So a socket is made
 * once per namespace, by a short-lived thread that setns()es into it (a
 * namespace switch is per thread for CLONE_NEWNET, and the calling thread's
 * must never change), and from then on a sample is one RTM_GETLINK request
 * and its answer (IFLA_STATS64), with no thread and no namespace switch.
 *
 * The sampler keeps those sockets, keyed by the namespace's path, with the
 * interface's index: a sample is then one RTM_GETSTATS of that index asking
 * for the 64-bit counters only, which the kernel answers with one small
 * attribute, where RTM_GETLINK fills the whole link (addresses, IPv6 and
 * per-protocol attributes: most of a sample's cost once the socket is
 * kept).  An index that no longer names a link (ENODEV: the interface was
 * made again) is looked up again by name once.
 *
 * Whoever releases a namespace's pin says so (cni_stats_sampler_forget:
 * the reconciler's pod.release_namespaces), which closes its socket, so a
 * sample does not stat the path to check that it still pins the same
 * namespace.  A kept socket holds its namespace alive, so sockets unused
 * for a minute are closed too: that bounds what a sample racing with the
 * release could keep (a socket opened just before the unpin and kept
 * after the forget).
 *
 * The list calls sample their pods on several threads at once, so the
 * cache is split in shards, each with its own lock, held across the one
 * request and answer on a kept socket (a socket's answers are read by the
 * thread that asked). */
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
static void stats_from(const struct rtnl_link_stats64 *st, struct cni_if_stats *out) {
  /* As /proc/net/dev counts them: its rx "drop" adds the misses. */
  *out = (struct cni_if_stats){.rx_bytes = st->rx_bytes,
                               .rx_packets = st->rx_packets,
                               .rx_errors = st->rx_errors,
                               .rx_dropped = st->rx_dropped + st->rx_missed_errors,
                               .tx_bytes = st->tx_bytes,
                               .tx_packets = st->tx_packets,
                               .tx_errors = st->tx_errors,
                               .tx_dropped = st->tx_dropped};
}

/* Receives the answer to request `seq` on `sock`: the first message of
 * type `type` is handed to `take` (which returns 0 or -1 with *err set);
 * an NLMSG_ERROR answer is returned as its errno (ENODEV as is).  Anything
 * older (of a request whose answer was never read) is skipped by its
 * sequence number. */
typedef int (*nl_take_fn)(const struct nlmsghdr *nh, void *data, crio_error_t *err);
static int nl_answer(int sock, uint32_t seq, uint16_t type, nl_take_fn take, void *data,
                     const char *what, crio_error_t *err) {
  union {
    struct nlmsghdr nh;
    char bytes[32768];
  } buf;
  for (;;) {
    ssize_t got = recv(sock, &buf, sizeof(buf), 0);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0)
      return crio_error_errno(err, errno, "netlink %s", what);
    int n = (int)got;
    for (struct nlmsghdr *nh = &buf.nh; nlmsg_fits(nh, n); nh = NLMSG_NEXT(nh, n)) {
      if (nh->nlmsg_seq != seq)
        continue;
      if (nh->nlmsg_type == NLMSG_ERROR) {
        const struct nlmsgerr *e = NLMSG_DATA(nh);
        return crio_error_errno(err, -e->error, "netlink %s", what);
      }
      if (nh->nlmsg_type == type)
        return take(nh, data, err);
    }
  }
}

struct link_answer {
  const char *ifname;
  struct cni_if_stats *out;
  int ifindex;
};

static int take_link(const struct nlmsghdr *nh, void *data, crio_error_t *err) {
  struct link_answer *a = data;
  const struct ifinfomsg *ifi = NLMSG_DATA(nh);
  int len = (int)IFLA_PAYLOAD(nh);
  for (const struct rtattr *at = IFLA_RTA(ifi); RTA_OK(at, len); at = RTA_NEXT(at, len)) {
    if (at->rta_type != IFLA_STATS64 || RTA_PAYLOAD(at) < sizeof(struct rtnl_link_stats64))
      continue;
    struct rtnl_link_stats64 st;
    memcpy(&st, RTA_DATA(at), sizeof(st));
    stats_from(&st, a->out);
    a->ifindex = ifi->ifi_index;
    return 0;
  }
  return crio_error(err, EPROTO, "netlink: %s has no IFLA_STATS64", a->ifname);
}

/* RTM_GETLINK of `ifname` on `sock`: its counters and its index; ENOENT if
 * there is no such interface. */
static int link_stats(int sock, uint32_t seq, const char *ifname, struct cni_if_stats *out,
                      int *ifindex, crio_error_t *err) {
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
  struct link_answer answer = {.ifname = ifname, .out = out};
  cleanup_error crio_error_t e = NULL;
  if (nl_answer(sock, seq, RTM_NEWLINK, take_link, &answer, "RTM_GETLINK", &e) < 0) {
    if (crio_error_status(&e) == ENODEV)
      return crio_error(err, ENOENT, "no interface %s", ifname);
    *err = steal_pointer(&e);
    return crio_error_prefix(err, "%s", ifname);
  }
  if (ifindex)
    *ifindex = answer.ifindex;
  return 0;
}

static int take_stats(const struct nlmsghdr *nh, void *data, crio_error_t *err) {
  const struct if_stats_msg *ism = NLMSG_DATA(nh);
  int len = (int)(nh->nlmsg_len - NLMSG_LENGTH(sizeof(*ism)));
  const struct rtattr *at = (const void *)((const char *)ism + NLMSG_ALIGN(sizeof(*ism)));
  for (; RTA_OK(at, len); at = RTA_NEXT(at, len)) {
    if (at->rta_type != IFLA_STATS_LINK_64 || RTA_PAYLOAD(at) < sizeof(struct rtnl_link_stats64))
      continue;
    struct rtnl_link_stats64 st;
    memcpy(&st, RTA_DATA(at), sizeof(st));
    stats_from(&st, data);
    return 0;
  }
  return crio_error(err, EPROTO, "netlink: RTM_NEWSTATS without IFLA_STATS_LINK_64");
}

/* RTM_GETSTATS of the link with index `ifindex`, its 64-bit counters only;
 * ENODEV when no link has that index (any more). */
static int index_stats(int sock, uint32_t seq, int ifindex, struct cni_if_stats *out,
                       crio_error_t *err) {
  struct {
    struct nlmsghdr nh;
    struct if_stats_msg ism;
  } req;
  memset(&req, 0, sizeof(req));
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct if_stats_msg));
  req.nh.nlmsg_type = RTM_GETSTATS;
  req.nh.nlmsg_flags = NLM_F_REQUEST;
  req.nh.nlmsg_seq = seq;
  req.ism.family = AF_UNSPEC;
  req.ism.ifindex = (uint32_t)ifindex;
  req.ism.filter_mask = IFLA_STATS_FILTER_BIT(IFLA_STATS_LINK_64);
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(sock, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
    return crio_error_errno(err, errno, "netlink RTM_GETSTATS");
  return nl_answer(sock, seq, RTM_NEWSTATS, take_stats, out, "RTM_GETSTATS", err);
}

int cni_netns_interface_stats(const char *netns_path, const char *ifname, struct cni_if_stats *out,
                              crio_error_t *err) {
  memset(out, 0, sizeof(*out));
  struct stat id;
  cleanup_close int sock = -1;
  if (netns_socket(netns_path, &sock, &id, err) < 0 ||
      link_stats(sock, 1, ifname, out, NULL, err) < 0)
    return crio_error_prefix(err, "interface stats in netns %s", netns_path);
  return 0;
}

/* ---- the sampler -------------------------------------------------------------- */

struct ns_entry {
  struct ns_entry *next;
  char *path;
  int sock;
  char ifname[16]; /* the interface whose index is known; "" none */
  int ifindex;
  bool by_name_only; /* RTM_GETSTATS failed here: RTM_GETLINK by name */
  uint32_t seq;      /* of the last request on sock */
  int64_t last_used_ns;
};

#define SAMPLER_SHARDS 16
#define SHARD_BUCKETS 32

struct sampler_shard {
  pthread_mutex_t lock;
  struct ns_entry *buckets[SHARD_BUCKETS];
  int64_t last_sweep_ns;
};

struct cni_stats_sampler {
  struct sampler_shard shards[SAMPLER_SHARDS];
};

static uint64_t hash_path(const char *path) {
  uint64_t h = UINT64_C(1469598103934665603);
  for (const unsigned char *p = (const unsigned char *)path; *p; p++)
    h = (h ^ *p) * UINT64_C(1099511628211);
  return h;
}

static struct sampler_shard *shard_of(struct cni_stats_sampler *s, uint64_t h) {
  return &s->shards[h % SAMPLER_SHARDS];
}

static struct ns_entry **bucket_of(struct sampler_shard *sh, uint64_t h) {
  return &sh->buckets[(h / SAMPLER_SHARDS) % SHARD_BUCKETS];
}

struct cni_stats_sampler *cni_stats_sampler_new(void) {
  struct cni_stats_sampler *s = xzalloc(sizeof(*s));
  for (size_t i = 0; i < SAMPLER_SHARDS; i++)
    pthread_mutex_init(&s->shards[i].lock, NULL);
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
  for (size_t i = 0; i < SAMPLER_SHARDS; i++) {
    struct sampler_shard *sh = &s->shards[i];
    for (size_t b = 0; b < SHARD_BUCKETS; b++)
      while (sh->buckets[b]) {
        struct ns_entry *e = sh->buckets[b];
        sh->buckets[b] = e->next;
        ns_entry_free(e);
      }
    pthread_mutex_destroy(&sh->lock);
  }
  free(s);
}

/* With the shard's lock held. */
static void sweep_locked(struct sampler_shard *sh, int64_t now) {
  if (now - sh->last_sweep_ns < SAMPLER_SWEEP_NS)
    return;
  sh->last_sweep_ns = now;
  for (size_t b = 0; b < SHARD_BUCKETS; b++)
    for (struct ns_entry **pp = &sh->buckets[b]; *pp;) {
      struct ns_entry *e = *pp;
      if (now - e->last_used_ns < SAMPLER_IDLE_NS) {
        pp = &e->next;
        continue;
      }
      *pp = e->next;
      ns_entry_free(e);
    }
}

/* With the lock of the path's shard held. */
static int sample_locked(struct sampler_shard *sh, uint64_t h, const char *netns_path,
                         const char *ifname, struct cni_if_stats *out, crio_error_t *err) {
  int64_t now = crio_monotonic_ns();
  sweep_locked(sh, now);
  struct ns_entry **head = bucket_of(sh, h);
  struct ns_entry *e = *head;
  while (e && strcmp(e->path, netns_path) != 0)
    e = e->next;
  if (e == NULL) {
    struct stat id;
    int sock = -1;
    if (netns_socket(netns_path, &sock, &id, err) < 0)
      return -1;
    e = xzalloc(sizeof(*e));
    e->path = xstrdup(netns_path);
    e->sock = sock;
    e->next = *head;
    *head = e;
  }
  e->last_used_ns = now;
  if (e->ifname[0] && strcmp(e->ifname, ifname) == 0) {
    cleanup_error crio_error_t gone = NULL;
    if (index_stats(e->sock, ++e->seq, e->ifindex, out, &gone) == 0)
      return 0;
    /* ENODEV: made again since, look its name up.  Anything else: a
     * kernel without RTM_GETSTATS (before 4.7) answers EOPNOTSUPP; this
     * namespace is asked by name from now on. */
    if (crio_error_status(&gone) != ENODEV) {
      log_debug("netns %s: RTM_GETSTATS: %s; asking RTM_GETLINK", netns_path,
                crio_error_message(&gone));
      e->by_name_only = true;
    }
    e->ifname[0] = '\0';
  }
  int ifindex = 0;
  if (link_stats(e->sock, ++e->seq, ifname, out, &ifindex, err) < 0)
    return -1;
  if (!e->by_name_only && strlen(ifname) < sizeof(e->ifname)) {
    strcpy(e->ifname, ifname);
    e->ifindex = ifindex;
  }
  return 0;
}

int cni_stats_sample(struct cni_stats_sampler *s, const char *netns_path, const char *ifname,
                     struct cni_if_stats *out, crio_error_t *err) {
  memset(out, 0, sizeof(*out));
  uint64_t h = hash_path(netns_path);
  struct sampler_shard *sh = shard_of(s, h);
  pthread_mutex_lock(&sh->lock);
  int rc = sample_locked(sh, h, netns_path, ifname, out, err);
  pthread_mutex_unlock(&sh->lock);
  if (rc < 0)
    return crio_error_prefix(err, "interface stats in netns %s", netns_path);
  return 0;
}

void cni_stats_sampler_forget(struct cni_stats_sampler *s, const char *netns_path) {
  if (s == NULL)
    return;
  uint64_t h = hash_path(netns_path);
  struct sampler_shard *sh = shard_of(s, h);
  pthread_mutex_lock(&sh->lock);
  for (struct ns_entry **pp = bucket_of(sh, h); *pp;) {
    struct ns_entry *e = *pp;
    if (strcmp(e->path, netns_path) != 0) {
      pp = &e->next;
      continue;
    }
    *pp = e->next;
    ns_entry_free(e);
  }
  pthread_mutex_unlock(&sh->lock);
}
