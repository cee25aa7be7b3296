/* The keys of [crio.runtime.runtimes.<name>] that reach the runtime and its
 * monitor, with CRI-O's names and meanings (pkg/config RuntimeHandler);
 * config_file.c reads the table and hands each of these keys here:
 *
 *   monitor_env            conmon's environment, "KEY=value"
 *   allowed_annotations    experimental annotations the handler may process
 *                          (kept and shown by Status; none is acted on yet)
 *   platform_runtime_paths {"linux/amd64" = path}: the path for this
 *                          machine's platform replaces runtime_path
 *
 * and one key of ours, since CRI-O has none and a gVisor handler needs
 * global options (CRI-O's users wrap the runtime in a script instead):
 *
 *   runtime_args           words after --root=<runtime_root>, e.g.
 *                          ["--platform=ptrace", "--network=host"] */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "daemon/internal.h"
#include "toml/toml.h"

void daemon_runtime_release_keys(struct daemon_runtime *r) {
  cleanup_strvp(&r->monitor_env);
  cleanup_strvp(&r->allowed_annotations);
  cleanup_strvp(&r->runtime_args);
}

/* Go's GOOS/GOARCH spelling of this machine, as CRI-O's keys are. */
static const char *go_arch(const char *machine) {
  static const struct {
    const char *uname, *go;
  } map[] = {{"x86_64", "amd64"}, {"aarch64", "arm64"}, {"ppc64le", "ppc64le"}, {"s390x", "s390x"},
             {"i686", "386"},     {"armv7l", "arm"},    {"riscv64", "riscv64"}};
  for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
    if (strcmp(machine, map[i].uname) == 0)
      return map[i].go;
  return machine;
}

static int read_platform_paths(struct daemon_runtime *r, const struct toml_value *paths,
                               crio_error_t *err) {
  if (paths->type != TOML_TABLE)
    return toml_error(err, paths, "expected a table of platform = path");
  struct utsname u;
  if (uname(&u) < 0)
    return crio_error_errno(err, errno, "uname");
  cleanup_free char *platform = xasprintf("linux/%s", go_arch(u.machine));
  for (size_t i = 0; i < toml_table_count(paths); i++) {
    const struct toml_value *v = toml_table_value(paths, i);
    const char *path = NULL;
    if (toml_as_string(v, &path, err) < 0)
      return -1;
    if (path[0] != '/')
      return toml_error(err, v, "must be an absolute path");
    if (strcmp(toml_table_key(paths, i), platform) == 0) {
      free(r->runtime_path);
      r->runtime_path = xstrdup(path);
    }
  }
  return 0;
}

int daemon_runtime_read_key(struct daemon_runtime *r, const char *key, const struct toml_value *v,
                            crio_error_t *err) {
  char ***list = strcmp(key, "monitor_env") == 0           ? &r->monitor_env
                 : strcmp(key, "allowed_annotations") == 0 ? &r->allowed_annotations
                 : strcmp(key, "runtime_args") == 0        ? &r->runtime_args
                                                           : NULL;
  if (list) {
    char **words = NULL;
    if (toml_as_string_array(v, &words, err) < 0)
      return -1;
    if (list == &r->monitor_env)
      for (char **e = words; *e; e++)
        if (strchr(*e, '=') == NULL || **e == '=') {
          toml_error(err, v, "\"%s\" is not KEY=value", *e);
          cleanup_strvp(&words);
          return -1;
        }
    cleanup_strvp(list);
    *list = words;
    return 1;
  }
  if (strcmp(key, "platform_runtime_paths") == 0)
    return read_platform_paths(r, v, err) < 0 ? -1 : 1;
  return 0;
}
