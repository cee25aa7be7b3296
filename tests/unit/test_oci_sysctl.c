/* oci sysctls: the kubelet's namespacing rules, key separators, and values
 * written inside a pinned namespace leaving the host's alone.  Needs root. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oci/oci.h"
#include "tests/unit/testing.h"

const char *fixture_dir(void);
void fixture_track_pin(const char *path);
void fixture_track_pin_dir(const char *dir);
void fixture_ok(int rc, crio_error_t *err, const char *what, int line);
#define OK(call) fixture_ok((call), &err, #call, __LINE__)

#define NET OCI_NS_BIT(OCI_NS_NET)
#define IPC OCI_NS_BIT(OCI_NS_IPC)

static void test_validation_table(void) {
  static const struct {
    const char *key;
    const char *value;
    unsigned owned;
    bool ok;
  } cases[] = {
      {"net.ipv4.ip_forward", "1", NET, true},
      {"net/ipv4/ip_forward", "1", NET, true},
      {"net.ipv4.ip_forward", "1", IPC, false}, /* host network */
      {"net.ipv4.conf.eth0/100.rp_filter", "1", NET, true},
      {"net/ipv4/conf/eth0.100/rp_filter", "1", NET, true},
      {"net.ipv4.ping_group_range", "0 2147483647", NET, true},
      {"kernel.shmmax", "1024", IPC, true},
      {"kernel.shm_rmid_forced", "1", IPC, true},
      {"kernel.msgmnb", "1024", IPC, true},
      {"kernel.sem", "250 32000 32 128", IPC, true},
      {"fs.mqueue.msg_max", "10", IPC, true},
      {"fs/mqueue/msg_max", "10", IPC, true},
      {"kernel.shmmax", "1024", NET, false}, /* host IPC */
      {"kernel.semx", "1", IPC | NET, false},
      {"kernel.hostname", "x", IPC | NET, false},
      {"kernel.domainname", "x", IPC | NET, false},
      {"vm.swappiness", "10", IPC | NET, false},
      {"fs.file-max", "10", IPC | NET, false},
      {"user.max_user_namespaces", "0", IPC | NET, false},
      {"netx.foo", "1", IPC | NET, false},
      {"net", "1", IPC | NET, false},
      {"", "1", IPC | NET, false},
      {"net..ipv4.ip_forward", "1", NET, false},
      {"net.ipv4.ip_forward.", "1", NET, false},
      {"net/ipv4/../../kernel/core_pattern", "x", NET, false},
      {"net.ipv4.conf.//.x", "1", NET, false}, /* "//" is ".." */
      {"net.ipv4.ip forward", "1", NET, false},
      {"net.ipv4.ip_forward\n", "1", NET, false},
      {"net.ipv4.ip_forward", "1\nkernel.x=1", NET, false},
      {"net.ipv4.ip_forward", NULL, NET, false},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct oci_sysctl s = {cases[i].key, cases[i].value};
    cleanup_error crio_error_t err = NULL;
    int rc = oci_sysctls_validate(&s, 1, cases[i].owned, &err);
    if ((rc == 0) != cases[i].ok) {
      fprintf(stderr, "case %zu \"%s\"=\"%s\": expected %s, got %s (%s)\n", i, cases[i].key,
              cases[i].value ? cases[i].value : "(null)", cases[i].ok ? "ok" : "rejection",
              rc == 0 ? "ok" : "rejection", crio_error_message(&err));
      exit(1);
    }
    if (rc < 0) {
      CHECK_INT_EQ(crio_error_status(&err), EINVAL);
      if (cases[i].key[0] && !strchr(cases[i].key, '\n'))
        CHECK(strstr(crio_error_message(&err), cases[i].key) != NULL);
    }
  }
}

/* The first bad sysctl of a list fails the whole list, naming it. */
static void test_validation_list(void) {
  struct oci_sysctl list[] = {
      {"net.ipv4.ip_forward", "1"},
      {"kernel.msgmax", "8192"},
      {"vm.overcommit_memory", "1"},
  };
  cleanup_error crio_error_t err = NULL;
  CHECK(oci_sysctls_validate(list, 2, NET | IPC, &err) == 0);
  CHECK(oci_sysctls_validate(list, 3, NET | IPC, &err) < 0);
  CHECK(strstr(crio_error_message(&err), "vm.overcommit_memory") != NULL);
  CHECK(strstr(crio_error_message(&err), "not namespaced") != NULL);
}

struct read_task {
  const char *path;
  char value[256];
};

static int read_in_ns(void *arg, crio_error_t *err) {
  struct read_task *t = arg;
  cleanup_free char *text = NULL;
  if (crio_read_file(t->path, &text, NULL, err) < 0)
    return -1;
  text[strcspn(text, "\n")] = '\0';
  snprintf(t->value, sizeof(t->value), "%s", text);
  return 0;
}

static char *host_value(const char *path) {
  cleanup_error crio_error_t err = NULL;
  char *text = NULL;
  CHECK(crio_read_file(path, &text, NULL, &err) == 0);
  text[strcspn(text, "\n")] = '\0';
  return text;
}

static void ns_value(const struct oci_ns_paths *ns, const char *path, struct read_task *t) {
  cleanup_error crio_error_t err = NULL;
  t->path = path;
  OK(oci_ns_run_in(ns, read_in_ns, t, &err));
}

static void test_apply_in_pinned_namespaces(void) {
  cleanup_error crio_error_t err = NULL;
  const char *dir = fixture_dir();
  cleanup_free char *net = oci_ns_pin_path(dir, OCI_NS_NET, "pod-sysctl");
  cleanup_free char *ipc = oci_ns_pin_path(dir, OCI_NS_IPC, "pod-sysctl");
  cleanup_free char *netdir = xasprintf("%s/netns", dir);
  cleanup_free char *ipcdir = xasprintf("%s/ipcns", dir);
  fixture_track_pin_dir(netdir);
  fixture_track_pin_dir(ipcdir);
  fixture_track_pin(net);
  fixture_track_pin(ipc);
  OK(oci_ns_pin(OCI_NS_NET, net, NULL, &err));
  OK(oci_ns_pin(OCI_NS_IPC, ipc, NULL, &err));

  const char *fwd = "/proc/sys/net/ipv4/ip_forward";
  const char *ping = "/proc/sys/net/ipv4/ping_group_range";
  const char *shm = "/proc/sys/kernel/shmmni";
  cleanup_free char *host_fwd = host_value(fwd);
  cleanup_free char *host_ping = host_value(ping);
  cleanup_free char *host_shm = host_value(shm);
  const char *want_fwd = strcmp(host_fwd, "1") == 0 ? "0" : "1";
  const char *want_ping = strcmp(host_ping, "0\t2147483647") == 0 ? "1 1000" : "0 2147483647";
  const char *want_shm = strcmp(host_shm, "1234") == 0 ? "1235" : "1234";

  struct oci_sysctl sysctls[] = {
      {"net.ipv4.ip_forward", want_fwd},
      {"net/ipv4/ping_group_range", want_ping},
      {"kernel.shmmni", want_shm},
  };
  struct oci_ns_paths ns = {0};
  ns.path[OCI_NS_NET] = net;
  ns.path[OCI_NS_IPC] = ipc;
  OK(oci_sysctls_apply(&ns, sysctls, 3, &err));
  OK(oci_sysctls_apply(&ns, sysctls, 3, &err)); /* a repeated step */

  struct read_task t;
  ns_value(&ns, fwd, &t);
  CHECK_STR_EQ(t.value, want_fwd);
  ns_value(&ns, ping, &t);
  char want_ping_tab[64];
  snprintf(want_ping_tab, sizeof(want_ping_tab), "%s", want_ping);
  *strchr(want_ping_tab, ' ') = '\t'; /* the kernel prints a tab */
  CHECK_STR_EQ(t.value, want_ping_tab);
  ns_value(&ns, shm, &t);
  CHECK_STR_EQ(t.value, want_shm);

  cleanup_free char *host_fwd_after = host_value(fwd);
  cleanup_free char *host_ping_after = host_value(ping);
  cleanup_free char *host_shm_after = host_value(shm);
  CHECK_STR_EQ(host_fwd_after, host_fwd);
  CHECK_STR_EQ(host_ping_after, host_ping);
  CHECK_STR_EQ(host_shm_after, host_shm);

  /* Host network: a net sysctl is refused before anything is written. */
  struct oci_ns_paths host_net = {0};
  host_net.path[OCI_NS_IPC] = ipc;
  CHECK(oci_sysctls_apply(&host_net, sysctls, 3, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  CHECK(strstr(crio_error_message(&err), "net.ipv4.ip_forward") != NULL);
  crio_error_release(&err);
  cleanup_free char *host_fwd_final = host_value(fwd);
  CHECK_STR_EQ(host_fwd_final, host_fwd);

  /* A namespaced name the kernel does not have: the write fails, named. */
  struct oci_sysctl missing = {"net.ipv4.no_such_sysctl", "1"};
  CHECK(oci_sysctls_apply(&ns, &missing, 1, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), ENOENT);
  CHECK(strstr(crio_error_message(&err), "net.ipv4.no_such_sysctl") != NULL);
}

int main(void) {
  RUN_TEST(test_validation_table);
  RUN_TEST(test_validation_list);
  if (geteuid() != 0) {
    fprintf(stderr, "test_oci_sysctl: applying needs root\n");
    return 1;
  }
  RUN_TEST(test_apply_in_pinned_namespaces);
  return 0;
}
