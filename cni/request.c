/* The per-attachment part of a CNI call, built in one place for the pod
 * steps (ADD, DEL, rollback DEL) and for wipe's replay of a DEL from the
 * log: CNI_ARGS as the kubelet's runtimes pass them, and the capability
 * arguments (port mappings, bandwidth) that plugins get as runtimeConfig. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cni/cni.h"

static char *capability_args(const struct cni_pod_request *in) {
  cJSON *root = cJSON_CreateObject();
  if (in->n_port_mappings > 0) {
    cJSON *ports = cJSON_AddArrayToObject(root, "portMappings");
    for (size_t i = 0; i < in->n_port_mappings; i++) {
      const struct cni_port_mapping *pm = &in->port_mappings[i];
      if (pm->host_port <= 0)
        continue; /* a port without a host side needs no mapping */
      cJSON *m = cJSON_CreateObject();
      cJSON_AddNumberToObject(m, "hostPort", pm->host_port);
      cJSON_AddNumberToObject(m, "containerPort", pm->container_port);
      cJSON_AddStringToObject(m, "protocol", pm->protocol ? pm->protocol : "tcp");
      if (pm->host_ip && *pm->host_ip)
        cJSON_AddStringToObject(m, "hostIP", pm->host_ip);
      cJSON_AddItemToArray(ports, m);
    }
  }
  if (in->ingress_bps || in->egress_bps) {
    /* The plugin needs a burst with a rate; the kubelet's historical
     * choice is "no practical limit". */
    cJSON *bw = cJSON_AddObjectToObject(root, "bandwidth");
    if (in->ingress_bps) {
      cJSON_AddNumberToObject(bw, "ingressRate", (double)in->ingress_bps);
      cJSON_AddNumberToObject(bw, "ingressBurst", 2147483647.0);
    }
    if (in->egress_bps) {
      cJSON_AddNumberToObject(bw, "egressRate", (double)in->egress_bps);
      cJSON_AddNumberToObject(bw, "egressBurst", 2147483647.0);
    }
  }
  char *out = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  char *copy = xstrdup(out);
  cJSON_free(out);
  return copy;
}

void cni_request_build(const struct cni_pod_request *in, struct cni_request *out) {
  memset(out, 0, sizeof(*out));
  size_t n = 0;
  out->args[n++] = xstrdup("IgnoreUnknown=1");
  if (in->pod_namespace)
    out->args[n++] = xasprintf("K8S_POD_NAMESPACE=%s", in->pod_namespace);
  if (in->pod_name)
    out->args[n++] = xasprintf("K8S_POD_NAME=%s", in->pod_name);
  out->args[n++] = xasprintf("K8S_POD_INFRA_CONTAINER_ID=%s", in->pod_id);
  if (in->pod_uid)
    out->args[n++] = xasprintf("K8S_POD_UID=%s", in->pod_uid);
  out->args[n] = NULL;
  if (in->capability_args_json)
    out->capability_args = xstrdup(in->capability_args_json);
  else if (!in->no_capability_args)
    out->capability_args = capability_args(in);
  out->rt = (struct cni_runtime_conf){
      .container_id = in->pod_id,
      .netns_path = in->netns_path ? in->netns_path : "",
      .ifname = in->ifname ? in->ifname : "eth0",
      .args = (const char *const *)out->args,
      .capability_args_json = out->capability_args,
  };
}

void cni_request_release(struct cni_request *req) {
  for (size_t i = 0; req->args[i]; i++)
    free(req->args[i]);
  free(req->capability_args);
  memset(req, 0, sizeof(*req));
}
