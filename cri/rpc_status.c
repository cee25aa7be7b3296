#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cri/internal.h"
#include "reconciler/reconciler.h"

static Runtime__V1__RuntimeCondition *condition(struct cri_request *req, const char *type, bool ok,
                                                const char *reason, const char *message) {
  Runtime__V1__RuntimeCondition *c = cri_alloc(req, sizeof(*c));
  runtime__v1__runtime_condition__init(c);
  c->type = (char *)type;
  c->status = ok;
  c->reason = cri_strdup(req, ok ? "" : reason);
  c->message = cri_strdup(req, ok ? "" : message);
  return c;
}

static const struct cri_runtime_handler *default_handler(const struct cri_config *cfg) {
  for (size_t i = 0; i < cfg->n_runtimes; i++)
    if (strcmp(cfg->runtimes[i].name, cfg->default_runtime) == 0)
      return &cfg->runtimes[i];
  return NULL;
}

/* RuntimeReady: we can run containers at all — the default OCI runtime and
 * conmon are executable.  Their versions are checked when they are used. */
static Runtime__V1__RuntimeCondition *runtime_ready(struct cri_request *req) {
  const struct cri_config *cfg = req->ctx->config;
  const struct cri_runtime_handler *h = default_handler(cfg);
  if (h == NULL)
    return condition(
        req, "RuntimeReady", false, "NoDefaultRuntime",
        cri_printf(req, "default runtime \"%s\" is not configured", cfg->default_runtime));
  if (access(h->runtime_path, X_OK) < 0)
    return condition(req, "RuntimeReady", false, "RuntimeNotExecutable",
                     cri_printf(req, "OCI runtime %s: %s", h->runtime_path, strerror(errno)));
  if (access(cfg->conmon_path, X_OK) < 0)
    return condition(req, "RuntimeReady", false, "ConmonNotExecutable",
                     cri_printf(req, "conmon %s: %s", cfg->conmon_path, strerror(errno)));
  return condition(req, "RuntimeReady", true, NULL, NULL);
}

static Runtime__V1__RuntimeCondition *network_ready(struct cri_request *req) {
  cleanup_error crio_error_t err = NULL;
  if (reconciler_network_ready(req->ctx->reconciler, &err) < 0)
    return condition(req, "NetworkReady", false, "NetworkPluginNotReady",
                     cri_printf(req, "Network plugin returns error: %s", crio_error_message(&err)));
  return condition(req, "NetworkReady", true, NULL, NULL);
}

static void add_strv(cJSON *obj, const char *key, const char *const *v) {
  cJSON *a = cJSON_AddArrayToObject(obj, key);
  for (; v && *v; v++)
    cJSON_AddItemToArray(a, cJSON_CreateString(*v));
}

static char *config_json(struct cri_request *req) {
  const struct cri_config *cfg = req->ctx->config;
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "root", cfg->root);
  cJSON_AddStringToObject(root, "runroot", cfg->runroot);
  cJSON_AddStringToObject(root, "defaultRuntime", cfg->default_runtime);
  cJSON_AddStringToObject(root, "conmon", cfg->conmon_path);
  cJSON_AddStringToObject(root, "cgroupDriver",
                          cfg->cgroup_driver == CRI_CGROUP_DRIVER_SYSTEMD ? "systemd" : "cgroupfs");
  cJSON_AddStringToObject(root, "cniConfigDir", cfg->cni_config_dir);
  cJSON *dirs = cJSON_AddArrayToObject(root, "cniPluginDirs");
  for (const char *const *d = cfg->cni_plugin_dirs; d && *d; d++)
    cJSON_AddItemToArray(dirs, cJSON_CreateString(*d));
  cJSON *runtimes = cJSON_AddObjectToObject(root, "runtimes");
  for (size_t i = 0; i < cfg->n_runtimes; i++) {
    cJSON *r = cJSON_AddObjectToObject(runtimes, cfg->runtimes[i].name);
    cJSON_AddStringToObject(r, "runtimePath", cfg->runtimes[i].runtime_path);
    cJSON_AddStringToObject(r, "runtimeRoot", cfg->runtimes[i].runtime_root);
    /* CRI-O's key names, as `crio status config` shows them. */
    const struct cri_runtime_handler *h = &cfg->runtimes[i];
    cJSON_AddStringToObject(r, "runtime_type", h->runtime_type ? h->runtime_type : "oci");
    cJSON_AddStringToObject(r, "runtime_config_path",
                            h->runtime_config_path ? h->runtime_config_path : "");
    cJSON_AddStringToObject(r, "monitor_path",
                            h->monitor_path ? h->monitor_path : cfg->conmon_path);
    add_strv(r, "monitor_env", h->monitor_env);
    add_strv(r, "allowed_annotations", h->allowed_annotations);
    add_strv(r, "runtime_args", h->runtime_args);
    cJSON_AddBoolToObject(r, "privileged_without_host_devices", h->privileged_without_host_devices);
  }
  return cri_json_print(req, root);
}

int cri_handle_status(struct cri_request *req, ProtobufCMessage **response, crio_error_t *err) {
  const Runtime__V1__StatusRequest *in = (const void *)req->message;
  const struct cri_config *cfg = req->ctx->config;
  Runtime__V1__StatusResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__status_response__init(resp);

  Runtime__V1__RuntimeStatus *status = cri_alloc(req, sizeof(*status));
  runtime__v1__runtime_status__init(status);
  status->n_conditions = 2;
  status->conditions = cri_alloc(req, 2 * sizeof(*status->conditions));
  status->conditions[0] = runtime_ready(req);
  status->conditions[1] = network_ready(req);
  resp->status = status;

  /* Handlers the pod's RuntimeClass may name; "" is the default. */
  resp->n_runtime_handlers = cfg->n_runtimes + 1;
  resp->runtime_handlers =
      cri_alloc(req, resp->n_runtime_handlers * sizeof(*resp->runtime_handlers));
  for (size_t i = 0; i < resp->n_runtime_handlers; i++) {
    Runtime__V1__RuntimeHandler *h = cri_alloc(req, sizeof(*h));
    runtime__v1__runtime_handler__init(h);
    h->name = i == 0 ? "" : (char *)cfg->runtimes[i - 1].name;
    h->features = cri_alloc(req, sizeof(*h->features));
    runtime__v1__runtime_handler_features__init(h->features);
    resp->runtime_handlers[i] = h;
  }
  resp->features = cri_alloc(req, sizeof(*resp->features));
  runtime__v1__runtime_features__init(resp->features);

  if (in->verbose) {
    CRI_MAP_ONE(req, resp->n_info, resp->info, Runtime__V1__StatusResponse__InfoEntry,
                runtime__v1__status_response__info_entry__init, "config", config_json(req));
  }
  *response = &resp->base;
  return 0;
}
