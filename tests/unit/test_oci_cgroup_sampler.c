/* oci's cgroup stats sampler on fake cgroup trees (a mountinfo of our own
 * naming directories of plain files), so cgroup v2 is tested on a v1 host
 * and v1 on a v2 one: which files answer, how they are parsed, that kept
 * files are read afresh on every sample, the limit (kept for a container
 * until forgotten) and the process count
 * (pids.current, or cgroup.procs of the subtree), a missing cgroup.  No
 * root needed; everything lives under a temporary directory removed at
 * exit. */
#include <errno.h>
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
  RUN_TEST(test_spec_paths);
  return 0;
}
