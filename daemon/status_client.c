/* `crio status info|config|containers ID`: one HTTP/1.1 GET over the CRI
 * socket, where the daemon answers HTTP beside gRPC, as CRI-O's client
 * does; printed as CRI-O's client prints it ("storage driver: overlay",
 * "pid: 1234"; the config as TOML). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "daemon/daemon.h"

static bool id_is_safe(const char *id) {
  for (const char *p = id; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '-' || *p == '_' || *p == '.'))
      return false;
  return *id != '\0';
}

static const char *str(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) ? v->valuestring : "";
}

static double num(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void print_mappings(const cJSON *list, FILE *out) {
  const cJSON *m;
  cJSON_ArrayForEach(m, list) {
    fprintf(out, "  %.0f:%.0f:%.0f\n", num(m, "container_id"), num(m, "host_id"), num(m, "size"));
  }
}

static void print_info(const cJSON *doc, FILE *out) {
  fprintf(out, "cgroup driver: %s\n", str(doc, "cgroup_driver"));
  fprintf(out, "storage driver: %s\n", str(doc, "storage_driver"));
  fprintf(out, "storage graph root: %s\n", str(doc, "storage_root"));
  fprintf(out, "storage image: %s\n", str(doc, "storage_image"));
  const cJSON *maps = cJSON_GetObjectItemCaseSensitive(doc, "default_id_mappings");
  fputs("default GID mappings (format <container>:<host>:<size>):\n", out);
  print_mappings(cJSON_GetObjectItemCaseSensitive(maps, "gids"), out);
  fputs("default UID mappings (format <container>:<host>:<size>):\n", out);
  print_mappings(cJSON_GetObjectItemCaseSensitive(maps, "uids"), out);
}

static void print_map(const cJSON *doc, const char *key, const char *title, FILE *out) {
  fprintf(out, "%s:\n", title);
  const cJSON *e;
  cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(doc, key)) {
    fprintf(out, "  %s: %s\n", e->string, cJSON_IsString(e) ? e->valuestring : "");
  }
}

static void print_container(const cJSON *doc, FILE *out) {
  fprintf(out, "name: %s\n", str(doc, "name"));
  fprintf(out, "pid: %.0f\n", num(doc, "pid"));
  fprintf(out, "image: %s\n", str(doc, "image"));
  fprintf(out, "image ref: %s\n", str(doc, "image_ref"));
  fprintf(out, "created: %.0f\n", num(doc, "created_time"));
  print_map(doc, "labels", "labels", out);
  print_map(doc, "annotations", "annotations", out);
  print_map(doc, "crio_annotations", "CRI-O annotations", out);
  fprintf(out, "log path: %s\n", str(doc, "log_path"));
  fprintf(out, "graph root: %s\n", str(doc, "root"));
  fprintf(out, "sandbox: %s\n", str(doc, "sandbox"));
  fputs("ips: ", out);
  const cJSON *ip;
  bool first = true;
  cJSON_ArrayForEach(ip, cJSON_GetObjectItemCaseSensitive(doc, "ip_addresses")) {
    fprintf(out, "%s%s", first ? "" : ", ", cJSON_IsString(ip) ? ip->valuestring : "");
    first = false;
  }
  fputc('\n', out);
}

int daemon_status_client(const struct daemon_config *cfg, const struct daemon_invocation *inv,
                         FILE *out, crio_error_t *err) {
  if (inv->status_what == NULL) {
    /* As CRI-O's: the command alone lists its subcommands. */
    fputs("Usage: crio status [--socket PATH] info|config|containers --id ID\n", out);
    return 0;
  }
  const char *socket_path = inv->status_socket ? inv->status_socket : cfg->listen;
  cleanup_free char *target = NULL;
  if (strcmp(inv->status_what, "containers") == 0) {
    if (!id_is_safe(inv->status_id))
      return crio_error(err, EINVAL, "\"%s\" is not a container id", inv->status_id);
    target = xasprintf("/containers/%s", inv->status_id);
  } else {
    target = xasprintf("/%s", inv->status_what);
  }
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(socket_path) >= sizeof(addr.sun_path))
    return crio_error(err, EINVAL, "socket path %s is too long", socket_path);
  strcpy(addr.sun_path, socket_path);
  cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return crio_error_errno(err, errno, "socket");
  if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
    return crio_error_errno(err, errno, "connect %s", socket_path);
  cleanup_free char *request =
      xasprintf("GET %s HTTP/1.1\r\nHost: crio\r\nConnection: close\r\n\r\n", target);
  size_t len = strlen(request);
  for (size_t off = 0; off < len;) {
    ssize_t n = write(fd, request + off, len - off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return crio_error_errno(err, errno, "send request");
    off += (size_t)n;
  }
  size_t cap = 65536, used = 0;
  cleanup_free char *buf = xmalloc(cap);
  for (;;) {
    if (used + 1 >= cap)
      buf = xrealloc(buf, cap *= 2);
    ssize_t n = read(fd, buf + used, cap - used - 1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return crio_error_errno(err, errno, "read answer");
    if (n == 0)
      break;
    used += (size_t)n;
  }
  buf[used] = '\0';
  char *body = strstr(buf, "\r\n\r\n");
  int code = 0;
  if (body == NULL || sscanf(buf, "HTTP/1.%*d %d", &code) != 1)
    return crio_error(err, EPROTO, "%s answered no HTTP response", socket_path);
  body += 4;
  if (code != 200)
    return crio_error(err, code == 404 ? ENOENT : EIO, "GET %s: HTTP %d: %s", target, code, body);
  if (strcmp(inv->status_what, "config") == 0) {
    fputs(body, out);
    return 0;
  }
  cJSON *doc = cJSON_Parse(body);
  if (doc == NULL)
    return crio_error(err, EPROTO, "GET %s: the answer is not JSON", target);
  if (strcmp(inv->status_what, "info") == 0)
    print_info(doc, out);
  else
    print_container(doc, out);
  cJSON_Delete(doc);
  return 0;
}
