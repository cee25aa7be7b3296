/* Which seccomp filter a container gets, and Localhost profiles read from
 * files.  Kubernetes' Localhost profiles are usually written in Docker's
 * format (archMap, includes/excludes); they are converted here to the OCI
 * linux.seccomp object for this machine and this container's
 * capabilities, the way Docker and CRI-O convert them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "oci/spec_internal.h"

static const char *const actions[] = {
    "SCMP_ACT_KILL",  "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",  "SCMP_ACT_ERRNO",        "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW", "SCMP_ACT_LOG",          "SCMP_ACT_NOTIFY"};
static const char *const operators[] = {"SCMP_CMP_NE",       "SCMP_CMP_LT", "SCMP_CMP_LE",
                                        "SCMP_CMP_EQ",       "SCMP_CMP_GE", "SCMP_CMP_GT",
                                        "SCMP_CMP_MASKED_EQ"};

static bool in_list(const char *s, const char *const *list, size_t n) {
  for (size_t i = 0; s && i < n; i++)
    if (strcmp(s, list[i]) == 0)
      return true;
  return false;
}

/* Docker's profiles name architectures in includes/excludes as Go does. */
static const char *native_go_arch(void) {
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#elif defined(__i386__)
  return "386";
#elif defined(__arm__)
  return "arm";
#endif
}

struct load_ctx {
  const char *path;
  uint64_t caps;
  int kernel_major, kernel_minor;
};

/* "4.8" <= running kernel? */
static int kernel_at_least(const struct load_ctx *l, const char *version, bool *yes,
                           crio_error_t *err) {
  int major = 0, minor = 0;
  if (sscanf(version, "%d.%d", &major, &minor) < 1)
    return crio_error(err, EINVAL, "minKernel \"%s\" is not a kernel version", version);
  *yes = l->kernel_major > major || (l->kernel_major == major && l->kernel_minor >= minor);
  return 0;
}

/* Does the filter {caps, arches, minKernel} match this container?
 * For includes every listed condition must hold; for excludes any one
 * excludes (so "match" means "some condition holds"). */
static int filter_matches(const struct load_ctx *l, const cJSON *f, bool includes, bool *match,
                          crio_error_t *err) {
  bool all = true, any = false;
  const cJSON *it;
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(f, "caps")) {
    int cap = spec_cap_from_name(cJSON_GetStringValue(it));
    if (cap < 0)
      return crio_error(err, EINVAL, "unknown capability \"%s\"",
                        cJSON_GetStringValue(it) ? cJSON_GetStringValue(it) : "");
    bool held = (l->caps & (1ULL << cap)) != 0;
    all = all && held;
    any = any || held;
  }
  const cJSON *arches = cJSON_GetObjectItemCaseSensitive(f, "arches");
  if (cJSON_GetArraySize(arches) > 0) {
    bool here = false;
    cJSON_ArrayForEach(it, arches) {
      const char *a = cJSON_GetStringValue(it);
      here = here || (a && strcmp(a, native_go_arch()) == 0);
    }
    all = all && here;
    any = any || here;
  }
  const char *min = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "minKernel"));
  if (min && min[0]) {
    bool yes = false;
    if (kernel_at_least(l, min, &yes, err) < 0)
      return -1;
    all = all && yes;
    any = any || yes;
  }
  *match = includes ? all : any;
  return 0;
}

static int convert_rule(const struct load_ctx *l, const cJSON *in, size_t i, cJSON *syscalls,
                        crio_error_t *err) {
  if (!cJSON_IsObject(in))
    return crio_error(err, EINVAL, "syscalls[%zu]: not an object", i);
  bool match = true;
  const cJSON *inc = cJSON_GetObjectItemCaseSensitive(in, "includes");
  const cJSON *exc = cJSON_GetObjectItemCaseSensitive(in, "excludes");
  if (inc && filter_matches(l, inc, true, &match, err) < 0)
    return crio_error_prefix(err, "syscalls[%zu].includes", i);
  bool excluded = false;
  if (exc && filter_matches(l, exc, false, &excluded, err) < 0)
    return crio_error_prefix(err, "syscalls[%zu].excludes", i);
  if (!match || excluded)
    return 0;

  cJSON *out = cJSON_CreateObject();
  cJSON *names = cJSON_AddArrayToObject(out, "names");
  const cJSON *it;
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(in, "names")) {
    if (!cJSON_IsString(it) || it->valuestring[0] == '\0') {
      cJSON_Delete(out);
      return crio_error(err, EINVAL, "syscalls[%zu].names: not a list of names", i);
    }
    cJSON_AddItemToArray(names, cJSON_CreateString(it->valuestring));
  }
  /* Docker's older profiles give one "name". */
  const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(in, "name"));
  if (name && name[0])
    cJSON_AddItemToArray(names, cJSON_CreateString(name));
  if (cJSON_GetArraySize(names) == 0) {
    cJSON_Delete(out);
    return crio_error(err, EINVAL, "syscalls[%zu]: no names", i);
  }
  const char *action = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(in, "action"));
  if (!in_list(action, actions, sizeof(actions) / sizeof(actions[0]))) {
    cJSON_Delete(out);
    return crio_error(err, EINVAL, "syscalls[%zu].action: unknown action \"%s\"", i,
                      action ? action : "");
  }
  cJSON_AddStringToObject(out, "action", action);
  const cJSON *errno_ret = cJSON_GetObjectItemCaseSensitive(in, "errnoRet");
  if (cJSON_IsNumber(errno_ret))
    cJSON_AddNumberToObject(out, "errnoRet", errno_ret->valuedouble);
  const cJSON *args = cJSON_GetObjectItemCaseSensitive(in, "args");
  if (cJSON_GetArraySize(args) > 0) {
    cJSON *out_args = cJSON_AddArrayToObject(out, "args");
    size_t j = 0;
    cJSON_ArrayForEach(it, args) {
      const cJSON *index = cJSON_GetObjectItemCaseSensitive(it, "index");
      const cJSON *value = cJSON_GetObjectItemCaseSensitive(it, "value");
      const cJSON *value2 = cJSON_GetObjectItemCaseSensitive(it, "valueTwo");
      const char *op = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "op"));
      if (!cJSON_IsNumber(index) || index->valuedouble < 0 || index->valuedouble > 5 ||
          !cJSON_IsNumber(value) || (value2 && !cJSON_IsNumber(value2)) ||
          !in_list(op, operators, sizeof(operators) / sizeof(operators[0]))) {
        cJSON_Delete(out);
        return crio_error(err, EINVAL,
                          "syscalls[%zu].args[%zu]: needs index 0..5, numeric value(s) and a "
                          "SCMP_CMP_* op",
                          i, j);
      }
      cJSON *a = cJSON_CreateObject();
      cJSON_AddNumberToObject(a, "index", index->valuedouble);
      cJSON_AddItemToObject(a, "value", spec_json_uint((uint64_t)value->valuedouble));
      if (value2)
        cJSON_AddItemToObject(a, "valueTwo", spec_json_uint((uint64_t)value2->valuedouble));
      cJSON_AddStringToObject(a, "op", op);
      cJSON_AddItemToArray(out_args, a);
      j++;
    }
  }
  cJSON_AddItemToArray(syscalls, out);
  return 0;
}

static int convert_profile(const struct load_ctx *l, const cJSON *in, cJSON **out,
                           crio_error_t *err) {
  if (!cJSON_IsObject(in))
    return crio_error(err, EINVAL, "not a JSON object");
  const char *def = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(in, "defaultAction"));
  if (!in_list(def, actions, sizeof(actions) / sizeof(actions[0])))
    return crio_error(err, EINVAL, "defaultAction: missing or unknown \"%s\"", def ? def : "");
  cJSON *p = cJSON_CreateObject();
  cJSON_AddStringToObject(p, "defaultAction", def);
  const cJSON *def_errno = cJSON_GetObjectItemCaseSensitive(in, "defaultErrnoRet");
  if (cJSON_IsNumber(def_errno))
    cJSON_AddNumberToObject(p, "defaultErrnoRet", def_errno->valuedouble);

  size_t n_native;
  const char *native = spec_seccomp_arches(&n_native)[0];
  const cJSON *arches = cJSON_GetObjectItemCaseSensitive(in, "architectures");
  const cJSON *arch_map = cJSON_GetObjectItemCaseSensitive(in, "archMap");
  const cJSON *it;
  if (cJSON_GetArraySize(arches) > 0) {
    cJSON_AddItemToObject(p, "architectures", cJSON_Duplicate(arches, true));
  } else {
    /* archMap: the entry for this machine, with its sub-architectures. */
    cJSON_ArrayForEach(it, arch_map) {
      const char *a = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "architecture"));
      if (a == NULL || strcmp(a, native) != 0)
        continue;
      cJSON *list = cJSON_AddArrayToObject(p, "architectures");
      cJSON_AddItemToArray(list, cJSON_CreateString(a));
      const cJSON *sub;
      cJSON_ArrayForEach(sub, cJSON_GetObjectItemCaseSensitive(it, "subArchitectures")) {
        if (cJSON_IsString(sub))
          cJSON_AddItemToArray(list, cJSON_CreateString(sub->valuestring));
      }
      break;
    }
  }
  const cJSON *flags = cJSON_GetObjectItemCaseSensitive(in, "flags");
  if (cJSON_GetArraySize(flags) > 0)
    cJSON_AddItemToObject(p, "flags", cJSON_Duplicate(flags, true));

  cJSON *syscalls = cJSON_AddArrayToObject(p, "syscalls");
  size_t i = 0;
  const cJSON *calls = cJSON_GetObjectItemCaseSensitive(in, "syscalls");
  if (calls && !cJSON_IsArray(calls)) {
    cJSON_Delete(p);
    return crio_error(err, EINVAL, "syscalls: not a list");
  }
  cJSON_ArrayForEach(it, calls) {
    if (convert_rule(l, it, i++, syscalls, err) < 0) {
      cJSON_Delete(p);
      return -1;
    }
  }
  *out = p;
  return 0;
}

int oci_seccomp_profile_load(const char *path, uint64_t caps, cJSON **out, crio_error_t *err) {
  *out = NULL;
  struct load_ctx l = {.path = path, .caps = caps};
  struct utsname u;
  if (uname(&u) == 0)
    sscanf(u.release, "%d.%d", &l.kernel_major, &l.kernel_minor);
  /* A profile the request names but the node lacks is bad input. */
  if (access(path, R_OK) < 0)
    return crio_error(err, EINVAL, "seccomp profile %s: cannot be read (%s)", path,
                      strerror(errno));
  cleanup_free char *text = NULL;
  if (crio_read_regular_file(path, OCI_SECCOMP_PROFILE_MAX, &text, NULL, err) < 0) {
    /* A FIFO, a device or an oversized file is the request's fault. */
    crio_error_set_status(err, EINVAL);
    return crio_error_prefix(err, "seccomp profile");
  }
  cJSON *json = cJSON_Parse(text);
  if (json == NULL)
    return crio_error(err, EINVAL, "seccomp profile %s: not valid JSON", path);
  int r = convert_profile(&l, json, out, err);
  cJSON_Delete(json);
  if (r < 0)
    return crio_error_prefix(err, "seccomp profile %s", path);
  return 0;
}

/* ---- the choice --------------------------------------------------------------- */
enum seccomp_choice { SECCOMP_NONE, SECCOMP_DEFAULT, SECCOMP_LOCALHOST };

static int choose(const struct spec_ctx *c, enum seccomp_choice *choice, const char **path,
                  crio_error_t *err) {
  *choice = SECCOMP_NONE;
  *path = NULL;
  /* Privileged containers run without a filter (CRI: "no seccomp"). */
  if (c->privileged || c->sc == NULL)
    return 0;
  const Runtime__V1__SecurityProfile *p = c->sc->seccomp;
  if (p) {
    switch (p->profile_type) {
    case RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault:
      *choice = SECCOMP_DEFAULT;
      return 0;
    case RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined:
      return 0;
    case RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost:
      if (p->localhost_ref == NULL || p->localhost_ref[0] != '/')
        return crio_error(err, EINVAL,
                          "config.linux.security_context.seccomp.localhost_ref: \"%s\" is not an "
                          "absolute path",
                          p->localhost_ref ? p->localhost_ref : "");
      *choice = SECCOMP_LOCALHOST;
      *path = p->localhost_ref;
      return 0;
    default:
      return crio_error(err, EINVAL, "config.linux.security_context.seccomp.profile_type: %d",
                        p->profile_type);
    }
  }
  /* The deprecated string form, for kubelets before 1.19's field. */
  const char *s = spec_legacy_seccomp(c->sc);
  if (s[0] == '\0' || strcmp(s, "unconfined") == 0)
    return 0; /* unset: the kubelet's meaning is Unconfined */
  if (strcmp(s, "runtime/default") == 0 || strcmp(s, "docker/default") == 0) {
    *choice = SECCOMP_DEFAULT;
    return 0;
  }
  if (strncmp(s, "localhost/", 10) == 0 && s[10] == '/') {
    *choice = SECCOMP_LOCALHOST;
    *path = s + 10;
    return 0;
  }
  return crio_error(err, EINVAL,
                    "config.linux.security_context.seccomp_profile_path: \"%s\" is not "
                    "runtime/default, unconfined or localhost/<absolute path>",
                    s);
}

int spec_seccomp(struct spec_ctx *c, cJSON *linux_obj, crio_error_t *err) {
  enum seccomp_choice choice;
  const char *path;
  if (choose(c, &choice, &path, err) < 0)
    return -1;
  cJSON *profile = NULL;
  if (choice == SECCOMP_DEFAULT)
    oci_seccomp_default_profile(c->caps_effective, &profile);
  else if (choice == SECCOMP_LOCALHOST &&
           oci_seccomp_profile_load(path, c->caps_effective, &profile, err) < 0)
    return crio_error_prefix(err, "config.linux.security_context.seccomp");
  if (profile)
    cJSON_AddItemToObject(linux_obj, "seccomp", profile);
  return 0;
}
