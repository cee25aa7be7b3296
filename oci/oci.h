/* oci/: everything that touches the host to run pods and containers.
 * This header is the folder's whole interface.  It has two parts:
 *
 *   sandbox  — the host side of a pod sandbox without an infra container:
 *              namespaces pinned by bind mounts, sysctls, resolv.conf /
 *              hostname / hosts, the pod cgroup, and the optional pause
 *              process for a shared PID namespace.
 *   runtime  — OCI spec generation, runtime handlers (runc, crun), conmon.
 *
 * Every function follows common/'s error convention and is safe to repeat
 * (a reconciler step may run again after a crash). */
#ifndef CRIO_OCI_H
#define CRIO_OCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/common.h"

/* ==== sandbox ============================================================== */

/* ---- namespaces pinned by bind mounts ------------------------------------
 * A pod's namespaces outlive any process: each is a bind mount of an nsfs
 * file on an empty file under the run dir.  The namespace is created by a
 * short-lived thread (unshare affects only the calling thread for these
 * types), so the daemon's own namespaces never change; the bind mount is made
 * from that thread, which still shares the daemon's mount namespace, so it
 * lands in the host mount namespace.
 *
 * The directory holding pins is made a bind mount of itself marked
 * MS_UNBINDABLE (as CRI-O's pinns does for mount namespaces): new pins do not
 * propagate into peer or slave mount namespaces (which would keep a
 * namespace alive after unpin), and a recursive bind of a parent (a hostPath
 * of /run) does not copy them into containers. */
enum oci_ns_type {
  OCI_NS_NET = 0,
  OCI_NS_IPC,
  OCI_NS_UTS,
  /* A PID namespace cannot be pinned empty: the kernel exposes it (and
   * lets processes join it) only while its init lives.  So it is created
   * with the infra process (oci_infra_start) and pinned from
   * /proc/<pause pid>/ns/pid with oci_ns_pin_existing. */
  OCI_NS_PID,
  OCI_NS_COUNT
};
#define OCI_NS_BIT(type) (1u << (type))

/* "net", "ipc", "uts", "pid" (the /proc/PID/ns/ names). */
const char *oci_ns_type_name(enum oci_ns_type type);
/* CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWPID. */
int oci_ns_clone_flag(enum oci_ns_type type);

/* The deterministic pin path of a pod's namespace:
 * <run_dir>/<type>ns/<pod_id> (e.g. /run/crio/netns/<id>).  malloc'd. */
char *oci_ns_pin_path(const char *run_dir, enum oci_ns_type type, const char *pod_id);

/* Creates a new namespace of `type` (NET, IPC or UTS; EINVAL for PID) and
 * pins it on `pin_path` (its parent directory is created and made
 * unbindable as described above).  For OCI_NS_UTS, `hostname` (may be NULL)
 * is set inside the new namespace.  Idempotent: a pin_path that already
 * holds a namespace of this type is left as it is (its hostname is not
 * changed); a leftover empty file from a crash is reused.  EEXIST when
 * pin_path holds a namespace of another type or a non-empty regular file. */
int oci_ns_pin(enum oci_ns_type type, const char *pin_path, const char *hostname,
               crio_error_t *err);

/* Pins an existing namespace, e.g. /proc/<pause pid>/ns/pid, on pin_path
 * (same directory handling).  Idempotent: success if pin_path already holds
 * that very namespace; EEXIST if it holds another one; EINVAL if `source`
 * is not a namespace of `type`. */
int oci_ns_pin_existing(enum oci_ns_type type, const char *source, const char *pin_path,
                        crio_error_t *err);

/* Lazily unmounts (MNT_DETACH) and unlinks pin_path.  A path that does not
 * exist is success.  The namespace itself lives on while a process or
 * another mount holds it. */
int oci_ns_unpin(const char *pin_path, crio_error_t *err);

/* 1 if pin_path is a pinned namespace of `type`, 0 if not (absent, plain
 * file, other type), -1 on error. */
int oci_ns_is_pinned(enum oci_ns_type type, const char *pin_path, crio_error_t *err);

/* Undoes the self bind mount oci_ns_pin made of a pin directory (for wipe
 * and tests), once every pin in it is released; not mounted is success. */
int oci_ns_pin_dir_release(const char *dir, crio_error_t *err);

/* Namespaces a pod operation runs in: for each type a pin path (or any nsfs
 * path such as /proc/PID/ns/net), or NULL for "the host's". */
struct oci_ns_paths {
  const char *path[OCI_NS_COUNT];
};

/* Runs fn(arg) on a short-lived thread that has joined every namespace of
 * `ns` that is not NULL (setns; OCI_NS_PID affects only children the thread
 * forks).  fn follows the error convention.  The daemon's namespaces are
 * unchanged.  Used by sysctls and the infra process; exposed for others
 * (e.g. reading interface counters). */
int oci_ns_run_in(const struct oci_ns_paths *ns, int (*fn)(void *arg, crio_error_t *err), void *arg,
                  crio_error_t *err);

/* ---- sysctls --------------------------------------------------------------
 * The kubelet's rules: a sysctl is allowed only if it is namespaced and the
 * pod owns that namespace.  kernel.shm*, kernel.msg*, kernel.sem and
 * fs.mqueue.* belong to IPC; net.* to the network namespace; everything else
 * is rejected.  Keys may use '.' or '/' as separator, as the kubelet accepts:
 * the first separator found is the separator, and the other character is then
 * a literal part of a name (net/ipv4/conf/eth0.100/rp_filter ==
 * net.ipv4.conf.eth0/100.rp_filter). */
struct oci_sysctl {
  const char *key;
  const char *value;
};

/* Checks every sysctl against the namespaces the pod owns (a mask of
 * OCI_NS_BIT: NET unless host network, IPC unless host IPC).  EINVAL naming
 * the sysctl for an unsafe key (not namespaced, not owned, malformed: empty
 * component, "..", characters outside [A-Za-z0-9_.-/]) or a value with a
 * control character. */
int oci_sysctls_validate(const struct oci_sysctl *sysctls, size_t n, unsigned owned_ns,
                         crio_error_t *err);

/* Validates (with the owned mask derived from which of ns->path[NET/IPC] are
 * set) then writes each value to /proc/sys/<key as path> inside the pod's
 * namespaces.  Repeating writes the same values again. */
int oci_sysctls_apply(const struct oci_ns_paths *ns, const struct oci_sysctl *sysctls, size_t n,
                      crio_error_t *err);

/* ---- pod files: resolv.conf, hostname, hosts -------------------------------
 * Written atomically (temp file, fsync, rename) into the pod's directory;
 * the runtime part bind-mounts them into containers. */
#define OCI_DNS_MAX_SERVERS 3         /* glibc MAXNS */
#define OCI_DNS_MAX_SEARCHES 32       /* the kubelet's MaxDNSSearchPaths */
#define OCI_DNS_MAX_SEARCH_CHARS 2048 /* the kubelet's MaxDNSSearchListChars */
#define OCI_DNS_MAX_OPTIONS 32

/* CRI DNSConfig.  All three lists empty (or `dns` NULL in oci_pod_files)
 * means "use the host's resolv.conf": a copy of host_resolv_conf. */
struct oci_dns_config {
  const char *const *servers; /* IPv4 or IPv6 literals */
  size_t n_servers;
  const char *const *searches;
  size_t n_searches;
  const char *const *options; /* "ndots:5", "edns0", ... */
  size_t n_options;
};

struct oci_hosts_entry {
  const char *ip;
  const char *const *names;
  size_t n_names;
};

struct oci_pod_files {
  const char *hostname;                      /* required; RFC 1123 label(s), <= 64 */
  const struct oci_dns_config *dns;          /* NULL: copy the host's */
  const char *host_resolv_conf;              /* NULL means "/etc/resolv.conf" */
  const char *pod_ip;                        /* NULL if not known yet */
  const struct oci_hosts_entry *extra_hosts; /* may be NULL */
  size_t n_extra_hosts;
};

/* File names inside the pod dir. */
#define OCI_POD_RESOLV_CONF "resolv.conf"
#define OCI_POD_HOSTNAME "hostname"
#define OCI_POD_HOSTS "hosts"

/* EINVAL naming the field for a bad server (not an IP), too many entries,
 * a search domain or option with whitespace or control characters. */
int oci_dns_config_validate(const struct oci_dns_config *dns, crio_error_t *err);
/* EINVAL for a hostname that is not a valid RFC 1123 name of <= 64 chars. */
int oci_hostname_validate(const char *hostname, crio_error_t *err);

/* Writes <dir>/resolv.conf, <dir>/hostname and <dir>/hosts (dir must
 * exist).  Validates everything before writing anything. */
int oci_pod_files_write(const char *dir, const struct oci_pod_files *files, crio_error_t *err);
/* Removes the three files; absent files are fine. */
int oci_pod_files_remove(const char *dir, crio_error_t *err);

/* ---- cgroups ----------------------------------------------------------------
 * The host's layout, detected from /sys/fs/cgroup:
 *   LEGACY  — v1 controller hierarchies only
 *   HYBRID  — v1 controllers plus a v2 hierarchy at /sys/fs/cgroup/unified
 *             (controllers on it, e.g. hugetlb, are managed there too)
 *   UNIFIED — cgroup v2 only */
enum oci_cgroup_mode {
  OCI_CGROUP_LEGACY = 1,
  OCI_CGROUP_HYBRID,
  OCI_CGROUP_UNIFIED,
};
int oci_cgroup_mode_detect(enum oci_cgroup_mode *mode, crio_error_t *err);

/* Pod-level limits (CRI LinuxPodSandboxConfig.resources); 0 = not set. */
struct oci_cgroup_resources {
  uint64_t cpu_shares;  /* v1 cpu.shares; v2 cpu.weight converted */
  int64_t cpu_quota_us; /* with cpu_period_us */
  uint64_t cpu_period_us;
  int64_t memory_limit_bytes;
};

/* A cgroup manager backend ("cgroupfs" or "systemd", crio.conf's
 * cgroup_manager).  Paths are cgroup paths relative to the hierarchy roots,
 * starting with '/' (the same in every v1 hierarchy).
 *
 * The kubelet's cgroup_parent is the pod-level cgroup it manages
 * ("/kubepods/besteffort/pod<uid>" for cgroupfs,
 * "kubepods-besteffort-pod<uid>.slice" for systemd).  A sandbox gets its own
 * cgroup under it, named like CRI-O's infra cgroup (cgroupfs:
 * <parent>/crio-<pod_id>; systemd: crio-<pod_id>.scope in the parent slice),
 * which holds the pause process if there is one.  Containers are siblings in
 * the parent, so PodSandboxStats reads the PARENT. */
struct oci_cgroup_manager {
  const char *name;
  /* The pod's cgroup path (as create returns it) without touching the host.
   * EINVAL for a malformed parent. */
  int (*pod_path)(const char *parent, const char *pod_id, char **path, crio_error_t *err);
  /* The cgroup path of `parent` itself (systemd: the expanded slice path,
   * for the stats sampler and for resource updates).  malloc'd.  Usage is
   * read by the sampler below, the same for both managers: systemd lays its
   * units out in the cgroup filesystem like any cgroup. */
  int (*parent_path)(const char *parent, char **path, crio_error_t *err);
  /* Makes sure the parent and the pod's cgroup exist, applies resources
   * (may be NULL) and returns the pod's cgroup path (malloc'd).  cgroupfs
   * creates the directory in every v1 hierarchy (and in the unified one on a
   * hybrid host); systemd starts the parent slice (the scope appears when a
   * process enters).  Idempotent. */
  int (*create)(const char *parent, const char *pod_id, const struct oci_cgroup_resources *res,
                char **path, crio_error_t *err);
  /* Moves pid into the pod's cgroup (cgroupfs: cgroup.procs in every
   * hierarchy; systemd: StartTransientUnit of the scope with that PID). */
  int (*enter)(const char *parent, const char *pod_id, pid_t pid, crio_error_t *err);
  /* Removes a cgroup created by create: rmdir only (never kills), after
   * checking it holds no process (EBUSY if it does); EBUSY from rmdir (a
   * process exiting) is retried for a short while.  An absent cgroup is
   * success. */
  int (*remove)(const char *path, crio_error_t *err);
  /* Applies `res` to an existing cgroup — a pod's parent_path or its own
   * cgroup — as absolute values; a field at 0 keeps what the cgroup has
   * (UpdatePodSandboxResources).  cgroupfs writes the controllers' files
   * (ENOENT if the cgroup does not exist; it is never created here);
   * systemd sets the unit's properties (the path's last component, a slice
   * or a scope).  Repeating is harmless. */
  int (*update)(const char *path, const struct oci_cgroup_resources *res, crio_error_t *err);
};

/* "cgroupfs" or "systemd"; EINVAL for another name.  The systemd manager is
 * returned even without systemd; its operations then fail with ENOTCONN
 * "systemd is not running". */
const struct oci_cgroup_manager *oci_cgroup_manager_get(const char *driver, crio_error_t *err);
extern const struct oci_cgroup_manager oci_cgroup_manager_cgroupfs;
extern const struct oci_cgroup_manager oci_cgroup_manager_systemd;

/* ---- the stats sampler (cgroup_sampler.c) ------------------------------------
 * Read-only: what ContainerStats and PodSandboxStats report of a cgroup.
 * One per daemon; thread-safe.  It reads the mounted hierarchies once, at
 * the first sample, and keeps each sampled cgroup's files open (closed
 * after a minute unused), so a sample is a few preads. */
struct oci_cgroup_usage {
  int64_t timestamp_ns; /* CLOCK_REALTIME when read */
  uint64_t cpu_usage_ns;
  uint64_t memory_usage_bytes;       /* v1 usage_in_bytes; v2 memory.current */
  uint64_t memory_working_set_bytes; /* usage - inactive_file */
  uint64_t memory_rss_bytes;         /* v1 total_rss; v2 anon */
  uint64_t memory_page_faults;
  uint64_t memory_major_page_faults;
  uint64_t memory_limit_bytes; /* the cgroup's own limit; 0: none */
  bool has_process_count;      /* asked for with OCI_CGROUP_SAMPLE_PROCESSES */
  uint64_t process_count;      /* pids.current, else cgroup.procs of the subtree */
};
struct oci_cgroup_sampler;
/* mountinfo_path: where the hierarchies are listed; NULL for
 * /proc/self/mountinfo (tests point it at a fake tree). */
struct oci_cgroup_sampler *oci_cgroup_sampler_new(const char *mountinfo_path);
void oci_cgroup_sampler_free(struct oci_cgroup_sampler *s);
#define OCI_CGROUP_SAMPLE_PROCESSES 1u
/* The cgroup's memory limit changes only where oci_cgroup_sampler_forget()
 * is called after it: read it once and keep it with the cgroup's files. */
#define OCI_CGROUP_SAMPLE_LIMIT_KEPT 2u
/* CPU and memory of cgroup `cgroup` (a path below the hierarchy roots),
 * with the process count if flags ask.  ENOENT for a cgroup that does not
 * exist. */
int oci_cgroup_sample(struct oci_cgroup_sampler *s, const char *cgroup, unsigned flags,
                      struct oci_cgroup_usage *out, crio_error_t *err);
/* Drops what the sampler keeps of `cgroup` (s may be NULL). */
void oci_cgroup_sampler_forget(struct oci_cgroup_sampler *s, const char *cgroup);

/* The cgroup a runtime made for a container from the spec's cgroupsPath: a
 * cgroupfs path is the cgroup itself; the systemd form
 * "<slice>:<prefix>:<name>" is <slice's path>/<prefix>-<name>.scope, as runc
 * expands it.  NULL if it is in neither form.  malloc'd. */
char *oci_cgroup_of_spec_path(const char *spec_cgroups_path);

/* systemd slice names, as runc expands them: "a-b-c.slice" is the cgroup
 * path "/a.slice/a-b.slice/a-b-c.slice"; "-.slice" is "/".  EINVAL for a
 * name that is not a valid slice (no ".slice", '/' in it, empty or "--"
 * components, leading or trailing '-').  malloc'd. */
int oci_systemd_slice_path(const char *slice, char **path, crio_error_t *err);
/* "crio-<pod_id>.scope" (malloc'd). */
char *oci_systemd_scope_name(const char *pod_id);

/* systemd's StartTransientUnit(name, "replace", properties, []) call for a
 * pod unit: the parent slice itself (slice NULL, pid 0) or the pod's scope
 * holding `pid` in `slice`, with resources (may be NULL) as the properties
 * of `mode` (v1: CPUShares/MemoryLimit, v2: CPUWeight/MemoryMax; both:
 * CPUQuotaPerSecUSec/CPUQuotaPeriodUSec).  `bus` is any started sd_bus (the
 * system bus; tests use a socketpair peer).  Exposed so the message can be
 * checked without systemd. */
struct sd_bus;
struct sd_bus_message;
int oci_systemd_start_unit_message(struct sd_bus *bus, const char *unit, const char *slice,
                                   pid_t pid, enum oci_cgroup_mode mode,
                                   const struct oci_cgroup_resources *res,
                                   struct sd_bus_message **out, crio_error_t *err);

/* systemd's SetUnitProperties(unit, runtime, properties) call that the
 * manager's update sends: the resource properties of `res`, as
 * oci_systemd_start_unit_message names them for `mode`.  Exposed so the
 * message can be checked without systemd. */
int oci_systemd_set_properties_message(struct sd_bus *bus, const char *unit,
                                       enum oci_cgroup_mode mode,
                                       const struct oci_cgroup_resources *res,
                                       struct sd_bus_message **out, crio_error_t *err);

/* ---- the infra (pause) process ------------------------------------------------
 * Only for pods that ask for a shared PID namespace (NamespaceMode POD for
 * pid): something must be PID 1 of that namespace for as long as the pod
 * lives.  crio-pause sleeps until SIGTERM/SIGINT, reaps zombies, exits 0. */
struct oci_infra_config {
  const char *pause_path; /* the crio-pause binary */
  /* Namespaces to join (NULL: the host's).  path[OCI_NS_PID] must be NULL:
   * pause is always the init of a new PID namespace; pin it afterwards
   * with oci_ns_pin_existing(OCI_NS_PID, "/proc/<pid>/ns/pid", ...). */
  struct oci_ns_paths ns;
  /* The pod cgroup to enter (both may be NULL: stay in the daemon's). */
  const struct oci_cgroup_manager *cgroup_manager;
  const char *cgroup_parent;
  const char *pod_id;
};

/* Starts pause detached from the daemon (double fork: its parent becomes
 * init or the nearest subreaper), in the namespaces and cgroup, stdio on
 * /dev/null, every other descriptor closed.  Returns its host pid and start
 * time (crio_proc_start_time): record both. */
int oci_infra_start(const struct oci_infra_config *cfg, pid_t *pid, uint64_t *start_time,
                    crio_error_t *err);

/* Stops the pause process if (pid, start_time) still names it: SIGTERM,
 * then SIGKILL after timeout_ms, and waits for it to exit.  A pid that is
 * gone or reused by another process is success and is never signalled. */
int oci_infra_stop(pid_t pid, uint64_t start_time, unsigned timeout_ms, crio_error_t *err);

/* 1 if (pid, start_time) names a live process, 0 if not. */
int oci_infra_is_running(pid_t pid, uint64_t start_time, crio_error_t *err);

/* ==== end of sandbox ======================================================= */

/* ---- the rest of the folder's interface --------------------------------
 * Four parts were built side by side, each with its own header; oci.h is
 * still the one to include: it brings them all. */
#include "oci/rootfs.h"  /* the container's overlay root filesystem */
#include "oci/runtime.h" /* runtime handlers (runc, crun), conmon, exits, exec */
#include "oci/spec.h"    /* the OCI runtime spec of a container */

#endif
