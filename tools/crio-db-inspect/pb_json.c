/* Protobuf-c messages as JSON, by reflection over their descriptors.
 *
 * Mostly protobuf's own JSON mapping, with the field names of the .proto
 * file and every proto3 field present even at its default, so a script
 * sees a stable set of keys.  Where the mapping would serve a reader of
 * this tool badly we depart from it, each on purpose:
 *   - 64-bit integers are JSON numbers written with every digit (the
 *     mapping's strings are awkward in jq; cJSON's doubles would round
 *     them), emitted raw;
 *   - timestamps (ns since the epoch) are RFC 3339 UTC strings, null when
 *     unset;
 *   - bytes fields known to hold JSON are embedded as JSON; other bytes
 *     are base64, as in the mapping. */
#include <inttypes.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "tools/crio-db-inspect/inspect.h"

enum field_view {
  VIEW_PLAIN = 0,
  VIEW_TIME, /* int64 ns since the epoch */
  VIEW_JSON, /* bytes holding a JSON document */
};

/* Fields whose number or bytes mean more than their proto type says. */
static const struct {
  const char *message; /* full name */
  const char *field;
  enum field_view view;
} special_fields[] = {
    {"crio.store.ObjectRecord", "created_at", VIEW_TIME},
    {"crio.store.ObjectRecord", "updated_at", VIEW_TIME},
    {"crio.store.LogEntry", "time", VIEW_TIME},
    {"crio.store.ContainerBody", "started_at", VIEW_TIME},
    {"crio.store.ContainerBody", "finished_at", VIEW_TIME},
    {"crio.store.PodSandboxBody", "network_status", VIEW_JSON},
    {"crio.store.PodSandboxBody", "network_config", VIEW_JSON},
    {"crio.store.ImageBody", "config", VIEW_JSON},
};

static enum field_view view_of(const ProtobufCMessageDescriptor *desc,
                               const ProtobufCFieldDescriptor *field) {
  for (size_t i = 0; i < sizeof(special_fields) / sizeof(special_fields[0]); i++) {
    if (strcmp(desc->name, special_fields[i].message) == 0 &&
        strcmp(field->name, special_fields[i].field) == 0)
      return special_fields[i].view;
  }
  return VIEW_PLAIN;
}

static char *base64(const uint8_t *data, size_t len) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char *out = xmalloc((len + 2) / 3 * 4 + 1);
  char *p = out;
  for (size_t i = 0; i < len; i += 3) {
    uint32_t v = (uint32_t)data[i] << 16;
    if (i + 1 < len)
      v |= (uint32_t)data[i + 1] << 8;
    if (i + 2 < len)
      v |= data[i + 2];
    *p++ = alphabet[(v >> 18) & 63];
    *p++ = alphabet[(v >> 12) & 63];
    *p++ = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
    *p++ = i + 2 < len ? alphabet[v & 63] : '=';
  }
  *p = '\0';
  return out;
}

static cJSON *bytes_json(const ProtobufCBinaryData *bytes, enum field_view view) {
  if (view == VIEW_JSON) {
    if (bytes->len == 0)
      return cJSON_CreateNull();
    cJSON *doc = cJSON_ParseWithLength((const char *)bytes->data, bytes->len);
    if (doc != NULL)
      return doc;
    /* Not JSON after all: show what is there rather than hide it. */
  }
  cleanup_free char *text = base64(bytes->data, bytes->len);
  return cJSON_CreateString(text);
}

static cJSON *int64_json(int64_t v, enum field_view view) {
  char buf[48];
  if (view == VIEW_TIME) {
    if (v == 0)
      return cJSON_CreateNull();
    inspect_format_time(v, 9, buf, sizeof(buf));
    return cJSON_CreateString(buf);
  }
  snprintf(buf, sizeof(buf), "%" PRId64, v);
  return cJSON_CreateRaw(buf);
}

static cJSON *uint64_json(uint64_t v) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%" PRIu64, v);
  return cJSON_CreateRaw(buf);
}

/* One value of a field; `p` points at it (an element, for repeated). */
static cJSON *value_json(const ProtobufCFieldDescriptor *field, enum field_view view,
                         const void *p) {
  switch (field->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
    return cJSON_CreateNumber(*(const int32_t *)p);
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    return cJSON_CreateNumber(*(const uint32_t *)p);
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
    return int64_json(*(const int64_t *)p, view);
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    return uint64_json(*(const uint64_t *)p);
  case PROTOBUF_C_TYPE_FLOAT:
    return cJSON_CreateNumber(*(const float *)p);
  case PROTOBUF_C_TYPE_DOUBLE:
    return cJSON_CreateNumber(*(const double *)p);
  case PROTOBUF_C_TYPE_BOOL:
    return cJSON_CreateBool(*(const protobuf_c_boolean *)p);
  case PROTOBUF_C_TYPE_ENUM: {
    int v = *(const int *)p;
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(field->descriptor, v);
    /* A number this build does not know still shows, as a number. */
    return ev ? cJSON_CreateString(ev->name) : cJSON_CreateNumber(v);
  }
  case PROTOBUF_C_TYPE_STRING: {
    const char *s = *(char *const *)p;
    return cJSON_CreateString(s ? s : "");
  }
  case PROTOBUF_C_TYPE_BYTES:
    return bytes_json(p, view);
  case PROTOBUF_C_TYPE_MESSAGE: {
    const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
    return sub ? inspect_pb_to_json(sub) : cJSON_CreateNull();
  }
  }
  return cJSON_CreateNull();
}

static size_t value_size(ProtobufCType type) {
  switch (type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    return sizeof(uint32_t);
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    return sizeof(uint64_t);
  case PROTOBUF_C_TYPE_FLOAT:
    return sizeof(float);
  case PROTOBUF_C_TYPE_DOUBLE:
    return sizeof(double);
  case PROTOBUF_C_TYPE_BOOL:
    return sizeof(protobuf_c_boolean);
  case PROTOBUF_C_TYPE_ENUM:
    return sizeof(int);
  case PROTOBUF_C_TYPE_STRING:
    return sizeof(char *);
  case PROTOBUF_C_TYPE_BYTES:
    return sizeof(ProtobufCBinaryData);
  case PROTOBUF_C_TYPE_MESSAGE:
    return sizeof(ProtobufCMessage *);
  }
  return 0;
}

/* protobuf-c does not mark map fields: a map<K, V> is generated as a
 * repeated nested message "<Name>Entry" with fields key = 1, value = 2. */
static bool is_map_entry(const ProtobufCMessageDescriptor *desc) {
  size_t len = strlen(desc->short_name);
  return len > 5 && strcmp(desc->short_name + len - 5, "Entry") == 0 && desc->n_fields == 2 &&
         desc->fields[0].id == 1 && strcmp(desc->fields[0].name, "key") == 0 &&
         desc->fields[1].id == 2 && strcmp(desc->fields[1].name, "value") == 0;
}

static cJSON *map_json(ProtobufCMessage *const *entries, size_t n) {
  cJSON *obj = cJSON_CreateObject();
  for (size_t i = 0; i < n; i++) {
    const ProtobufCMessageDescriptor *desc = entries[i]->descriptor;
    const ProtobufCFieldDescriptor *kf = &desc->fields[0];
    const ProtobufCFieldDescriptor *vf = &desc->fields[1];
    const char *base = (const char *)entries[i];
    cleanup_cjson cJSON *key = value_json(kf, VIEW_PLAIN, base + kf->offset);
    cJSON *value = value_json(vf, VIEW_PLAIN, base + vf->offset);
    /* Keys are strings in every map of ours; print others as JSON text. */
    cleanup_free char *key_text =
        cJSON_IsString(key) ? xstrdup(cJSON_GetStringValue(key)) : cJSON_PrintUnformatted(key);
    cJSON_AddItemToObject(obj, key_text, value);
  }
  return obj;
}

/* Whether a singular field is set: a oneof member only when it is the
 * chosen one, a proto2 optional only when its has_ flag says so. */
static bool field_present(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *field) {
  const char *base = (const char *)msg;
  if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
    return *(const uint32_t *)(base + field->quantifier_offset) == field->id;
  if (field->label != PROTOBUF_C_LABEL_OPTIONAL)
    return true;
  switch (field->type) {
  case PROTOBUF_C_TYPE_STRING:
  case PROTOBUF_C_TYPE_MESSAGE:
    return *(void *const *)(base + field->offset) != NULL;
  default:
    return *(const protobuf_c_boolean *)(base + field->quantifier_offset);
  }
}

cJSON *inspect_pb_to_json(const ProtobufCMessage *msg) {
  const ProtobufCMessageDescriptor *desc = msg->descriptor;
  const char *base = (const char *)msg;
  cJSON *obj = cJSON_CreateObject();
  for (unsigned i = 0; i < desc->n_fields; i++) {
    const ProtobufCFieldDescriptor *field = &desc->fields[i];
    enum field_view view = view_of(desc, field);
    if (field->label != PROTOBUF_C_LABEL_REPEATED) {
      if (field_present(msg, field))
        cJSON_AddItemToObject(obj, field->name, value_json(field, view, base + field->offset));
      continue;
    }
    size_t n = *(const size_t *)(base + field->quantifier_offset);
    const char *elems = *(char *const *)(base + field->offset);
    if (field->type == PROTOBUF_C_TYPE_MESSAGE && is_map_entry(field->descriptor)) {
      cJSON_AddItemToObject(obj, field->name,
                            map_json((ProtobufCMessage *const *)(const void *)elems, n));
      continue;
    }
    cJSON *arr = cJSON_CreateArray();
    size_t size = value_size(field->type);
    for (size_t j = 0; j < n; j++)
      cJSON_AddItemToArray(arr, value_json(field, view, elems + j * size));
    cJSON_AddItemToObject(obj, field->name, arr);
  }
  /* Fields written by a newer build that this one cannot name: their
   * presence is itself worth knowing when inspecting. */
  if (msg->n_unknown_fields > 0)
    cJSON_AddNumberToObject(obj, "_unknown_fields", (double)msg->n_unknown_fields);
  return obj;
}
