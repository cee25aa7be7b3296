/* The systemd manager: the kubelet's parent is a slice and the pod's cgroup
 * a transient scope in it, both owned by systemd (PID 1) and made over
 * D-Bus, as CRI-O and runc do.  Without systemd every operation that needs
 * it fails with ENOTCONN; names are made without it.
 *
 * D-Bus is libsystemd's sd-bus, loaded with dlopen the first time this
 * manager talks to systemd or builds a message, and kept: a daemon
 * configured with cgroupfs never maps libsystemd and the libraries it
 * brings (libgcrypt, libgpg-error, liblzma, libzstd, liblz4, libcap: some
 * megabyte of resident memory), and the rest of the daemon speaks
 * sd_notify and journald's protocol itself (common/sd_proto.c). */
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>

#include "oci/oci.h"

/* ---- libsystemd on demand ------------------------------------------------------ */

#define SD_BUS_FUNCTIONS(X)                                                                        \
  X(sd_bus_call)                                                                                   \
  X(sd_bus_call_method)                                                                            \
  X(sd_bus_error_free)                                                                             \
  X(sd_bus_error_has_name)                                                                         \
  X(sd_bus_flush_close_unref)                                                                      \
  X(sd_bus_match_signal)                                                                           \
  X(sd_bus_message_append)                                                                         \
  X(sd_bus_message_close_container)                                                                \
  X(sd_bus_message_get_bus)                                                                        \
  X(sd_bus_message_new_method_call)                                                                \
  X(sd_bus_message_open_container)                                                                 \
  X(sd_bus_message_read)                                                                           \
  X(sd_bus_message_unref)                                                                          \
  X(sd_bus_open_system)                                                                            \
  X(sd_bus_process)                                                                                \
  X(sd_bus_slot_unref)                                                                             \
  X(sd_bus_wait)

static struct {
  pthread_once_t once;
  char *error; /* why loading failed; NULL: loaded */
#define SD_BUS_MEMBER(name) __typeof__(name) *name;
  SD_BUS_FUNCTIONS(SD_BUS_MEMBER)
#undef SD_BUS_MEMBER
} sd_lib = {.once = PTHREAD_ONCE_INIT};

static void sd_lib_open(void) {
  /* Never closed: the manager keeps using it for the daemon's life. */
  void *h = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) {
    sd_lib.error = xstrdup(dlerror());
    return;
  }
#define SD_BUS_LOAD(name)                                                                          \
  if (sd_lib.error == NULL && (*(void **)&sd_lib.name = dlsym(h, #name)) == NULL)                  \
    sd_lib.error = xasprintf("libsystemd.so.0 has no %s", #name);
  SD_BUS_FUNCTIONS(SD_BUS_LOAD)
#undef SD_BUS_LOAD
}

static int sd_lib_load(crio_error_t *err) {
  pthread_once(&sd_lib.once, sd_lib_open);
  if (sd_lib.error)
    return crio_error(err, ENOTSUP, "cgroup_manager \"systemd\" needs libsystemd: %s",
                      sd_lib.error);
  return 0;
}

/* Every call below goes through the loaded library's functions. */
#define sd_bus_call sd_lib.sd_bus_call
#define sd_bus_call_method sd_lib.sd_bus_call_method
#define sd_bus_error_free sd_lib.sd_bus_error_free
#define sd_bus_error_has_name sd_lib.sd_bus_error_has_name
#define sd_bus_flush_close_unref sd_lib.sd_bus_flush_close_unref
#define sd_bus_match_signal sd_lib.sd_bus_match_signal
#define sd_bus_message_append sd_lib.sd_bus_message_append
#define sd_bus_message_close_container sd_lib.sd_bus_message_close_container
#define sd_bus_message_get_bus sd_lib.sd_bus_message_get_bus
#define sd_bus_message_new_method_call sd_lib.sd_bus_message_new_method_call
#define sd_bus_message_open_container sd_lib.sd_bus_message_open_container
#define sd_bus_message_read sd_lib.sd_bus_message_read
#define sd_bus_message_unref sd_lib.sd_bus_message_unref
#define sd_bus_open_system sd_lib.sd_bus_open_system
#define sd_bus_process sd_lib.sd_bus_process
#define sd_bus_slot_unref sd_lib.sd_bus_slot_unref
#define sd_bus_wait sd_lib.sd_bus_wait

#define SYSTEMD_DEST "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER "org.freedesktop.systemd1.Manager"
#define SYSTEMD_JOB_TIMEOUT_USEC (30ULL * 1000 * 1000)
#define SYSTEMD_DEFAULT_PARENT "system.slice"

/* ---- names ------------------------------------------------------------------ */

static bool unit_char_ok(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ':' ||
         c == '_' || c == '.' || c == '\\' || c == '-';
}

int oci_systemd_slice_path(const char *slice, char **path, crio_error_t *err) {
  static const char suffix[] = ".slice";
  size_t len = slice ? strlen(slice) : 0;
  size_t slen = sizeof(suffix) - 1;
  if (len <= slen || strcmp(slice + len - slen, suffix) != 0)
    return crio_error(err, EINVAL, "\"%s\" is not a systemd slice name", slice ? slice : "");
  if (strcmp(slice, "-.slice") == 0) {
    *path = xstrdup("/");
    return 0;
  }
  size_t stem = len - slen;
  for (size_t i = 0; i < stem; i++)
    if (!unit_char_ok(slice[i]))
      return crio_error(err, EINVAL, "slice \"%s\": invalid character", slice);
  /* Each '-' opens a nesting level, so the stem may not start or end with
   * one or hold two in a row (an empty level). */
  if (slice[0] == '-' || slice[stem - 1] == '-' || memmem(slice, stem, "--", 2) != NULL)
    return crio_error(err, EINVAL, "slice \"%s\": empty nesting level", slice);

  char *buf = NULL;
  size_t buf_len = 0;
  FILE *f = open_memstream(&buf, &buf_len);
  if (f == NULL)
    abort();
  for (size_t i = 0; i <= stem; i++)
    if (i == stem || slice[i] == '-')
      fprintf(f, "/%.*s%s", (int)i, slice, suffix);
  fclose(f);
  *path = buf;
  return 0;
}

char *oci_systemd_scope_name(const char *pod_id) {
  return xasprintf("crio-%s.scope", pod_id);
}

static const char *parent_or_default(const char *parent) {
  return parent && parent[0] ? parent : SYSTEMD_DEFAULT_PARENT;
}

static int pod_id_check(const char *pod_id, crio_error_t *err) {
  size_t len = pod_id ? strlen(pod_id) : 0;
  if (len == 0 || len > 128)
    return crio_error(err, EINVAL, "pod id: bad length %zu", len);
  for (size_t i = 0; i < len; i++)
    if (!unit_char_ok(pod_id[i]) || pod_id[i] == '\\')
      return crio_error(err, EINVAL, "pod id \"%s\": invalid character", pod_id);
  return 0;
}

static int systemd_parent_path(const char *parent, char **path, crio_error_t *err) {
  return oci_systemd_slice_path(parent_or_default(parent), path, err);
}

static int systemd_pod_path(const char *parent, const char *pod_id, char **path,
                            crio_error_t *err) {
  cleanup_free char *slice = NULL;
  if (pod_id_check(pod_id, err) < 0 || systemd_parent_path(parent, &slice, err) < 0)
    return -1;
  cleanup_free char *scope = oci_systemd_scope_name(pod_id);
  *path = xasprintf("%s/%s", strcmp(slice, "/") == 0 ? "" : slice, scope);
  return 0;
}

/* ---- messages ------------------------------------------------------------------- */

/* The unit properties of `res` (may be NULL: none), into an open a(sv). */
static int append_resources(sd_bus_message *m, enum oci_cgroup_mode mode,
                            const struct oci_cgroup_resources *res) {
  bool v2 = mode == OCI_CGROUP_UNIFIED;
  int r = 0;
  if (res && res->cpu_shares) {
    /* The cpu.shares -> cpu.weight conversion runc and the kubelet use. */
    uint64_t shares = res->cpu_shares < 2 ? 2 : res->cpu_shares;
    shares = shares > 262144 ? 262144 : shares;
    r = v2 ? sd_bus_message_append(m, "(sv)", "CPUWeight", "t",
                                   (uint64_t)(1 + (shares - 2) * 9999 / 262142))
           : sd_bus_message_append(m, "(sv)", "CPUShares", "t", shares);
  }
  if (r >= 0 && res && res->cpu_quota_us > 0) {
    uint64_t period = res->cpu_period_us ? res->cpu_period_us : 100000;
    uint64_t per_sec = (uint64_t)res->cpu_quota_us * 1000000 / period;
    r = sd_bus_message_append(m, "(sv)", "CPUQuotaPerSecUSec", "t", per_sec);
  }
  if (r >= 0 && res && res->cpu_period_us)
    r = sd_bus_message_append(m, "(sv)", "CPUQuotaPeriodUSec", "t", res->cpu_period_us);
  if (r >= 0 && res && res->memory_limit_bytes > 0)
    r = sd_bus_message_append(m, "(sv)", v2 ? "MemoryMax" : "MemoryLimit", "t",
                              (uint64_t)res->memory_limit_bytes);
  return r;
}

int oci_systemd_start_unit_message(struct sd_bus *bus, const char *unit, const char *slice,
                                   pid_t pid, enum oci_cgroup_mode mode,
                                   const struct oci_cgroup_resources *res,
                                   struct sd_bus_message **out, crio_error_t *err) {
  if (sd_lib_load(err) < 0)
    return -1;
  sd_bus_message *m = NULL;
  int r = sd_bus_message_new_method_call(bus, &m, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER,
                                         "StartTransientUnit");
  cleanup_free char *description = xasprintf("crio pod unit %s", unit);
  if (r >= 0)
    r = sd_bus_message_append(m, "ss", unit, "replace");
  if (r >= 0)
    r = sd_bus_message_open_container(m, 'a', "(sv)");
  if (r >= 0)
    r = sd_bus_message_append(m, "(sv)(sv)", "Description", "s", description, "DefaultDependencies",
                              "b", 0);
  if (r >= 0 && slice)
    r = sd_bus_message_append(m, "(sv)", "Slice", "s", slice);
  /* Delegate: the cgroup below the scope is ours (and the runtime's), not
   * systemd's to rearrange. */
  if (r >= 0 && pid > 0)
    r = sd_bus_message_append(m, "(sv)(sv)", "PIDs", "au", 1, (uint32_t)pid, "Delegate", "b", 1);
  if (r >= 0)
    r = append_resources(m, mode, res);
  if (r >= 0)
    r = sd_bus_message_close_container(m);
  if (r >= 0)
    r = sd_bus_message_append(m, "a(sa(sv))", 0);
  if (r < 0) {
    sd_bus_message_unref(m);
    return crio_error_errno(err, -r, "build StartTransientUnit for %s", unit);
  }
  *out = m;
  return 0;
}

int oci_systemd_set_properties_message(struct sd_bus *bus, const char *unit,
                                       enum oci_cgroup_mode mode,
                                       const struct oci_cgroup_resources *res,
                                       struct sd_bus_message **out, crio_error_t *err) {
  if (sd_lib_load(err) < 0)
    return -1;
  sd_bus_message *m = NULL;
  int r = sd_bus_message_new_method_call(bus, &m, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER,
                                         "SetUnitProperties");
  /* runtime: the change lasts until the unit goes, as the unit does. */
  if (r >= 0)
    r = sd_bus_message_append(m, "sb", unit, 1);
  if (r >= 0)
    r = sd_bus_message_open_container(m, 'a', "(sv)");
  if (r >= 0)
    r = append_resources(m, mode, res);
  if (r >= 0)
    r = sd_bus_message_close_container(m);
  if (r < 0) {
    sd_bus_message_unref(m);
    return crio_error_errno(err, -r, "build SetUnitProperties for %s", unit);
  }
  *out = m;
  return 0;
}

/* ---- talking to systemd ----------------------------------------------------------- */

static int systemd_check_running(crio_error_t *err) {
  if (!crio_sd_booted())
    return crio_error(err, ENOTCONN,
                      "systemd is not running: cgroup_manager \"systemd\" "
                      "needs systemd as PID 1 (use \"cgroupfs\")");
  return 0;
}

/* NULL when nothing was made (and libsystemd maybe not loaded). */
static void bus_unrefp(sd_bus **b) {
  if (*b)
    sd_bus_flush_close_unref(*b);
}
static void msg_unrefp(sd_bus_message **m) {
  if (*m)
    sd_bus_message_unref(*m);
}
static void slot_unrefp(sd_bus_slot **s) {
  if (*s)
    sd_bus_slot_unref(*s);
}
#define cleanup_bus __attribute__((cleanup(bus_unrefp)))
#define cleanup_msg __attribute__((cleanup(msg_unrefp)))
#define cleanup_slot __attribute__((cleanup(slot_unrefp)))

/* JobRemoved signals seen so far (job object path and result). */
struct job_results {
  char **paths;
  char **results;
  size_t n;
};

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
  struct job_results *jr = userdata;
  uint32_t id;
  const char *path, *unit, *result;
  if (sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) < 0)
    return 0;
  jr->paths = xrealloc(jr->paths, (jr->n + 1) * sizeof(char *));
  jr->results = xrealloc(jr->results, (jr->n + 1) * sizeof(char *));
  jr->paths[jr->n] = xstrdup(path);
  jr->results[jr->n] = xstrdup(result);
  jr->n++;
  return 0;
}

static const char *job_result_find(const struct job_results *jr, const char *job) {
  for (size_t i = 0; i < jr->n; i++)
    if (strcmp(jr->paths[i], job) == 0)
      return jr->results[i];
  return NULL;
}

static void job_results_release(struct job_results *jr) {
  for (size_t i = 0; i < jr->n; i++) {
    free(jr->paths[i]);
    free(jr->results[i]);
  }
  free(jr->paths);
  free(jr->results);
}

/* Sends a job-creating call and waits for its JobRemoved.  The match is
 * installed before the call so the signal cannot slip by.  `ok_error` is a
 * D-Bus error name that counts as success (UnitExists, NoSuchUnit). */
static int systemd_run_job(sd_bus_message *call, const char *what, const char *ok_error,
                           crio_error_t *err) {
  sd_bus *bus = sd_bus_message_get_bus(call);
  struct job_results jr = {0};
  cleanup_slot sd_bus_slot *slot = NULL;
  int r = sd_bus_match_signal(bus, &slot, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER, "JobRemoved",
                              on_job_removed, &jr);
  if (r < 0)
    return crio_error_errno(err, -r, "%s: watch systemd jobs", what);
  sd_bus_error error = SD_BUS_ERROR_NULL;
  cleanup_msg sd_bus_message *reply = NULL;
  r = sd_bus_call(bus, call, SYSTEMD_JOB_TIMEOUT_USEC, &error, &reply);
  if (r < 0) {
    bool ok = ok_error && sd_bus_error_has_name(&error, ok_error);
    if (!ok)
      crio_error(err, -r, "%s: %s", what, error.message ? error.message : strerror(-r));
    sd_bus_error_free(&error);
    job_results_release(&jr);
    return ok ? 0 : -1;
  }
  const char *job = NULL;
  if ((r = sd_bus_message_read(reply, "o", &job)) < 0) {
    job_results_release(&jr);
    return crio_error_errno(err, -r, "%s: read job path", what);
  }
  uint64_t deadline = (uint64_t)crio_monotonic_ns() / 1000 + SYSTEMD_JOB_TIMEOUT_USEC;
  int rc = 0;
  const char *result;
  while ((result = job_result_find(&jr, job)) == NULL) {
    r = sd_bus_process(bus, NULL);
    if (r < 0) {
      rc = crio_error_errno(err, -r, "%s: read from systemd", what);
      break;
    }
    if (r > 0)
      continue;
    uint64_t now = (uint64_t)crio_monotonic_ns() / 1000;
    if (now >= deadline) {
      rc = crio_error(err, ETIMEDOUT, "%s: systemd job %s did not finish", what, job);
      break;
    }
    r = sd_bus_wait(bus, deadline - now);
    if (r < 0) {
      rc = crio_error_errno(err, -r, "%s: wait for systemd", what);
      break;
    }
  }
  if (result && strcmp(result, "done") != 0)
    rc = crio_error(err, EIO, "%s: systemd job %s", what, result);
  job_results_release(&jr);
  return rc;
}

static int systemd_open(sd_bus **bus, crio_error_t *err) {
  if (systemd_check_running(err) < 0 || sd_lib_load(err) < 0)
    return -1;
  int r = sd_bus_open_system(bus);
  if (r < 0)
    return crio_error_errno(err, -r, "connect to the system bus");
  /* Without Subscribe systemd may not emit job signals to us. */
  r = sd_bus_call_method(*bus, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER, "Subscribe", NULL, NULL,
                         "");
  if (r < 0)
    log_warning("subscribe to systemd job signals: %s", strerror(-r));
  return 0;
}

static int systemd_create(const char *parent, const char *pod_id,
                          const struct oci_cgroup_resources *res, char **path, crio_error_t *err) {
  cleanup_free char *pod_path = NULL;
  if (systemd_pod_path(parent, pod_id, &pod_path, err) < 0)
    return -1;
  cleanup_bus sd_bus *bus = NULL;
  enum oci_cgroup_mode mode;
  if (systemd_open(&bus, err) < 0 || oci_cgroup_mode_detect(&mode, err) < 0)
    return crio_error_prefix(err, "create cgroup %s", pod_path);
  const char *slice = parent_or_default(parent);
  cleanup_msg sd_bus_message *call = NULL;
  cleanup_free char *what = xasprintf("start slice %s", slice);
  /* A slice that exists already (the kubelet made it) is fine as it is:
   * its limits are the kubelet's. */
  if (oci_systemd_start_unit_message(bus, slice, NULL, 0, mode, res, &call, err) < 0 ||
      systemd_run_job(call, what, "org.freedesktop.systemd1.UnitExists", err) < 0)
    return -1;
  *path = steal_pointer(&pod_path);
  return 0;
}

static int systemd_enter(const char *parent, const char *pod_id, pid_t pid, crio_error_t *err) {
  if (pod_id_check(pod_id, err) < 0)
    return -1;
  cleanup_bus sd_bus *bus = NULL;
  enum oci_cgroup_mode mode;
  if (systemd_open(&bus, err) < 0 || oci_cgroup_mode_detect(&mode, err) < 0)
    return -1;
  cleanup_free char *scope = oci_systemd_scope_name(pod_id);
  cleanup_free char *what = xasprintf("start scope %s", scope);
  cleanup_msg sd_bus_message *call = NULL;
  if (oci_systemd_start_unit_message(bus, scope, parent_or_default(parent), pid, mode, NULL, &call,
                                     err) < 0)
    return -1;
  return systemd_run_job(call, what, NULL, err);
}

static int systemd_remove(const char *path, crio_error_t *err) {
  const char *unit = path ? strrchr(path, '/') : NULL;
  unit = unit ? unit + 1 : path;
  size_t len = unit ? strlen(unit) : 0;
  if (len < 7 || strcmp(unit + len - 6, ".scope") != 0)
    return crio_error(err, EINVAL, "remove cgroup %s: not a pod scope", path ? path : "");
  cleanup_bus sd_bus *bus = NULL;
  enum oci_cgroup_mode mode;
  if (systemd_open(&bus, err) < 0 || oci_cgroup_mode_detect(&mode, err) < 0)
    return crio_error_prefix(err, "remove cgroup %s", path);
  /* Stopping a scope kills what is left in it; we only remove, so look
   * first (systemd's own hierarchy mirrors its units). */
  cleanup_free char *procs_path = xasprintf("/sys/fs/cgroup%s%s/cgroup.procs",
                                            mode == OCI_CGROUP_UNIFIED ? "" : "/systemd", path);
  cleanup_free char *procs = NULL;
  crio_error_t e = NULL;
  if (crio_read_file(procs_path, &procs, NULL, &e) == 0 && procs[strspn(procs, " \n")] != '\0')
    return crio_error(err, EBUSY, "cgroup %s still has processes", path);
  crio_error_release(&e);
  cleanup_msg sd_bus_message *call = NULL;
  int r = sd_bus_message_new_method_call(bus, &call, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER,
                                         "StopUnit");
  if (r >= 0)
    r = sd_bus_message_append(call, "ss", unit, "replace");
  if (r < 0)
    return crio_error_errno(err, -r, "build StopUnit for %s", unit);
  cleanup_free char *what = xasprintf("stop %s", unit);
  return systemd_run_job(call, what, "org.freedesktop.systemd1.NoSuchUnit", err);
}

/* SetUnitProperties makes no job: the reply is the whole answer. */
static int systemd_update(const char *path, const struct oci_cgroup_resources *res,
                          crio_error_t *err) {
  const char *unit = path ? strrchr(path, '/') : NULL;
  unit = unit ? unit + 1 : path;
  size_t len = unit ? strlen(unit) : 0;
  if (len < 7 || (strcmp(unit + len - 6, ".slice") != 0 && strcmp(unit + len - 6, ".scope") != 0))
    return crio_error(err, EINVAL, "update cgroup %s: not a slice or scope", path ? path : "");
  cleanup_bus sd_bus *bus = NULL;
  enum oci_cgroup_mode mode;
  if (systemd_open(&bus, err) < 0 || oci_cgroup_mode_detect(&mode, err) < 0)
    return crio_error_prefix(err, "update cgroup %s", path);
  cleanup_msg sd_bus_message *call = NULL;
  if (oci_systemd_set_properties_message(bus, unit, mode, res, &call, err) < 0)
    return -1;
  sd_bus_error error = SD_BUS_ERROR_NULL;
  int r = sd_bus_call(bus, call, SYSTEMD_JOB_TIMEOUT_USEC, &error, NULL);
  if (r < 0) {
    crio_error(err,
               sd_bus_error_has_name(&error, "org.freedesktop.systemd1.NoSuchUnit") ? ENOENT : -r,
               "update %s: %s", unit, error.message ? error.message : strerror(-r));
    sd_bus_error_free(&error);
    return -1;
  }
  return 0;
}

const struct oci_cgroup_manager oci_cgroup_manager_systemd = {
    .name = "systemd",
    .pod_path = systemd_pod_path,
    .parent_path = systemd_parent_path,
    .create = systemd_create,
    .enter = systemd_enter,
    .remove = systemd_remove,
    .update = systemd_update,
};

/* The cgroupfs form is the path itself; the systemd form is expanded as
 * runc expands it (oci.h). */
char *oci_cgroup_of_spec_path(const char *spec_path) {
  if (spec_path[0] == '/')
    return xstrdup(spec_path);
  const char *c1 = strchr(spec_path, ':');
  const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
  if (c2 == NULL || strchr(c2 + 1, ':') || strchr(spec_path, '/'))
    return NULL;
  cleanup_free char *slice = xstrndup(spec_path, (size_t)(c1 - spec_path));
  cleanup_free char *prefix = xstrndup(c1 + 1, (size_t)(c2 - c1 - 1));
  cleanup_free char *slice_path = NULL;
  cleanup_error crio_error_t e = NULL;
  if (oci_systemd_slice_path(slice[0] ? slice : "system.slice", &slice_path, &e) < 0)
    return NULL;
  return xasprintf("%s/%s%s%s.scope", strcmp(slice_path, "/") == 0 ? "" : slice_path, prefix,
                   prefix[0] ? "-" : "", c2 + 1);
}
