/* Internal to reconciler/: what the pod step files share. */
#ifndef CRIO_RECONCILER_POD_STEPS_H
#define CRIO_RECONCILER_POD_STEPS_H

#include "api/api.pb-c.h"
#include "oci/oci.h"
#include "reconciler/reconciler.h"

/* The pod's CRI config as RunPodSandbox stored it. */
Runtime__V1__PodSandboxConfig *pod_step_config(const store_record *rec, crio_error_t *err);
void pod_step_config_freep(Runtime__V1__PodSandboxConfig **config);
#define cleanup_pod_step_config __attribute__((cleanup(pod_step_config_freep)))

/* Which namespaces the pod owns (OCI_NS_BIT mask) per its namespace options. */
unsigned pod_step_owned_namespaces(const Runtime__V1__PodSandboxConfig *config);

/* The name of the pod's own UTS namespace: the requested hostname, else the
 * first 12 characters of the pod id, as CRI-O does (the kubelet leaves the
 * hostname empty for some pods, and a metadata name may be up to 253
 * characters while sethostname takes at most 64).  NULL for a pod in the
 * host's UTS namespace: its containers see the host's name.  The result
 * points into config or buf. */
#define POD_HOSTNAME_FROM_ID_LEN 12
const char *pod_step_hostname(const store_record *rec, const Runtime__V1__PodSandboxConfig *config,
                              char buf[POD_HOSTNAME_FROM_ID_LEN + 1]);

/* resolv.conf, hostname and hosts in the pod's run dir; pod_ip may be NULL. */
int pod_step_write_files(const store_record *rec, const Runtime__V1__PodSandboxConfig *config,
                         const char *pod_ip, crio_error_t *err);

/* Resource types written to the log (docs/architecture.md, "Resources"). */
#define POD_RES_DIR "dir"
#define POD_RES_NETNS "netns"
#define POD_RES_IPCNS "ipcns"
#define POD_RES_UTSNS "utsns"
#define POD_RES_PIDNS "pidns"
#define POD_RES_CGROUP "cgroup"
#define POD_RES_CNI "cni"
#define POD_RES_PROCESS "process"
#define POD_RES_MOUNT "mount"     /* the pod's /dev/shm tmpfs */
#define POD_RES_RUNTIME "runtime" /* a sandbox-per-pod runtime's infra container */
#define POD_RES_CONMON "conmon"   /* its conmon, "pid:start"; detail: the bundle */

/* The environment a pod step runs in (the step's data), inline so that the
 * step files share it without calling into one another. */
static inline const struct reconciler_pod_env *pod_step_env(const struct reconcile_step *step) {
  return step->data;
}

/* pod_steps_sandbox.c: the sandbox of a pod whose handler has one
 * (gVisor).  start: safe to repeat, adopts a running one; release: deletes
 * it, absent is success. */
bool pod_step_has_sandbox(const struct reconciler_pod_env *env, const store_record *rec);
int pod_step_sandbox_start(struct reconcile_step *step, const char *hostname, crio_error_t *err);
int pod_step_sandbox_release(struct reconcile_step *step, crio_error_t *err);

/* pod_steps_network.c */
int pod_step_cni_add(struct reconcile_step *step, crio_error_t *err);
int pod_step_cni_del(struct reconcile_step *step, crio_error_t *err);
int pod_step_rollback_cni_del(struct reconcile_step *step, crio_error_t *err);

#endif
