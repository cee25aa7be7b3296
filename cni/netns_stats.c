/* Interface counters inside a pod's network namespace.  A namespace switch
 * is per thread for CLONE_NEWNET, so a short-lived thread enters the netns
 * and reads /proc/thread-self/net/dev (which follows the reading thread's
 * netns, unlike /proc/self/net or /sys/class/net, which follow the thread
 * group leader and the sysfs mount). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "cni/internal.h"

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

struct stats_job {
  int netns_fd;
  const char *ifname;
  struct cni_if_stats *out;
  crio_error_t error;
};

/* One line of /proc/net/dev: "  eth0: rx bytes packets errs drop fifo frame
 * compressed multicast tx bytes packets errs drop fifo colls carrier
 * compressed".  Interface names cannot contain ':'. */
static bool parse_dev_line(const char *line, const char *ifname, struct cni_if_stats *s) {
  line += strspn(line, " ");
  const char *colon = strchr(line, ':');
  if (colon == NULL || (size_t)(colon - line) != strlen(ifname) ||
      strncmp(line, ifname, strlen(ifname)) != 0)
    return false;
  unsigned long long v[16] = {0};
  int n = sscanf(colon + 1,
                 "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu "
                 "%llu %llu %llu %llu",
                 &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10],
                 &v[11], &v[12], &v[13], &v[14], &v[15]);
  if (n != 16)
    return false;
  *s = (struct cni_if_stats){.rx_bytes = v[0],
                             .rx_packets = v[1],
                             .rx_errors = v[2],
                             .rx_dropped = v[3],
                             .tx_bytes = v[8],
                             .tx_packets = v[9],
                             .tx_errors = v[10],
                             .tx_dropped = v[11]};
  return true;
}

static void *read_stats_in_netns(void *arg) {
  struct stats_job *job = arg;
  if (setns(job->netns_fd, CLONE_NEWNET) < 0) {
    crio_error_errno(&job->error, errno, "enter network namespace");
    return NULL;
  }
  cleanup_file FILE *f = fopen("/proc/thread-self/net/dev", "re");
  if (f == NULL) {
    crio_error_errno(&job->error, errno, "open /proc/thread-self/net/dev");
    return NULL;
  }
  char line[512];
  while (fgets(line, sizeof(line), f) != NULL)
    if (parse_dev_line(line, job->ifname, job->out))
      return NULL;
  crio_error(&job->error, ENOENT, "no interface %s", job->ifname);
  return NULL;
}

int cni_netns_interface_stats(const char *netns_path, const char *ifname, struct cni_if_stats *out,
                              crio_error_t *err) {
  memset(out, 0, sizeof(*out));
  cleanup_close int fd = open(netns_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return crio_error_errno(err, errno, "open netns %s", netns_path);
  struct statfs sfs;
  if (fstatfs(fd, &sfs) < 0 || sfs.f_type != NSFS_MAGIC)
    return crio_error(err, EINVAL, "%s is not a network namespace", netns_path);
  struct stats_job job = {fd, ifname, out, NULL};
  pthread_t thread;
  int rc = pthread_create(&thread, NULL, read_stats_in_netns, &job);
  if (rc != 0)
    return crio_error_errno(err, rc, "start thread to read netns %s", netns_path);
  pthread_join(thread, NULL);
  if (job.error) {
    *err = steal_pointer(&job.error);
    return crio_error_prefix(err, "interface stats in netns %s", netns_path);
  }
  return 0;
}
