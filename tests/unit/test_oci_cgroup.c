/* oci cgroups: layout detection, the cgroupfs manager on this host (create
 * with limits, enter, stats, remove — under a test-owned parent removed at
 * exit), the systemd manager's names and D-Bus message, and its clear
 * failure without systemd.  Needs root. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "oci/oci.h"
#include "tests/unit/testing.h"

void fixture_track_cgroup(const char *path);
void fixture_track_process(pid_t pid);
char *fixture_cgroup_name(void);
void fixture_ok(int rc, crio_error_t *err, const char *what, int line);
#define OK(call) fixture_ok((call), &err, #call, __LINE__)

static enum oci_cgroup_mode host_mode;

static void test_mode_detect(void) {
  cleanup_error crio_error_t err = NULL;
  OK(oci_cgroup_mode_detect(&host_mode, &err));
  struct stat st;
  bool unified_dir = stat("/sys/fs/cgroup/unified", &st) == 0;
  bool procs_at_root = stat("/sys/fs/cgroup/cgroup.procs", &st) == 0;
  if (procs_at_root)
    CHECK_INT_EQ(host_mode, OCI_CGROUP_UNIFIED);
  else if (unified_dir)
    CHECK_INT_EQ(host_mode, OCI_CGROUP_HYBRID);
  else
    CHECK_INT_EQ(host_mode, OCI_CGROUP_LEGACY);
  fprintf(stderr, "   host cgroup mode: %s\n",
          host_mode == OCI_CGROUP_UNIFIED  ? "unified"
          : host_mode == OCI_CGROUP_HYBRID ? "hybrid"
                                           : "legacy");
}

static void test_manager_get(void) {
  cleanup_error crio_error_t err = NULL;
  CHECK(oci_cgroup_manager_get("cgroupfs", &err) == &oci_cgroup_manager_cgroupfs);
  CHECK(oci_cgroup_manager_get("systemd", &err) == &oci_cgroup_manager_systemd);
  CHECK(oci_cgroup_manager_get("cgroupfs2", &err) == NULL);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
}

static void test_cgroupfs_paths(void) {
  const struct oci_cgroup_manager *m = &oci_cgroup_manager_cgroupfs;
  cleanup_error crio_error_t err = NULL;
  static const struct {
    const char *parent, *pod_path, *parent_path;
  } ok[] = {
      {"/kubepods/besteffort/pod123", "/kubepods/besteffort/pod123/crio-abc",
       "/kubepods/besteffort/pod123"},
      {"kubepods/burstable/pod9/", "/kubepods/burstable/pod9/crio-abc", "/kubepods/burstable/pod9"},
      {"", "/crio-abc", "/"},
      {"/", "/crio-abc", "/"},
  };
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    cleanup_free char *path = NULL, *parent = NULL;
    OK(m->pod_path(ok[i].parent, "abc", &path, &err));
    CHECK_STR_EQ(path, ok[i].pod_path);
    OK(m->parent_path(ok[i].parent, &parent, &err));
    CHECK_STR_EQ(parent, ok[i].parent_path);
  }
  static const char *const bad[] = {"/kubepods/../etc", "/a//b", "/a/./b", "/a b"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    cleanup_free char *path = NULL;
    CHECK(m->pod_path(bad[i], "abc", &path, &err) < 0);
    CHECK_INT_EQ(crio_error_status(&err), EINVAL);
    crio_error_release(&err);
  }
  cleanup_free char *path = NULL;
  CHECK(m->pod_path("/kubepods", "../x", &path, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
}

/* Where a cgroup of this host's layout lives, for looking at it directly. */
static char *dir_in(const char *hierarchy, const char *path) {
  if (host_mode == OCI_CGROUP_UNIFIED)
    return xasprintf("/sys/fs/cgroup%s", path);
  return xasprintf("/sys/fs/cgroup/%s%s", hierarchy, path);
}

static char *file_in(const char *hierarchy, const char *path, const char *file) {
  cleanup_free char *dir = dir_in(hierarchy, path);
  return xasprintf("%s/%s", dir, file);
}

static char *read_trim(const char *path) {
  cleanup_error crio_error_t err = NULL;
  char *text = NULL;
  OK(crio_read_file(path, &text, NULL, &err));
  text[strcspn(text, "\n")] = '\0';
  return text;
}

static bool exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* A child that waits to be told, then burns CPU and touches memory, then
 * reports and sleeps until killed. */
static pid_t start_worker(int *go_w, int *done_r) {
  int go[2], done[2];
  CHECK(pipe(go) == 0 && pipe(done) == 0);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    char c;
    if (read(go[0], &c, 1) != 1)
      _exit(1);
    volatile unsigned long x = 0;
    int64_t until = crio_monotonic_ns() + 200 * 1000000LL;
    while (crio_monotonic_ns() < until)
      x++;
    size_t len = 16 << 20;
    /* volatile: the compiler may not drop stores nobody reads. */
    volatile char *mem = malloc(len);
    if (mem == NULL)
      _exit(1);
    for (size_t i = 0; i < len; i += 4096)
      mem[i] = 1;
    if (write(done[1], "d", 1) != 1)
      _exit(1);
    for (;;)
      pause();
  }
  close(go[0]);
  close(done[1]);
  fixture_track_process(pid);
  *go_w = go[1];
  *done_r = done[0];
  return pid;
}

static void test_cgroupfs_lifecycle(void) {
  const struct oci_cgroup_manager *m = &oci_cgroup_manager_cgroupfs;
  cleanup_error crio_error_t err = NULL;
  cleanup_free char *top = fixture_cgroup_name();
  cleanup_free char *parent = xasprintf("%s/besteffort/pod-uid-1", top);
  cleanup_free char *mid = xasprintf("%s/besteffort", top);
  fixture_track_cgroup(top);
  fixture_track_cgroup(mid);
  fixture_track_cgroup(parent);
  cleanup_free char *expected = xasprintf("%s/crio-pod1", parent);
  fixture_track_cgroup(expected);

  struct oci_cgroup_resources res = {.cpu_shares = 512,
                                     .cpu_quota_us = 50000,
                                     .cpu_period_us = 100000,
                                     .memory_limit_bytes = 256 << 20};
  cleanup_free char *path = NULL;
  OK(m->create(parent, "pod1", &res, &path, &err));
  CHECK_STR_EQ(path, expected);
  cleanup_free char *again = NULL;
  OK(m->create(parent, "pod1", &res, &again, &err));
  CHECK_STR_EQ(again, expected);

  if (host_mode != OCI_CGROUP_UNIFIED) {
    static const char *const hierarchies[] = {"cpu", "cpuacct", "memory", "pids", "systemd"};
    for (size_t i = 0; i < 5; i++) {
      cleanup_free char *d = dir_in(hierarchies[i], path);
      if (!exists(d)) {
        fprintf(stderr, "missing %s\n", d);
        exit(1);
      }
    }
    if (host_mode == OCI_CGROUP_HYBRID) {
      cleanup_free char *d = dir_in("unified", path);
      CHECK(exists(d));
    }
    cleanup_free char *shares_path = file_in("cpu", path, "cpu.shares");
    cleanup_free char *shares = read_trim(shares_path);
    CHECK_STR_EQ(shares, "512");
    cleanup_free char *quota_path = file_in("cpu", path, "cpu.cfs_quota_us");
    cleanup_free char *quota = read_trim(quota_path);
    CHECK_STR_EQ(quota, "50000");
    cleanup_free char *mem_path = file_in("memory", path, "memory.limit_in_bytes");
    cleanup_free char *mem = read_trim(mem_path);
    CHECK_STR_EQ(mem, "268435456");
    cleanup_free char *cpus_path = file_in("cpuset", path, "cpuset.cpus");
    cleanup_free char *cpus = read_trim(cpus_path);
    CHECK(cpus[0] != '\0'); /* inherited, so a process may join */
  } else {
    cleanup_free char *max_path = file_in("", path, "memory.max");
    cleanup_free char *max = read_trim(max_path);
    CHECK_STR_EQ(max, "268435456");
  }

  int go_w, done_r;
  pid_t worker = start_worker(&go_w, &done_r);
  OK(m->enter(parent, "pod1", worker, &err));
  cleanup_free char *proc_cgroup_path = xasprintf("/proc/%d/cgroup", worker);
  cleanup_free char *proc_cgroup = NULL;
  OK(crio_read_file(proc_cgroup_path, &proc_cgroup, NULL, &err));
  CHECK(strstr(proc_cgroup, expected) != NULL);
  CHECK(write(go_w, "g", 1) == 1);
  char c;
  CHECK(read(done_r, &c, 1) == 1);

  /* Read as the stats calls read it: through the sampler. */
  struct oci_cgroup_sampler *sampler = oci_cgroup_sampler_new(NULL);
  struct oci_cgroup_usage st;
  OK(oci_cgroup_sample(sampler, path, 0, &st, &err));
  CHECK(st.timestamp_ns > 0);
  CHECK(st.cpu_usage_ns >= 100 * 1000000ULL); /* it burnt ~200 ms */
  CHECK(st.memory_usage_bytes >= 8 << 20);    /* it touched 16 MiB */
  CHECK(st.memory_working_set_bytes <= st.memory_usage_bytes);
  CHECK(st.memory_working_set_bytes >= 8 << 20);
  CHECK(st.memory_rss_bytes >= 8 << 20);
  CHECK(st.memory_page_faults > 0);
  /* The parent (what PodSandboxStats reads) includes its children. */
  struct oci_cgroup_usage pst;
  OK(oci_cgroup_sample(sampler, parent, 0, &pst, &err));
  CHECK(pst.cpu_usage_ns >= st.cpu_usage_ns);
  oci_cgroup_sampler_free(sampler);

  /* A cgroup with a process is not removed (and nothing is killed). */
  CHECK(m->remove(path, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EBUSY);
  crio_error_release(&err);
  CHECK(kill(worker, 0) == 0);
  cleanup_free char *still = dir_in("memory", path);
  CHECK(exists(still));

  CHECK(kill(worker, SIGKILL) == 0);
  CHECK(waitpid(worker, NULL, 0) == worker);
  OK(m->remove(path, &err));
  CHECK(!exists(still));
  cleanup_free char *unified = dir_in("unified", path);
  CHECK(!exists(unified));
  OK(m->remove(path, &err)); /* idempotent */
  CHECK(m->remove("/", &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  close(go_w);
  close(done_r);
}

/* update: new values on an existing cgroup (the pod's parent here), 0
 * fields kept; a cgroup that does not exist is ENOENT and is not made. */
static void test_cgroupfs_update(void) {
  const struct oci_cgroup_manager *m = &oci_cgroup_manager_cgroupfs;
  cleanup_error crio_error_t err = NULL;
  cleanup_free char *top = fixture_cgroup_name();
  cleanup_free char *parent = xasprintf("%s/pod-uid-2", top);
  cleanup_free char *pod = xasprintf("%s/crio-pod2", parent);
  fixture_track_cgroup(top);
  fixture_track_cgroup(parent);
  fixture_track_cgroup(pod);
  cleanup_free char *path = NULL;
  OK(m->create(parent, "pod2", NULL, &path, &err));

  struct oci_cgroup_resources res = {.cpu_shares = 768,
                                     .cpu_quota_us = 30000,
                                     .cpu_period_us = 100000,
                                     .memory_limit_bytes = 96 << 20};
  OK(m->update(parent, &res, &err));
  OK(m->update(parent, &res, &err)); /* repeating is harmless */
  struct oci_cgroup_resources memory_only = {.memory_limit_bytes = 64 << 20};
  OK(m->update(parent, &memory_only, &err));
  if (host_mode != OCI_CGROUP_UNIFIED) {
    cleanup_free char *shares_path = file_in("cpu", parent, "cpu.shares");
    cleanup_free char *shares = read_trim(shares_path);
    CHECK_STR_EQ(shares, "768");
    cleanup_free char *quota_path = file_in("cpu", parent, "cpu.cfs_quota_us");
    cleanup_free char *quota = read_trim(quota_path);
    CHECK_STR_EQ(quota, "30000");
    cleanup_free char *mem_path = file_in("memory", parent, "memory.limit_in_bytes");
    cleanup_free char *mem = read_trim(mem_path);
    CHECK_STR_EQ(mem, "67108864");
  } else {
    cleanup_free char *max_path = file_in("", parent, "memory.max");
    cleanup_free char *max = read_trim(max_path);
    CHECK_STR_EQ(max, "67108864");
  }

  cleanup_free char *missing = xasprintf("%s/no-such-pod", top);
  CHECK(m->update(missing, &res, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), ENOENT);
  crio_error_release(&err);
  cleanup_free char *missing_dir = dir_in(host_mode == OCI_CGROUP_UNIFIED ? "" : "memory", missing);
  CHECK(!exists(missing_dir));
  CHECK(m->update("/", &res, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  crio_error_release(&err);
  OK(m->remove(path, &err));
}

static void test_systemd_names(void) {
  cleanup_error crio_error_t err = NULL;
  static const struct {
    const char *slice, *path;
  } ok[] = {
      {"kubepods-besteffort-pod123.slice", "/kubepods.slice/kubepods-besteffort.slice/"
                                           "kubepods-besteffort-pod123.slice"},
      {"kubepods.slice", "/kubepods.slice"},
      {"system.slice", "/system.slice"},
      {"-.slice", "/"},
      {"kubepods-burstable-pod1a2b_3c4d.slice", "/kubepods.slice/kubepods-burstable.slice/"
                                                "kubepods-burstable-pod1a2b_3c4d.slice"},
  };
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    cleanup_free char *path = NULL;
    OK(oci_systemd_slice_path(ok[i].slice, &path, &err));
    CHECK_STR_EQ(path, ok[i].path);
  }
  static const char *const bad[] = {"kubepods", "kubepods.scope", "a--b.slice",
                                    "-a.slice", "a-.slice",       "a/b.slice",
                                    ".slice",   "a b.slice",      "/kubepods.slice"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    cleanup_free char *path = NULL;
    if (oci_systemd_slice_path(bad[i], &path, &err) == 0) {
      fprintf(stderr, "\"%s\" accepted as a slice (%s)\n", bad[i], path);
      exit(1);
    }
    CHECK_INT_EQ(crio_error_status(&err), EINVAL);
    crio_error_release(&err);
  }
  cleanup_free char *scope = oci_systemd_scope_name("abc");
  CHECK_STR_EQ(scope, "crio-abc.scope");

  const struct oci_cgroup_manager *m = &oci_cgroup_manager_systemd;
  cleanup_free char *pod = NULL, *parent = NULL, *dflt = NULL;
  OK(m->pod_path("kubepods-besteffort-pod123.slice", "abc", &pod, &err));
  CHECK_STR_EQ(pod, "/kubepods.slice/kubepods-besteffort.slice/"
                    "kubepods-besteffort-pod123.slice/crio-abc.scope");
  OK(m->parent_path("kubepods-besteffort-pod123.slice", &parent, &err));
  CHECK_STR_EQ(parent, "/kubepods.slice/kubepods-besteffort.slice/"
                       "kubepods-besteffort-pod123.slice");
  OK(m->pod_path("", "abc", &dflt, &err));
  CHECK_STR_EQ(dflt, "/system.slice/crio-abc.scope");
  cleanup_free char *bad_id = NULL;
  CHECK(m->pod_path("system.slice", "a/b", &bad_id, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
}

static void bus_unrefp(sd_bus **b) {
  sd_bus_unref(*b);
}
static void msg_unrefp(sd_bus_message **m) {
  sd_bus_message_unref(*m);
}

static char *dump(sd_bus_message *m) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  CHECK(f != NULL);
  CHECK(sd_bus_message_dump(m, f, 0) >= 0);
  fclose(f);
  return buf;
}

/* StartTransientUnit as systemd expects it, built on a bus whose peer is
 * just a socket (no systemd, no dbus-daemon). */
static void test_systemd_message(void) {
  cleanup_error crio_error_t err = NULL;
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  __attribute__((cleanup(bus_unrefp))) sd_bus *bus = NULL;
  CHECK(sd_bus_new(&bus) >= 0);
  CHECK(sd_bus_set_fd(bus, sv[0], sv[0]) >= 0);
  CHECK(sd_bus_start(bus) >= 0);

  struct oci_cgroup_resources res = {.cpu_shares = 1024,
                                     .cpu_quota_us = 50000,
                                     .cpu_period_us = 100000,
                                     .memory_limit_bytes = 1 << 30};
  __attribute__((cleanup(msg_unrefp))) sd_bus_message *scope = NULL;
  OK(oci_systemd_start_unit_message(bus, "crio-abc.scope", "kubepods-besteffort-pod1.slice", 4242,
                                    OCI_CGROUP_HYBRID, &res, &scope, &err));
  CHECK_STR_EQ(sd_bus_message_get_member(scope), "StartTransientUnit");
  CHECK_STR_EQ(sd_bus_message_get_destination(scope), "org.freedesktop.systemd1");
  CHECK_STR_EQ(sd_bus_message_get_signature(scope, true), "ssa(sv)a(sa(sv))");
  CHECK(sd_bus_message_seal(scope, 1, 0) >= 0);
  cleanup_free char *text = dump(scope);
  static const char *const want[] = {
      "STRING \"crio-abc.scope\"",
      "STRING \"replace\"",
      "STRING \"Slice\"",
      "STRING \"kubepods-besteffort-pod1.slice\"",
      "STRING \"PIDs\"",
      "UINT32 4242",
      "STRING \"Delegate\"",
      "STRING \"DefaultDependencies\"",
      "STRING \"CPUShares\"",
      "UINT64 1024",
      "STRING \"CPUQuotaPerSecUSec\"",
      "UINT64 500000",
      "STRING \"MemoryLimit\"",
      "UINT64 1073741824",
  };
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
    if (strstr(text, want[i]) == NULL) {
      fprintf(stderr, "missing %s in:\n%s\n", want[i], text);
      exit(1);
    }

  /* The slice, on a unified host: v2 property names, no PIDs, no Slice. */
  __attribute__((cleanup(msg_unrefp))) sd_bus_message *slice = NULL;
  OK(oci_systemd_start_unit_message(bus, "kubepods-besteffort-pod1.slice", NULL, 0,
                                    OCI_CGROUP_UNIFIED, &res, &slice, &err));
  CHECK(sd_bus_message_seal(slice, 2, 0) >= 0);
  cleanup_free char *stext = dump(slice);
  CHECK(strstr(stext, "STRING \"CPUWeight\"") != NULL);
  CHECK(strstr(stext, "UINT64 39") != NULL); /* 1024 shares */
  CHECK(strstr(stext, "STRING \"MemoryMax\"") != NULL);
  CHECK(strstr(stext, "PIDs") == NULL);
  CHECK(strstr(stext, "\"Slice\"") == NULL);

  /* update: SetUnitProperties of the unit, runtime only, the same names. */
  __attribute__((cleanup(msg_unrefp))) sd_bus_message *set = NULL;
  OK(oci_systemd_set_properties_message(bus, "kubepods-besteffort-pod1.slice", OCI_CGROUP_HYBRID,
                                        &res, &set, &err));
  CHECK_STR_EQ(sd_bus_message_get_member(set), "SetUnitProperties");
  CHECK_STR_EQ(sd_bus_message_get_signature(set, true), "sba(sv)");
  CHECK(sd_bus_message_seal(set, 3, 0) >= 0);
  cleanup_free char *settext = dump(set);
  CHECK(strstr(settext, "STRING \"kubepods-besteffort-pod1.slice\"") != NULL);
  CHECK(strstr(settext, "BOOLEAN true") != NULL);
  CHECK(strstr(settext, "STRING \"CPUShares\"") != NULL);
  CHECK(strstr(settext, "STRING \"MemoryLimit\"") != NULL);
  CHECK(strstr(settext, "UINT64 1073741824") != NULL);
  close(sv[1]);
}

static void test_systemd_not_running(void) {
  if (sd_booted() > 0) {
    fprintf(stderr, "   systemd is running here: skipping the ENOTCONN check\n");
    return;
  }
  const struct oci_cgroup_manager *m = &oci_cgroup_manager_systemd;
  cleanup_error crio_error_t err = NULL;
  cleanup_free char *path = NULL;
  CHECK(m->create("kubepods-besteffort-pod1.slice", "abc", NULL, &path, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), ENOTCONN);
  CHECK(strstr(crio_error_message(&err), "systemd is not running") != NULL);
  crio_error_release(&err);
  CHECK(m->enter("kubepods-besteffort-pod1.slice", "abc", getpid(), &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), ENOTCONN);
  crio_error_release(&err);
  CHECK(m->remove("/kubepods.slice/crio-abc.scope", &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), ENOTCONN);
  crio_error_release(&err);
  struct oci_cgroup_resources res = {.cpu_shares = 2};
  CHECK(m->update("/kubepods.slice", &res, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), ENOTCONN);
}

int main(void) {
  RUN_TEST(test_mode_detect);
  RUN_TEST(test_manager_get);
  RUN_TEST(test_cgroupfs_paths);
  RUN_TEST(test_systemd_names);
  RUN_TEST(test_systemd_message);
  RUN_TEST(test_systemd_not_running);
  if (geteuid() != 0) {
    fprintf(stderr, "test_oci_cgroup: the cgroupfs lifecycle needs root\n");
    return 1;
  }
  RUN_TEST(test_cgroupfs_lifecycle);
  RUN_TEST(test_cgroupfs_update);
  return 0;
}
