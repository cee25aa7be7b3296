/* Pod sysctls: the kubelet's namespacing rules, and writing them inside the
 * pod's namespaces. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "oci/oci.h"

/* Longest key we accept; /proc/sys paths are far shorter. */
#define SYSCTL_KEY_MAX 256

/* The key in dotted form and as a path under /proc/sys.  The first
 * separator found decides which character separates: with '/', dots are
 * literal ("net/ipv4/conf/eth0.100/rp_filter"); with '.', a slash stands for
 * a literal dot ("net.ipv4.conf.eth0/100.rp_filter").  Both name the same
 * file. */
struct sysctl_key {
  char dotted[SYSCTL_KEY_MAX + 1]; /* net.ipv4.conf.eth0/100.rp_filter */
  char path[SYSCTL_KEY_MAX + 1];   /* net/ipv4/conf/eth0.100/rp_filter */
};

static bool key_char_ok(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.' || c == '/';
}

static int sysctl_key_parse(const char *key, struct sysctl_key *out, crio_error_t *err) {
  size_t len = strlen(key);
  if (len == 0 || len > SYSCTL_KEY_MAX)
    return crio_error(err, EINVAL, "sysctl \"%s\": bad length", key);
  size_t sep_at = strcspn(key, "./");
  char sep = key[sep_at] == '/' ? '/' : '.';
  for (size_t i = 0; i < len; i++) {
    if (!key_char_ok(key[i]))
      return crio_error(err, EINVAL, "sysctl \"%s\": invalid character", key);
    char c = key[i];
    bool is_sep = c == sep;
    out->path[i] = is_sep ? '/' : (c == '/' ? '.' : c);
    out->dotted[i] = is_sep ? '.' : (c == '.' ? '/' : c);
  }
  out->path[len] = out->dotted[len] = '\0';

  /* Components of the path: none empty, none "." or ".." (the path is
   * appended to /proc/sys and must stay inside it). */
  const char *p = out->path;
  while (true) {
    size_t n = strcspn(p, "/");
    if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
      return crio_error(err, EINVAL, "sysctl \"%s\": invalid name component", key);
    if (p[n] == '\0')
      break;
    p += n + 1;
  }
  return 0;
}

/* Which namespace a (dotted) sysctl belongs to, or -1 if it is not
 * namespaced.  The kubelet's list (pkg/kubelet/sysctl/namespace.go). */
static int sysctl_namespace(const char *dotted) {
  static const char *const ipc_exact[] = {"kernel.sem"};
  static const char *const ipc_prefixes[] = {"kernel.shm", "kernel.msg", "fs.mqueue."};
  for (size_t i = 0; i < sizeof(ipc_exact) / sizeof(ipc_exact[0]); i++)
    if (strcmp(dotted, ipc_exact[i]) == 0)
      return OCI_NS_IPC;
  for (size_t i = 0; i < sizeof(ipc_prefixes) / sizeof(ipc_prefixes[0]); i++)
    if (strncmp(dotted, ipc_prefixes[i], strlen(ipc_prefixes[i])) == 0)
      return OCI_NS_IPC;
  if (strncmp(dotted, "net.", 4) == 0)
    return OCI_NS_NET;
  return -1;
}

static int sysctl_validate_one(const struct oci_sysctl *s, unsigned owned_ns,
                               struct sysctl_key *key, crio_error_t *err) {
  if (s->key == NULL)
    return crio_error(err, EINVAL, "sysctl with no name");
  if (sysctl_key_parse(s->key, key, err) < 0)
    return -1;
  int ns = sysctl_namespace(key->dotted);
  if (ns < 0)
    return crio_error(err, EINVAL, "sysctl \"%s\" is not namespaced: not allowed in a pod", s->key);
  if (!(owned_ns & OCI_NS_BIT(ns)))
    return crio_error(err, EINVAL,
                      "sysctl \"%s\" belongs to the %s namespace, which the "
                      "pod shares with the host",
                      s->key, oci_ns_type_name(ns));
  if (s->value == NULL)
    return crio_error(err, EINVAL, "sysctl \"%s\": no value", s->key);
  for (const char *c = s->value; *c; c++)
    if ((unsigned char)*c < 0x20 && *c != '\t')
      return crio_error(err, EINVAL, "sysctl \"%s\": value has a control character", s->key);
  return 0;
}

int oci_sysctls_validate(const struct oci_sysctl *sysctls, size_t n, unsigned owned_ns,
                         crio_error_t *err) {
  struct sysctl_key key;
  for (size_t i = 0; i < n; i++)
    if (sysctl_validate_one(&sysctls[i], owned_ns, &key, err) < 0)
      return -1;
  return 0;
}

struct sysctl_apply_task {
  const struct oci_sysctl *sysctls;
  size_t n;
  char (*paths)[SYSCTL_KEY_MAX + 1];
};

/* Runs on a thread inside the pod's namespaces: /proc/sys/net and the IPC
 * sysctls resolve against the namespaces of the task that opens them. */
static int sysctl_apply_task_run(void *arg, crio_error_t *err) {
  struct sysctl_apply_task *task = arg;
  for (size_t i = 0; i < task->n; i++) {
    cleanup_free char *path = xasprintf("/proc/sys/%s", task->paths[i]);
    cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
      return crio_error_errno(err, errno, "sysctl %s: open %s", task->sysctls[i].key, path);
    const char *value = task->sysctls[i].value;
    size_t len = strlen(value);
    ssize_t w = write(fd, value, len);
    if (w < 0)
      return crio_error_errno(err, errno, "sysctl %s=%s", task->sysctls[i].key, value);
    if ((size_t)w != len)
      return crio_error(err, EIO, "sysctl %s=%s: short write", task->sysctls[i].key, value);
  }
  return 0;
}

int oci_sysctls_apply(const struct oci_ns_paths *ns, const struct oci_sysctl *sysctls, size_t n,
                      crio_error_t *err) {
  if (n == 0)
    return 0;
  unsigned owned = 0;
  if (ns && ns->path[OCI_NS_NET])
    owned |= OCI_NS_BIT(OCI_NS_NET);
  if (ns && ns->path[OCI_NS_IPC])
    owned |= OCI_NS_BIT(OCI_NS_IPC);

  cleanup_free char(*paths)[SYSCTL_KEY_MAX + 1] = xcalloc(n, sizeof(*paths));
  for (size_t i = 0; i < n; i++) {
    struct sysctl_key key;
    if (sysctl_validate_one(&sysctls[i], owned, &key, err) < 0)
      return -1;
    memcpy(paths[i], key.path, sizeof(key.path));
  }

  /* Join only net and ipc: the other namespaces have no sysctls we allow,
   * and joining a pinned, empty PID namespace is pointless. */
  struct oci_ns_paths join = {0};
  join.path[OCI_NS_NET] = ns->path[OCI_NS_NET];
  join.path[OCI_NS_IPC] = ns->path[OCI_NS_IPC];
  struct sysctl_apply_task task = {.sysctls = sysctls, .n = n, .paths = paths};
  return oci_ns_run_in(&join, sysctl_apply_task_run, &task, err);
}
