/* How records and log entries read: the names behind their numbers (kind,
 * state, goal, CRI state, entry type) and their JSON, which is every
 * stored field plus those names. */
#include <stdlib.h>
#include <string.h>

#include "statemachine/statemachine.h"
#include "tools/crio-db-inspect/inspect.h"

const char *inspect_kind_name(uint32_t kind) {
  /* Range-checked here so that no out-of-range number is ever converted
   * to enum sm_kind. */
  if (kind < SM_KIND_FIRST || kind > SM_KIND_LAST)
    return NULL;
  return sm_kind_name((enum sm_kind)kind);
}

const char *inspect_state_name(uint32_t kind, uint32_t state) {
  if (kind < SM_KIND_FIRST || kind > SM_KIND_LAST)
    return NULL;
  return sm_state_name((enum sm_kind)kind, state);
}

/* runtime.v1 PodSandboxState and ContainerState, by enum number. */
static const char *const cri_pod_states[] = {"SANDBOX_READY", "SANDBOX_NOTREADY"};
static const char *const cri_container_states[] = {"CONTAINER_CREATED", "CONTAINER_RUNNING",
                                                   "CONTAINER_EXITED", "CONTAINER_UNKNOWN"};

const char *inspect_cri_state_name(uint32_t kind, uint32_t state) {
  if (inspect_state_name(kind, state) == NULL)
    return NULL;
  int v;
  switch (kind) {
  case SM_KIND_POD:
    v = sm_pod_cri_state(state);
    if (v < 0 || (size_t)v >= sizeof(cri_pod_states) / sizeof(char *))
      return NULL;
    return cri_pod_states[v];
  case SM_KIND_CONTAINER:
    v = sm_container_cri_state(state);
    if (v < 0 || (size_t)v >= sizeof(cri_container_states) / sizeof(char *))
      return NULL;
    return cri_container_states[v];
  default:
    return NULL; /* images have no CRI state: they are listed or not */
  }
}

const char *inspect_cri_state_short(uint32_t kind, uint32_t state) {
  const char *name = inspect_cri_state_name(kind, state);
  if (name == NULL)
    return NULL;
  const char *underscore = strchr(name, '_');
  return underscore ? underscore + 1 : name;
}

const char *inspect_log_type_name(int type) {
  const ProtobufCEnumValue *v =
      protobuf_c_enum_descriptor_get_value(&crio__store__log_entry__type__descriptor, type);
  return v ? v->name : NULL;
}

static void add_name(cJSON *obj, const char *key, const char *name) {
  cJSON_AddItemToObject(obj, key, name ? cJSON_CreateString(name) : cJSON_CreateNull());
}

cJSON *inspect_record_json(const store_record *rec) {
  cJSON *obj = inspect_pb_to_json(&rec->base);
  add_name(obj, "kind_name", inspect_kind_name(rec->kind));
  add_name(obj, "state_name", inspect_state_name(rec->kind, rec->state));
  add_name(obj, "goal_name", inspect_state_name(rec->kind, rec->goal));
  add_name(obj, "cri_state", inspect_cri_state_name(rec->kind, rec->state));
  return obj;
}

cJSON *inspect_log_entry_json(const store_log_entry *entry) {
  cJSON *obj = inspect_pb_to_json(&entry->base);
  add_name(obj, "kind_name", inspect_kind_name(entry->kind));
  add_name(obj, "from_state_name", inspect_state_name(entry->kind, entry->from_state));
  add_name(obj, "to_state_name", inspect_state_name(entry->kind, entry->to_state));
  add_name(obj, "goal_name", inspect_state_name(entry->kind, entry->goal));
  return obj;
}

char *inspect_log_entry_change(const store_log_entry *entry) {
  const char *from = inspect_state_name(entry->kind, entry->from_state);
  const char *to = inspect_state_name(entry->kind, entry->to_state);
  /* DELETE's to_state is 0: the object is gone, not in some state. */
  if (entry->type == CRIO__STORE__LOG_ENTRY__TYPE__DELETE && to == NULL)
    to = "(deleted)";
  if (from && to && strcmp(from, to) != 0)
    return xasprintf("%s -> %s", from, to);
  if (to)
    return xstrdup(to);
  return xstrdup(from ? from : "");
}

/* Appends " piece" (or "piece" to an empty string). */
static void append(char **s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void append(char **s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cleanup_free char *piece = xvasprintf(fmt, ap);
  va_end(ap);
  char *joined = xasprintf("%s%s%s", *s, **s ? " " : "", piece);
  free(*s);
  *s = joined;
}

char *inspect_log_entry_detail(const store_log_entry *entry) {
  char *s = xstrdup("");
  if (entry->transition && *entry->transition)
    append(&s, "%s", entry->transition);
  for (size_t i = 0; i < entry->n_acquired; i++)
    append(&s, "+%s:%s", entry->acquired[i]->type, entry->acquired[i]->id);
  for (size_t i = 0; i < entry->n_released; i++)
    append(&s, "-%s:%s", entry->released[i]->type, entry->released[i]->id);
  if (entry->error_status != 0) {
    const char *name = strerrorname_np(entry->error_status);
    if (name)
      append(&s, "[%s]", name);
    else
      append(&s, "[errno %d]", entry->error_status);
  }
  if (entry->message && *entry->message)
    append(&s, "%s", entry->message);
  return s;
}
