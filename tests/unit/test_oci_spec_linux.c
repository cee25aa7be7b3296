/* The rules of oci_spec_build for the container's view of the host, one
 * test each: default and requested mounts (order, options, propagation),
 * masked paths, namespaces joined from the pod or the host, the cgroup
 * path per driver, resources, and devices. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "tests/unit/test_oci_spec_fixture.h"

/* ---- mounts ----------------------------------------------------------------- */
static void test_default_mounts_and_pod_files(void) {
  struct fx_case k;
  fx_case_init(&k);
  fx_write("pod/hosts", "");
  fx_write("pod/hostname", "");
  fx_write("pod/resolv.conf", "");
  fx_write("pod/term", "");
  fx_mkdir("pod/shm");
  cJSON *spec = fx_build_ok(&k);
  /* Without pod files: the kernel file systems and a private /dev/shm. */
  const char *bare[] = {"/proc",       "/dev",     "/sys",          "/dev/pts",
                        "/dev/mqueue", "/dev/shm", "/sys/fs/cgroup"};
  CHECK_INT_EQ(cJSON_GetArraySize(fx_get(spec, "mounts")), 7);
  for (size_t i = 0; i < 7; i++)
    CHECK_STR_EQ(fx_get_str(spec, fx_printf("mounts.%zu.destination", i)), bare[i]);
  CHECK_STR_EQ(fx_get_str(fx_mount(spec, "/dev/shm", NULL), "type"), "tmpfs");
  const cJSON *sys = fx_mount(spec, "/sys", NULL);
  CHECK_STR_EQ(fx_get_str(sys, "type"), "sysfs");
  CHECK(fx_mount_has_option(sys, "ro") && !fx_mount_has_option(sys, "rw"));
  CHECK(fx_mount_has_option(fx_mount(spec, "/sys/fs/cgroup", NULL), "ro"));
  CHECK(fx_mount_has_option(fx_mount(spec, "/dev/pts", NULL), "newinstance"));
  CHECK_STR_EQ(fx_get_str(fx_mount(spec, "/proc", NULL), "type"), "proc");
  CHECK_STR_EQ(fx_get_str(fx_mount(spec, "/dev/mqueue", NULL), "type"), "mqueue");

  /* With them: binds of the pod's files, the shm and the termination log. */
  k.in.hosts_path = fx_path("pod/hosts");
  k.in.hostname_path = fx_path("pod/hostname");
  k.in.resolv_conf_path = fx_path("pod/resolv.conf");
  k.in.shm_path = fx_path("pod/shm");
  k.in.termination_message_path = fx_path("pod/term");
  spec = fx_build_ok(&k);
  const cJSON *m = fx_mount(spec, "/dev/shm", NULL);
  CHECK_STR_EQ(fx_get_str(m, "type"), "bind");
  CHECK_STR_EQ(fx_get_str(m, "source"), fx_path("pod/shm"));
  const char *files[][2] = {{"/etc/hosts", "pod/hosts"},
                            {"/etc/hostname", "pod/hostname"},
                            {"/etc/resolv.conf", "pod/resolv.conf"},
                            {"/dev/termination-log", "pod/term"}};
  for (size_t i = 0; i < 4; i++) {
    m = fx_mount(spec, files[i][0], NULL);
    CHECK(m != NULL);
    CHECK_STR_EQ(fx_get_str(m, "source"), fx_path(files[i][1]));
    CHECK(fx_mount_has_option(m, "rbind") && fx_mount_has_option(m, "rw"));
  }
  /* The kubelet's annotation moves the termination message. */
  fx_add_annotation(&k, false, "io.kubernetes.container.terminationMessagePath", "/tmp/msg");
  spec = fx_build_ok(&k);
  CHECK(fx_mount(spec, "/dev/termination-log", NULL) == NULL);
  CHECK_STR_EQ(fx_get_str(fx_mount(spec, "/tmp/msg", NULL), "source"), fx_path("pod/term"));
  /* A request mount on a default's destination replaces it (the kubelet
   * mounts its own /etc/hosts). */
  fx_write("kubelet/etc-hosts", "");
  fx_add_mount(&k, "/etc/hosts", fx_path("kubelet/etc-hosts"));
  spec = fx_build_ok(&k);
  CHECK_STR_EQ(fx_get_str(fx_mount(spec, "/etc/hosts", NULL), "source"),
               fx_path("kubelet/etc-hosts"));
  int count = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, fx_get(spec, "mounts")) count +=
      strcmp(fx_get_str(it, "destination"), "/etc/hosts") == 0;
  CHECK_INT_EQ(count, 1);
}

static void test_request_mounts_checked_and_sorted(void) {
  struct fx_case k;
  fx_case_init(&k);
  fx_mkdir("vol/a");
  fx_mkdir("vol/b");
  fx_symlink(fx_path("vol/b"), "vol/link-to-b");
  fx_add_mount(&k, "/data/deep/er", fx_path("vol/a"));
  Runtime__V1__Mount *ro = fx_add_mount(&k, "/data", fx_path("vol/link-to-b"));
  ro->readonly = true;
  ro->mount_options = fx_strv(&ro->n_mount_options, "noexec", "nosuid", NULL);
  fx_add_mount(&k, "/dev/extra", fx_path("vol/a"));
  cJSON *spec = fx_build_ok(&k);
  int i_data, i_deep, i_dev, i_extra;
  const cJSON *data = fx_mount(spec, "/data", &i_data);
  CHECK(fx_mount(spec, "/data/deep/er", &i_deep) != NULL);
  CHECK(fx_mount(spec, "/dev", &i_dev) != NULL);
  CHECK(fx_mount(spec, "/dev/extra", &i_extra) != NULL);
  /* Parents before children, whatever the request's order. */
  CHECK(i_data < i_deep && i_dev < i_extra);
  /* The source with links followed; read-only; private; options added. */
  CHECK_STR_EQ(fx_get_str(data, "source"), fx_path("vol/b"));
  CHECK_STR_EQ(fx_get_str(data, "type"), "bind");
  CHECK(fx_mount_has_option(data, "rbind") && fx_mount_has_option(data, "ro") &&
        fx_mount_has_option(data, "rprivate") && fx_mount_has_option(data, "noexec") &&
        fx_mount_has_option(data, "nosuid"));
  CHECK(fx_mount_has_option(fx_mount(spec, "/dev/extra", NULL), "rw"));
  CHECK(fx_get(spec, "linux.rootfsPropagation") == NULL);

  ro->mount_options = fx_strv(&ro->n_mount_options, "bind", NULL);
  fx_build_fails(&k, EINVAL, "config.mounts[1].mount_options[0]: \"bind\" not allowed");
  ro->n_mount_options = 0;
  ro->container_path = fx_str("relative/path");
  fx_build_fails(&k, EINVAL,
                 "config.mounts[1].container_path: \"relative/path\" must be an "
                 "absolute path");
  ro->container_path = fx_str("/x/../etc");
  fx_build_fails(&k, EINVAL, "config.mounts[1].container_path");
  ro->container_path = fx_str("/data/deep/er/");
  fx_build_fails(&k, EINVAL, "config.mounts[1].container_path: /data/deep/er is mounted twice");
  ro->container_path = fx_str("/data");
  ro->host_path = fx_str(fx_path("vol/missing"));
  fx_build_fails(&k, EINVAL, "config.mounts[1].host_path");
  ro->host_path = fx_str("vol/a");
  fx_build_fails(&k, EINVAL, "config.mounts[1].host_path: \"vol/a\" must be absolute");
  ro->host_path = fx_str(fx_path("vol/a"));
  ro->recursive_read_only = true;
  fx_build_fails(&k, ENOSYS, "config.mounts[1].recursive_read_only");
  ro->recursive_read_only = false;
  ro->image = FX_MSG(Runtime__V1__ImageSpec, RUNTIME__V1__IMAGE_SPEC__INIT);
  ro->image->image = fx_str("busybox");
  fx_build_fails(&k, ENOSYS, "config.mounts[1].image");
}

/* Propagation other than private needs a host mount that passes events:
 * read from mountinfo (a fake one here). */
static void test_mount_propagation_needs_shared_or_slave_host_mounts(void) {
  struct fx_case k;
  fx_case_init(&k);
  fx_mkdir("prop/shared/x");
  fx_mkdir("prop/slave");
  fx_mkdir("prop/private");
  fx_write("mountinfo", fx_printf("27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
                                  "50 27 0:50 / %s rw,relatime shared:5 - tmpfs tmpfs rw\n"
                                  "51 27 0:51 / %s rw,relatime master:7 - tmpfs tmpfs rw\n"
                                  "52 27 0:52 / %s rw,relatime - tmpfs tmpfs rw\n"
                                  "53 52 0:53 / %s/with\\040space rw shared:9 - tmpfs tmpfs rw\n",
                                  fx_path("prop/shared"), fx_path("prop/slave"),
                                  fx_path("prop/private"), fx_path("prop/private")));
  k.host.mountinfo_path = fx_path("mountinfo");
  Runtime__V1__Mount *m = fx_add_mount(&k, "/m", fx_path("prop/shared/x"));
  m->propagation = RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL;
  cJSON *spec = fx_build_ok(&k);
  CHECK(fx_mount_has_option(fx_mount(spec, "/m", NULL), "rshared"));
  CHECK_STR_EQ(fx_get_str(spec, "linux.rootfsPropagation"), "rshared");
  m->host_path = fx_str(fx_path("prop/slave"));
  fx_build_fails(&k, EINVAL, "config.mounts[0].propagation: BIDIRECTIONAL needs");
  m->propagation = RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_HOST_TO_CONTAINER;
  spec = fx_build_ok(&k);
  CHECK(fx_mount_has_option(fx_mount(spec, "/m", NULL), "rslave"));
  CHECK_STR_EQ(fx_get_str(spec, "linux.rootfsPropagation"), "rslave");
  m->host_path = fx_str(fx_path("prop/private"));
  fx_build_fails(&k, EINVAL, "HOST_TO_CONTAINER needs");
  /* The deepest mount decides, with mountinfo's escapes undone. */
  fx_mkdir("prop/private/with space");
  m->host_path = fx_str(fx_path("prop/private/with space"));
  CHECK(fx_build_ok(&k) != NULL);
}

static void test_masked_and_readonly_paths(void) {
  struct fx_case k;
  fx_case_init(&k);
  cJSON *spec = fx_build_ok(&k);
  CHECK(fx_has_str(spec, "linux.maskedPaths", "/proc/kcore"));
  CHECK(fx_has_str(spec, "linux.maskedPaths", "/sys/firmware"));
  CHECK_INT_EQ(cJSON_GetArraySize(fx_get(spec, "linux.maskedPaths")), 11);
  CHECK(fx_has_str(spec, "linux.readonlyPaths", "/proc/sys"));
  CHECK_INT_EQ(cJSON_GetArraySize(fx_get(spec, "linux.readonlyPaths")), 5);
  k.sc->masked_paths = fx_strv(&k.sc->n_masked_paths, "/proc/secret", NULL);
  spec = fx_build_ok(&k);
  CHECK_INT_EQ(cJSON_GetArraySize(fx_get(spec, "linux.maskedPaths")), 1);
  CHECK_INT_EQ(cJSON_GetArraySize(fx_get(spec, "linux.readonlyPaths")), 0);
  k.sc->readonly_paths = fx_strv(&k.sc->n_readonly_paths, "/ok", "relative", NULL);
  fx_build_fails(&k, EINVAL, "config.linux.security_context.readonly_paths[1]");
}

/* ---- namespaces, hostname, cgroups ---------------------------------------------- */
static void test_namespaces_join_the_pod_or_the_host(void) {
  struct fx_case k;
  fx_case_init(&k);
  /* No pod paths: new ones of each kind. */
  cJSON *spec = fx_build_ok(&k);
  const char *types[] = {"pid", "network", "ipc", "uts", "mount"};
  CHECK_INT_EQ(cJSON_GetArraySize(fx_get(spec, "linux.namespaces")), 5);
  for (size_t i = 0; i < 5; i++) {
    const cJSON *ns = fx_namespace(spec, types[i]);
    CHECK(ns != NULL && fx_get(ns, "path") == NULL);
  }
  CHECK_STR_EQ(fx_get_str(spec, "hostname"), "podhost");
  /* The pod's pins. */
  k.in.netns_path = "/run/netns/p1";
  k.in.ipcns_path = "/run/ipcns/p1";
  k.in.utsns_path = "/run/utsns/p1";
  spec = fx_build_ok(&k);
  CHECK_STR_EQ(fx_get_str(fx_namespace(spec, "network"), "path"), "/run/netns/p1");
  CHECK_STR_EQ(fx_get_str(fx_namespace(spec, "ipc"), "path"), "/run/ipcns/p1");
  CHECK_STR_EQ(fx_get_str(fx_namespace(spec, "uts"), "path"), "/run/utsns/p1");
  CHECK(fx_get(fx_namespace(spec, "pid"), "path") == NULL);
  /* Host network (so host UTS: no hostname, the node's in HOSTNAME) and
   * host IPC: those namespaces absent. */
  k.pod_sc->namespace_options->network = RUNTIME__V1__NAMESPACE_MODE__NODE;
  k.pod_sc->namespace_options->ipc = RUNTIME__V1__NAMESPACE_MODE__NODE;
  spec = fx_build_ok(&k);
  CHECK(fx_namespace(spec, "network") == NULL && fx_namespace(spec, "uts") == NULL &&
        fx_namespace(spec, "ipc") == NULL);
  CHECK(fx_get(spec, "hostname") == NULL);
  CHECK_STR_EQ(fx_env_value(spec, "HOSTNAME"), "nodehost");
  /* PID: the pod's, the host's, a target's. */
  k.sc->namespace_options->pid = RUNTIME__V1__NAMESPACE_MODE__POD;
  fx_build_fails(&k, EINVAL, "namespace_options.pid: POD, but the pod has no shared PID");
  k.in.pidns_path = "/run/pidns/p1";
  CHECK_STR_EQ(fx_get_str(fx_namespace(fx_build_ok(&k), "pid"), "path"), "/run/pidns/p1");
  k.sc->namespace_options->pid = RUNTIME__V1__NAMESPACE_MODE__NODE;
  CHECK(fx_namespace(fx_build_ok(&k), "pid") == NULL);
  k.sc->namespace_options->pid = RUNTIME__V1__NAMESPACE_MODE__TARGET;
  k.sc->namespace_options->target_id = fx_str("other");
  fx_build_fails(&k, EINVAL, "namespace_options.pid: TARGET \"other\"");
  k.in.target_pidns_path = "/proc/4242/ns/pid";
  CHECK_STR_EQ(fx_get_str(fx_namespace(fx_build_ok(&k), "pid"), "path"), "/proc/4242/ns/pid");
  /* A cgroup namespace only on cgroup v2 hosts. */
  k.host.cgroup_unified = true;
  CHECK(fx_namespace(fx_build_ok(&k), "cgroup") != NULL);
  /* User namespaces: not implemented. */
  k.sc->namespace_options->userns_options =
      FX_MSG(Runtime__V1__UserNamespace, RUNTIME__V1__USER_NAMESPACE__INIT);
  k.sc->namespace_options->userns_options->n_uids = 1;
  k.sc->namespace_options->userns_options->uids = fx_new(sizeof(Runtime__V1__IDMapping *));
  k.sc->namespace_options->userns_options->uids[0] =
      FX_MSG(Runtime__V1__IDMapping, RUNTIME__V1__IDMAPPING__INIT);
  fx_build_fails(&k, ENOSYS, "user namespaces are not supported");
}

/* A sandbox-per-pod runtime (gVisor): runsc puts a container whose spec has
 * no PID namespace in the sandbox's root one, where the infra is PID 1, and
 * one with a PID namespace in a new one of its own.  The pod's other
 * namespaces are still named. */
static void test_sandboxed_pid_modes(void) {
  struct fx_case k;
  fx_case_init(&k);
  k.in.sandboxed = true;
  k.in.netns_path = "/run/netns/p1";
  /* No pid_ns_path: a gVisor pod pins none, and none is needed. */
  k.sc->namespace_options->pid = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
  cJSON *spec = fx_build_ok(&k);
  CHECK(fx_namespace(spec, "pid") != NULL && fx_get(fx_namespace(spec, "pid"), "path") == NULL);
  CHECK_STR_EQ(fx_get_str(fx_namespace(spec, "network"), "path"), "/run/netns/p1");
  k.sc->namespace_options->pid = RUNTIME__V1__NAMESPACE_MODE__POD;
  spec = fx_build_ok(&k);
  CHECK(fx_namespace(spec, "pid") == NULL);
  CHECK_STR_EQ(fx_get_str(fx_namespace(spec, "network"), "path"), "/run/netns/p1");
  /* Even with a path at hand, none is named. */
  k.in.pidns_path = "/run/pidns/p1";
  CHECK(fx_namespace(fx_build_ok(&k), "pid") == NULL);
  k.sc->namespace_options->pid = RUNTIME__V1__NAMESPACE_MODE__TARGET;
  k.sc->namespace_options->target_id = fx_str("other");
  k.in.target_pidns_path = "/proc/4242/ns/pid";
  CHECK(fx_namespace(fx_build_ok(&k), "pid") == NULL);
  /* runc (not sandboxed) is unchanged: the pod's and the target's paths. */
  k.in.sandboxed = false;
  CHECK_STR_EQ(fx_get_str(fx_namespace(fx_build_ok(&k), "pid"), "path"), "/proc/4242/ns/pid");
  k.sc->namespace_options->pid = RUNTIME__V1__NAMESPACE_MODE__POD;
  CHECK_STR_EQ(fx_get_str(fx_namespace(fx_build_ok(&k), "pid"), "path"), "/run/pidns/p1");
}

static void test_cgroups_path_per_driver(void) {
  struct fx_case k;
  fx_case_init(&k);
  CHECK_STR_EQ(fx_get_str(fx_build_ok(&k), "linux.cgroupsPath"), "/crio-c1");
  k.pod->linux->cgroup_parent = fx_str("/kubepods/burstable/podX/");
  CHECK_STR_EQ(fx_get_str(fx_build_ok(&k), "linux.cgroupsPath"),
               "/kubepods/burstable/podX/crio-c1");
  k.in.cgroup_parent = "/explicit";
  CHECK_STR_EQ(fx_get_str(fx_build_ok(&k), "linux.cgroupsPath"), "/explicit/crio-c1");
  k.in.cgroup_parent = "relative";
  fx_build_fails(&k, EINVAL, "cgroup_parent: \"relative\" must be an absolute path");
  k.in.cgroup_parent = NULL;
  k.in.cgroup_driver = OCI_CGROUP_DRIVER_SYSTEMD;
  k.pod->linux->cgroup_parent = fx_str("kubepods-burstable-podX.slice");
  CHECK_STR_EQ(fx_get_str(fx_build_ok(&k), "linux.cgroupsPath"),
               "kubepods-burstable-podX.slice:crio:c1");
  k.pod->linux->cgroup_parent = fx_str("/kubepods.slice/kubepods-besteffort.slice");
  CHECK_STR_EQ(fx_get_str(fx_build_ok(&k), "linux.cgroupsPath"),
               "kubepods-besteffort.slice:crio:c1");
  k.pod->linux->cgroup_parent = fx_str("");
  CHECK_STR_EQ(fx_get_str(fx_build_ok(&k), "linux.cgroupsPath"), "system.slice:crio:c1");
  k.pod->linux->cgroup_parent = fx_str("/kubepods/pod1");
  fx_build_fails(&k, EINVAL,
                 "sandbox_config.linux.cgroup_parent: \"/kubepods/pod1\" is not a "
                 "systemd slice");
}

/* ---- resources ------------------------------------------------------------------- */
static void test_resources(void) {
  struct fx_case k;
  fx_case_init(&k);
  cJSON *spec = fx_build_ok(&k);
  CHECK(fx_get(spec, "linux.resources.cpu") == NULL &&
        fx_get(spec, "linux.resources.memory") == NULL &&
        fx_get(spec, "linux.resources.pids") == NULL);
  k.res->cpu_shares = 512;
  k.res->cpu_quota = 50000;
  k.res->cpu_period = 100000;
  k.res->cpuset_cpus = fx_str("0-1,3");
  k.res->cpuset_mems = fx_str("0");
  k.res->memory_limit_in_bytes = 1LL << 62; /* beyond what a double holds exactly */
  k.in.pids_limit = 321;
  Runtime__V1__HugepageLimit *h =
      FX_MSG(Runtime__V1__HugepageLimit, RUNTIME__V1__HUGEPAGE_LIMIT__INIT);
  h->page_size = fx_str("2MB");
  h->limit = 4 << 20;
  k.res->hugepage_limits = fx_new(sizeof(h));
  k.res->hugepage_limits[0] = h;
  k.res->n_hugepage_limits = 1;
  spec = fx_build_ok(&k);
  CHECK_INT_EQ(fx_get_int(spec, "linux.resources.cpu.shares"), 512);
  CHECK_INT_EQ(fx_get_int(spec, "linux.resources.cpu.quota"), 50000);
  CHECK_INT_EQ(fx_get_int(spec, "linux.resources.cpu.period"), 100000);
  CHECK_STR_EQ(fx_get_str(spec, "linux.resources.cpu.cpus"), "0-1,3");
  CHECK_STR_EQ(fx_get_str(spec, "linux.resources.cpu.mems"), "0");
  CHECK_INT_EQ(fx_get_int(spec, "linux.resources.memory.limit"), 1LL << 62);
  /* Swap accounting on: no swap unless asked (swap = limit). */
  CHECK_INT_EQ(fx_get_int(spec, "linux.resources.memory.swap"), 1LL << 62);
  CHECK_INT_EQ(fx_get_int(spec, "linux.resources.pids.limit"), 321);
  CHECK_STR_EQ(fx_get_str(spec, "linux.resources.hugepageLimits.0.pageSize"), "2MB");
  CHECK_INT_EQ(fx_get_int(spec, "linux.resources.hugepageLimits.0.limit"), 4 << 20);
  /* The exact integer reaches the JSON text. */
  char *text = cJSON_PrintUnformatted(spec);
  CHECK(strstr(text, "\"limit\":4611686018427387904") != NULL);
  free(text);

  k.res->memory_limit_in_bytes = 64 << 20;
  k.res->memory_swap_limit_in_bytes = 128 << 20;
  CHECK_INT_EQ(fx_get_int(fx_build_ok(&k), "linux.resources.memory.swap"), 128 << 20);
  k.res->memory_swap_limit_in_bytes = -1;
  CHECK_INT_EQ(fx_get_int(fx_build_ok(&k), "linux.resources.memory.swap"), -1);
  k.res->memory_swap_limit_in_bytes = 32 << 20;
  fx_build_fails(&k, EINVAL, "memory_swap_limit_in_bytes: 33554432 is below the memory limit");
  /* No swap accounting, no hugetlb controller: asked-for limits dropped
   * with warnings. */
  k.host.memory_swap = false;
  k.host.hugetlb = false;
  k.res->memory_swap_limit_in_bytes = 128 << 20;
  spec = fx_build_ok(&k);
  CHECK(fx_get(spec, "linux.resources.memory.swap") == NULL);
  CHECK(fx_get(spec, "linux.resources.hugepageLimits") == NULL);
  CHECK(fx_has_warning(&k, "swap") && fx_has_warning(&k, "hugepage"));
  k.res->memory_limit_in_bytes = 0;
  fx_build_fails(&k, EINVAL, "memory_swap_limit_in_bytes: needs memory_limit_in_bytes");
  k.res->memory_swap_limit_in_bytes = 0;

  k.res->cpuset_cpus = fx_str("0-");
  fx_build_fails(&k, EINVAL, "config.linux.resources.cpuset_cpus: \"0-\"");
  k.res->cpuset_cpus = fx_str("3-1");
  fx_build_fails(&k, EINVAL, "cpuset_cpus");
  k.res->cpuset_cpus = fx_str("");
  h->page_size = fx_str("2M");
  fx_build_fails(&k, EINVAL, "hugepage_limits[0].page_size: \"2M\"");
  k.res->n_hugepage_limits = 0;

  Runtime__V1__LinuxContainerResources__UnifiedEntry *u =
      FX_MSG(Runtime__V1__LinuxContainerResources__UnifiedEntry,
             RUNTIME__V1__LINUX_CONTAINER_RESOURCES__UNIFIED_ENTRY__INIT);
  u->key = fx_str("memory.high");
  u->value = fx_str("1000000");
  k.res->unified = fx_new(sizeof(u));
  k.res->unified[0] = u;
  k.res->n_unified = 1;
  spec = fx_build_ok(&k);
  CHECK(fx_get(spec, "linux.resources.unified") == NULL);
  CHECK(fx_has_warning(&k, "unified"));
  k.host.cgroup_unified = true;
  CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                   fx_get(fx_build_ok(&k), "linux.resources.unified"), "memory.high")),
               "1000000");
  u->key = fx_str("../escape");
  fx_build_fails(&k, EINVAL, "config.linux.resources.unified: \"../escape\"");
}

/* ---- devices --------------------------------------------------------------------- */
static void test_devices_from_the_request(void) {
  struct fx_case k;
  fx_case_init(&k);
  cJSON *spec = fx_build_ok(&k);
  /* Deny everything, then the standard nodes. */
  const cJSON *rules = fx_get(spec, "linux.resources.devices");
  CHECK(cJSON_IsFalse(fx_get(rules, "0.allow")));
  CHECK_STR_EQ(fx_get_str(rules, "0.access"), "rwm");
  bool null_allowed = false, pts_allowed = false;
  const cJSON *r;
  cJSON_ArrayForEach(r, rules) {
    int64_t major = -1, minor = -1;
    oci_spec_get_int(r, "major", &major);
    oci_spec_get_int(r, "minor", &minor);
    null_allowed = null_allowed || (major == 1 && minor == 3 && cJSON_IsTrue(fx_get(r, "allow")));
    pts_allowed = pts_allowed || (major == 136 && minor == -1);
  }
  CHECK(null_allowed && pts_allowed);
  CHECK_INT_EQ(cJSON_GetArraySize(fx_get(spec, "linux.devices")), 0);

  CHECK(mknod(fx_path("devnode"), S_IFCHR | 0640, makedev(10, 200)) == 0);
  fx_mkdir("devdir/sub");
  CHECK(mknod(fx_path("devdir/sub/blk"), S_IFBLK | 0600, makedev(8, 1)) == 0);
  fx_add_device(&k, "/dev/net/tun", fx_path("devnode"), "rw");
  fx_add_device(&k, "/dev/disks", fx_path("devdir"), "");
  spec = fx_build_ok(&k);
  const cJSON *tun = fx_get(spec, "linux.devices.0");
  CHECK_STR_EQ(fx_get_str(tun, "path"), "/dev/net/tun");
  CHECK_STR_EQ(fx_get_str(tun, "type"), "c");
  CHECK_INT_EQ(fx_get_int(tun, "major"), 10);
  CHECK_INT_EQ(fx_get_int(tun, "minor"), 200);
  CHECK_INT_EQ(fx_get_int(tun, "fileMode"), 0640);
  CHECK_STR_EQ(fx_get_str(spec, "linux.devices.1.path"), "/dev/disks/sub/blk");
  CHECK_STR_EQ(fx_get_str(spec, "linux.devices.1.type"), "b");
  /* Their rules come after the defaults, with the permissions asked. */
  int n = cJSON_GetArraySize(fx_get(spec, "linux.resources.devices"));
  const cJSON *tun_rule = cJSON_GetArrayItem(fx_get(spec, "linux.resources.devices"), n - 2);
  CHECK_STR_EQ(fx_get_str(tun_rule, "access"), "rw");
  CHECK_INT_EQ(fx_get_int(tun_rule, "major"), 10);
  CHECK_STR_EQ(
      fx_get_str(cJSON_GetArrayItem(fx_get(spec, "linux.resources.devices"), n - 1), "access"),
      "rwm");

  k.cfg->devices[0]->permissions = fx_str("rwx");
  fx_build_fails(&k, EINVAL, "config.devices[0].permissions: \"rwx\"");
  k.cfg->devices[0]->permissions = fx_str("r");
  fx_write("regular", "");
  k.cfg->devices[1]->host_path = fx_path("regular");
  fx_build_fails(&k, EINVAL, "config.devices[1].host_path");
  k.cfg->devices[1]->host_path = fx_path("nothing-here");
  fx_build_fails(&k, EINVAL, "config.devices[1].host_path");
  k.cfg->devices[1]->host_path = fx_path("devnode");
  k.cfg->devices[1]->container_path = fx_str("dev/x");
  fx_build_fails(&k, EINVAL, "config.devices[1].container_path");
}

int main(void) {
  RUN_TEST(test_default_mounts_and_pod_files);
  RUN_TEST(test_request_mounts_checked_and_sorted);
  RUN_TEST(test_mount_propagation_needs_shared_or_slave_host_mounts);
  RUN_TEST(test_masked_and_readonly_paths);
  RUN_TEST(test_namespaces_join_the_pod_or_the_host);
  RUN_TEST(test_sandboxed_pid_modes);
  RUN_TEST(test_cgroups_path_per_driver);
  RUN_TEST(test_resources);
  RUN_TEST(test_devices_from_the_request);
  return 0;
}
