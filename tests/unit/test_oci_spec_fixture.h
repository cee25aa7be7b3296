/* Shared by the oci spec unit tests: a temporary directory and whatever a
 * test makes on the host (runc containers, cgroups) undone at exit even
 * when a CHECK fails; an arena for the CRI messages a test builds; a
 * baseline container request against a fake rootfs. */
#ifndef CRIO_TEST_OCI_SPEC_FIXTURE_H
#define CRIO_TEST_OCI_SPEC_FIXTURE_H

#include "oci/spec_internal.h"
#include "tests/unit/testing.h"

/* A temporary directory of this test, removed at exit. */
const char *fx_dir(void);
/* <fx_dir>/<rel> (arena string). */
char *fx_path(const char *rel);
/* Writes <fx_dir>/<rel>, making parent directories. */
void fx_write(const char *rel, const char *content);
void fx_mkdir(const char *rel);
void fx_symlink(const char *target, const char *rel);

/* Undone at exit: `runc --root <root> delete -f <id>`, then rmdir of the
 * cgroup path in every hierarchy (deepest first, in the order tracked
 * reversed). */
void fx_track_runc(const char *root, const char *id);
void fx_track_cgroup(const char *path);

/* Arena: freed at exit. */
void *fx_new(size_t size);
char *fx_str(const char *s);
char *fx_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A NULL-terminated list as a (char **, count) pair for protobuf-c. */
char **fx_strv(size_t *n, ...);

#define FX_MSG(type, init)                                                                         \
  ({                                                                                               \
    type *m__ = fx_new(sizeof(type));                                                              \
    type init__ = init;                                                                            \
    *m__ = init__;                                                                                 \
    m__;                                                                                           \
  })

/* A container request with everything a test may want to change. */
struct fx_case {
  Runtime__V1__ContainerConfig *cfg;
  Runtime__V1__PodSandboxConfig *pod;
  Runtime__V1__LinuxContainerSecurityContext *sc;
  Runtime__V1__LinuxSandboxSecurityContext *pod_sc;
  Runtime__V1__LinuxContainerResources *res;
  cJSON *image; /* the image config blob; its "config" is image_section */
  cJSON *image_section;
  struct oci_spec_host host;
  struct oci_spec_input in;
  struct oci_spec_warnings warnings;
};

/* The fake rootfs <fx_dir>/rootfs: etc/passwd (root, daemon 1, tester
 * 1000, with comments and a malformed line), etc/group (tester in wheel 10
 * and audio 29; its own group 1000).  Made once. */
const char *fx_rootfs(void);

/* Baseline: container "c1" of pod "p1" (name "app", pod web/default/uid-1,
 * hostname "podhost"), image {Entrypoint ["/bin/ep"], Cmd ["arg"]}, host
 * facts of an ordinary v1 host without CAP_SYS_RESOURCE (bounding
 * 0x1fffeffffff, oom_score_adj 0, nofile hard 1048576, swap and hugetlb
 * available), cgroupfs. */
void fx_case_init(struct fx_case *k);
void fx_case_set_image(struct fx_case *k, const char *config_json);
/* Builds; on success returns the spec (deleted at exit), else NULL with
 * *err set. */
cJSON *fx_build(struct fx_case *k, crio_error_t *err);
/* Builds and CHECKs success. */
cJSON *fx_build_ok(struct fx_case *k);
/* Builds and CHECKs failure with `status` and a message containing
 * `needle`. */
void fx_build_fails(struct fx_case *k, int status, const char *needle);

/* JSON access by a path like "process.user.uid" or "mounts.3.destination"
 * (numbers index arrays); NULL if absent. */
const cJSON *fx_get(const cJSON *spec, const char *path);
const char *fx_get_str(const cJSON *spec, const char *path);
int64_t fx_get_int(const cJSON *spec, const char *path); /* CHECKs presence */
/* true if the array at `path` holds the string `s`. */
bool fx_has_str(const cJSON *spec, const char *path, const char *s);
/* The mount object whose destination is `dest`, and its index. */
const cJSON *fx_mount(const cJSON *spec, const char *dest, int *index);
bool fx_mount_has_option(const cJSON *mount, const char *option);
/* The namespace entry of `type`, or NULL. */
const cJSON *fx_namespace(const cJSON *spec, const char *type);
/* Mask of the capability names in the array at `path`. */
uint64_t fx_caps(const cJSON *spec, const char *path);
bool fx_has_warning(const struct fx_case *k, const char *needle);

/* Request builders (arena-allocated, appended to the case's config). */
Runtime__V1__KeyValue *fx_kv(const char *key, const char *value);
void fx_set_envs(struct fx_case *k, size_t n, Runtime__V1__KeyValue **envs);
Runtime__V1__Mount *fx_add_mount(struct fx_case *k, const char *container_path,
                                 const char *host_path);
Runtime__V1__Device *fx_add_device(struct fx_case *k, const char *container_path,
                                   const char *host_path, const char *permissions);
/* A label (label true) or an annotation of the container config. */
void fx_add_annotation(struct fx_case *k, bool label, const char *key, const char *value);
Runtime__V1__SecurityProfile *fx_profile(Runtime__V1__SecurityProfile__ProfileType type,
                                         const char *ref);
Runtime__V1__Int64Value *fx_int64(int64_t v);
/* A privileged container in a privileged pod. */
void fx_privileged(struct fx_case *k);
/* The value of KEY in process.env (CHECKs it is there at most once). */
const char *fx_env_value(const cJSON *spec, const char *key);

#endif
