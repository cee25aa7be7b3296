/* oci/spec.h: the OCI runtime spec (config.json) of a container, built from
 * explicit inputs — the CRI ContainerConfig and PodSandboxConfig, the
 * image's config, the pod's namespaces and files, facts about the host —
 * following the kubelet's and CRI-O's rules.  A sub-interface of oci/
 * (oci/oci.h includes it).
 *
 * The output is what runc 1.1 and crun 1.8 accept: OCI runtime-spec 1.0.2,
 * plus `errnoRet` on seccomp rules (which both support) so that clone3 can
 * answer ENOSYS.  Large 64-bit integers are emitted exactly (never as
 * doubles): see oci_spec_get_int().
 *
 * Every function follows common/'s error convention.  Bad input fails with
 * EINVAL and a message naming the field, in the request's terms
 * ("config.mounts[2].container_path: must be absolute"); what this build
 * does not implement fails with ENOSYS. */
#ifndef CRIO_OCI_SPEC_H
#define CRIO_OCI_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "common/common.h"
#include "api/api.pb-c.h"

#define OCI_SPEC_VERSION "1.0.2"

/* ---- facts about the host ---------------------------------------------------
 * Detected once (oci_spec_host_detect) and passed in, so building a spec
 * reads nothing about the host but the files its inputs name. */
struct oci_spec_host {
  /* The daemon's bounding set (CapBnd of /proc/self/status): runc and its
   * container inherit it, so no container can hold a capability outside it.
   * Bit n is capability n. */
  uint64_t cap_bounding;
  /* The daemon's /proc/self/oom_score_adj, which runc init inherits.
   * Without CAP_SYS_RESOURCE in cap_bounding a container cannot go lower. */
  int oom_score_adj;
  /* The daemon's RLIMIT_NOFILE hard limit: without CAP_SYS_RESOURCE a
   * container cannot raise it. */
  uint64_t nofile_hard;
  /* cgroup v2 only (no v1 hierarchies): cgroup namespaces and the
   * `unified` resources are used only then. */
  bool cgroup_unified;
  /* Swap accounting (v1 memory.memsw.*, v2 memory.swap.max). */
  bool memory_swap;
  /* A hugetlb controller runc can use: a v1 hugetlb hierarchy, or on a
   * cgroup v2 host the controller.  (On hybrid hosts that keep hugetlb on
   * the v2 side runc's v1 manager cannot set its limits.) */
  bool hugetlb;
  bool selinux_enabled;  /* /sys/fs/selinux/enforce exists */
  bool apparmor_enabled; /* /sys/module/apparmor/parameters/enabled is Y */
  /* The AppArmor profile RuntimeDefault means (loaded by the operator,
   * e.g. "crio-default"); NULL: none configured, and RuntimeDefault with
   * AppArmor enabled fails with ENOSYS rather than run unconfined. */
  const char *apparmor_default_profile;
  /* The node's hostname, for pods on the host's UTS namespace. */
  char hostname[65];
  /* Where to look; NULL means the real "/dev" (devices of privileged
   * containers) and "/proc/self/mountinfo" (propagation checks). */
  const char *dev_dir;
  const char *mountinfo_path;
};

/* Fills *host from /proc/self/status, /proc/self/oom_score_adj,
 * getrlimit, /sys/fs/cgroup, /sys/fs/selinux, /sys/module/apparmor and
 * gethostname.  apparmor_default_profile, dev_dir, mountinfo_path are left
 * NULL. */
int oci_spec_host_detect(struct oci_spec_host *host, crio_error_t *err);
/* True if capability `cap` (CAP_* number) is in host->cap_bounding. */
bool oci_spec_host_has_cap(const struct oci_spec_host *host, int cap);

/* ---- inputs ----------------------------------------------------------------- */
enum oci_cgroup_driver {
  OCI_CGROUP_DRIVER_CGROUPFS = 0, /* cgroupsPath "<parent>/crio-<id>" */
  OCI_CGROUP_DRIVER_SYSTEMD,      /* cgroupsPath "<parent slice>:crio:<id>" */
};

struct oci_spec_input {
  const char *container_id;                            /* required */
  const char *sandbox_id;                              /* required */
  const Runtime__V1__ContainerConfig *config;          /* required */
  const Runtime__V1__PodSandboxConfig *sandbox_config; /* required */
  /* The image's config blob (OCI image-spec or Docker image JSON, with its
   * "config" object: Entrypoint, Cmd, Env, WorkingDir, User, Volumes...).
   * NULL: an image without config. */
  const cJSON *image_config;
  const char *image_name; /* for annotations; may be NULL */
  /* The container's root filesystem on the host, already mounted. */
  const char *rootfs;

  /* The pod's namespaces (pin paths or /proc/PID/ns/X).  NULL for net,
   * ipc, uts means a new namespace of the container's own, unless the pod
   * uses the host's (host network / host IPC), which wins. */
  const char *netns_path;
  const char *ipcns_path;
  const char *utsns_path;
  /* The pod's shared PID namespace (namespace_options.pid == POD); NULL if
   * the pod has none. */
  const char *pidns_path;
  /* For pid == TARGET: the target container's /proc/PID/ns/pid. */
  const char *target_pidns_path;
  /* The runtime runs the pod in a sandbox of its own (gVisor): a
   * namespace the pod shares is the sandbox's, never named by path; PID
   * modes POD and TARGET leave the PID namespace out of the spec, which
   * puts the container in the sandbox's root one (the infra's). */
  bool sandboxed;

  /* Pod files on the host (oci_pod_files_write); NULL: not mounted. */
  const char *hosts_path;
  const char *hostname_path;
  const char *resolv_conf_path;
  /* The name of the pod's UTS namespace (the spec's hostname and the
   * HOSTNAME variable); NULL for a host-UTS pod, whose containers get the
   * host's name. */
  const char *pod_hostname;
  /* The pod's /dev/shm on the host; NULL: a private tmpfs. */
  const char *shm_path;
  /* The host file that becomes the termination-message file; NULL: none.
   * Its path in the container is the kubelet's annotation
   * io.kubernetes.container.terminationMessagePath, else
   * /dev/termination-log. */
  const char *termination_message_path;

  /* NULL: sandbox_config.linux.cgroup_parent. */
  const char *cgroup_parent;
  enum oci_cgroup_driver cgroup_driver;
  /* pids.max for the container (crio.conf pids_limit); <= 0: unlimited. */
  int64_t pids_limit;

  const struct oci_spec_host *host; /* required */
};

/* Where the host forbids what was asked and the spec asks for less instead
 * of failing every pod (an oom_score_adj it cannot lower, a capability
 * outside the bounding set, swap without accounting), one message each. */
struct oci_spec_warnings {
  char **items;
  size_t n;
};
void oci_spec_warnings_release(struct oci_spec_warnings *w);
#define cleanup_oci_spec_warnings __attribute__((cleanup(oci_spec_warnings_release)))

/* ---- building and writing ------------------------------------------------------
 * Builds the spec.  Reads only: the rootfs's /etc/passwd and /etc/group
 * (inside the rootfs, never following a link out of it), the request's
 * device nodes and mount sources (stat), a Localhost seccomp profile,
 * mountinfo for propagation, and the host's /dev for privileged
 * containers.  `w` may be NULL (warnings are then logged).  On failure
 * *out is NULL. */
int oci_spec_build(const struct oci_spec_input *in, cJSON **out, struct oci_spec_warnings *w,
                   crio_error_t *err);

/* Writes <bundle_dir>/config.json atomically (temp file, fsync, rename),
 * mode 0600: the environment may hold secrets. */
/* The infra container of a sandbox-per-pod runtime (gVisor): crio-pause in
 * an empty rootfs (<bundle>/rootfs), annotated as the pod's sandbox, in the
 * pod's network namespace.  Writes <bundle>/config.json. */
struct oci_sandbox_spec {
  const char *bundle;
  const char *pod_id; /* also the infra container's id */
  const char *pause_path;
  const char *netns_path; /* NULL: the host's network */
  const char *hostname;   /* NULL: none */
  const char *cgroup_parent;
  enum oci_cgroup_driver cgroup_driver;
};
int oci_sandbox_spec_write(const struct oci_sandbox_spec *in, crio_error_t *err);

int oci_spec_write(const char *bundle_dir, const cJSON *spec, crio_error_t *err);

/* Before the runtime runs the spec: creates, inside the rootfs (resolved
 * like a path in the container, never following a link out), the working
 * directory and the image's VOLUME directories that no mount covers, as
 * CRI-O's default image_volumes = "mkdir" does.  Idempotent. */
int oci_spec_prepare_rootfs(const char *rootfs, const cJSON *spec, const cJSON *image_config,
                            crio_error_t *err);

/* UpdateContainerResources: the linux.resources object that `runtime update
 * --resources` reads, made from `res` by the same rules and checks as
 * oci_spec_build() (memory and swap, cpu, cpuset, hugepages, unified, with
 * the same host clamps and warnings).  Devices and pids are not resources
 * the CRI updates and are left out, so the runtime keeps them as created;
 * oom_score_adj belongs to the process, not the cgroup, and is not here
 * either.  EINVAL names the field as "config.linux.resources.<field>". */
int oci_spec_update_resources(const char *container_id,
                              const Runtime__V1__LinuxContainerResources *res,
                              const struct oci_spec_host *host, cJSON **out,
                              struct oci_spec_warnings *w, crio_error_t *err);

/* A 64-bit integer member of a spec object (a plain number, or the exact
 * raw form used beyond 2^53).  Returns false if absent or not a number. */
bool oci_spec_get_int(const cJSON *obj, const char *key, int64_t *value);

/* The signal StopContainer sends first: config.stop_signal if set, else the
 * image's StopSignal ("SIGQUIT", "QUIT", "3", "RTMIN+2"), else SIGTERM. */
int oci_spec_stop_signal(const Runtime__V1__ContainerConfig *config, const cJSON *image_config,
                         int *signo, crio_error_t *err);

/* ---- users -------------------------------------------------------------------- */
struct oci_user {
  uint32_t uid;
  uint32_t gid;
  /* Groups of /etc/group that list the user's name as a member, in file
   * order, without duplicates and without `gid`. */
  uint32_t *groups;
  size_t n_groups;
  char *name; /* from /etc/passwd; NULL if the uid has no entry */
  char *home; /* from /etc/passwd; "/" if the uid has no entry */
};
void oci_user_release(struct oci_user *u);
#define cleanup_oci_user __attribute__((cleanup(oci_user_release)))

/* Resolves a user as an image's USER gives it — "", "name", "uid",
 * "name:group", "uid:gid", "uid:group", "name:gid" — against the rootfs's
 * /etc/passwd and /etc/group, opened inside `rootfs_fd` (openat2
 * RESOLVE_IN_ROOT, or an equivalent walk where openat2 is missing): a
 * symlink, absolute or relative, resolves as it would in the container.
 * "" is root.  A numeric uid or gid need not have an entry (gid then 0, or
 * the passwd entry's); a name must (EINVAL "user \"x\": no such user in
 * /etc/passwd").  The group, when given, replaces the passwd entry's. */
int oci_user_resolve(int rootfs_fd, const char *user, struct oci_user *out, crio_error_t *err);

/* ---- seccomp -------------------------------------------------------------------- */
/* The built-in RuntimeDefault profile (linux.seccomp), for a container whose
 * effective capabilities are `caps` (bit n = capability n): syscalls that
 * only a capability makes useful are allowed only with it. */
void oci_seccomp_default_profile(uint64_t caps, cJSON **out);

/* A Localhost profile file: either an OCI linux.seccomp object or a
 * Docker/Kubernetes profile (archMap, names, includes/excludes by caps and
 * arches), converted to linux.seccomp for this architecture.  EINVAL naming
 * the file and what is wrong if it does not parse, if it is not a regular
 * file (a FIFO is refused without waiting for a writer) or if it is larger
 * than OCI_SECCOMP_PROFILE_MAX (Docker's default profile is about 20 KiB;
 * the largest real profiles are a few hundred). */
#define OCI_SECCOMP_PROFILE_MAX (4u << 20)
int oci_seccomp_profile_load(const char *path, uint64_t caps, cJSON **out, crio_error_t *err);

#endif
