/* cni/ against Debian's real plugins (bridge, host-local, portmap, tuning,
 * bandwidth in /usr/lib/cni), as root, in network namespaces this test
 * creates, on a bridge of its own with a 10.250.N.0/24 subnet and IPAM
 * state in a temporary dataDir.  The only traffic is ICMP echo from the
 * test's netns to the test's own bridge address.  Everything is removed at
 * exit, also when a check fails (atexit). */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cni/cni.h"
#include "test_cni_fixture.h"
#include "testing.h"

static const char *const plugin_dirs[] = {"/usr/lib/cni", NULL};

static struct {
  char *dir;          /* temp dir: configs, netns pins, dataDirs */
  char bridge[16];    /* "crt" + 6 hex */
  char id_prefix[32]; /* every container id starts with it: the marker */
  int subnet;         /* 10.250.<subnet>.0/24 */
  char gateway[32];
  char *netns[4];
  bool portmap_shared_before;
  char ip_forward_before;
} fx;

static void cleanup(void) {
  for (int i = 0; i < 4; i++)
    if (fx.netns[i])
      tfx_netns_delete(fx.netns[i]);
  if (fx.bridge[0])
    tfx_sh("ip link del %s 2>/dev/null || true", fx.bridge);
  if (fx.id_prefix[0]) {
    if (tfx_iptables_count(fx.id_prefix) > 0) {
      fprintf(stderr, "cleanup: removing iptables rules left for %s\n", fx.id_prefix);
      tfx_iptables_purge(fx.id_prefix);
    }
  }
  if (!fx.portmap_shared_before)
    tfx_portmap_shared_remove();
  /* bridge's isGateway turns on forwarding; put back what the host had. */
  if (fx.ip_forward_before == '0')
    tfx_write("/proc/sys/net/ipv4/ip_forward", "0\n", 0);
  tfx_rm_rf(fx.dir);
}

static char *container_id(const char *name) {
  char *id = NULL;
  CHECK(asprintf(&id, "%s%s", fx.id_prefix, name) > 0);
  return id;
}

static char *netns_path(int slot) {
  char *path = NULL;
  CHECK(asprintf(&path, "%s/netns%d", fx.dir, slot) > 0);
  tfx_netns_create(path);
  fx.netns[slot] = strdup(path);
  return path;
}

static void drop_netns(int slot) {
  tfx_netns_delete(fx.netns[slot]);
  free(fx.netns[slot]);
  fx.netns[slot] = NULL;
}

/* A conflist: bridge + host-local, then `extra` plugins (JSON text). */
static struct cni_network network(const char *version, const char *name, const char *subnet_suffix,
                                  const char *extra) {
  struct cni_network net = {0};
  net.name = strdup(name);
  net.cni_version = strdup(version);
  CHECK(asprintf(&net.conflist,
                 "{\"cniVersion\":\"%s\",\"name\":\"%s\",\"plugins\":["
                 "{\"type\":\"bridge\",\"bridge\":\"%s\",\"isGateway\":true,"
                 "\"ipMasq\":true,\"hairpinMode\":true,"
                 "\"ipam\":{\"type\":\"host-local\",\"dataDir\":\"%s/ipam\","
                 "\"routes\":[{\"dst\":\"0.0.0.0/0\"}],"
                 "\"ranges\":[[{\"subnet\":\"10.250.%d.0%s\"}]]}}%s]}",
                 version, name, fx.bridge, fx.dir, fx.subnet, subnet_suffix, extra) > 0);
  return net;
}

static const char *full_chain =
    ",{\"type\":\"portmap\",\"capabilities\":{\"portMappings\":true},\"snat\":true}"
    ",{\"type\":\"tuning\",\"dataDir\":\"%s/tuning\",\"mtu\":1400,"
    "\"sysctl\":{\"net.ipv4.conf.eth0.accept_redirects\":\"0\"}}"
    ",{\"type\":\"bandwidth\",\"capabilities\":{\"bandwidth\":true}}";

static char *ipam_file(const char *net_name, const char *ip) {
  char *path = NULL;
  CHECK(asprintf(&path, "%s/ipam/%s/%s", fx.dir, net_name, ip) > 0);
  return path;
}

static int has_eth0(void *arg) {
  (void)arg;
  return if_nametoindex("eth0") != 0;
}

static int ping_gateway(void *arg) {
  (void)arg;
  return tfx_ping(fx.gateway, 3);
}

static int delete_eth0(void *arg) {
  (void)arg;
  return system("ip link del eth0");
}

#define CHECK_OK(call, errp)                                                                       \
  do {                                                                                             \
    if ((call) < 0) {                                                                              \
      fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call,                         \
              crio_error_message(errp));                                                           \
      exit(1);                                                                                     \
    }                                                                                              \
  } while (0)

/* ADD through bridge, host-local, portmap, tuning and bandwidth; the veth,
 * IPAM lease, port forwarding and counters are really there; CHECK passes;
 * DEL removes them and is idempotent. */
static void test_add_check_del_v1(void) {
  cleanup_error crio_error_t err = NULL;
  char *extra = NULL;
  CHECK(asprintf(&extra, full_chain, fx.dir) > 0);
  struct cni_network net = network("1.0.0", "crtnet1", "/24", extra);
  char *ns = netns_path(0), *id = container_id("a");
  char *k8s_infra = NULL;
  CHECK(asprintf(&k8s_infra, "K8S_POD_INFRA_CONTAINER_ID=%s", id) > 0);
  const char *args[] = {"IgnoreUnknown=1", "K8S_POD_NAMESPACE=default", "K8S_POD_NAME=web",
                        k8s_infra,         "K8S_POD_UID=1234",          NULL};
  const char *caps =
      "{\"portMappings\":[{\"hostPort\":38080,\"containerPort\":80,\"protocol\":\"tcp\"}],"
      "\"bandwidth\":{\"ingressRate\":1000000,\"ingressBurst\":100000,"
      "\"egressRate\":1000000,\"egressBurst\":100000}}";
  struct cni_runtime_conf rt = {
      .container_id = id, .netns_path = ns, .args = args, .capability_args_json = caps};

  char *result_json = NULL;
  CHECK_OK(cni_add(&net, plugin_dirs, &rt, &result_json, &err), &err);
  fprintf(stderr, "ADD result: %s\n", result_json);
  struct cni_result res;
  CHECK_OK(cni_result_parse(result_json, &res, &err), &err);
  CHECK_STR_EQ(res.cni_version, "1.0.0");
  CHECK(res.pod_ips[0] != NULL);
  char subnet_prefix[32];
  snprintf(subnet_prefix, sizeof(subnet_prefix), "10.250.%d.", fx.subnet);
  CHECK(strncmp(res.pod_ips[0], subnet_prefix, strlen(subnet_prefix)) == 0);
  CHECK(res.pod_ips[1] == NULL);
  CHECK(res.n_ips == 1);
  CHECK_STR_EQ(res.ips[0].gateway, fx.gateway);
  CHECK(res.n_routes == 1);
  CHECK_STR_EQ(res.routes[0].dst, "0.0.0.0/0");
  /* The sandbox interface is the one of the pod IP. */
  CHECK(res.ips[0].interface >= 0);
  CHECK_STR_EQ(res.interfaces[res.ips[0].interface].name, "eth0");
  CHECK_STR_EQ(res.interfaces[res.ips[0].interface].sandbox, ns);

  CHECK(tfx_in_netns(ns, has_eth0, NULL) == 1);
  char *lease = ipam_file("crtnet1", res.pod_ips[0]);
  char *lease_text = tfx_read(lease);
  CHECK(lease_text != NULL && strstr(lease_text, id) != NULL);
  free(lease_text);
  /* portmap got its runtimeConfig: a DNAT for the container exists; and
   * bridge's masquerade rule. */
  char *nat = tfx_sh_output("iptables -w -t nat -S");
  CHECK(strstr(nat, "--dports 38080") != NULL);
  CHECK(tfx_iptables_count(id) >= 2);
  free(nat);
  /* tuning set the MTU inside the netns. */
  CHECK(tfx_sh("nsenter --net=%s ip link show eth0 | grep -q 'mtu 1400'", ns) == 0);

  if (cni_check(net.conflist, plugin_dirs, &rt, result_json, &err) < 0) {
    /* portmap before 1.3.0 (Debian 12 has 1.1.1) CHECKs an IPv6 DNAT chain
     * even for an IPv4-only pod whenever ip6tables exists (fixed upstream
     * by "Only check ipv6 when an IPv6 is configured"): accept only that
     * failure, then CHECK the rest of the chain without port mappings. */
    fprintf(stderr, "CHECK: %s\n", crio_error_message(&err));
    CHECK(strstr(crio_error_message(&err), "CNI plugin portmap CHECK failed") != NULL);
    CHECK(strstr(crio_error_message(&err), "could not check ipv6 dnat") != NULL);
    crio_error_release(&err);
    struct cni_runtime_conf rt_no_ports = rt;
    rt_no_ports.capability_args_json =
        "{\"bandwidth\":{\"ingressRate\":1000000,\"ingressBurst\":100000,"
        "\"egressRate\":1000000,\"egressBurst\":100000}}";
    CHECK_OK(cni_check(net.conflist, plugin_dirs, &rt_no_ports, result_json, &err), &err);
  }

  /* Counters: ICMP echo to our own bridge address, read from outside. */
  CHECK_INT_EQ(tfx_in_netns(ns, ping_gateway, NULL), 3);
  char *ns_before = tfx_sh_output("readlink /proc/%d/task/%d/ns/net", getpid(), gettid());
  struct cni_if_stats st;
  CHECK_OK(cni_netns_interface_stats(ns, "eth0", &st, &err), &err);
  fprintf(stderr, "eth0: rx %llu B %llu pkts, tx %llu B %llu pkts\n",
          (unsigned long long)st.rx_bytes, (unsigned long long)st.rx_packets,
          (unsigned long long)st.tx_bytes, (unsigned long long)st.tx_packets);
  CHECK(st.tx_packets >= 3 && st.rx_packets >= 3);
  CHECK(st.tx_bytes > 0 && st.rx_bytes > 0);
  char *ns_after = tfx_sh_output("readlink /proc/%d/task/%d/ns/net", getpid(), gettid());
  CHECK_STR_EQ(ns_after, ns_before);
  CHECK(cni_netns_interface_stats(ns, "nosuch0", &st, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), ENOENT);
  crio_error_release(&err);
  /* The sampler: the first sample asks by name, the next by the kept
   * index (RTM_GETSTATS); both see what the one-shot read saw, or more. */
  struct cni_stats_sampler *sampler = cni_stats_sampler_new();
  struct cni_if_stats s1, s2;
  CHECK_OK(cni_stats_sample(sampler, ns, "eth0", &s1, &err), &err);
  CHECK(s1.tx_packets >= st.tx_packets && s1.rx_bytes >= st.rx_bytes);
  CHECK_INT_EQ(tfx_in_netns(ns, ping_gateway, NULL), 3);
  CHECK_OK(cni_stats_sample(sampler, ns, "eth0", &s2, &err), &err);
  CHECK(s2.tx_packets >= s1.tx_packets + 3 && s2.rx_packets >= s1.rx_packets + 3);
  CHECK(s2.tx_bytes > s1.tx_bytes && s2.rx_bytes > s1.rx_bytes);
  CHECK(cni_stats_sample(sampler, ns, "nosuch0", &s2, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), ENOENT);
  crio_error_release(&err);
  cni_stats_sampler_forget(sampler, ns);
  CHECK_OK(cni_stats_sample(sampler, ns, "eth0", &s1, &err), &err);
  CHECK(s1.tx_packets >= s2.tx_packets);
  cni_stats_sampler_free(sampler);

  CHECK_OK(cni_del(net.conflist, plugin_dirs, &rt, result_json, &err), &err);
  CHECK(tfx_in_netns(ns, has_eth0, NULL) == 0);
  CHECK(!tfx_exists(lease));
  CHECK_INT_EQ(tfx_iptables_count(id), 0);
  /* DEL is idempotent. */
  CHECK_OK(cni_del(net.conflist, plugin_dirs, &rt, result_json, &err), &err);
  CHECK_OK(cni_del(net.conflist, plugin_dirs, &rt, NULL, &err), &err);

  drop_netns(0);
  cni_result_release(&res);
  cni_network_release(&net);
  free(result_json);
  free(lease);
  free(extra);
  free(k8s_infra);
  free(ns_before);
  free(ns_after);
  free(ns);
  free(id);
}

/* After the pod's netns is gone (pod stopped, node rebooted), DEL with the
 * stored conflist still succeeds and releases the IPAM lease. */
static void test_del_after_netns_gone(void) {
  cleanup_error crio_error_t err = NULL;
  char *extra = NULL;
  CHECK(asprintf(&extra, full_chain, fx.dir) > 0);
  struct cni_network net = network("1.0.0", "crtnet1", "/24", extra);
  char *ns = netns_path(1), *id = container_id("b");
  const char *caps =
      "{\"portMappings\":[{\"hostPort\":38081,\"containerPort\":80,\"protocol\":\"tcp\"}]}";
  struct cni_runtime_conf rt = {.container_id = id, .netns_path = ns, .capability_args_json = caps};
  char *result_json = NULL;
  CHECK_OK(cni_add(&net, plugin_dirs, &rt, &result_json, &err), &err);
  struct cni_result res;
  CHECK_OK(cni_result_parse(result_json, &res, &err), &err);
  char *lease = ipam_file("crtnet1", res.pod_ips[0]);
  CHECK(tfx_exists(lease));

  drop_netns(1);
  CHECK(!tfx_exists(ns));
  CHECK_OK(cni_del(net.conflist, plugin_dirs, &rt, result_json, &err), &err);
  CHECK(!tfx_exists(lease));
  /* portmap's rules go without the netns. */
  char *nat = tfx_sh_output("iptables -w -t nat -S");
  CHECK(strstr(nat, "--dports 38081") == NULL);
  free(nat);
  /* bridge 1.1.1 tears its masquerade rule down only from inside the
   * netns (it learns the addresses from the interface), so with the netns
   * gone that rule stays: a plugin limitation, reported, then removed. */
  int left = tfx_iptables_count(id);
  if (left > 0) {
    fprintf(stderr,
            "note: %d iptables lines for %s left by bridge's DEL "
            "without a netns; removing them\n",
            left, id);
    tfx_iptables_purge(id);
  }
  CHECK_OK(cni_del(net.conflist, plugin_dirs, &rt, result_json, &err), &err);

  cni_result_release(&res);
  cni_network_release(&net);
  free(result_json);
  free(lease);
  free(extra);
  free(ns);
  free(id);
}

/* A 0.4.0 network: 0.4.0 results, CHECK (which notices a deleted
 * interface), DEL with prevResult. */
static void test_v040(void) {
  cleanup_error crio_error_t err = NULL;
  const char *extra =
      ",{\"type\":\"portmap\",\"capabilities\":{\"portMappings\":true}}"
      ",{\"type\":\"tuning\",\"sysctl\":{\"net.ipv4.conf.eth0.accept_redirects\":\"0\"}}";
  struct cni_network net = network("0.4.0", "crtnet4", "/24", extra);
  char *ns = netns_path(2), *id = container_id("c");
  struct cni_runtime_conf rt = {.container_id = id, .netns_path = ns, .ifname = "eth0"};
  char *result_json = NULL;
  CHECK_OK(cni_add(&net, plugin_dirs, &rt, &result_json, &err), &err);
  fprintf(stderr, "ADD result (0.4.0): %s\n", result_json);
  struct cni_result res;
  CHECK_OK(cni_result_parse(result_json, &res, &err), &err);
  CHECK_STR_EQ(res.cni_version, "0.4.0");
  CHECK(res.pod_ips[0] != NULL);
  CHECK(tfx_in_netns(ns, has_eth0, NULL) == 1);
  CHECK_OK(cni_check(net.conflist, plugin_dirs, &rt, result_json, &err), &err);

  /* CHECK is real: without the interface it fails. */
  CHECK(tfx_in_netns(ns, delete_eth0, NULL) == 0);
  CHECK(cni_check(net.conflist, plugin_dirs, &rt, result_json, &err) < 0);
  fprintf(stderr, "CHECK without eth0: %s\n", crio_error_message(&err));
  CHECK(strstr(crio_error_message(&err), "CNI plugin bridge CHECK failed") != NULL);
  crio_error_release(&err);

  char *lease = ipam_file("crtnet4", res.pod_ips[0]);
  CHECK(tfx_exists(lease));
  CHECK_OK(cni_del(net.conflist, plugin_dirs, &rt, result_json, &err), &err);
  CHECK(!tfx_exists(lease));
  CHECK_OK(cni_del(net.conflist, plugin_dirs, &rt, result_json, &err), &err);
  /* eth0 was deleted by hand, so bridge could not learn the addresses to
   * unmasquerade; remove what it left (the netns-gone case, again). */
  tfx_iptables_purge(id);

  drop_netns(2);
  cni_result_release(&res);
  cni_network_release(&net);
  free(result_json);
  free(lease);
  free(ns);
  free(id);
}

/* A plugin failing in the middle of the chain: its CNI error reaches the
 * message, and DEL (the caller's job after a failed ADD) undoes the rest. */
static void test_plugin_error_mid_chain(void) {
  cleanup_error crio_error_t err = NULL;
  const char *extra =
      ",{\"type\":\"tuning\",\"sysctl\":{\"net.ipv4.conf.eth0.no_such_knob\":\"1\"}}";
  struct cni_network net = network("1.0.0", "crtnet1", "/24", extra);
  char *ns = netns_path(3), *id = container_id("d");
  struct cni_runtime_conf rt = {.container_id = id, .netns_path = ns};
  char *result_json = NULL;
  CHECK(cni_add(&net, plugin_dirs, &rt, &result_json, &err) < 0);
  CHECK(result_json == NULL);
  fprintf(stderr, "ADD with a failing tuning: %s\n", crio_error_message(&err));
  CHECK(strstr(crio_error_message(&err), "CNI plugin tuning ADD failed") != NULL);
  CHECK(strstr(crio_error_message(&err), "no_such_knob") != NULL);
  crio_error_release(&err);
  /* bridge had set up eth0 before tuning failed. */
  CHECK(tfx_in_netns(ns, has_eth0, NULL) == 1);
  CHECK_OK(cni_del(net.conflist, plugin_dirs, &rt, NULL, &err), &err);
  CHECK(tfx_in_netns(ns, has_eth0, NULL) == 0);
  CHECK_INT_EQ(tfx_iptables_count(id), 0);
  cni_network_release(&net);

  /* The first plugin failing: host-local's error object in the message. */
  net = network("1.0.0", "crtnet1", "/33", "");
  CHECK(cni_add(&net, plugin_dirs, &rt, &result_json, &err) < 0);
  fprintf(stderr, "ADD with a bad subnet: %s\n", crio_error_message(&err));
  CHECK(strstr(crio_error_message(&err), "CNI plugin bridge ADD failed (code") != NULL);
  CHECK(strstr(crio_error_message(&err), "/33") != NULL);
  crio_error_release(&err);
  /* DEL uses the same broken configuration, so it reports the same error
   * (what is left in the netns goes with the netns). */
  CHECK(cni_del(net.conflist, plugin_dirs, &rt, NULL, &err) < 0);
  CHECK(strstr(crio_error_message(&err), "CNI plugin bridge DEL failed") != NULL);
  crio_error_release(&err);

  drop_netns(3);
  cni_network_release(&net);
  free(ns);
  free(id);
}

/* A plugin binary that is not there is a clear error, before anything
 * runs. */
static void test_missing_plugin(void) {
  cleanup_error crio_error_t err = NULL;
  struct cni_network net =
      network("1.0.0", "crtnet1", "/24", ",{\"type\":\"crio-no-such-plugin\"}");
  char *ns = netns_path(3), *id = container_id("e");
  struct cni_runtime_conf rt = {.container_id = id, .netns_path = ns};
  char *result_json = NULL;
  CHECK(cni_add(&net, plugin_dirs, &rt, &result_json, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), ENOENT);
  CHECK(strstr(crio_error_message(&err), "\"crio-no-such-plugin\" not found") != NULL);
  crio_error_release(&err);
  CHECK(tfx_in_netns(ns, has_eth0, NULL) == 0); /* bridge never ran */
  /* DEL reaches the missing plugin first (reverse order) and stops. */
  CHECK(cni_del(net.conflist, plugin_dirs, &rt, NULL, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), ENOENT);
  crio_error_release(&err);
  drop_netns(3);
  cni_network_release(&net);
  free(ns);
  free(id);
}

/* Debian's plugins speak up to 1.0.0: STATUS is not available. */
static void test_status_unsupported(void) {
  cleanup_error crio_error_t err = NULL;
  struct cni_network net = network("1.0.0", "crtnet1", "/24", "");
  CHECK(cni_status(net.conflist, plugin_dirs, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), ENOSYS);
  crio_error_release(&err);
  char **versions = NULL;
  CHECK_OK(cni_plugin_versions("bridge", plugin_dirs, &versions, &err), &err);
  bool has_100 = false;
  for (char **v = versions; *v; v++)
    has_100 |= strcmp(*v, "1.0.0") == 0;
  CHECK(has_100);
  cleanup_strvp(&versions);
  cni_network_release(&net);
}

int main(void) {
  if (geteuid() != 0) {
    fprintf(stderr, "test_cni needs root (network namespaces, bridges); skipped\n");
    return 77;
  }
  if (access("/usr/lib/cni/bridge", X_OK) != 0) {
    fprintf(stderr, "containernetworking-plugins not installed; skipped\n");
    return 77;
  }
  fx.dir = tfx_mkdtemp("crio-cni-test");
  char hex[7];
  tfx_random_hex(hex, 3);
  snprintf(fx.bridge, sizeof(fx.bridge), "crt%.6s", hex);
  snprintf(fx.id_prefix, sizeof(fx.id_prefix), "crt%stest", hex);
  fx.portmap_shared_before = tfx_portmap_shared_exists();
  char *fwd = tfx_read("/proc/sys/net/ipv4/ip_forward");
  fx.ip_forward_before = fwd ? fwd[0] : '?';
  free(fwd);
  atexit(cleanup);
  /* A /24 nobody on this host routes already. */
  for (int tries = 0;; tries++) {
    CHECK(tries < 50);
    unsigned char r;
    tfx_random_hex(hex, 1);
    r = (unsigned char)strtoul(hex, NULL, 16);
    fx.subnet = 1 + r % 254;
    if (tfx_sh("ip -4 route show | grep -q '^10\\.250\\.%d\\.'", fx.subnet) != 0)
      break;
  }
  snprintf(fx.gateway, sizeof(fx.gateway), "10.250.%d.1", fx.subnet);
  fprintf(stderr, "bridge %s, subnet 10.250.%d.0/24, dir %s\n", fx.bridge, fx.subnet, fx.dir);

  RUN_TEST(test_add_check_del_v1);
  RUN_TEST(test_del_after_netns_gone);
  RUN_TEST(test_v040);
  RUN_TEST(test_plugin_error_mid_chain);
  RUN_TEST(test_missing_plugin);
  RUN_TEST(test_status_unsupported);
  CHECK_INT_EQ(tfx_iptables_count(fx.id_prefix), 0);
  fprintf(stderr, "test_cni: all passed\n");
  return 0;
}
