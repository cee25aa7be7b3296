/* layer.json: what a published layer is (struct img_layer_info), next to
 * its diff/.  Written inside the tmp-* directory before publication, so it
 * is synced and renamed with the layer. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "images/layer_internal.h"

#define META_FILE "layer.json"
#define META_MAX_SIZE (64 * 1024)

static void cleanup_cjsonp(cJSON **j) {
  cJSON_Delete(*j);
}
#define cleanup_cjson __attribute__((cleanup(cleanup_cjsonp)))

int layer_meta_write(int dirfd, const struct img_layer_info *info, crio_error_t *err) {
  cleanup_cjson cJSON *j = cJSON_CreateObject();
  char created[32];
  snprintf(created, sizeof created, "%lld", (long long)info->created_ns);
  cJSON_AddStringToObject(j, "chain_id", info->chain_id);
  cJSON_AddStringToObject(j, "parent_chain_id", info->parent_chain_id);
  cJSON_AddStringToObject(j, "diff_id", info->diff_id);
  cJSON_AddStringToObject(j, "compressed_digest", info->compressed_digest);
  cJSON_AddStringToObject(j, "media_type", info->media_type);
  /* Doubles hold sizes exactly below 2^53 bytes; nanoseconds since 1970
   * are beyond that, hence a string. */
  cJSON_AddNumberToObject(j, "compressed_size", (double)info->compressed_size);
  cJSON_AddNumberToObject(j, "uncompressed_size", (double)info->uncompressed_size);
  cJSON_AddStringToObject(j, "created_ns", created);
  cleanup_free char *text = cJSON_PrintUnformatted(j);
  if (text == NULL)
    return crio_error(err, ENOMEM, "encode " META_FILE);
  cleanup_close int fd = openat(dirfd, META_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return crio_error_errno(err, errno, "create " META_FILE);
  size_t len = strlen(text), off = 0;
  while (off < len) {
    ssize_t n = write(fd, text + off, len - off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return crio_error_errno(err, errno, "write " META_FILE);
    off += (size_t)n;
  }
  return 0;
}

static void copy_string(cJSON *j, const char *key, char *out, size_t size) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
  snprintf(out, size, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

static uint64_t get_size(cJSON *j, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
  return cJSON_IsNumber(v) && v->valuedouble >= 0 ? (uint64_t)v->valuedouble : 0;
}

int layer_meta_read(int dirfd, struct img_layer_info *info, crio_error_t *err) {
  char buf[META_MAX_SIZE + 1];
  size_t len = 0;
  cleanup_close int fd = openat(dirfd, META_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return crio_error_errno(err, errno, "open " META_FILE);
  for (;;) {
    ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return crio_error_errno(err, errno, "read " META_FILE);
    if (n == 0)
      break;
    len += (size_t)n;
    if (len == sizeof buf - 1)
      return crio_error(err, EINVAL, META_FILE " too large");
  }
  buf[len] = '\0';
  cleanup_cjson cJSON *j = cJSON_Parse(buf);
  if (!cJSON_IsObject(j))
    return crio_error(err, EINVAL, META_FILE " does not parse");
  memset(info, 0, sizeof *info);
  copy_string(j, "chain_id", info->chain_id, sizeof info->chain_id);
  copy_string(j, "parent_chain_id", info->parent_chain_id, sizeof info->parent_chain_id);
  copy_string(j, "diff_id", info->diff_id, sizeof info->diff_id);
  copy_string(j, "compressed_digest", info->compressed_digest, sizeof info->compressed_digest);
  copy_string(j, "media_type", info->media_type, sizeof info->media_type);
  info->compressed_size = get_size(j, "compressed_size");
  info->uncompressed_size = get_size(j, "uncompressed_size");
  const cJSON *created = cJSON_GetObjectItemCaseSensitive(j, "created_ns");
  if (cJSON_IsString(created))
    info->created_ns = strtoll(created->valuestring, NULL, 10);
  if (!img_digest_valid(info->chain_id) || !img_digest_valid(info->diff_id))
    return crio_error(err, EINVAL, META_FILE " lacks a valid chain id or diff_id");
  return 0;
}
