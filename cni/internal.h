/* cni/ internals shared between its files; not part of the folder's
 * interface (that is cni.h). */
#ifndef CRIO_CNI_INTERNAL_H
#define CRIO_CNI_INTERNAL_H

#include <cjson/cJSON.h>

#include "cni/cni.h"

#define cleanup_cjson __attribute__((cleanup(cni_cjson_deletep)))
static inline void cni_cjson_deletep(cJSON **j) {
  if (*j)
    cJSON_Delete(*j);
}

/* The string member `key` of `obj`, or NULL. */
const char *cni_json_string(const cJSON *obj, const char *key);

/* Path of the executable for plugin `type` in the first of `plugin_dirs`
 * that has it.  EINVAL for a type that is empty or contains '/', ENOENT
 * when no dir has it. */
int cni_find_plugin(const char *type, const char *const *plugin_dirs, char **path,
                    crio_error_t *err);

/* Runs `path` with exactly `envp` as its environment, `input` on stdin,
 * and collects stdout and stderr; kills the plugin's process group after
 * `timeout_sec` (ETIMEDOUT); crio_run underneath.  Returns 0 whenever the plugin ran to its end,
 * whatever its exit code; -1 when it could not be started, timed out, or
 * printed more than the cap. */
int cni_exec(const char *path, char *const *envp, const char *input, size_t input_len,
             unsigned timeout_sec, struct crio_run_result *out, crio_error_t *err);

/* Semantic version compare of "a.b.c" strings (missing parts are 0). */
int cni_version_compare(const char *a, const char *b);

#endif
