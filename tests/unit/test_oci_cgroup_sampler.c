/* oci's cgroup stats sampler on fake cgroup trees (a mountinfo of our own
 * naming directories of plain files), so cgroup v2 is tested on a v1 host
 * and v1 on a v2 one: which files answer, how they are parsed, that kept
 * files are read afresh on every sample, the limit (kept for a container
 * until forgotten) and the process count
 * (pids.current, or cgroup.procs of the subtree), a missing cgroup.  No
 * root needed; everything lives under a temporary directory removed at
 * exit. */
#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/oci.h"
#include "tests/unit/testing.h"

static char tmp[] = "/tmp/crio-test-cgsampler-XXXXXX";

static void put(const char *rel, const char *text) {
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", tmp, rel);
  char *slash = strrchr(path, '/');
  *slash = '\0';
  cleanup_error crio_error_t err = NULL;
  CHECK(crio_mkdir_p(path, 0755, &err) == 0);
  *slash = '/';
  FILE *f = fopen(path, "w"); /* same inode: a kept fd sees the new text */
  CHECK(f != NULL);
  fputs(text, f);
  fclose(f);
}

static void cleanup_tmp(void) {
  char cmd[600];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", tmp);
}

static char *mountinfo(const char *name, const char *lines) {
  char rel[64];
  snprintf(rel, sizeof(rel), "%s.mountinfo", name);
  put(rel, lines);
  char *path = NULL;
  CHECK(asprintf(&path, "%s/%s", tmp, rel) > 0);
  return path;
}

static void test_v2(void) {
  char lines[2048];
  snprintf(lines, sizeof(lines),
           "30 1 0:26 / %s/v2 rw,nosuid - cgroup2 cgroup2 rw\n"
           "31 1 0:27 / %s/other rw - tmpfs tmpfs rw\n",
           tmp, tmp);
  cleanup_free char *mi = mountinfo("v2", lines);
  put("v2/cgroup.controllers", "cpuset cpu io memory pids\n");
  put("v2/pod/cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n");
  put("v2/pod/memory.current", "40960\n");
  put("v2/pod/memory.stat", "anon 10000\nfile 30000\ninactive_file 960\npgfault 7\n"
                            "pgmajfault 1\n");
  put("v2/pod/memory.max", "max\n");
  put("v2/pod/pids.current", "3\n");

  struct oci_cgroup_sampler *s = oci_cgroup_sampler_new(mi);
  cleanup_error crio_error_t err = NULL;
  struct oci_cgroup_usage u;
  CHECK(oci_cgroup_sample(s, "/pod", OCI_CGROUP_SAMPLE_PROCESSES, &u, &err) == 0);
  CHECK(u.cpu_usage_ns == 1500000);
  CHECK(u.memory_usage_bytes == 40960);
  CHECK(u.memory_working_set_bytes == 40960 - 960);
  CHECK(u.memory_rss_bytes == 10000);
  CHECK(u.memory_page_faults == 7 && u.memory_major_page_faults == 1);
  CHECK(u.memory_limit_bytes == 0); /* "max" */
  CHECK(u.has_process_count && u.process_count == 3);
  CHECK(u.timestamp_ns > 0);

  /* The kept files are read again: new values, a limit now set. */
  put("v2/pod/cpu.stat", "usage_usec 2500000\n");
  put("v2/pod/memory.current", "81920\n");
  put("v2/pod/memory.max", "1048576\n");
  CHECK(oci_cgroup_sample(s, "/pod", 0, &u, &err) == 0);
  CHECK(u.cpu_usage_ns == UINT64_C(2500000000));
  CHECK(u.memory_usage_bytes == 81920 && u.memory_working_set_bytes == 81920 - 960);
  CHECK(u.memory_limit_bytes == 1048576);
  CHECK(!u.has_process_count);

  /* No pids controller file: the processes of the subtree's cgroup.procs. */
  put("v2/nopids/cpu.stat", "usage_usec 1\n");
  put("v2/nopids/memory.current", "1\n");
  put("v2/nopids/memory.stat", "anon 1\n");
  put("v2/nopids/cgroup.procs", "10\n11\n");
  put("v2/nopids/child/cgroup.procs", "12\n");
  CHECK(oci_cgroup_sample(s, "/nopids", OCI_CGROUP_SAMPLE_PROCESSES, &u, &err) == 0);
  CHECK(u.has_process_count && u.process_count == 3);

  /* A cgroup that does not exist; a relative path. */
  CHECK(oci_cgroup_sample(s, "/gone", 0, &u, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), ENOENT);
  crio_error_release(&err);
  CHECK(oci_cgroup_sample(s, "pod", 0, &u, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  crio_error_release(&err);

  /* A cgroup.stat without usage_usec is malformed, not zero. */
  put("v2/bad/cpu.stat", "user_usec 1\n");
  put("v2/bad/memory.current", "1\n");
  put("v2/bad/memory.stat", "anon 1\n");
  CHECK(oci_cgroup_sample(s, "/bad", 0, &u, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  oci_cgroup_sampler_free(s);
}

static void test_v1(void) {
  char lines[2048];
  snprintf(lines, sizeof(lines),
           "40 1 0:40 / %s/v1/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
           "41 1 0:41 / %s/v1/memory rw - cgroup cgroup rw,memory\n"
           "42 1 0:42 / %s/v1/pids rw - cgroup cgroup rw,pids\n"
           "43 1 0:43 / %s/v1/unified rw - cgroup2 cgroup2 rw\n",
           tmp, tmp, tmp, tmp);
  cleanup_free char *mi = mountinfo("v1", lines);
  put("v1/unified/cgroup.controllers", "\n");
  put("v1/cpu,cpuacct/k/pod/cpuacct.usage", "123456789\n");
  put("v1/memory/k/pod/memory.usage_in_bytes", "50000\n");
  put("v1/memory/k/pod/memory.stat",
      "cache 20000\nrss 30000\ntotal_cache 20000\ntotal_rss 30000\ntotal_inactive_file 5000\n"
      "total_pgfault 70\ntotal_pgmajfault 2\n");
  put("v1/memory/k/pod/memory.limit_in_bytes", "9223372036854771712\n"); /* unlimited */
  put("v1/pids/k/pod/pids.current", "4\n");

  struct oci_cgroup_sampler *s = oci_cgroup_sampler_new(mi);
  cleanup_error crio_error_t err = NULL;
  struct oci_cgroup_usage u;
  CHECK(oci_cgroup_sample(s, "/k/pod", OCI_CGROUP_SAMPLE_PROCESSES, &u, &err) == 0);
  CHECK(u.cpu_usage_ns == 123456789);
  CHECK(u.memory_usage_bytes == 50000 && u.memory_working_set_bytes == 45000);
  CHECK(u.memory_rss_bytes == 30000);
  CHECK(u.memory_page_faults == 70 && u.memory_major_page_faults == 2);
  CHECK(u.memory_limit_bytes == 0);
  CHECK(u.process_count == 4);
  put("v1/memory/k/pod/memory.limit_in_bytes", "268435456\n");
  put("v1/cpu,cpuacct/k/pod/cpuacct.usage", "223456789\n");
  CHECK(oci_cgroup_sample(s, "/k/pod", 0, &u, &err) == 0);
  CHECK(u.memory_limit_bytes == 268435456);
  CHECK(u.cpu_usage_ns == 223456789);

  /* A container's cgroup: its limit is read once and kept (only the
   * reconciler's update changes it, and then forgets the entry); the
   * usage is still read afresh. */
  put("v1/cpu,cpuacct/k/ctr/cpuacct.usage", "1000\n");
  put("v1/memory/k/ctr/memory.usage_in_bytes", "4096\n");
  put("v1/memory/k/ctr/memory.stat", "total_inactive_file 0\ntotal_rss 4096\n");
  put("v1/memory/k/ctr/memory.limit_in_bytes", "1048576\n");
  CHECK(oci_cgroup_sample(s, "/k/ctr", OCI_CGROUP_SAMPLE_LIMIT_KEPT, &u, &err) == 0);
  CHECK(u.memory_limit_bytes == 1048576 && u.memory_rss_bytes == 4096);
  put("v1/memory/k/ctr/memory.limit_in_bytes", "2097152\n");
  put("v1/cpu,cpuacct/k/ctr/cpuacct.usage", "2000\n");
  CHECK(oci_cgroup_sample(s, "/k/ctr", OCI_CGROUP_SAMPLE_LIMIT_KEPT, &u, &err) == 0);
  CHECK(u.memory_limit_bytes == 1048576);
  CHECK(u.cpu_usage_ns == 2000);
  oci_cgroup_sampler_forget(s, "/k/ctr");
  CHECK(oci_cgroup_sample(s, "/k/ctr", OCI_CGROUP_SAMPLE_LIMIT_KEPT, &u, &err) == 0);
  CHECK(u.memory_limit_bytes == 2097152);
  oci_cgroup_sampler_forget(s, "/k/nosuch"); /* nothing kept: nothing to do */
  oci_cgroup_sampler_free(s);

  /* A v1 host without a memory hierarchy cannot report memory. */
  snprintf(lines, sizeof(lines), "40 1 0:40 / %s/v1/cpu,cpuacct rw - cgroup cgroup rw,cpuacct\n",
           tmp);
  cleanup_free char *mi2 = mountinfo("v1-nomem", lines);
  s = oci_cgroup_sampler_new(mi2);
  CHECK(oci_cgroup_sample(s, "/k/pod", 0, &u, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), ENOTSUP);
  oci_cgroup_sampler_free(s);
}

static int open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  CHECK(d != NULL);
  int n = 0;
  for (struct dirent *de; (de = readdir(d)) != NULL;)
    n += de->d_name[0] != '.';
  closedir(d);
  return n - 1; /* the DIR's own */
}

enum { N_CTRS = 64 };

struct many {
  struct oci_cgroup_sampler *s;
  atomic_int wrong;
};

static void sample_one(void *data, size_t i, unsigned worker) {
  (void)worker;
  struct many *m = data;
  char path[64];
  snprintf(path, sizeof(path), "/k/c%zu", i);
  cleanup_error crio_error_t err = NULL;
  struct oci_cgroup_usage u;
  if (oci_cgroup_sample(m->s, path, OCI_CGROUP_SAMPLE_LIMIT_KEPT, &u, &err) < 0 ||
      u.cpu_usage_ns != 1000 + i || u.memory_usage_bytes != 8192 + i ||
      u.memory_rss_bytes != 4096 + i || u.memory_limit_bytes != 1048576 + i) {
    fprintf(stderr, "%s: %s\n", path, err ? crio_error_message(&err) : "wrong values");
    atomic_fetch_add(&m->wrong, 1);
  }
}

/* Many cgroups sampled from several threads at once (as the list calls
 * do) read each its own values; a kept container holds three descriptors
 * (its limit's is closed after the one read), a kept pod five, and
 * forgetting them gives every one back. */
static void test_threads_and_fds(void) {
  char lines[2048];
  snprintf(lines, sizeof(lines),
           "40 1 0:40 / %s/m/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
           "41 1 0:41 / %s/m/memory rw - cgroup cgroup rw,memory\n"
           "42 1 0:42 / %s/m/pids rw - cgroup cgroup rw,pids\n",
           tmp, tmp, tmp);
  cleanup_free char *mi = mountinfo("many", lines);
  for (size_t i = 0; i < N_CTRS; i++) {
    char rel[128], text[256];
    snprintf(rel, sizeof(rel), "m/cpu,cpuacct/k/c%zu/cpuacct.usage", i);
    snprintf(text, sizeof(text), "%zu\n", 1000 + i);
    put(rel, text);
    snprintf(rel, sizeof(rel), "m/memory/k/c%zu/memory.usage_in_bytes", i);
    snprintf(text, sizeof(text), "%zu\n", 8192 + i);
    put(rel, text);
    snprintf(rel, sizeof(rel), "m/memory/k/c%zu/memory.stat", i);
    snprintf(text, sizeof(text), "total_inactive_file 0\ntotal_rss %zu\n", 4096 + i);
    put(rel, text);
    snprintf(rel, sizeof(rel), "m/memory/k/c%zu/memory.limit_in_bytes", i);
    snprintf(text, sizeof(text), "%zu\n", 1048576 + i);
    put(rel, text);
    snprintf(rel, sizeof(rel), "m/pids/k/c%zu/pids.current", i);
    put(rel, "1\n");
  }
  struct many m = {.s = oci_cgroup_sampler_new(mi)};
  int base = open_fds();
  for (int round = 0; round < 3; round++)
    crio_parallel_for(N_CTRS, 4, sample_one, &m);
  CHECK_INT_EQ(atomic_load(&m.wrong), 0);
  CHECK_INT_EQ(open_fds() - base, N_CTRS * 3);
  cleanup_error crio_error_t err = NULL;
  struct oci_cgroup_usage u;
  CHECK(oci_cgroup_sample(m.s, "/k/c0", OCI_CGROUP_SAMPLE_LIMIT_KEPT, &u, &err) == 0);
  CHECK(oci_cgroup_sample(m.s, "/k/p", OCI_CGROUP_SAMPLE_PROCESSES, &u, &err) < 0); /* none */
  CHECK_INT_EQ(open_fds() - base, N_CTRS * 3);
  for (size_t i = 0; i < N_CTRS; i++) {
    char path[64];
    snprintf(path, sizeof(path), "/k/c%zu", i);
    oci_cgroup_sampler_forget(m.s, path);
  }
  CHECK_INT_EQ(open_fds(), base);
  /* A pod's cgroup: five kept. */
  CHECK(oci_cgroup_sample(m.s, "/k/c2", OCI_CGROUP_SAMPLE_PROCESSES, &u, &err) == 0);
  CHECK_INT_EQ(u.process_count, 1);
  CHECK_INT_EQ(open_fds() - base, 5);
  oci_cgroup_sampler_free(m.s);
  CHECK_INT_EQ(open_fds(), base);
}

static void test_spec_paths(void) {
  cleanup_free char *a = oci_cgroup_of_spec_path("/kubepods/pod1/crio-abc");
  CHECK_STR_EQ(a, "/kubepods/pod1/crio-abc");
  cleanup_free char *b = oci_cgroup_of_spec_path("kubepods-pod1.slice:crio:abc");
  CHECK_STR_EQ(b, "/kubepods.slice/kubepods-pod1.slice/crio-abc.scope");
  CHECK(oci_cgroup_of_spec_path("a:b") == NULL);
  CHECK(oci_cgroup_of_spec_path("x/y:crio:abc") == NULL);
}

int main(void) {
  CHECK(mkdtemp(tmp) != NULL);
  atexit(cleanup_tmp);
  RUN_TEST(test_v2);
  RUN_TEST(test_v1);
  RUN_TEST(test_threads_and_fds);
  RUN_TEST(test_spec_paths);
  return 0;
}
