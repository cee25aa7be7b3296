#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_cni_fixture.h"
#include "test_host_cleanup.h"
#include "testing.h"

char *tfx_mkdtemp(const char *prefix) {
  char *path = NULL;
  CHECK(asprintf(&path, "/tmp/%s-XXXXXX", prefix) > 0);
  CHECK(mkdtemp(path) != NULL);
  return path;
}

void tfx_rm_rf(const char *path) {
  if (path)
    test_rm_tree(path, FTW_MOUNT);
}

void tfx_write(const char *path, const char *text, mode_t mode) {
  FILE *f = fopen(path, "we");
  CHECK(f != NULL);
  CHECK(fputs(text, f) >= 0);
  CHECK(fclose(f) == 0);
  if (mode != 0)
    CHECK(chmod(path, mode) == 0);
}

char *tfx_read(const char *path) {
  FILE *f = fopen(path, "re");
  if (f == NULL)
    return NULL;
  char *buf = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&buf, &len);
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
    fwrite(chunk, 1, n, mem);
  fclose(f);
  fclose(mem);
  return buf;
}

bool tfx_exists(const char *path) {
  return access(path, F_OK) == 0;
}

int tfx_sh(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *cmd = NULL;
  CHECK(vasprintf(&cmd, fmt, ap) > 0);
  va_end(ap);
  char *redirected = NULL;
  CHECK(asprintf(&redirected, "(%s) 1>&2", cmd) > 0);
  int status = system(redirected);
  free(cmd);
  free(redirected);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

char *tfx_sh_output(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *cmd = NULL;
  CHECK(vasprintf(&cmd, fmt, ap) > 0);
  va_end(ap);
  FILE *p = popen(cmd, "r");
  CHECK(p != NULL);
  char *buf = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&buf, &len);
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
    fwrite(chunk, 1, n, mem);
  pclose(p);
  fclose(mem);
  free(cmd);
  return buf;
}

void tfx_random_hex(char *out, size_t n_bytes) {
  unsigned char bytes[64];
  CHECK(n_bytes <= sizeof(bytes));
  CHECK(getrandom(bytes, n_bytes, 0) == (ssize_t)n_bytes);
  for (size_t i = 0; i < n_bytes; i++)
    sprintf(out + 2 * i, "%02x", bytes[i]);
}

/* ---- network namespaces ---------------------------------------------------- */

static void *create_netns_thread(void *arg) {
  const char *path = arg;
  /* unshare on a thread moves only this thread, which then ends. */
  if (unshare(CLONE_NEWNET) < 0)
    return (void *)"unshare(CLONE_NEWNET)";
  if (mount("/proc/thread-self/ns/net", path, NULL, MS_BIND, NULL) < 0)
    return (void *)"bind-mount netns";
  return NULL;
}

void tfx_netns_create(const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  CHECK(fd >= 0);
  close(fd);
  pthread_t t;
  void *failure = NULL;
  CHECK(pthread_create(&t, NULL, create_netns_thread, (void *)path) == 0);
  pthread_join(t, &failure);
  if (failure)
    fprintf(stderr, "netns %s: %s: %s\n", path, (char *)failure, strerror(errno));
  CHECK(failure == NULL);
}

void tfx_netns_delete(const char *path) {
  umount2(path, MNT_DETACH);
  unlink(path);
}

struct in_netns_job {
  const char *path;
  int (*fn)(void *);
  void *arg;
  int rc;
};

static void *in_netns_thread(void *arg) {
  struct in_netns_job *job = arg;
  int fd = open(job->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
    perror(job->path);
    job->rc = -1;
  } else {
    job->rc = job->fn(job->arg);
  }
  if (fd >= 0)
    close(fd);
  return NULL;
}

int tfx_in_netns(const char *path, int (*fn)(void *), void *arg) {
  struct in_netns_job job = {path, fn, arg, -1};
  pthread_t t;
  CHECK(pthread_create(&t, NULL, in_netns_thread, &job) == 0);
  pthread_join(t, NULL);
  return job.rc;
}

/* ---- ICMP echo --------------------------------------------------------------- */

static uint16_t icmp_checksum(const void *data, size_t len) {
  const uint16_t *p = data;
  uint32_t sum = 0;
  for (; len > 1; len -= 2)
    sum += *p++;
  if (len)
    sum += *(const uint8_t *)p;
  sum = (sum >> 16) + (sum & 0xffff);
  sum += sum >> 16;
  return (uint16_t)~sum;
}

int tfx_ping(const char *ipv4, int count) {
  int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
  if (fd < 0) {
    perror("raw ICMP socket");
    return 0;
  }
  struct sockaddr_in to = {.sin_family = AF_INET};
  CHECK(inet_pton(AF_INET, ipv4, &to.sin_addr) == 1);
  uint16_t id = (uint16_t)getpid();
  int replies = 0;
  for (int seq = 1; seq <= count; seq++) {
    unsigned char packet[64] = {0};
    struct icmphdr *h = (struct icmphdr *)packet;
    h->type = ICMP_ECHO;
    h->un.echo.id = htons(id);
    h->un.echo.sequence = htons((uint16_t)seq);
    h->checksum = icmp_checksum(packet, sizeof(packet));
    if (sendto(fd, packet, sizeof(packet), 0, (struct sockaddr *)&to, sizeof(to)) < 0) {
      perror("send ICMP echo");
      continue;
    }
    /* A raw socket sees every ICMP packet: wait for our echo reply. */
    for (;;) {
      struct pollfd pfd = {fd, POLLIN, 0};
      if (poll(&pfd, 1, 2000) <= 0)
        break;
      unsigned char reply[1500];
      ssize_t n = recv(fd, reply, sizeof(reply), 0);
      if (n < (ssize_t)sizeof(struct iphdr))
        continue;
      const struct iphdr *ip = (const struct iphdr *)reply;
      size_t ihl = (size_t)ip->ihl * 4;
      if ((size_t)n < ihl + sizeof(struct icmphdr))
        continue;
      const struct icmphdr *r = (const struct icmphdr *)(reply + ihl);
      if (r->type == ICMP_ECHOREPLY && ntohs(r->un.echo.id) == id &&
          ntohs(r->un.echo.sequence) == seq) {
        replies++;
        break;
      }
    }
  }
  close(fd);
  return replies;
}

/* ---- iptables ------------------------------------------------------------------ */

static const char *const ipt_tools[] = {"iptables", "ip6tables", NULL};
static const char *const ipt_tables[] = {"nat", "filter", "mangle", NULL};

/* The target chain of a rule line ("... -j NAME ..."), malloc'd, or NULL. */
static char *rule_target(const char *line) {
  const char *j = strstr(line, " -j ");
  if (j == NULL)
    return NULL;
  j += 4;
  return strndup(j, strcspn(j, " \n"));
}

void tfx_iptables_purge(const char *marker) {
  for (const char *const *tool = ipt_tools; *tool; tool++)
    for (const char *const *table = ipt_tables; *table; table++) {
      char *rules = tfx_sh_output("%s -w -t %s -S 2>/dev/null", *tool, *table);
      char *chains[64];
      int n_chains = 0;
      for (char *line = strtok(rules, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "-A ", 3) != 0 || strstr(line, marker) == NULL)
          continue;
        char *target = rule_target(line);
        if (target && strncmp(target, "CNI-", 4) == 0 &&
            strncmp(target, "CNI-HOSTPORT-", 13) != 0 && n_chains < 64)
          chains[n_chains++] = target;
        else
          free(target);
        tfx_sh("%s -w -t %s -D %s", *tool, *table, line + 3);
      }
      for (int i = 0; i < n_chains; i++) {
        tfx_sh("%s -w -t %s -F %s 2>/dev/null; %s -w -t %s -X %s 2>/dev/null", *tool, *table,
               chains[i], *tool, *table, chains[i]);
        free(chains[i]);
      }
      free(rules);
    }
}

int tfx_iptables_count(const char *marker) {
  int count = 0;
  for (const char *const *tool = ipt_tools; *tool; tool++) {
    char *out = tfx_sh_output("%s-save 2>/dev/null", *tool);
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
      if (strstr(line, marker))
        count++;
    free(out);
  }
  return count;
}

bool tfx_portmap_shared_exists(void) {
  char *out = tfx_sh_output("iptables -w -t nat -S 2>/dev/null; "
                            "ip6tables -w -t nat -S 2>/dev/null");
  bool found = strstr(out, "-N CNI-HOSTPORT-") != NULL;
  free(out);
  return found;
}

void tfx_portmap_shared_remove(void) {
  for (const char *const *tool = ipt_tools; *tool; tool++) {
    char *rules = tfx_sh_output("%s -w -t nat -S 2>/dev/null", *tool);
    if (strstr(rules, "-A CNI-HOSTPORT-DNAT ") != NULL) {
      free(rules); /* some container still forwards ports */
      continue;
    }
    for (char *line = strtok(rules, "\n"); line; line = strtok(NULL, "\n")) {
      char *target = rule_target(line);
      if (strncmp(line, "-A ", 3) == 0 && target && strncmp(target, "CNI-HOSTPORT-", 13) == 0 &&
          strncmp(line, "-A CNI-HOSTPORT-", 16) != 0)
        tfx_sh("%s -w -t nat -D %s", *tool, line + 3);
      free(target);
    }
    free(rules);
    const char *shared[] = {"CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-MASQ", NULL};
    for (const char *const *c = shared; *c; c++)
      tfx_sh("%s -w -t nat -F %s 2>/dev/null; %s -w -t nat -X %s 2>/dev/null", *tool, *c, *tool,
             *c);
  }
}
