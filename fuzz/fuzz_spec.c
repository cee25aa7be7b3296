/* fuzz_spec.h */
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz/fuzz.h"
#include "fuzz/fuzz_spec.h"

const struct oci_spec_host *fuzz_spec_host(void) {
  static struct oci_spec_host host = {
      .cap_bounding = 0x1fffeffffffULL, /* 0..40 but CAP_SYS_RESOURCE */
      .oom_score_adj = 0,
      .nofile_hard = 1048576,
      .cgroup_unified = true,
      .memory_swap = true,
      .hugetlb = true,
      .hostname = "fuzzhost",
  };
  return &host;
}

Runtime__V1__PodSandboxConfig *fuzz_spec_default_pod(void) {
  static Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
  static Runtime__V1__PodSandboxConfig pod = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
  md.name = "web";
  md.namespace_ = "default";
  md.uid = "uid-1";
  pod.metadata = &md;
  pod.hostname = "podhost";
  return &pod;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "we");
  FUZZ_ASSERT(f != NULL);
  fputs(text, f);
  FUZZ_ASSERT(fclose(f) == 0);
}

const char *fuzz_rootfs_reset(void) {
  static char rootfs[512], outside[512], etc[512], file[512];
  const char *w = fuzz_workdir();
  snprintf(rootfs, sizeof(rootfs), "%s/rootfs", w);
  snprintf(outside, sizeof(outside), "%s/outside", w);
  snprintf(etc, sizeof(etc), "%s/etc", rootfs);
  fuzz_rm_rf(rootfs);
  fuzz_rm_rf(outside);
  FUZZ_ASSERT(mkdir(rootfs, 0755) == 0 && mkdir(outside, 0755) == 0 && mkdir(etc, 0755) == 0);
  snprintf(file, sizeof(file), "%s/passwd", etc);
  write_file(file, "root:x:0:0:root:/root:/bin/sh\n"
                   "app:x:1000:1000:app:/home/app:/bin/sh\n"
                   "nobody:x:65534:65534:nobody:/:/sbin/nologin\n");
  snprintf(file, sizeof(file), "%s/group", etc);
  write_file(file, "root:x:0:\napp:x:1000:app\nwheel:x:10:app\nnogroup:x:65534:\n");
  return rootfs;
}

void fuzz_rootfs_check_contained(void) {
  DIR *d = opendir(fuzz_workdir());
  FUZZ_ASSERT(d != NULL);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "rootfs") &&
        strcmp(e->d_name, "outside")) {
      fprintf(stderr, "written outside the root: %s/%s\n", fuzz_workdir(), e->d_name);
      abort();
    }
  }
  closedir(d);
  char outside[512];
  snprintf(outside, sizeof(outside), "%s/outside", fuzz_workdir());
  d = opendir(outside);
  FUZZ_ASSERT(d != NULL);
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
      fprintf(stderr, "written outside the root: %s/%s\n", outside, e->d_name);
      abort();
    }
  }
  closedir(d);
}
