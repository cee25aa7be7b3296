/* Parsing an ADD result (spec section 5; 0.3.x/0.4.0 and 1.0.0 share the
 * shape) into what PodSandboxStatus needs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cni/internal.h"

static char *dup_or_null(const char *s) {
  return s ? xstrdup(s) : NULL;
}

static char **string_array(const cJSON *arr) {
  char **v = xcalloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(char *));
  size_t n = 0;
  const cJSON *item;
  cJSON_ArrayForEach(item, arr) {
    if (cJSON_IsString(item))
      v[n++] = xstrdup(item->valuestring);
  }
  return v;
}

static void append(char ***v, size_t *n, char *s) {
  *v = xrealloc(*v, (*n + 2) * sizeof(char *));
  (*v)[(*n)++] = s;
  (*v)[*n] = NULL;
}

static bool in_sandbox(const struct cni_result *r, int interface) {
  if (interface < 0 || (size_t)interface >= r->n_interfaces)
    return interface < 0; /* no stated interface: take it */
  const char *sandbox = r->interfaces[interface].sandbox;
  return sandbox != NULL && *sandbox != '\0';
}

int cni_result_parse(const char *result_json, struct cni_result *out, crio_error_t *err) {
  memset(out, 0, sizeof(*out));
  cleanup_cjson cJSON *root = cJSON_Parse(result_json ? result_json : "");
  if (!cJSON_IsObject(root))
    return crio_error(err, EINVAL, "CNI result is not a JSON object");
  const char *version = cni_json_string(root, "cniVersion");
  if (version && cni_version_compare(version, "0.3.0") < 0)
    return crio_error(err, EINVAL,
                      "CNI result version %s is not supported "
                      "(0.3.0 or newer)",
                      version);
  out->cni_version = dup_or_null(version);

  const cJSON *ifs = cJSON_GetObjectItemCaseSensitive(root, "interfaces");
  out->interfaces = xcalloc((size_t)cJSON_GetArraySize(ifs) + 1, sizeof(*out->interfaces));
  const cJSON *item;
  cJSON_ArrayForEach(item, ifs) {
    struct cni_result_interface *i = &out->interfaces[out->n_interfaces++];
    i->name = dup_or_null(cni_json_string(item, "name"));
    i->mac = dup_or_null(cni_json_string(item, "mac"));
    i->sandbox = dup_or_null(cni_json_string(item, "sandbox"));
  }

  const cJSON *ips = cJSON_GetObjectItemCaseSensitive(root, "ips");
  out->ips = xcalloc((size_t)cJSON_GetArraySize(ips) + 1, sizeof(*out->ips));
  out->pod_ips = xcalloc(1, sizeof(char *));
  size_t n_pod_ips = 0;
  cJSON_ArrayForEach(item, ips) {
    const char *address = cni_json_string(item, "address");
    if (address == NULL) {
      cni_result_release(out);
      return crio_error(err, EINVAL, "CNI result: an ip has no address");
    }
    struct cni_result_ip *ip = &out->ips[out->n_ips++];
    ip->address = xstrdup(address);
    ip->gateway = dup_or_null(cni_json_string(item, "gateway"));
    const cJSON *index = cJSON_GetObjectItemCaseSensitive(item, "interface");
    ip->interface = cJSON_IsNumber(index) ? index->valueint : -1;
    if (in_sandbox(out, ip->interface)) {
      const char *slash = strchr(address, '/');
      append(&out->pod_ips, &n_pod_ips,
             slash ? xstrndup(address, (size_t)(slash - address)) : xstrdup(address));
    }
  }

  const cJSON *routes = cJSON_GetObjectItemCaseSensitive(root, "routes");
  out->routes = xcalloc((size_t)cJSON_GetArraySize(routes) + 1, sizeof(*out->routes));
  cJSON_ArrayForEach(item, routes) {
    const char *dst = cni_json_string(item, "dst");
    if (dst == NULL)
      continue;
    struct cni_result_route *r = &out->routes[out->n_routes++];
    r->dst = xstrdup(dst);
    r->gw = dup_or_null(cni_json_string(item, "gw"));
  }

  const cJSON *dns = cJSON_GetObjectItemCaseSensitive(root, "dns");
  out->dns_nameservers = string_array(cJSON_GetObjectItemCaseSensitive(dns, "nameservers"));
  out->dns_domain = dup_or_null(cni_json_string(dns, "domain"));
  out->dns_search = string_array(cJSON_GetObjectItemCaseSensitive(dns, "search"));
  out->dns_options = string_array(cJSON_GetObjectItemCaseSensitive(dns, "options"));
  return 0;
}

void cni_result_release(struct cni_result *r) {
  free(r->cni_version);
  for (size_t i = 0; i < r->n_interfaces; i++) {
    free(r->interfaces[i].name);
    free(r->interfaces[i].mac);
    free(r->interfaces[i].sandbox);
  }
  free(r->interfaces);
  for (size_t i = 0; i < r->n_ips; i++) {
    free(r->ips[i].address);
    free(r->ips[i].gateway);
  }
  free(r->ips);
  for (size_t i = 0; i < r->n_routes; i++) {
    free(r->routes[i].dst);
    free(r->routes[i].gw);
  }
  free(r->routes);
  cleanup_strvp(&r->pod_ips);
  cleanup_strvp(&r->dns_nameservers);
  free(r->dns_domain);
  cleanup_strvp(&r->dns_search);
  cleanup_strvp(&r->dns_options);
  memset(r, 0, sizeof(*r));
}
