/* The container operations (reconciler.h, "operations"): what
 * UpdateContainerResources, ReopenContainerLog and ExecSync need done on
 * the host, run through reconciler_run_op so they are serialised with the
 * container's steps.
 *
 * UpdateContainerResources.  Resources are intent, but not a state the
 * reconciler could drive toward (nothing in the lifecycle tables moves when
 * a limit changes), so the update is an exclusive, logged operation rather
 * than a transition: the runtime's `update`, then in one txn the record's
 * resources_update and a GOAL entry naming the change.  runc applies absolute values, so
 * repeating an update is harmless; a crash between the two leaves the host
 * ahead of the record until the kubelet sends its resources again (it
 * does, on every resize it reconciles), never a record claiming limits the
 * host did not get.  A failed update changes nothing in the record, nor
 * in the log.  Two updates of one container are serialised by the
 * operation's hold on the object, so the record always ends with what the
 * runtime applied last.
 *
 * The kubelet's message may leave fields at zero; runc leaves those as
 * they are, so the stored value is the effective one: the previous
 * resources (the last update, else the creation config's) with every
 * field the request set replaced. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "oci/spec.h"
#include "reconciler/container_steps.h"
#include "reconciler/internal.h"
#include "statemachine/statemachine.h"

/* conmon answers within milliseconds; this only bounds a stuck one. */
#define REOPEN_TIMEOUT_MS 10000u

static int check_running(struct reconcile_op *op, crio_error_t *err) {
  const store_record *rec = op->record;
  if (rec->state == SM_CONTAINER_RUNNING)
    return 0;
  return crio_error(err, EBUSY, "container %s is not running (%s)", rec->id,
                    sm_state_name(SM_KIND_CONTAINER, rec->state));
}

static const struct oci_runtime *runtime_of(struct reconciler *r, const store_record *rec,
                                            crio_error_t *err) {
  if (r->container_env == NULL) {
    crio_error(err, ENOSYS, "container %s: no container steps are registered", rec->id);
    return NULL;
  }
  return container_runtime(r->container_env, rec, err);
}

/* ---- the resources in effect ------------------------------------------------------ */

Runtime__V1__LinuxContainerResources *reconciler_container_resources(const store_record *rec,
                                                                     ProtobufCAllocator *alloc) {
  if (rec->resources_update.len)
    return runtime__v1__linux_container_resources__unpack(alloc, rec->resources_update.len,
                                                          rec->resources_update.data);
  if (rec->container == NULL || rec->container->cri_config.len == 0)
    return NULL;
  Runtime__V1__ContainerConfig *config = runtime__v1__container_config__unpack(
      alloc, rec->container->cri_config.len, rec->container->cri_config.data);
  if (config == NULL || config->linux == NULL || config->linux->resources == NULL) {
    if (config)
      runtime__v1__container_config__free_unpacked(config, alloc);
    return NULL;
  }
  /* Keep the resources, free the rest of the config. */
  Runtime__V1__LinuxContainerResources *res = config->linux->resources;
  size_t len = runtime__v1__linux_container_resources__get_packed_size(res);
  cleanup_free uint8_t *bytes = xmalloc(len ? len : 1);
  runtime__v1__linux_container_resources__pack(res, bytes);
  runtime__v1__container_config__free_unpacked(config, alloc);
  return runtime__v1__linux_container_resources__unpack(alloc, len, bytes);
}

/* The previous resources with every field `in` set replaced, packed into
 * the record's resources_update. */
static void merge_into_record(store_record *rec, const Runtime__V1__LinuxContainerResources *in) {
  Runtime__V1__LinuxContainerResources *base = reconciler_container_resources(rec, NULL);
  Runtime__V1__LinuxContainerResources m = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
  if (base)
    m = *base; /* members stay base's (or in's), freed with base */
#define TAKE(field)                                                                                \
  if (in->field)                                                                                   \
  m.field = in->field
  TAKE(cpu_period);
  TAKE(cpu_quota);
  TAKE(cpu_shares);
  TAKE(memory_limit_in_bytes);
  TAKE(oom_score_adj);
  TAKE(memory_swap_limit_in_bytes);
#undef TAKE
  if (in->cpuset_cpus && *in->cpuset_cpus)
    m.cpuset_cpus = in->cpuset_cpus;
  if (in->cpuset_mems && *in->cpuset_mems)
    m.cpuset_mems = in->cpuset_mems;
  if (in->n_hugepage_limits) {
    m.n_hugepage_limits = in->n_hugepage_limits;
    m.hugepage_limits = in->hugepage_limits;
  }
  if (in->n_unified) {
    m.n_unified = in->n_unified;
    m.unified = in->unified;
  }
  if (m.cpuset_cpus == NULL)
    m.cpuset_cpus = (char *)"";
  if (m.cpuset_mems == NULL)
    m.cpuset_mems = (char *)"";
  size_t len = runtime__v1__linux_container_resources__get_packed_size(&m);
  uint8_t *bytes = xmalloc(len ? len : 1);
  runtime__v1__linux_container_resources__pack(&m, bytes);
  if (base)
    runtime__v1__linux_container_resources__free_unpacked(base, NULL);
  free(rec->resources_update.data);
  rec->resources_update.data = bytes;
  rec->resources_update.len = len;
}

/* For the log: what the request changed. */
static char *describe(const Runtime__V1__LinuxContainerResources *in) {
  char buf[512];
  size_t n = 0;
  buf[0] = '\0';
#define SAY(field)                                                                                 \
  if (in->field && n < sizeof(buf))                                                                \
  n += (size_t)snprintf(buf + n, sizeof(buf) - n, " %s=%lld", #field, (long long)in->field)
  SAY(cpu_period);
  SAY(cpu_quota);
  SAY(cpu_shares);
  SAY(memory_limit_in_bytes);
  SAY(memory_swap_limit_in_bytes);
#undef SAY
  if (in->cpuset_cpus && *in->cpuset_cpus && n < sizeof(buf))
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, " cpuset_cpus=%s", in->cpuset_cpus);
  if (in->cpuset_mems && *in->cpuset_mems && n < sizeof(buf))
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, " cpuset_mems=%s", in->cpuset_mems);
  if (in->n_hugepage_limits && n < sizeof(buf))
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, " hugepage_limits[%zu]", in->n_hugepage_limits);
  if (in->n_unified && n < sizeof(buf))
    snprintf(buf + n, sizeof(buf) - n, " unified[%zu]", in->n_unified);
  return xasprintf("UpdateContainerResources:%s", buf[0] ? buf : " (nothing set)");
}

struct update {
  const Runtime__V1__LinuxContainerResources *in;
  const char *resources_json;
  const struct oci_runtime *rt; /* the check's */
};

static int check_updatable(struct reconcile_op *op, crio_error_t *err) {
  struct update *u = op->data;
  const store_record *rec = op->record;
  if (rec->state != SM_CONTAINER_CREATED && rec->state != SM_CONTAINER_RUNNING)
    return crio_error(err, EBUSY, "container %s is not running (%s)", rec->id,
                      sm_state_name(SM_KIND_CONTAINER, rec->state));
  u->rt = runtime_of(op->reconciler, rec, err);
  return u->rt ? 0 : -1;
}

static int op_update_resources(struct reconcile_op *op, crio_error_t *err) {
  struct update *u = op->data;
  store_record *rec = op->record;
  int rc = oci_runtime_update(u->rt, rec->id, u->resources_json, err);
  /* Even a failed update may have written some of the limits. */
  reconciler_samplers_forget_container_cgroup(op->reconciler, rec);
  if (rc < 0)
    return crio_error_prefix(err, "update resources of container %s", rec->id);
  merge_into_record(rec, u->in);
  return 0;
}

static const struct reconcile_op_type update_resources = {
    .name = RECONCILER_OP_CONTAINER_UPDATE_RESOURCES,
    .kind = SM_KIND_CONTAINER,
    .mode = RECONCILE_OP_EXCLUSIVE,
    .logged = true,
    .check = check_updatable,
};

int reconciler_container_update_resources(struct reconciler *r, const char *id,
                                          const Runtime__V1__LinuxContainerResources *in,
                                          int64_t deadline_ns, crio_error_t *err) {
  /* The runtime's JSON, checked as the spec builder checks a config's
   * resources (its field names: "config.linux.resources.x"), before
   * anything is logged. */
  struct oci_spec_host host;
  if (oci_spec_host_detect(&host, err) < 0)
    return -1;
  cleanup_oci_spec_warnings struct oci_spec_warnings warnings = {0};
  cJSON *json = NULL;
  if (oci_spec_update_resources(id, in, &host, &json, &warnings, err) < 0)
    return -1;
  char *text = cJSON_PrintUnformatted(json);
  cJSON_Delete(json);
  if (text == NULL)
    return crio_error(err, ENOMEM, "print resources JSON");
  cleanup_free char *resources_json = xstrdup(text);
  cJSON_free(text);
  for (size_t i = 0; i < warnings.n; i++)
    log_warning("UpdateContainerResources %s: %s", id, warnings.items[i]);

  struct update u = {.in = in, .resources_json = resources_json};
  cleanup_free char *message = describe(in);
  if (reconciler_run_op(r, &update_resources, id, message, op_update_resources, &u, deadline_ns,
                        err) < 0)
    return -1;
  log_info("container %s: resources updated: %s", id, resources_json);
  return 0;
}

/* ---- ReopenContainerLog ---------------------------------------------------------------
 * The kubelet rotated the log (renamed it away) and asks for a fresh file
 * at the same path.  conmon holds the file, so the request goes to it over
 * its control FIFO (<bundle>/ctl), which is only there while the container
 * runs.  Exclusive and logged: a stop or removal does not run while conmon
 * is asked. */

static int op_reopen_log(struct reconcile_op *op, crio_error_t *err) {
  const store_record *rec = op->record;
  const char *bundle = rec->container->bundle_dir;
  const char *log_path = rec->container->log_path;
  if (bundle == NULL || *bundle == '\0' || log_path == NULL || *log_path == '\0')
    return crio_error(err, EUCLEAN, "container %s: record names no bundle or log path", rec->id);
  if (oci_conmon_reopen_log(bundle, log_path, REOPEN_TIMEOUT_MS, err) < 0) {
    /* EBUSY: nobody reads the FIFO, the container has just exited. */
    if (crio_error_status(err) == EBUSY) {
      crio_error_release(err);
      return crio_error(err, EBUSY, "container %s is not running (its monitor has exited)",
                        rec->id);
    }
    return crio_error_prefix(err, "reopen log of container %s", rec->id);
  }
  return 0;
}

static const struct reconcile_op_type reopen_log = {
    .name = RECONCILER_OP_CONTAINER_REOPEN_LOG,
    .kind = SM_KIND_CONTAINER,
    .mode = RECONCILE_OP_EXCLUSIVE,
    .logged = true,
    .check = check_running,
};

int reconciler_container_reopen_log(struct reconciler *r, const char *id, int64_t deadline_ns,
                                    crio_error_t *err) {
  return reconciler_run_op(r, &reopen_log, id, "ReopenContainerLog", op_reopen_log, NULL,
                           deadline_ns, err);
}

/* ---- ExecSync ---------------------------------------------------------------------------
 * A command in a running container.  Not a state transition and nothing
 * to log: a shared operation, so concurrent execs (probes) run side by
 * side, and a stop is not held up by one (the stop's SIGKILL ends the
 * command with the container).  The process template is the container's
 * own "process" from its bundle's config.json (user, env, cwd,
 * capabilities, rlimits, LSM labels), with the request's argv; the runtime
 * runs it through oci_exec_sync (a subreaper helper, see oci/exec_sync.c),
 * each stream capped at OCI_EXEC_OUTPUT_CAP (CVE-2022-1708). */

struct exec {
  const char *const *argv;
  int64_t timeout_s;
  int64_t deadline_ns;
  struct reconciler_exec_result *out;
};

/* The tighter of the request's timeout and the call's deadline; 0: none.
 * A deadline already passed leaves 1 ms, so the command is killed at once
 * rather than run unbounded. */
static int64_t exec_timeout_ms(int64_t timeout_s, int64_t deadline_ns) {
  int64_t ms = timeout_s > 0 ? timeout_s * 1000 : 0;
  if (deadline_ns > 0) {
    int64_t left = (deadline_ns - crio_monotonic_ns()) / 1000000;
    if (left < 1)
      left = 1;
    if (ms == 0 || left < ms)
      ms = left;
  }
  return ms;
}

static int op_exec_sync(struct reconcile_op *op, crio_error_t *err) {
  struct exec *x = op->data;
  const store_record *rec = op->record;
  const char *bundle = rec->container->bundle_dir;
  if (bundle == NULL || *bundle == '\0')
    return crio_error(err, EUCLEAN, "container %s: record names no bundle", rec->id);
  const struct oci_runtime *rt = runtime_of(op->reconciler, rec, err);
  if (rt == NULL)
    return -1;
  cleanup_free char *config_path = xasprintf("%s/config.json", bundle);
  cleanup_free char *process = NULL;
  if (oci_exec_process_json(config_path, x->argv, &process, err) < 0)
    return crio_error_prefix(err, "container %s", rec->id);
  int64_t timeout_ms = exec_timeout_ms(x->timeout_s, x->deadline_ns);
  struct oci_exec_result result;
  int rc =
      oci_exec_sync(rt, rec->id, process, bundle, timeout_ms, OCI_EXEC_OUTPUT_CAP, &result, err);
  if (rc < 0) {
    oci_exec_result_release(&result);
    if (crio_error_status(err) == ETIMEDOUT) {
      crio_error_release(err);
      return crio_error(err, ETIMEDOUT, "command %s in container %s timed out after %lld ms",
                        x->argv[0], rec->id, (long long)timeout_ms);
    }
    return -1;
  }
  *x->out = (struct reconciler_exec_result){
      .exit_code = result.exit_code,
      .out = steal_pointer(&result.out),
      .out_len = result.out_len,
      .out_truncated = result.out_truncated,
      .err_out = steal_pointer(&result.errout),
      .err_len = result.err_len,
      .err_truncated = result.err_truncated,
  };
  oci_exec_result_release(&result);
  return 0;
}

static const struct reconcile_op_type exec_sync = {
    .name = "container.exec_sync",
    .kind = SM_KIND_CONTAINER,
    .mode = RECONCILE_OP_SHARED,
    .check = check_running,
};

int reconciler_container_exec_sync(struct reconciler *r, const char *id, const char *const *argv,
                                   int64_t timeout_s, int64_t deadline_ns,
                                   struct reconciler_exec_result *out, crio_error_t *err) {
  memset(out, 0, sizeof(*out));
  struct exec x = {.argv = argv, .timeout_s = timeout_s, .deadline_ns = deadline_ns, .out = out};
  return reconciler_run_op(r, &exec_sync, id, NULL, op_exec_sync, &x, deadline_ns, err);
}

void reconciler_exec_result_release(struct reconciler_exec_result *res) {
  free(res->out);
  free(res->err_out);
  memset(res, 0, sizeof(*res));
}
