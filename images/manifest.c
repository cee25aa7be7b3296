/* Image manifests and indexes: OCI image manifest and index, Docker
 * schema 2 manifest and manifest list (cJSON).  Schema 1 is refused. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "images/registry.h"

#define MEDIA_DOCKER_SCHEMA1 "application/vnd.docker.distribution.manifest.v1+json"
#define MEDIA_DOCKER_SCHEMA1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"

static void descriptor_clear(struct img_descriptor *d) {
  free(d->media_type);
  free(d->digest);
  img_platform_clear(&d->platform);
  memset(d, 0, sizeof(*d));
}

void img_manifest_free(struct img_manifest *m) {
  if (!m)
    return;
  free(m->media_type);
  descriptor_clear(&m->config);
  for (size_t i = 0; i < m->n_layers; i++)
    descriptor_clear(&m->layers[i]);
  free(m->layers);
  for (size_t i = 0; i < m->n_manifests; i++)
    descriptor_clear(&m->manifests[i]);
  free(m->manifests);
  free(m);
}

void cleanup_img_manifestp(struct img_manifest **m) {
  img_manifest_free(*m);
  *m = NULL;
}

static const char *json_string(const cJSON *obj, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static char *dup_or_null(const char *s) {
  return s ? xstrdup(s) : NULL;
}

/* where: "config", "layers[2]", "manifests[0]" for messages. */
static int parse_descriptor(const cJSON *obj, const char *where, bool with_platform,
                            struct img_descriptor *out, crio_error_t *err) {
  const cJSON *size = cJSON_GetObjectItemCaseSensitive(obj, "size");
  const char *media_type = json_string(obj, "mediaType");
  const char *digest = json_string(obj, "digest");
  cleanup_error crio_error_t derr = NULL;

  if (!cJSON_IsObject(obj))
    return crio_error(err, EBADMSG, "%s: not an object", where);
  if (!media_type || !media_type[0])
    return crio_error(err, EBADMSG, "%s: no mediaType", where);
  if (!digest)
    return crio_error(err, EBADMSG, "%s: no digest", where);
  if (img_digest_validate(digest, &derr) < 0)
    return crio_error(err, crio_error_status(&derr) == ENOTSUP ? ENOTSUP : EBADMSG, "%s: %s", where,
                      crio_error_message(&derr));
  /* JSON numbers are doubles; sizes above 2^53 cannot be exact anyway. */
  if (!cJSON_IsNumber(size) || size->valuedouble < 0 || size->valuedouble > 9007199254740992.0 ||
      size->valuedouble != floor(size->valuedouble))
    return crio_error(err, EBADMSG,
                      "%s: size missing or not a "
                      "non-negative integer",
                      where);
  out->media_type = xstrdup(media_type);
  out->digest = xstrdup(digest);
  out->size = (int64_t)size->valuedouble;
  if (with_platform) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(obj, "platform");
    if (p && !cJSON_IsObject(p))
      return crio_error(err, EBADMSG, "%s: platform is not an object", where);
    out->platform.os = dup_or_null(json_string(p, "os"));
    out->platform.architecture = dup_or_null(json_string(p, "architecture"));
    out->platform.variant = dup_or_null(json_string(p, "variant"));
  }
  return 0;
}

static int parse_descriptor_array(const cJSON *arr, const char *name, bool with_platform,
                                  struct img_descriptor **out, size_t *n_out, crio_error_t *err) {
  size_t n = (size_t)cJSON_GetArraySize(arr);
  size_t i = 0;
  const cJSON *item;
  if (!cJSON_IsArray(arr))
    return crio_error(err, EBADMSG, "%s: missing or not an array", name);
  *out = xcalloc(n ? n : 1, sizeof(**out));
  *n_out = 0;
  cJSON_ArrayForEach(item, arr) {
    cleanup_free char *where = xasprintf("%s[%zu]", name, i);
    if (parse_descriptor(item, where, with_platform, &(*out)[i], err) < 0) {
      *n_out = i + 1; /* so the caller frees the partial one */
      return -1;
    }
    *n_out = ++i;
  }
  return 0;
}

enum kind_guess { KIND_UNKNOWN, KIND_IMAGE, KIND_INDEX, KIND_SCHEMA1 };

static enum kind_guess kind_of_media_type(const char *t) {
  if (!t)
    return KIND_UNKNOWN;
  if (!strcmp(t, IMG_MEDIA_OCI_MANIFEST) || !strcmp(t, IMG_MEDIA_DOCKER_MANIFEST))
    return KIND_IMAGE;
  if (!strcmp(t, IMG_MEDIA_OCI_INDEX) || !strcmp(t, IMG_MEDIA_DOCKER_LIST))
    return KIND_INDEX;
  if (!strcmp(t, MEDIA_DOCKER_SCHEMA1) || !strcmp(t, MEDIA_DOCKER_SCHEMA1_SIGNED))
    return KIND_SCHEMA1;
  return KIND_UNKNOWN;
}

static int schema1_error(crio_error_t *err) {
  return crio_error(err, ENOTSUP,
                    "unsupported: Docker schema 1 manifest (deprecated and "
                    "unverifiable); push the image as Docker schema 2 or OCI");
}

static void cleanup_cjsonp(cJSON **p) {
  cJSON_Delete(*p);
}
#define cleanup_cjson __attribute__((cleanup(cleanup_cjsonp)))

static int parse_document(const cJSON *root, const char *content_type, struct img_manifest *m,
                          crio_error_t *err) {
  const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "schemaVersion");
  const cJSON *config = cJSON_GetObjectItemCaseSensitive(root, "config");
  const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
  const cJSON *manifests = cJSON_GetObjectItemCaseSensitive(root, "manifests");
  const char *body_type = json_string(root, "mediaType");
  enum kind_guess header_kind = kind_of_media_type(content_type);
  enum kind_guess kind = kind_of_media_type(body_type);

  if ((cJSON_IsNumber(version) && version->valuedouble == 1) || kind == KIND_SCHEMA1)
    return schema1_error(err);
  if (!cJSON_IsNumber(version) || version->valuedouble != 2)
    return crio_error(err, EBADMSG, "manifest: schemaVersion must be 2");
  if (body_type && kind == KIND_UNKNOWN)
    return crio_error(err, ENOTSUP, "unsupported manifest mediaType %s", body_type);
  if (kind == KIND_UNKNOWN)
    kind = header_kind;
  /* The OCI spec leaves mediaType optional; the fields tell. */
  if (kind == KIND_UNKNOWN)
    kind = manifests ? KIND_INDEX : KIND_IMAGE;
  if (header_kind != KIND_UNKNOWN && header_kind != kind)
    return crio_error(err, EBADMSG,
                      "manifest: body says %s but the registry "
                      "sent Content-Type %s",
                      body_type ? body_type : "?", content_type);
  /* A document that is both an index and a manifest could be read as
   * either; the OCI spec forbids it to close that ambiguity. */
  if (manifests && (config || layers))
    return crio_error(err, EBADMSG,
                      "manifest has both manifests and "
                      "config/layers");
  if (kind == KIND_INDEX) {
    m->kind = IMG_MANIFEST_INDEX;
    m->media_type = xstrdup(body_type                   ? body_type
                            : header_kind == KIND_INDEX ? content_type
                                                        : IMG_MEDIA_OCI_INDEX);
    if (parse_descriptor_array(manifests, "manifests", true, &m->manifests, &m->n_manifests, err) <
        0)
      return crio_error_prefix(err, "index");
    return 0;
  }
  m->kind = IMG_MANIFEST_IMAGE;
  m->media_type = xstrdup(body_type                   ? body_type
                          : header_kind == KIND_IMAGE ? content_type
                                                      : IMG_MEDIA_OCI_MANIFEST);
  if (!config)
    return crio_error(err, EBADMSG, "manifest: no config");
  if (parse_descriptor(config, "config", false, &m->config, err) < 0 ||
      parse_descriptor_array(layers, "layers", false, &m->layers, &m->n_layers, err) < 0)
    return crio_error_prefix(err, "manifest");
  return 0;
}

int img_manifest_parse(const char *body, size_t len, const char *content_type,
                       struct img_manifest **out, crio_error_t *err) {
  cleanup_cjson cJSON *root = NULL;
  cleanup_img_manifest struct img_manifest *m = NULL;

  if (len > IMG_MANIFEST_MAX)
    return crio_error(err, EFBIG,
                      "manifest of %zu bytes exceeds the limit "
                      "of %d",
                      len, IMG_MANIFEST_MAX);
  if (kind_of_media_type(content_type) == KIND_SCHEMA1)
    return schema1_error(err);
  root = cJSON_ParseWithLength(body, len);
  if (!cJSON_IsObject(root))
    return crio_error(err, EBADMSG, "manifest is not a JSON object");
  m = xzalloc(sizeof(*m));
  if (parse_document(root, content_type, m, err) < 0)
    return -1;
  *out = steal_pointer(&m);
  return 0;
}
