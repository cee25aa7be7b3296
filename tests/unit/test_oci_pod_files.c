/* oci pod files: resolv.conf from a CRI DNSConfig (or the host's), hostname,
 * hosts; validation before any write. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/oci.h"
#include "tests/unit/testing.h"

const char *fixture_dir(void);
void fixture_ok(int rc, crio_error_t *err, const char *what, int line);
#define OK(call) fixture_ok((call), &err, #call, __LINE__)

static char *read_pod_file(const char *dir, const char *name) {
  cleanup_error crio_error_t err = NULL;
  cleanup_free char *path = xasprintf("%s/%s", dir, name);
  char *text = NULL;
  OK(crio_read_file(path, &text, NULL, &err));
  return text;
}

static char *pod_dir(const char *name) {
  char *dir = xasprintf("%s/%s", fixture_dir(), name);
  CHECK(mkdir(dir, 0755) == 0);
  return dir;
}

static void test_dns_config(void) {
  cleanup_error crio_error_t err = NULL;
  cleanup_free char *dir = pod_dir("dns");
  const char *servers[] = {"10.96.0.10", "fd00::a"};
  const char *searches[] = {"default.svc.cluster.local", "svc.cluster.local", "cluster.local"};
  const char *options[] = {"ndots:5", "edns0"};
  struct oci_dns_config dns = {servers, 2, searches, 3, options, 2};
  const char *names[] = {"db", "db.local"};
  struct oci_hosts_entry extra = {"192.0.2.7", names, 2};
  struct oci_pod_files files = {.hostname = "web-0",
                                .dns = &dns,
                                .pod_ip = "10.85.0.12",
                                .extra_hosts = &extra,
                                .n_extra_hosts = 1};
  OK(oci_pod_files_write(dir, &files, &err));

  cleanup_free char *resolv = read_pod_file(dir, OCI_POD_RESOLV_CONF);
  CHECK_STR_EQ(resolv, "search default.svc.cluster.local svc.cluster.local "
                       "cluster.local\n"
                       "nameserver 10.96.0.10\n"
                       "nameserver fd00::a\n"
                       "options ndots:5 edns0\n");
  cleanup_free char *hostname = read_pod_file(dir, OCI_POD_HOSTNAME);
  CHECK_STR_EQ(hostname, "web-0\n");
  cleanup_free char *hosts = read_pod_file(dir, OCI_POD_HOSTS);
  CHECK(strncmp(hosts, "127.0.0.1\tlocalhost\n", 20) == 0);
  CHECK(strstr(hosts, "\n::1\tlocalhost ip6-localhost ip6-loopback\n"));
  CHECK(strstr(hosts, "\n10.85.0.12\tweb-0\n"));
  CHECK(strstr(hosts, "\n192.0.2.7\tdb db.local\n"));

  /* Written again (a repeated step) with no pod IP: replaced whole, and no
   * temporary file left behind. */
  files.pod_ip = NULL;
  files.n_extra_hosts = 0;
  OK(oci_pod_files_write(dir, &files, &err));
  cleanup_free char *hosts2 = read_pod_file(dir, OCI_POD_HOSTS);
  CHECK(strstr(hosts2, "web-0") == NULL);
  CHECK(strstr(hosts2, "localhost") != NULL);
  cleanup_dir DIR *d = opendir(dir);
  CHECK(d != NULL);
  int count = 0;
  for (struct dirent *de; (de = readdir(d));)
    if (de->d_name[0] != '.')
      count++;
  CHECK_INT_EQ(count, 3);

  OK(oci_pod_files_remove(dir, &err));
  OK(oci_pod_files_remove(dir, &err));
  cleanup_free char *gone = xasprintf("%s/%s", dir, OCI_POD_HOSTS);
  CHECK(access(gone, F_OK) < 0 && errno == ENOENT);
}

/* No DNS config: a copy of the host's resolv.conf. */
static void test_host_resolv_conf(void) {
  cleanup_error crio_error_t err = NULL;
  cleanup_free char *dir = pod_dir("hostdns");
  cleanup_free char *host = xasprintf("%s/host-resolv.conf", fixture_dir());
  const char *content = "nameserver 192.0.2.53\nsearch example.test\n";
  OK(crio_write_file_atomic(host, content, strlen(content), 0644, &err));
  struct oci_pod_files files = {.hostname = "node-a", .host_resolv_conf = host};
  OK(oci_pod_files_write(dir, &files, &err));
  cleanup_free char *resolv = read_pod_file(dir, OCI_POD_RESOLV_CONF);
  CHECK_STR_EQ(resolv, content);

  struct oci_dns_config empty = {0};
  files.dns = &empty;
  OK(oci_pod_files_write(dir, &files, &err));
  cleanup_free char *resolv2 = read_pod_file(dir, OCI_POD_RESOLV_CONF);
  CHECK_STR_EQ(resolv2, content);
}

static void expect_invalid(const char *dir, const struct oci_pod_files *files,
                           const char *fragment) {
  cleanup_error crio_error_t err = NULL;
  CHECK(oci_pod_files_write(dir, files, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  if (strstr(crio_error_message(&err), fragment) == NULL) {
    fprintf(stderr, "expected \"%s\" in \"%s\"\n", fragment, crio_error_message(&err));
    exit(1);
  }
}

/* Bad input is refused before anything is written. */
static void test_validation(void) {
  cleanup_free char *dir = pod_dir("invalid");
  const char *bad_server[] = {"10.96.0.10", "dns.example"};
  const char *four[] = {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"};
  const char *inject[] = {"ok.local", "evil\nnameserver 6.6.6.6"};
  const char *bad_option[] = {"ndots:5 rotate"};
  struct oci_dns_config dns = {0};
  struct oci_pod_files files = {.hostname = "web-0", .dns = &dns};

  dns = (struct oci_dns_config){.servers = bad_server, .n_servers = 2};
  expect_invalid(dir, &files, "dns_config.servers[1]");
  dns = (struct oci_dns_config){.servers = four, .n_servers = 4};
  expect_invalid(dir, &files, "dns_config.servers");
  dns = (struct oci_dns_config){.searches = inject, .n_searches = 2};
  expect_invalid(dir, &files, "dns_config.searches[1]");
  dns = (struct oci_dns_config){.options = bad_option, .n_options = 1};
  expect_invalid(dir, &files, "dns_config.options[0]");

  const char *many[OCI_DNS_MAX_SEARCHES + 1];
  for (size_t i = 0; i < OCI_DNS_MAX_SEARCHES + 1; i++)
    many[i] = "a.example";
  dns = (struct oci_dns_config){.searches = many, .n_searches = OCI_DNS_MAX_SEARCHES + 1};
  expect_invalid(dir, &files, "dns_config.searches");
  /* 32 searches of 70 characters: more than 2048 in all. */
  char long_domain[71];
  memset(long_domain, 'a', 70);
  long_domain[70] = '\0';
  for (size_t i = 0; i < OCI_DNS_MAX_SEARCHES; i++)
    many[i] = long_domain;
  dns = (struct oci_dns_config){.searches = many, .n_searches = OCI_DNS_MAX_SEARCHES};
  expect_invalid(dir, &files, "characters");

  dns = (struct oci_dns_config){0};
  static const char *const bad_hostnames[] = {
      "",     "web 0", "a.b\n",
      "a\tb", "\x7f",  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
  for (size_t i = 0; i < sizeof(bad_hostnames) / sizeof(bad_hostnames[0]); i++) {
    files.hostname = bad_hostnames[i];
    expect_invalid(dir, &files, "hostname");
  }
  files.hostname = "web-0";
  files.pod_ip = "10.0.0.300";
  expect_invalid(dir, &files, "pod IP");

  cleanup_dir DIR *d = opendir(dir);
  CHECK(d != NULL);
  for (struct dirent *de; (de = readdir(d));)
    CHECK(de->d_name[0] == '.');

  cleanup_error crio_error_t err = NULL;
  CHECK(oci_hostname_validate("web-0.default", &err) == 0);
  CHECK(oci_hostname_validate("A1", &err) == 0);
  /* Not RFC 1123, accepted as CRI-O does: its test configs use
   * "crictl_host". */
  CHECK(oci_hostname_validate("crictl_host", &err) == 0);
  CHECK(oci_hostname_validate("-web", &err) == 0);
}

int main(void) {
  RUN_TEST(test_dns_config);
  RUN_TEST(test_host_resolv_conf);
  RUN_TEST(test_validation);
  return 0;
}
