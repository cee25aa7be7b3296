/* pods, containers, images: one row per record of a kind, in id order. */
#include <string.h>

#include "tools/crio-db-inspect/inspect.h"

struct records_list {
  enum store_kind kind;
  int64_t now;
  cJSON *array;                /* --json */
  struct inspect_table *table; /* otherwise */
};

static const char *const pod_headers[] = {"ID",  "NAME", "STATE",   "GOAL",
                                          "CRI", "AGE",  "UPDATED", "ERROR"};
static const char *const container_headers[] = {"ID",  "NAME", "POD",     "STATE", "GOAL",
                                                "CRI", "AGE",  "UPDATED", "ERROR"};
static const char *const image_headers[] = {"ID",   "NAME", "STATE",   "GOAL",
                                            "SIZE", "AGE",  "UPDATED", "ERROR"};

/* What a person calls an image: the reference it was pulled by (tags
 * themselves live in the names index and move between images), else its
 * first digest. */
static const char *image_name(const store_record *rec) {
  const Crio__Store__ImageBody *img =
      rec->body_case == CRIO__STORE__OBJECT_RECORD__BODY_IMAGE ? rec->image : NULL;
  if (img && img->reference && *img->reference)
    return img->reference;
  if (img && img->n_repo_tags > 0)
    return img->repo_tags[0];
  if (img && img->n_repo_digests > 0)
    return img->repo_digests[0];
  return rec->name;
}

static char *error_cell(const store_record *rec) {
  if (rec->error_status == 0 && (!rec->error_message || !*rec->error_message))
    return xstrdup("");
  const char *name = strerrorname_np(rec->error_status);
  const char *msg =
      rec->error_message && *rec->error_message ? rec->error_message : strerror(rec->error_status);
  if (name)
    return xasprintf("[%s] %s", name, msg);
  return xasprintf("%s", msg);
}

static void add_row(struct records_list *list, const store_record *rec) {
  char id[INSPECT_SHORT_ID_LEN + 1], pod[INSPECT_SHORT_ID_LEN + 1];
  char age[32], updated[48], size[32];
  inspect_short_id(rec->id, id, sizeof(id));
  inspect_format_age(rec->created_at, list->now, age, sizeof(age));
  inspect_format_time(rec->updated_at, 0, updated, sizeof(updated));
  const char *state = inspect_state_name(rec->kind, rec->state);
  const char *goal = inspect_state_name(rec->kind, rec->goal);
  const char *cri = inspect_cri_state_short(rec->kind, rec->state);
  cleanup_free char *error = error_cell(rec);
  /* A number this build has no name for is still worth showing. */
  cleanup_free char *state_num = xasprintf("?%u", rec->state);
  cleanup_free char *goal_num = xasprintf("?%u", rec->goal);
  if (state == NULL)
    state = state_num;
  if (goal == NULL)
    goal = goal_num;

  switch (list->kind) {
  case STORE_KIND_POD: {
    const char *row[] = {id, rec->name, state, goal, cri, age, updated, error};
    inspect_table_add_row(list->table, row);
    break;
  }
  case STORE_KIND_CONTAINER: {
    const char *parent = rec->parent_id;
    if ((!parent || !*parent) && rec->body_case == CRIO__STORE__OBJECT_RECORD__BODY_CONTAINER)
      parent = rec->container->pod_id;
    inspect_short_id(parent, pod, sizeof(pod));
    const char *row[] = {id, rec->name, pod, state, goal, cri, age, updated, error};
    inspect_table_add_row(list->table, row);
    break;
  }
  case STORE_KIND_IMAGE: {
    uint64_t bytes =
        rec->body_case == CRIO__STORE__OBJECT_RECORD__BODY_IMAGE ? rec->image->size : 0;
    inspect_format_size(bytes, size, sizeof(size));
    const char *row[] = {id, image_name(rec), state, goal, size, age, updated, error};
    inspect_table_add_row(list->table, row);
    break;
  }
  }
}

static int visit_record(const store_record *rec, void *data) {
  struct records_list *list = data;
  if (list->array)
    cJSON_AddItemToArray(list->array, inspect_record_json(rec));
  else
    add_row(list, rec);
  return 0;
}

static int list_records(struct inspect_ctx *ctx, enum store_kind kind, int argc, char **argv,
                        crio_error_t *err) {
  struct store *store = NULL;
  int ret = inspect_open_store_plain(ctx, argc, argv, &store, err);
  if (ret < 0)
    return ret;

  cleanup_cjson cJSON *array = NULL;
  cleanup_inspect_table struct inspect_table *table = NULL;
  if (ctx->json) {
    array = cJSON_CreateArray();
  } else if (kind == STORE_KIND_POD) {
    table = inspect_table_new(sizeof(pod_headers) / sizeof(char *), pod_headers);
  } else if (kind == STORE_KIND_CONTAINER) {
    table = inspect_table_new(sizeof(container_headers) / sizeof(char *), container_headers);
  } else {
    table = inspect_table_new(sizeof(image_headers) / sizeof(char *), image_headers);
  }
  struct records_list list = {.kind = kind, .now = crio_now_ns(), .array = array, .table = table};

  /* The whole listing is built inside one read txn (one consistent
   * snapshot) and written after it ends. */
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(store, STORE_TXN_READ, &txn, err) < 0 ||
      store_record_foreach(txn, kind, visit_record, &list, err) < 0)
    return crio_error_prefix(err, "list %ss", store_kind_name(kind));
  if (store_txn_commit(steal_pointer(&txn), err) < 0)
    return crio_error_prefix(err, "list %ss", store_kind_name(kind));

  if (array)
    return inspect_json_print(array, true, stdout, err);
  return inspect_table_flush(table, stdout, err);
}

static int cmd_pods(struct inspect_ctx *ctx, int argc, char **argv, crio_error_t *err) {
  return list_records(ctx, STORE_KIND_POD, argc, argv, err);
}

static int cmd_containers(struct inspect_ctx *ctx, int argc, char **argv, crio_error_t *err) {
  return list_records(ctx, STORE_KIND_CONTAINER, argc, argv, err);
}

static int cmd_images(struct inspect_ctx *ctx, int argc, char **argv, crio_error_t *err) {
  return list_records(ctx, STORE_KIND_IMAGE, argc, argv, err);
}

const struct inspect_command inspect_cmd_pods = {
    .name = "pods",
    .run = cmd_pods,
    .args = "",
    .summary = "list pod sandbox records",
};

const struct inspect_command inspect_cmd_containers = {
    .name = "containers",
    .run = cmd_containers,
    .args = "",
    .summary = "list container records",
};

const struct inspect_command inspect_cmd_images = {
    .name = "images",
    .run = cmd_images,
    .args = "",
    .summary = "list image records",
};
