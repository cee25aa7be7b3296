/* Running one CNI plugin binary through common/'s spawner: no shell, the
 * given environment (CNI_* and PATH) and nothing else, the request JSON on
 * stdin, stdout (the result) and stderr captured with caps, a deadline. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cni/internal.h"

const char *cni_json_string(const cJSON *obj, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

int cni_find_plugin(const char *type, const char *const *plugin_dirs, char **path,
                    crio_error_t *err) {
  if (type == NULL || *type == '\0' || strchr(type, '/') != NULL || strcmp(type, ".") == 0 ||
      strcmp(type, "..") == 0)
    return crio_error(err, EINVAL, "invalid CNI plugin type \"%s\"", type ? type : "");
  for (const char *const *dir = plugin_dirs; dir && *dir; dir++) {
    cleanup_free char *candidate = xasprintf("%s/%s", *dir, type);
    struct stat st;
    if (stat(candidate, &st) == 0 && S_ISREG(st.st_mode) && access(candidate, X_OK) == 0) {
      *path = steal_pointer(&candidate);
      return 0;
    }
  }
  return crio_error(err, ENOENT,
                    "CNI plugin \"%s\" not found in the plugin "
                    "dirs",
                    type);
}

/* A plugin's result is small; anything near these sizes is a runaway. */
#define CNI_STDOUT_CAP (4u << 20)
#define CNI_STDERR_CAP (64u << 10)

int cni_exec(const char *path, char *const *envp, const char *input, size_t input_len,
             unsigned timeout_sec, struct crio_run_result *result, crio_error_t *err) {
  const char *argv[] = {path, NULL};
  struct crio_run run = {
      .spawn = {.argv = argv, .envp = (const char *const *)envp},
      .input = input,
      .input_len = input_len,
      .out_cap = CNI_STDOUT_CAP,
      .err_cap = CNI_STDERR_CAP,
      .timeout_ms = (int64_t)timeout_sec * 1000,
      /* The plugin's result is complete when it has exited and closed its
       * output: a helper it spawned may still hold the pipes (as with Go's
       * exec, we wait for it, within the deadline). */
      .wait_output_eof = true,
  };
  if (crio_run(&run, result, err) < 0)
    return crio_error_prefix(err, "CNI plugin");
  if (result->timed_out) {
    crio_run_result_release(result);
    return crio_error(err, ETIMEDOUT, "CNI plugin %s did not finish within %u s; killed", path,
                      timeout_sec);
  }
  if (result->out_truncated) {
    crio_run_result_release(result);
    return crio_error(err, EMSGSIZE, "CNI plugin %s printed more than %u bytes", path,
                      CNI_STDOUT_CAP);
  }
  return 0;
}

int cni_version_compare(const char *a, const char *b) {
  for (int part = 0; part < 3; part++) {
    long x = 0, y = 0;
    if (a && *a) {
      char *end;
      x = strtol(a, &end, 10);
      a = (*end == '.') ? end + 1 : end;
    }
    if (b && *b) {
      char *end;
      y = strtol(b, &end, 10);
      b = (*end == '.') ? end + 1 : end;
    }
    if (x != y)
      return x < y ? -1 : 1;
  }
  return 0;
}
