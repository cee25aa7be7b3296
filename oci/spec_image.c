/* The image's side of a container: its config section, its stop signal,
 * and the directories its rootfs must have before the runtime runs. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "oci/spec_internal.h"

const cJSON *spec_image_section(const cJSON *image_config) {
  const cJSON *section = cJSON_GetObjectItemCaseSensitive(image_config, "config");
  return cJSON_IsObject(section) ? section : NULL;
}

const char *spec_image_string(const cJSON *img, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(img, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* "TERM", "SIGTERM", "15", "RTMIN+2", "SIGRTMAX-1" (any case) -> number. */
static int signal_from_name(const char *name) {
  char *end = NULL;
  long n = strtol(name, &end, 10);
  if (end != name && *end == '\0')
    return n > 0 && n <= SIGRTMAX ? (int)n : -1;
  if (strncasecmp(name, "SIG", 3) == 0)
    name += 3;
  /* Second names of signals, which sigabbrev_np does not give. */
  static const struct {
    const char *name;
    int signo;
  } aliases[] = {{"CLD", SIGCHLD}, {"IOT", SIGABRT}, {"IO", SIGIO}, {"POLL", SIGPOLL}};
  for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
    if (strcasecmp(name, aliases[i].name) == 0)
      return aliases[i].signo;
  for (int s = 1; s < SIGRTMIN; s++) {
    const char *abbrev = sigabbrev_np(s);
    if (abbrev && strcasecmp(name, abbrev) == 0)
      return s;
  }
  /* Real-time signals counted as the C library exposes them (SIGRTMIN is
   * 34 with glibc, which keeps two for itself), as Docker and the kubelet
   * count them. */
  int base = 0, sign = 0;
  size_t skip = 0;
  if (strncasecmp(name, "RTMIN", 5) == 0)
    base = SIGRTMIN, sign = 1, skip = 5;
  else if (strncasecmp(name, "RTMAX", 5) == 0)
    base = SIGRTMAX, sign = -1, skip = 5;
  else
    return -1;
  const char *rest = name + skip;
  if (*rest == '\0')
    return base;
  /* The CRI enum's spelling: RTMINPLUS3, RTMAXMINUS2. */
  if ((sign > 0 && strncasecmp(rest, "PLUS", 4) == 0) ||
      (sign < 0 && strncasecmp(rest, "MINUS", 5) == 0))
    rest += sign > 0 ? 4 : 5;
  else if (*rest == (sign > 0 ? '+' : '-'))
    rest++;
  else
    return -1;
  n = strtol(rest, &end, 10);
  if (end == rest || *end != '\0' || n < 0)
    return -1;
  int s = base + sign * (int)n;
  return s >= SIGRTMIN && s <= SIGRTMAX ? s : -1;
}

int oci_spec_stop_signal(const Runtime__V1__ContainerConfig *config, const cJSON *image_config,
                         int *signo, crio_error_t *err) {
  *signo = SIGTERM;
  if (config && config->stop_signal != RUNTIME__V1__SIGNAL__SIGNAL_RUNTIME_DEFAULT) {
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&runtime__v1__signal__descriptor, config->stop_signal);
    int s = v ? signal_from_name(v->name + strlen("SIGNAL_")) : -1;
    if (s < 0)
      return crio_error(err, EINVAL, "config.stop_signal: unknown value %d", config->stop_signal);
    *signo = s;
    return 0;
  }
  const char *name = spec_image_string(spec_image_section(image_config), "StopSignal");
  if (name == NULL || name[0] == '\0')
    return 0;
  int s = signal_from_name(name);
  if (s < 0)
    return crio_error(err, EINVAL, "image config StopSignal: unknown signal \"%s\"", name);
  *signo = s;
  return 0;
}

/* True if some mount of the spec covers `path` (its destination is the
 * path or a parent of it). */
static bool covered_by_mount(const cJSON *spec, const char *path) {
  const cJSON *m;
  cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(spec, "mounts")) {
    const char *dest = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "destination"));
    if (dest && spec_path_is_within(path, dest))
      return true;
  }
  return false;
}

int oci_spec_prepare_rootfs(const char *rootfs, const cJSON *spec, const cJSON *image_config,
                            crio_error_t *err) {
  cleanup_close int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0)
    return crio_error_errno(err, errno, "open rootfs %s", rootfs);
  const cJSON *process = cJSON_GetObjectItemCaseSensitive(spec, "process");
  const char *cwd = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(process, "cwd"));
  if (cwd && !covered_by_mount(spec, cwd) && spec_mkdir_in_root(rootfd, cwd, 0755, err) < 0)
    return crio_error_prefix(err, "working directory");

  const cJSON *vol;
  cJSON_ArrayForEach(
      vol, cJSON_GetObjectItemCaseSensitive(spec_image_section(image_config), "Volumes")) {
    cleanup_free char *path = spec_clean_abs_path(vol->string);
    if (path == NULL)
      return crio_error(err, EINVAL, "image config Volumes: \"%s\" is not an absolute path",
                        vol->string);
    if (covered_by_mount(spec, path))
      continue;
    if (spec_mkdir_in_root(rootfd, path, 0755, err) < 0)
      return crio_error_prefix(err, "image volume");
  }
  return 0;
}
