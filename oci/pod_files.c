/* The files every container of a pod shares: resolv.conf from the CRI
 * DNSConfig, hostname, hosts.  Everything is checked before anything is
 * written, and each file is replaced atomically. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oci/oci.h"

#define HOSTNAME_MAX 64 /* HOST_NAME_MAX: what sethostname accepts */

static bool is_ip_literal(const char *s) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* A resolv.conf word: printable, no whitespace (which would split it into
 * two words or, with a newline, inject a directive). */
static bool is_word(const char *s) {
  if (s == NULL || s[0] == '\0')
    return false;
  for (; *s; s++)
    if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f)
      return false;
  return true;
}

int oci_dns_config_validate(const struct oci_dns_config *dns, crio_error_t *err) {
  if (dns == NULL)
    return 0;
  if (dns->n_servers > OCI_DNS_MAX_SERVERS)
    return crio_error(err, EINVAL, "dns_config.servers: %zu servers, at most %d are used",
                      dns->n_servers, OCI_DNS_MAX_SERVERS);
  for (size_t i = 0; i < dns->n_servers; i++)
    if (dns->servers[i] == NULL || !is_ip_literal(dns->servers[i]))
      return crio_error(err, EINVAL, "dns_config.servers[%zu]: \"%s\" is not an IP address", i,
                        dns->servers[i] ? dns->servers[i] : "");
  if (dns->n_searches > OCI_DNS_MAX_SEARCHES)
    return crio_error(err, EINVAL, "dns_config.searches: %zu domains, at most %d", dns->n_searches,
                      OCI_DNS_MAX_SEARCHES);
  size_t search_chars = 0;
  for (size_t i = 0; i < dns->n_searches; i++) {
    if (!is_word(dns->searches[i]))
      return crio_error(err, EINVAL, "dns_config.searches[%zu]: empty or has whitespace", i);
    search_chars += strlen(dns->searches[i]) + 1;
  }
  if (search_chars > OCI_DNS_MAX_SEARCH_CHARS)
    return crio_error(err, EINVAL, "dns_config.searches: %zu characters, at most %d", search_chars,
                      OCI_DNS_MAX_SEARCH_CHARS);
  if (dns->n_options > OCI_DNS_MAX_OPTIONS)
    return crio_error(err, EINVAL, "dns_config.options: %zu options, at most %d", dns->n_options,
                      OCI_DNS_MAX_OPTIONS);
  for (size_t i = 0; i < dns->n_options; i++)
    if (!is_word(dns->options[i]))
      return crio_error(err, EINVAL, "dns_config.options[%zu]: empty or has whitespace", i);
  return 0;
}

int oci_hostname_validate(const char *hostname, crio_error_t *err) {
  size_t len = hostname ? strlen(hostname) : 0;
  if (len == 0 || len > HOSTNAME_MAX)
    return crio_error(err, EINVAL, "hostname: length %zu, must be 1..%d", len, HOSTNAME_MAX);
  /* What sethostname(2) takes and /etc/hostname and /etc/hosts can hold:
   * printable, no whitespace (a newline would inject a hosts entry).  Not
   * RFC 1123: CRI-O checks nothing here, and names such as its test
   * configs' "crictl_host" must work (the API server checks a pod's
   * hostname before the kubelet sends it). */
  if (!is_word(hostname))
    return crio_error(err, EINVAL, "hostname \"%s\": has whitespace or control characters",
                      hostname);
  return 0;
}

static int hosts_entries_validate(const struct oci_pod_files *files, crio_error_t *err) {
  if (files->pod_ip && !is_ip_literal(files->pod_ip))
    return crio_error(err, EINVAL, "pod IP \"%s\" is not an IP address", files->pod_ip);
  for (size_t i = 0; i < files->n_extra_hosts; i++) {
    const struct oci_hosts_entry *e = &files->extra_hosts[i];
    if (e->ip == NULL || !is_ip_literal(e->ip))
      return crio_error(err, EINVAL, "hosts entry %zu: \"%s\" is not an IP", i, e->ip ? e->ip : "");
    if (e->n_names == 0)
      return crio_error(err, EINVAL, "hosts entry %zu (%s): no names", i, e->ip);
    for (size_t j = 0; j < e->n_names; j++)
      if (!is_word(e->names[j]))
        return crio_error(err, EINVAL,
                          "hosts entry %zu (%s): name %zu empty or has "
                          "whitespace",
                          i, e->ip, j);
  }
  return 0;
}

/* Appends to a growing string (open_memstream keeps this simple). */
static char *resolv_conf_render(const struct oci_dns_config *dns, size_t *len) {
  char *buf = NULL;
  FILE *f = open_memstream(&buf, len);
  if (f == NULL)
    abort();
  if (dns->n_searches > 0) {
    fputs("search", f);
    for (size_t i = 0; i < dns->n_searches; i++)
      fprintf(f, " %s", dns->searches[i]);
    fputc('\n', f);
  }
  for (size_t i = 0; i < dns->n_servers; i++)
    fprintf(f, "nameserver %s\n", dns->servers[i]);
  if (dns->n_options > 0) {
    fputs("options", f);
    for (size_t i = 0; i < dns->n_options; i++)
      fprintf(f, " %s", dns->options[i]);
    fputc('\n', f);
  }
  fclose(f);
  return buf;
}

static char *hosts_render(const struct oci_pod_files *files, size_t *len) {
  char *buf = NULL;
  FILE *f = open_memstream(&buf, len);
  if (f == NULL)
    abort();
  fputs("127.0.0.1\tlocalhost\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        "fe00::0\tip6-localnet\n"
        "fe00::0\tip6-mcastprefix\n"
        "fe00::1\tip6-allnodes\n"
        "fe00::2\tip6-allrouters\n",
        f);
  if (files->pod_ip)
    fprintf(f, "%s\t%s\n", files->pod_ip, files->hostname);
  for (size_t i = 0; i < files->n_extra_hosts; i++) {
    const struct oci_hosts_entry *e = &files->extra_hosts[i];
    fputs(e->ip, f);
    for (size_t j = 0; j < e->n_names; j++)
      fprintf(f, "%c%s", j == 0 ? '\t' : ' ', e->names[j]);
    fputc('\n', f);
  }
  fclose(f);
  return buf;
}

static bool dns_is_empty(const struct oci_dns_config *dns) {
  return dns == NULL || (dns->n_servers == 0 && dns->n_searches == 0 && dns->n_options == 0);
}

int oci_pod_files_write(const char *dir, const struct oci_pod_files *files, crio_error_t *err) {
  if (oci_hostname_validate(files->hostname, err) < 0 ||
      oci_dns_config_validate(files->dns, err) < 0 || hosts_entries_validate(files, err) < 0)
    return -1;

  cleanup_free char *resolv = NULL;
  size_t resolv_len = 0;
  if (dns_is_empty(files->dns)) {
    const char *host = files->host_resolv_conf ? files->host_resolv_conf : "/etc/resolv.conf";
    if (crio_read_file(host, &resolv, &resolv_len, err) < 0)
      return crio_error_prefix(err, "copy the host's resolv.conf");
  } else {
    resolv = resolv_conf_render(files->dns, &resolv_len);
  }
  size_t hosts_len = 0;
  cleanup_free char *hosts = hosts_render(files, &hosts_len);
  cleanup_free char *hostname = xasprintf("%s\n", files->hostname);

  struct {
    const char *name;
    const char *data;
    size_t len;
  } out[] = {
      {OCI_POD_RESOLV_CONF, resolv, resolv_len},
      {OCI_POD_HOSTNAME, hostname, strlen(hostname)},
      {OCI_POD_HOSTS, hosts, hosts_len},
  };
  for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++) {
    cleanup_free char *path = xasprintf("%s/%s", dir, out[i].name);
    /* The pod dir is under the run dir: replaced atomically, not synced. */
    if (crio_write_file_replace(path, out[i].data, out[i].len, 0644, err) < 0)
      return crio_error_prefix(err, "write pod %s", out[i].name);
  }
  return 0;
}

int oci_pod_files_remove(const char *dir, crio_error_t *err) {
  const char *names[] = {OCI_POD_RESOLV_CONF, OCI_POD_HOSTNAME, OCI_POD_HOSTS};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    cleanup_free char *path = xasprintf("%s/%s", dir, names[i]);
    if (unlink(path) < 0 && errno != ENOENT)
      return crio_error_errno(err, errno, "remove %s", path);
  }
  return 0;
}
