/* Image names: what a CRI image string resolves to, the names of an image
 * (the names index is their only home), pointing a pull's names at its
 * image, and the removal intent that releases them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "images/service_internal.h"
#include "statemachine/statemachine.h"

/* ---- lookup -------------------------------------------------------------------- */

static bool record_exists(struct store_txn *txn, const char *id) {
  cleanup_store_record store_record *rec = NULL;
  cleanup_error crio_error_t err = NULL;
  return store_record_get(txn, STORE_KIND_IMAGE, id, &rec, &err) == 0;
}

/* The names-index key of a parsed reference: the digest wins over a tag. */
static char *reference_key(const struct img_reference *ref) {
  cleanup_free char *name = img_reference_name(ref);
  if (ref->digest)
    return xasprintf("%s@%s", name, ref->digest);
  return xasprintf("%s:%s", name, ref->tag ? ref->tag : IMG_DEFAULT_TAG);
}

/* 0 found, 1 not a name we know, -1 error. */
static int lookup_by_name(struct img_service *svc, struct store_txn *txn, const char *text,
                          char **id_out, crio_error_t *err) {
  cleanup_img_reference struct img_reference ref = {0};
  cleanup_error crio_error_t parse_err = NULL;
  if (img_reference_parse(text, &ref, &parse_err) < 0)
    return 1;
  struct img_reference *candidates = NULL;
  size_t n = 0;
  if (img_registries_short_name_candidates(img_service_conf(svc), &ref, &candidates, &n, err) < 0)
    return -1;
  int rc = 1;
  for (size_t i = 0; i < n && rc == 1; i++) {
    cleanup_free char *key = reference_key(&candidates[i]);
    cleanup_free char *id = NULL;
    cleanup_error crio_error_t lookup_err = NULL;
    if (store_name_lookup(txn, STORE_NAMES_IMAGE, key, &id, &lookup_err) < 0) {
      if (crio_error_status(&lookup_err) != ENOENT) {
        crio_error(err, crio_error_status(&lookup_err), "%s", crio_error_message(&lookup_err));
        rc = -1;
      }
      continue;
    }
    /* A name whose record is gone (a crash between a removal's steps) is
     * swept at start-up; until then it names nothing. */
    if (record_exists(txn, id)) {
      *id_out = steal_pointer(&id);
      rc = 0;
    }
  }
  img_references_free(candidates, n);
  return rc;
}

int img_service_lookup(struct img_service *svc, struct store_txn *txn, const char *text,
                       char **id_out, crio_error_t *err) {
  if (text == NULL || *text == '\0')
    return crio_error(err, EINVAL, "empty image reference");
  const char *hex = text;
  if (strncmp(text, "sha256:", 7) == 0 && crio_is_hex_id(text + 7, strlen(text + 7)))
    hex = text + 7;
  size_t len = strlen(hex);
  bool all_hex = crio_is_hex_id(hex, len);
  if (all_hex && len == 64) {
    if (!record_exists(txn, hex))
      return crio_error(err, ENOENT, "no image with id %s", hex);
    *id_out = xstrdup(hex);
    return 0;
  }
  if (hex == text) {
    int rc = lookup_by_name(svc, txn, text, id_out, err);
    if (rc <= 0)
      return rc;
  }
  if (!all_hex)
    return crio_error(err, ENOENT, "no image named %s", text);
  if (store_record_resolve_prefix(txn, STORE_KIND_IMAGE, hex, id_out, err) < 0) {
    if (crio_error_status(err) == ENOENT) {
      crio_error_release(err);
      return crio_error(err, ENOENT, "no image named or with id %s", text);
    }
    return -1;
  }
  return 0;
}

/* ---- names of images ------------------------------------------------------------- */

void img_names_clear(struct img_names *names) {
  for (size_t i = 0; i < names->n_tags; i++)
    free(names->tags[i]);
  for (size_t i = 0; i < names->n_digests; i++)
    free(names->digests[i]);
  free(names->tags);
  free(names->digests);
  memset(names, 0, sizeof(*names));
}

static void names_add(struct img_names *names, const char *name) {
  bool digest = strchr(name, '@') != NULL;
  char ***v = digest ? &names->digests : &names->tags;
  size_t *n = digest ? &names->n_digests : &names->n_tags;
  *v = xrealloc(*v, (*n + 1) * sizeof(char *));
  (*v)[(*n)++] = xstrdup(name);
}

struct names_of_walk {
  const char *id;
  struct img_names *out;
};

static int names_of_visit(const char *name, const char *id, void *data) {
  struct names_of_walk *w = data;
  if (strcmp(id, w->id) == 0)
    names_add(w->out, name);
  return 0;
}

/* The walk is in byte order, so the lists come out sorted. */
int img_service_names_of(struct store_txn *txn, const char *id, struct img_names *out,
                         crio_error_t *err) {
  memset(out, 0, sizeof(*out));
  struct names_of_walk w = {.id = id, .out = out};
  if (store_name_foreach(txn, STORE_NAMES_IMAGE, names_of_visit, &w, err) < 0) {
    img_names_clear(out);
    return -1;
  }
  return 0;
}

struct names_entry {
  char *id;
  struct img_names names;
};

struct img_names_map {
  struct names_entry *entries; /* sorted by id once built */
  size_t n, cap;
};

static int names_map_visit(const char *name, const char *id, void *data) {
  struct img_names_map *map = data;
  /* Names of one image are usually adjacent (same repository). */
  struct names_entry *e = NULL;
  for (size_t i = map->n; i-- > 0 && e == NULL;)
    if (strcmp(map->entries[i].id, id) == 0)
      e = &map->entries[i];
  if (e == NULL) {
    if (map->n == map->cap) {
      map->cap = map->cap ? 2 * map->cap : 64;
      map->entries = xrealloc(map->entries, map->cap * sizeof(*map->entries));
    }
    e = &map->entries[map->n++];
    memset(e, 0, sizeof(*e));
    e->id = xstrdup(id);
  }
  names_add(&e->names, name);
  return 0;
}

static int entry_cmp(const void *a, const void *b) {
  return strcmp(((const struct names_entry *)a)->id, ((const struct names_entry *)b)->id);
}

int img_names_map_build(struct store_txn *txn, struct img_names_map **out, crio_error_t *err) {
  struct img_names_map *map = xzalloc(sizeof(*map));
  if (store_name_foreach(txn, STORE_NAMES_IMAGE, names_map_visit, map, err) < 0) {
    img_names_map_free(map);
    return -1;
  }
  if (map->n > 0) /* qsort and bsearch want a non-NULL base */
    qsort(map->entries, map->n, sizeof(*map->entries), entry_cmp);
  *out = map;
  return 0;
}

const struct img_names *img_names_map_get(const struct img_names_map *map, const char *id) {
  struct names_entry key = {.id = (char *)id};
  if (map->n == 0)
    return NULL;
  const struct names_entry *e =
      bsearch(&key, map->entries, map->n, sizeof(*map->entries), entry_cmp);
  return e ? &e->names : NULL;
}

void img_names_map_free(struct img_names_map *map) {
  if (map == NULL)
    return;
  for (size_t i = 0; i < map->n; i++) {
    free(map->entries[i].id);
    img_names_clear(&map->entries[i].names);
  }
  free(map->entries);
  free(map);
}

void img_names_map_freep(struct img_names_map **map) {
  img_names_map_free(*map);
  *map = NULL;
}

/* ---- pointing names ----------------------------------------------------------------- */

static int point_name(struct store_txn *txn, const char *name, const char *id, crio_error_t *err) {
  cleanup_free char *owner = NULL;
  cleanup_error crio_error_t lookup_err = NULL;
  if (store_name_lookup(txn, STORE_NAMES_IMAGE, name, &owner, &lookup_err) == 0) {
    if (strcmp(owner, id) == 0)
      return 0;
    store_name_release(txn, STORE_NAMES_IMAGE, name);
    cleanup_free char *note = xasprintf("image name %s moved from image %s to %s", name, owner, id);
    store_log_note(txn, note);
    log_info("%s", note);
  } else if (crio_error_status(&lookup_err) != ENOENT) {
    return crio_error(err, crio_error_status(&lookup_err), "%s", crio_error_message(&lookup_err));
  }
  store_name_reserve(txn, STORE_NAMES_IMAGE, name, id);
  return 0; /* a failed write is sticky: the commit reports it */
}

int img_service_point_names(struct img_service *svc, struct store_txn *txn,
                            const struct img_pull_plan *plan, crio_error_t *err) {
  (void)svc;
  if (plan->tag_name && point_name(txn, plan->tag_name, plan->id, err) < 0)
    return -1;
  for (char **d = plan->digest_names; d && *d; d++)
    if (point_name(txn, *d, plan->id, err) < 0)
      return -1;
  return 0;
}

/* ---- removal ------------------------------------------------------------------------ */

struct container_user {
  const char *image_id;
  char *container_id;
};

static int find_container_user(const store_record *rec, void *data) {
  struct container_user *u = data;
  if (rec->container && strcmp(rec->container->image_id, u->image_id) == 0) {
    u->container_id = xstrdup(rec->id);
    return 1;
  }
  return 0;
}

int img_service_remove_intent(struct img_service *svc, struct store_txn *txn, const char *id,
                              crio_error_t *err) {
  (void)svc;
  struct container_user user = {.image_id = id};
  if (store_record_foreach(txn, STORE_KIND_CONTAINER, find_container_user, &user, err) < 0)
    return -1;
  if (user.container_id) {
    cleanup_free char *cid = user.container_id;
    return crio_error(err, EBUSY, "image %s is in use by container %s", id, cid);
  }
  cleanup_store_record store_record *rec = NULL;
  if (store_record_get(txn, STORE_KIND_IMAGE, id, &rec, err) < 0)
    return -1;
  struct img_names names;
  if (img_service_names_of(txn, id, &names, err) < 0)
    return -1;
  for (size_t i = 0; i < names.n_tags; i++)
    store_name_release(txn, STORE_NAMES_IMAGE, names.tags[i]);
  for (size_t i = 0; i < names.n_digests; i++)
    store_name_release(txn, STORE_NAMES_IMAGE, names.digests[i]);
  img_names_clear(&names);
  if (rec->goal != SM_IMAGE_REMOVED)
    store_set_goal(txn, rec, SM_IMAGE_REMOVED, "RemoveImage");
  return 0; /* a failed write is sticky: the commit reports it */
}
