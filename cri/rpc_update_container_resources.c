/* UpdateContainerResources: new cgroup limits for a created or running
 * container, applied by the runtime (`runtime update`) and kept in the
 * record so that ContainerStatus reports them and a daemon restart keeps
 * them.
 *
 * Why the record is written here, and how.  While an object lives only the
 * reconciler writes its state and body, and a CRI handler writes intent:
 * its goal.  Resources are intent too, but not a state the reconciler
 * could drive toward (nothing in the lifecycle tables moves when a limit
 * changes), so a transition would be a self-loop that the state machine,
 * its shortest-path search and waits-by-state are not made for.  Instead
 * the record has one more intent field beside the goal,
 * ObjectRecord.resources_update, written only by this handler
 * (store_set_resources_update: the record and a GOAL log entry naming the
 * change, in one txn) and kept by every reconciler commit as the goal is.
 *
 * Order: the runtime applies first, the record follows.  runc applies
 * absolute values, so repeating an update is harmless; a crash between
 * the two leaves the host ahead of the record until the kubelet sends its
 * resources again (it does, on every resize it reconciles), never a record
 * claiming limits the host did not get.  A failed update changes nothing
 * in the record.  Two updates of one container are serialised by an
 * flock(2) on its bundle directory, held across apply and persist, so the
 * record always ends with what the runtime applied last.
 *
 * The kubelet's message may leave fields at zero; runc leaves those as
 * they are, so the stored value is the effective one: the previous
 * resources (the last update, else the creation config's) with every
 * field the request set replaced. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cri/container.h"
#include "cri/ctr_ops.h"
#include "oci/spec.h"
#include "statemachine/statemachine.h"

static int validate(const Runtime__V1__UpdateContainerResourcesRequest *in, crio_error_t *err) {
  if (in->container_id == NULL || *in->container_id == '\0')
    return crio_error(err, EINVAL, "container_id is required");
  if (in->linux == NULL)
    return crio_error(err, EINVAL, "linux is required (windows resources do not apply here)");
  if (in->linux->oom_score_adj < -1000 || in->linux->oom_score_adj > 1000)
    return crio_error(err, EINVAL, "linux.oom_score_adj: %lld is outside -1000..1000",
                      (long long)in->linux->oom_score_adj);
  return 0;
}

static int check_updatable(const store_record *rec, crio_error_t *err) {
  if (rec->state == SM_CONTAINER_CREATED || rec->state == SM_CONTAINER_RUNNING)
    return 0;
  return crio_error(err, EBUSY, "container %s is not running (%s)", rec->id,
                    sm_state_name(SM_KIND_CONTAINER, rec->state));
}

/* The request's field names: the spec builder names them as in a
 * ContainerConfig. */
static int request_error(crio_error_t *err) {
  static const char prefix[] = "config.linux.resources.";
  const char *msg = crio_error_message(err);
  if (strncmp(msg, prefix, sizeof(prefix) - 1) != 0)
    return -1;
  cleanup_free char *renamed = xasprintf("linux.%s", msg + sizeof(prefix) - 1);
  int status = crio_error_status(err);
  crio_error_release(err);
  return crio_error(err, status, "%s", renamed);
}

/* ---- the effective resources ------------------------------------------------- */

static Runtime__V1__LinuxContainerResources *
merged(struct cri_request *req, const Runtime__V1__LinuxContainerResources *base,
       const Runtime__V1__LinuxContainerResources *in) {
  Runtime__V1__LinuxContainerResources *m = cri_alloc(req, sizeof(*m));
  runtime__v1__linux_container_resources__init(m);
  if (base)
    *m = *base; /* arena-owned members are shared, never freed */
#define TAKE(field)                                                                                \
  if (in->field)                                                                                   \
  m->field = in->field
  TAKE(cpu_period);
  TAKE(cpu_quota);
  TAKE(cpu_shares);
  TAKE(memory_limit_in_bytes);
  TAKE(oom_score_adj);
  TAKE(memory_swap_limit_in_bytes);
#undef TAKE
  if (in->cpuset_cpus && *in->cpuset_cpus)
    m->cpuset_cpus = in->cpuset_cpus;
  if (in->cpuset_mems && *in->cpuset_mems)
    m->cpuset_mems = in->cpuset_mems;
  if (in->n_hugepage_limits) {
    m->n_hugepage_limits = in->n_hugepage_limits;
    m->hugepage_limits = in->hugepage_limits;
  }
  if (in->n_unified) {
    m->n_unified = in->n_unified;
    m->unified = in->unified;
  }
  if (m->cpuset_cpus == NULL)
    m->cpuset_cpus = (char *)"";
  if (m->cpuset_mems == NULL)
    m->cpuset_mems = (char *)"";
  return m;
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

/* ---- serialisation of updates of one container -------------------------------- */

/* In one write txn: the record, if it still is this container, gets the
 * effective resources and the log says so. */
static int persist(struct cri_request *req, const char *id,
                   const Runtime__V1__LinuxContainerResources *in, crio_error_t *err) {
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(req->ctx->store, STORE_TXN_WRITE, &txn, err) < 0)
    return -1;
  cleanup_store_record store_record *rec = NULL;
  if (store_record_get(txn, STORE_KIND_CONTAINER, id, &rec, err) < 0)
    return crio_error_prefix(err, "container %s (removed while its resources were updated)", id);
  Runtime__V1__LinuxContainerResources *now = merged(req, cri_ctr_resources(req, rec), in);
  size_t len = runtime__v1__linux_container_resources__get_packed_size(now);
  cleanup_free uint8_t *bytes = xmalloc(len ? len : 1);
  runtime__v1__linux_container_resources__pack(now, bytes);
  cleanup_free char *message = describe(in);
  store_set_resources_update(txn, rec, bytes, len, message);
  return store_txn_commit(steal_pointer(&txn), err);
}

int cri_handle_update_container_resources(struct cri_request *req, ProtobufCMessage **response,
                                          crio_error_t *err) {
  const Runtime__V1__UpdateContainerResourcesRequest *in = (const void *)req->message;
  if (validate(in, err) < 0)
    return -1;
  cleanup_store_record store_record *rec = NULL;
  if (cri_ctr_record_get(req, in->container_id, &rec, err) < 0 || check_updatable(rec, err) < 0)
    return -1;
  const struct oci_runtime *rt = cri_ctr_runtime(req, rec, err);
  if (rt == NULL)
    return -1;

  struct oci_spec_host host;
  if (oci_spec_host_detect(&host, err) < 0)
    return -1;
  cleanup_oci_spec_warnings struct oci_spec_warnings warnings = {0};
  cJSON *json = NULL;
  if (oci_spec_update_resources(rec->id, in->linux, &host, &json, &warnings, err) < 0)
    return request_error(err);
  char *text = cJSON_PrintUnformatted(json);
  cJSON_Delete(json);
  if (text == NULL)
    return crio_error(err, ENOMEM, "print resources JSON");
  cleanup_free char *resources_json = xstrdup(text);
  cJSON_free(text);
  for (size_t i = 0; i < warnings.n; i++)
    log_warning("UpdateContainerResources %s: %s", rec->id, warnings.items[i]);

  cleanup_close int lock_fd = -1;
  if (crio_lock_dir_wait(rec->container->bundle_dir, &lock_fd, err) < 0)
    return crio_error_prefix(err, "container %s", rec->id);
  if (oci_runtime_update(rt, rec->id, resources_json, err) < 0)
    return crio_error_prefix(err, "update resources of container %s", rec->id);
  if (persist(req, rec->id, in->linux, err) < 0)
    return -1;
  log_info("container %s: resources updated: %s", rec->id, resources_json);

  Runtime__V1__UpdateContainerResourcesResponse *resp = cri_alloc(req, sizeof(*resp));
  runtime__v1__update_container_resources_response__init(resp);
  *response = &resp->base;
  return 0;
}
