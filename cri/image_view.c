/* Image records as the CRI shows them.  Everything returned lives in the
 * request's arena. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cri/image.h"
#include "statemachine/statemachine.h"

int cri_image_spec_text(const Runtime__V1__ImageSpec *spec, const char *field, const char **out,
                        crio_error_t *err) {
  if (spec == NULL || spec->image == NULL || spec->image[0] == '\0')
    return crio_error(err, EINVAL, "%s is required", field);
  *out = spec->image;
  return 0;
}

static char **strv_view(struct cri_request *req, char *const *v, size_t n) {
  char **out = cri_alloc(req, (n ? n : 1) * sizeof(char *));
  for (size_t i = 0; i < n; i++)
    out[i] = cri_strdup(req, v[i]);
  return out;
}

/* The config's User as CRI-O reads it: "uid" or "uid:gid" is numeric,
 * anything else ("name", "name:group") a user name; none sets neither. */
static void user_view(struct cri_request *req, const char *user, Runtime__V1__Image *img) {
  if (user == NULL || *user == '\0')
    return;
  size_t len = strcspn(user, ":");
  char *name = cri_alloc(req, len + 1);
  memcpy(name, user, len);
  char *end = NULL;
  errno = 0;
  long long uid = len ? strtoll(name, &end, 10) : 0;
  if (len && errno == 0 && end && *end == '\0') {
    img->uid = cri_alloc(req, sizeof(*img->uid));
    runtime__v1__int64_value__init(img->uid);
    img->uid->value = uid;
  } else {
    img->username = name;
  }
}

Runtime__V1__Image *cri_image_view(struct cri_request *req, const store_record *rec,
                                   const struct img_names *names, bool pinned) {
  Runtime__V1__Image *img = cri_alloc(req, sizeof(*img));
  runtime__v1__image__init(img);
  img->id = cri_strdup(req, rec->id);
  if (names) {
    img->n_repo_tags = names->n_tags;
    img->repo_tags = strv_view(req, names->tags, names->n_tags);
    img->n_repo_digests = names->n_digests;
    img->repo_digests = strv_view(req, names->digests, names->n_digests);
  }
  img->size = rec->image ? rec->image->size : 0;
  user_view(req, rec->image ? rec->image->user : NULL, img);
  img->spec = cri_alloc(req, sizeof(*img->spec));
  runtime__v1__image_spec__init(img->spec);
  img->spec->image = img->id;
  img->pinned = pinned;
  return img;
}

char *cri_image_verbose_info(struct cri_request *req, const store_record *rec) {
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "id", rec->id);
  cJSON_AddStringToObject(root, "state", sm_state_name(SM_KIND_IMAGE, rec->state));
  if (rec->image) {
    const Crio__Store__ImageBody *b = rec->image;
    cJSON_AddStringToObject(root, "reference", b->reference);
    cJSON_AddStringToObject(root, "manifestDigest", b->manifest_digest);
    cJSON *layers = cJSON_AddArrayToObject(root, "layers");
    for (size_t i = 0; i < b->n_layers; i++)
      cJSON_AddItemToArray(layers, cJSON_CreateString(b->layers[i]));
    cJSON *config =
        b->config.len ? cJSON_ParseWithLength((const char *)b->config.data, b->config.len) : NULL;
    /* CRI-O's key for the OCI image config. */
    if (config)
      cJSON_AddItemToObject(root, "imageSpec", config);
  }
  return cri_json_print(req, root);
}
