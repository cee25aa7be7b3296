/* CRI-O's status endpoint (server/inspect.go), answered from the store.
 *
 * GET /info            {storage_driver, storage_root, storage_image,
 *                       cgroup_driver, default_id_mappings}: cAdvisor's
 *                       CRI-O plugin takes storage_root to label the image
 *                       filesystem "crio-images", which the kubelet's
 *                       /stats/summary needs for imageFs.
 * GET /config          the effective configuration, TOML.
 * GET /containers/ID   types.ContainerInfo: name, pid, image, image_ref,
 *                      created_time, labels, annotations,
 *                      crio_annotations, log_path, root, sandbox,
 *                      ip_addresses, host_network.  A pod id answers as
 *                      CRI-O's infra container does: the pause pid when
 *                      there is one, else the first running container's. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "httpd/internal.h"

static char *json_take(cJSON *o) {
  char *text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  char *out = xasprintf("%s\n", text);
  free(text);
  return out;
}

static char *error_body(const char *fmt, const char *arg) {
  return xasprintf(fmt, arg);
}

static char *info_json(const struct httpd_status_source *src) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "storage_driver", src->storage_driver ? src->storage_driver : "");
  cJSON_AddStringToObject(o, "storage_image", src->storage_image ? src->storage_image : "");
  cJSON_AddStringToObject(o, "storage_root", src->storage_root ? src->storage_root : "");
  cJSON_AddStringToObject(o, "cgroup_driver", src->cgroup_driver ? src->cgroup_driver : "");
  /* No user namespace remapping: the whole 32-bit range maps to itself,
   * which is what CRI-O reports without uid_mappings. */
  cJSON *maps = cJSON_AddObjectToObject(o, "default_id_mappings");
  const char *const kinds[] = {"uids", "gids"};
  for (size_t i = 0; i < 2; i++) {
    cJSON *list = cJSON_AddArrayToObject(maps, kinds[i]);
    cJSON *m = cJSON_CreateObject();
    cJSON_AddNumberToObject(m, "container_id", 0);
    cJSON_AddNumberToObject(m, "host_id", 0);
    cJSON_AddNumberToObject(m, "size", (double)UINT32_MAX);
    cJSON_AddItemToArray(list, m);
  }
  return json_take(o);
}

static void add_map(cJSON *o, const char *name, size_t n, char *const *keys, char *const *values) {
  cJSON *m = cJSON_AddObjectToObject(o, name);
  for (size_t i = 0; i < n; i++)
    cJSON_AddStringToObject(m, keys[i], values[i]);
}

static void add_labels(cJSON *o, const store_record *rec) {
  cJSON *m = cJSON_AddObjectToObject(o, "labels");
  for (size_t i = 0; i < rec->n_labels; i++)
    cJSON_AddStringToObject(m, rec->labels[i]->key, rec->labels[i]->value);
  m = cJSON_AddObjectToObject(o, "annotations");
  for (size_t i = 0; i < rec->n_annotations; i++)
    cJSON_AddStringToObject(m, rec->annotations[i]->key, rec->annotations[i]->value);
  add_map(o, "crio_annotations", 0, NULL, NULL);
}

static void add_pod_network(cJSON *o, const store_record *pod) {
  cJSON *ips = cJSON_AddArrayToObject(o, "ip_addresses");
  const Crio__Store__PodSandboxBody *body =
      pod && pod->body_case == CRIO__STORE__OBJECT_RECORD__BODY_POD ? pod->pod : NULL;
  if (body && body->ip && body->ip[0])
    cJSON_AddItemToArray(ips, cJSON_CreateString(body->ip));
  for (size_t i = 0; body && i < body->n_additional_ips; i++)
    cJSON_AddItemToArray(ips, cJSON_CreateString(body->additional_ips[i]));
  /* A pod in the host's network namespace has no netns of its own. */
  if (body)
    cJSON_AddBoolToObject(o, "host_network", body->netns_path == NULL || !body->netns_path[0]);
}

static int container_info(struct store_txn *txn, const store_record *ctr, char **body) {
  const Crio__Store__ContainerBody *c = ctr->container;
  cleanup_store_record store_record *pod = NULL;
  cleanup_error crio_error_t err = NULL;
  if (ctr->parent_id && ctr->parent_id[0])
    store_record_get(txn, STORE_KIND_POD, ctr->parent_id, &pod, &err);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "name", ctr->name ? ctr->name : "");
  cJSON_AddNumberToObject(o, "pid", c ? c->pid : 0);
  cJSON_AddStringToObject(o, "image", c && c->image_ref ? c->image_ref : "");
  cJSON_AddStringToObject(o, "image_ref", c && c->image_id ? c->image_id : "");
  cJSON_AddNumberToObject(o, "created_time", (double)ctr->created_at);
  add_labels(o, ctr);
  cJSON_AddStringToObject(o, "log_path", c && c->log_path ? c->log_path : "");
  cJSON_AddStringToObject(o, "root", c && c->rootfs ? c->rootfs : "");
  cJSON_AddStringToObject(o, "sandbox", ctr->parent_id ? ctr->parent_id : "");
  add_pod_network(o, pod);
  *body = json_take(o);
  return 200;
}

static int pod_info(struct store_txn *txn, const store_record *pod, char **body) {
  const Crio__Store__PodSandboxBody *p = pod->pod;
  int32_t pid = p ? p->infra_pid : 0;
  if (pid == 0) {
    cleanup_strv char **ids = NULL;
    size_t n_ids = 0;
    cleanup_error crio_error_t err = NULL;
    if (store_pod_container_ids(txn, pod->id, &ids, &n_ids, &err) == 0) {
      for (size_t i = 0; i < n_ids && pid == 0; i++) {
        cleanup_store_record store_record *c = NULL;
        cleanup_error crio_error_t get_err = NULL;
        if (store_record_get(txn, STORE_KIND_CONTAINER, ids[i], &c, &get_err) == 0 &&
            c->body_case == CRIO__STORE__OBJECT_RECORD__BODY_CONTAINER)
          pid = c->container->pid;
      }
    }
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "name", pod->name ? pod->name : "");
  cJSON_AddNumberToObject(o, "pid", pid);
  cJSON_AddStringToObject(o, "image", "");
  cJSON_AddStringToObject(o, "image_ref", "");
  cJSON_AddNumberToObject(o, "created_time", (double)pod->created_at);
  add_labels(o, pod);
  cJSON_AddStringToObject(o, "log_path", "");
  cJSON_AddStringToObject(o, "root", "");
  cJSON_AddStringToObject(o, "sandbox", pod->id);
  add_pod_network(o, pod);
  *body = json_take(o);
  return 200;
}

static int containers_answer(const struct httpd_status_source *src, const char *id, char **body) {
  cleanup_store_txn struct store_txn *txn = NULL;
  cleanup_error crio_error_t err = NULL;
  if (store_txn_begin(src->store, STORE_TXN_READ, &txn, &err) < 0) {
    *body = xasprintf("%s\n", crio_error_message(&err));
    return 500;
  }
  cleanup_store_record store_record *rec = NULL;
  if (store_record_get(txn, STORE_KIND_CONTAINER, id, &rec, &err) == 0 &&
      rec->body_case == CRIO__STORE__OBJECT_RECORD__BODY_CONTAINER)
    return container_info(txn, rec, body);
  crio_error_release(&err);
  if (store_record_get(txn, STORE_KIND_POD, id, &rec, &err) == 0 &&
      rec->body_case == CRIO__STORE__OBJECT_RECORD__BODY_POD)
    return pod_info(txn, rec, body);
  *body = error_body("container %s not found\n", id);
  return 404;
}

int httpd_status_answer(const struct httpd_status_source *src, const char *path, char **body,
                        const char **content_type) {
  *content_type = "application/json";
  if (strcmp(path, "/info") == 0) {
    *body = info_json(src);
    return 200;
  }
  if (strcmp(path, "/config") == 0) {
    *content_type = "application/toml";
    *body = src->config_toml ? src->config_toml(src->data) : xstrdup("");
    return 200;
  }
  if (strncmp(path, "/containers/", 12) == 0 && path[12] != '\0' && !strchr(path + 12, '/'))
    return containers_answer(src, path + 12, body);
  *content_type = "text/plain";
  *body = error_body("404 page not found: %s\n", path);
  return 404;
}

static int status_answer_fn(void *data, const char *path, char **body, const char **type) {
  return httpd_status_answer(data, path, body, type);
}

void httpd_serve_http1(int fd, const struct httpd_status_source *status) {
  httpd_exchange(fd, status_answer_fn, (void *)status);
}
