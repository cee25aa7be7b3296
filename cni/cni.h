/* cni/: CNI network configuration and plugin execution (CNI spec 1.0.0, and
 * 0.4.0 / 0.3.x network configurations).  Finding and validating the network
 * configuration the daemon uses (what Status' NetworkReady reports); running
 * the plugin chain for ADD, DEL, CHECK and STATUS; parsing results for
 * PodSandboxStatus; reading interface counters inside a pod's netns.
 *
 * Plugins run as plain child processes (posix_spawn, no shell): a clean
 * environment (CNI_* and a fixed PATH), the configuration on stdin, stdout
 * and stderr captured up to a size cap, every other descriptor closed, in a
 * process group of their own that is killed when the plugin outlives its
 * timeout.  A plugin "type" containing '/' is rejected: binaries are only
 * looked up in the plugin dirs.  Each plugin is waited for by pid, so the
 * process must not reap children with waitpid(-1) nor ignore SIGCHLD. */
#ifndef CRIO_CNI_H
#define CRIO_CNI_H

#include <stdbool.h>
#include <stdint.h>

#include "common/common.h"

struct cni_network {
  char *name;        /* the network's "name" */
  char *cni_version; /* "cniVersion" */
  char *path;        /* file it came from */
  char *conflist;    /* the configuration list as JSON (a lone .conf is
                        wrapped into a list, as libcni does) */
};

/* Loads the first valid network configuration of `config_dir` in lexical
 * file order (*.conflist, *.conf, *.json, as libcni), and checks that the
 * binary of every plugin it names exists in one of `plugin_dirs`
 * (NULL-terminated).  ENOENT when there is none, EINVAL when the first
 * candidate is unusable — with a message saying why, for NetworkReady. */
int cni_network_load(const char *config_dir, const char *const *plugin_dirs,
                     struct cni_network *out, crio_error_t *err);
void cni_network_release(struct cni_network *net);

/* ---- plugin execution ------------------------------------------------------ */

/* Per-attachment parameters, the same for ADD, CHECK and DEL of one pod. */
struct cni_runtime_conf {
  const char *container_id; /* CNI_CONTAINERID: the pod sandbox id */
  const char *netns_path;   /* CNI_NETNS; see cni_del for a netns gone */
  const char *ifname;       /* CNI_IFNAME; NULL means "eth0" */
  /* CNI_ARGS: NULL-terminated "K=V" strings joined with ';', e.g.
   * "IgnoreUnknown=1", "K8S_POD_NAMESPACE=default", "K8S_POD_NAME=web",
   * "K8S_POD_INFRA_CONTAINER_ID=<id>", "K8S_POD_UID=<uid>".  May be NULL. */
  const char *const *args;
  /* A JSON object of capability arguments, e.g.
   * {"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}],
   *  "bandwidth":{"ingressRate":..,"egressRate":..}}.  Each plugin gets, as
   * "runtimeConfig", only the keys its "capabilities" declare true.  NULL for
   * none. */
  const char *capability_args_json;
  /* Per-plugin-invocation timeout in seconds; 0 means
   * CNI_DEFAULT_PLUGIN_TIMEOUT_SEC.  A plugin still running then is killed
   * (its whole process group) and the call fails with ETIMEDOUT. */
  unsigned timeout_sec;
};
#define CNI_DEFAULT_PLUGIN_TIMEOUT_SEC 60

/* ---- the request of one pod -------------------------------------------------- */

struct cni_port_mapping {
  int32_t host_port; /* <= 0: no host side, no mapping */
  int32_t container_port;
  const char *protocol; /* "tcp", "udp", "sctp"; NULL: tcp */
  const char *host_ip;  /* NULL or "": every address */
};

/* What the pod's calls pass besides the network: the same for ADD, CHECK
 * and DEL of one attachment. */
struct cni_pod_request {
  const char *pod_id;     /* CNI_CONTAINERID, K8S_POD_INFRA_CONTAINER_ID */
  const char *netns_path; /* NULL: "" */
  const char *ifname;     /* NULL: eth0 */
  /* K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_UID; NULL leaves one out
   * (wipe, replaying a DEL from the log, knows none of them). */
  const char *pod_namespace, *pod_name, *pod_uid;
  const struct cni_port_mapping *port_mappings;
  size_t n_port_mappings;
  uint64_t ingress_bps, egress_bps; /* bandwidth, bits per second; 0: none */
  /* The capability arguments as an ADD got them (logged for wipe): used as
   * they are instead of being built from the fields above. */
  const char *capability_args_json;
  bool no_capability_args; /* none at all (the pod's config is unreadable) */
};

/* The built request: rt is ready for cni_add/cni_del/cni_check and points
 * into the rest. */
struct cni_request {
  struct cni_runtime_conf rt;
  char *args[6];
  char *capability_args; /* {"portMappings": [...], "bandwidth": {...}} */
};
void cni_request_build(const struct cni_pod_request *in, struct cni_request *out);
void cni_request_release(struct cni_request *req);
#define cleanup_cni_request __attribute__((cleanup(cni_request_release)))

/* ADD through the chain of `net->conflist`, in order.  Each plugin's stdin
 * is its config with the network's "name" and "cniVersion" injected, the
 * previous plugin's result as "prevResult" (from the second plugin on), and
 * "runtimeConfig" for the capabilities it declares.  On success *result_json
 * (malloc'd) is the final result: store it with net->conflist in the pod
 * record, since DEL and CHECK need both.
 *
 * On failure the error carries the plugin's {code,msg,details} (or its stderr
 * when stdout was not a CNI error), and nothing is rolled back here: plugins
 * before the failing one may have set things up, so the CALLER MUST RUN
 * cni_del() with the same conflist and runtime conf (and no prevResult). */
int cni_add(const struct cni_network *net, const char *const *plugin_dirs,
            const struct cni_runtime_conf *rt, char **result_json, crio_error_t *err);

/* DEL through the chain in reverse order, using the STORED conflist (the
 * exact configuration ADD used, not whatever is on disk now: after an
 * operator edit or a reboot DEL must undo what ADD did).  For configurations
 * of cniVersion >= 0.4.0 `prev_result_json` (the stored ADD result; may be
 * NULL, e.g. after a failed ADD) is given to every plugin as "prevResult".
 *
 * Idempotent, and succeeds when the netns is already gone: if
 * rt->netns_path no longer names a network namespace, CNI_NETNS is passed
 * empty, which the spec allows for DEL and the plugins treat as "nothing to
 * do inside the container", while they still release IPAM, iptables and
 * host-side state.  As the spec says, the chain stops at the first plugin
 * that fails (its error is returned); retrying the whole DEL is safe. */
int cni_del(const char *conflist_json, const char *const *plugin_dirs,
            const struct cni_runtime_conf *rt, const char *prev_result_json, crio_error_t *err);

/* CHECK through the chain in order, each plugin given `prev_result_json`
 * (required) as "prevResult".  Needs cniVersion >= 0.4.0 (EINVAL below);
 * a configuration with "disableCheck": true returns 0 without running
 * anything, as the spec says. */
int cni_check(const char *conflist_json, const char *const *plugin_dirs,
              const struct cni_runtime_conf *rt, const char *prev_result_json, crio_error_t *err);

/* STATUS (CNI 1.1): asks every plugin of the chain whether it is ready to
 * serve ADD.  STATUS exists only from spec 1.1.0 on: when the configuration's
 * cniVersion is older, or a plugin's VERSION answer does not list 1.1.0,
 * returns ENOSYS with a message naming the versions (Debian 12's plugins
 * 1.1.1 speak up to 1.0.0).  A plugin's "not ready" error is returned as
 * EAGAIN with its message. */
int cni_status(const char *conflist_json, const char *const *plugin_dirs, crio_error_t *err);

/* VERSION of one plugin binary: its "supportedVersions" (NULL-terminated,
 * malloc'd). */
int cni_plugin_versions(const char *type, const char *const *plugin_dirs,
                        char ***supported_versions, crio_error_t *err);

/* ---- results ---------------------------------------------------------------- */

struct cni_result_interface {
  char *name;
  char *mac;     /* may be NULL */
  char *sandbox; /* netns path; NULL or "" for host-side interfaces */
};

struct cni_result_ip {
  char *address; /* CIDR, e.g. "10.250.3.2/24" */
  char *gateway; /* may be NULL */
  int interface; /* index into interfaces, -1 when absent */
};

struct cni_result_route {
  char *dst; /* CIDR */
  char *gw;  /* may be NULL */
};

/* A 0.3.x, 0.4.0 or 1.0.0 result (the shapes agree; 0.3/0.4 add a "version"
 * to each ip, which is ignored).  Arrays are NULL-terminated or counted. */
struct cni_result {
  char *cni_version;
  struct cni_result_interface *interfaces;
  size_t n_interfaces;
  struct cni_result_ip *ips;
  size_t n_ips;
  struct cni_result_route *routes;
  size_t n_routes;
  /* Pod addresses for PodSandboxStatus, without prefix length, in result
   * order: addresses of interfaces inside the sandbox (or of no stated
   * interface).  pod_ips[0] is the pod IP, the rest are additional IPs.
   * NULL-terminated, never NULL after a successful parse. */
  char **pod_ips;
  char **dns_nameservers; /* NULL-terminated, never NULL */
  char *dns_domain;       /* may be NULL */
  char **dns_search;      /* NULL-terminated, never NULL */
  char **dns_options;     /* NULL-terminated, never NULL */
};

int cni_result_parse(const char *result_json, struct cni_result *out, crio_error_t *err);
void cni_result_release(struct cni_result *result);

/* ---- statistics -------------------------------------------------------------- */

struct cni_if_stats {
  uint64_t rx_bytes, rx_packets, rx_errors, rx_dropped;
  uint64_t tx_bytes, tx_packets, tx_errors, tx_dropped;
};

/* Counters of interface `ifname` inside the network namespace at
 * `netns_path`, asked over a netlink socket that a short-lived thread made
 * inside the namespace, so the calling thread's namespace never changes.
 * ENOENT when the interface does not exist there. */
int cni_netns_interface_stats(const char *netns_path, const char *ifname, struct cni_if_stats *out,
                              crio_error_t *err);

/* The same, for the stats calls (read-only, thread-safe, one per daemon):
 * the socket of each namespace is made once and kept, with the interface's
 * index (closed after a minute unused), so a sample is one RTM_GETSTATS
 * request with no thread, no namespace switch and no path lookup.  Whoever
 * unpins a namespace calls cni_stats_sampler_forget() with its path, so
 * that a path pinned anew is never answered by the old namespace's socket
 * (s may be NULL). */
struct cni_stats_sampler;
struct cni_stats_sampler *cni_stats_sampler_new(void);
void cni_stats_sampler_free(struct cni_stats_sampler *s);
int cni_stats_sample(struct cni_stats_sampler *s, const char *netns_path, const char *ifname,
                     struct cni_if_stats *out, crio_error_t *err);
void cni_stats_sampler_forget(struct cni_stats_sampler *s, const char *netns_path);

#endif
