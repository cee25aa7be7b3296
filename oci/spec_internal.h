/* Private to the spec part of oci/: the state one build carries, and the
 * helpers its files share.  Unit tests include it to reach the pieces. */
#ifndef CRIO_OCI_SPEC_INTERNAL_H
#define CRIO_OCI_SPEC_INTERNAL_H

#include <sys/types.h>

#include "oci/spec.h"

/* ---- one build ------------------------------------------------------------- */
struct spec_ctx {
  const struct oci_spec_input *in;
  const Runtime__V1__ContainerConfig *cfg;
  const Runtime__V1__LinuxContainerSecurityContext *sc; /* may be NULL */
  const Runtime__V1__LinuxContainerResources *res;      /* may be NULL */
  const cJSON *img; /* the image's "config" object; may be NULL */
  struct oci_spec_warnings *w;
  int rootfd; /* the rootfs, O_PATH */
  bool privileged;
  bool host_network; /* the pod's network (and so UTS) is the host's */
  bool host_ipc;
  bool host_uts;
  /* Filled by spec_process_caps(), read by the seccomp choice. */
  uint64_t caps_effective;
};

/* The deprecated string forms of the seccomp and AppArmor profiles, which
 * kubelets before the SecurityProfile fields still send. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static inline const char *
spec_legacy_apparmor(const Runtime__V1__LinuxContainerSecurityContext *sc) {
  return sc && sc->apparmor_profile ? sc->apparmor_profile : "";
}
static inline const char *
spec_legacy_seccomp(const Runtime__V1__LinuxContainerSecurityContext *sc) {
  return sc && sc->seccomp_profile_path ? sc->seccomp_profile_path : "";
}
#pragma GCC diagnostic pop

/* process: args, env, cwd, user, terminal, capabilities, rlimits,
 * oom_score_adj, noNewPrivileges, AppArmor/SELinux labels. */
int spec_process(struct spec_ctx *c, cJSON *spec, crio_error_t *err);
/* mounts, linux.maskedPaths/readonlyPaths, linux.rootfsPropagation. */
int spec_mounts(struct spec_ctx *c, cJSON *spec, crio_error_t *err);
/* linux: namespaces, resources, devices, cgroupsPath. */
int spec_linux(struct spec_ctx *c, cJSON *spec, crio_error_t *err);
/* linux.seccomp from the security context (after spec_process). */
int spec_seccomp(struct spec_ctx *c, cJSON *linux_obj, crio_error_t *err);

void spec_warn(struct spec_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- capabilities ----------------------------------------------------------- */
#define SPEC_CAP_LAST 40 /* CAP_CHECKPOINT_RESTORE, Linux 5.9 */
/* "CAP_NET_ADMIN", "NET_ADMIN", "net_admin" -> 12; -1 if unknown. */
int spec_cap_from_name(const char *name);
/* "CAP_NET_ADMIN" (static). */
const char *spec_cap_name(int cap);
/* CRI-O's default set: CHOWN DAC_OVERRIDE FSETID FOWNER SETGID SETUID
 * SETPCAP NET_BIND_SERVICE KILL. */
uint64_t spec_caps_default(void);
/* The JSON array of names of the bits in `caps`. */
cJSON *spec_caps_json(uint64_t caps);

/* ---- image config ------------------------------------------------------------ */
/* The "config" object of an image config blob (NULL if none). */
const cJSON *spec_image_section(const cJSON *image_config);
/* A string member of the image config section, or NULL. */
const char *spec_image_string(const cJSON *img, const char *key);

/* ---- JSON helpers --------------------------------------------------------------- */
static inline void spec_cjson_deletep(cJSON **p) {
  cJSON_Delete(*p);
}
#define cleanup_cjson __attribute__((cleanup(spec_cjson_deletep)))
/* Numbers beyond 2^53 are emitted as raw JSON text so they survive exactly
 * (cJSON stores doubles; Go's int64 decoding rejects "9.2e+18"). */
cJSON *spec_json_int(int64_t v);
cJSON *spec_json_uint(uint64_t v);
void spec_add_int(cJSON *obj, const char *key, int64_t v);
void spec_add_uint(cJSON *obj, const char *key, uint64_t v);
cJSON *spec_json_strv(const char *const *v, size_t n);

/* ---- paths ---------------------------------------------------------------------- */
/* The lexically cleaned form of an absolute path ("//a/./b/" -> "/a/b"); NULL
 * if `path` is not absolute or has a ".." component.  malloc'd. */
char *spec_clean_abs_path(const char *path);
/* true if `child` is `parent` or below it (both clean, absolute). */
bool spec_path_is_within(const char *child, const char *parent);

/* ---- the container's rootfs, seen as the container will see it ------------------- */
/* Opens `path` (absolute or relative, as in the container) inside rootfd:
 * openat2 with RESOLVE_IN_ROOT, or spec_open_in_root_walk where openat2 is
 * missing.  Returns the fd; -1 with errno set (ENOENT for a missing file,
 * ELOOP for too many links). */
int spec_open_in_root(int rootfd, const char *path, int flags);
/* The fallback: walks the path one component at a time with O_PATH |
 * O_NOFOLLOW, resolving symlinks itself relative to rootfd ("/" and ".."
 * never leave it).  Exposed for tests. */
int spec_open_in_root_walk(int rootfd, const char *path, int flags);
/* mkdir -p of `path` (clean, absolute) inside rootfd, resolving links as
 * the container would: a dangling link's target is made inside the rootfs. */
int spec_mkdir_in_root(int rootfd, const char *path, mode_t mode, crio_error_t *err);

/* ---- host facts (parsers, exposed for tests) --------------------------------------- */
/* The CapBnd line of a /proc/PID/status text. */
int spec_parse_cap_bounding(const char *status, uint64_t *caps, crio_error_t *err);

/* ---- seccomp ----------------------------------------------------------------------- */
/* The architectures a profile for this build's machine names: the native
 * one first, then those its kernel also runs (x86_64: x86, x32; aarch64:
 * arm). */
const char *const *spec_seccomp_arches(size_t *n);
/* One syscall name of the default profile per call, for tests that check
 * every name is known to libseccomp; NULL past the end. */
const char *spec_seccomp_default_name(size_t i);

#endif
