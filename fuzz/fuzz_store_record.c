/* Record and log-entry values as LMDB hands them back (the first byte
 * picks ObjectRecord or LogEntry): decoded as store/ decodes them, then
 * given to what reads them next — the state tables with the stored state
 * and goal, the stored CRI configs, the CNI result, the image config and
 * manifest.  A damaged value must give an error, never a crash; what
 * decodes (store_protobuf_repackable, as the store's decoders check)
 * re-encodes to something that decodes to the same bytes. */
#include <string.h>

#include <cjson/cJSON.h>

#include "cni/cni.h"
#include "cri/container.h"
#include "cri/pod.h"
#include "fuzz/fuzz.h"
#include "images/registry.h"
#include "statemachine/statemachine.h"
#include "store/store.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  fuzz_quiet_logs();
  return 0;
}

/* pack(unpack(pack(m))) == pack(m): protobuf-c's encoding is canonical for
 * what it decoded, so a mismatch is a decoder bug. */
static void check_round_trip(const ProtobufCMessage *m) {
  size_t len = protobuf_c_message_get_packed_size(m);
  cleanup_free uint8_t *buf = xmalloc(len ? len : 1);
  FUZZ_ASSERT(protobuf_c_message_pack(m, buf) == len);
  ProtobufCMessage *again = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
  FUZZ_ASSERT(again != NULL);
  size_t len2 = protobuf_c_message_get_packed_size(again);
  cleanup_free uint8_t *buf2 = xmalloc(len2 ? len2 : 1);
  FUZZ_ASSERT(protobuf_c_message_pack(again, buf2) == len2);
  FUZZ_ASSERT(len == len2 && memcmp(buf, buf2, len) == 0);
  protobuf_c_message_free_unpacked(again, NULL);
}

static void check_states(uint32_t kind, uint32_t state, uint32_t goal) {
  if (kind < SM_KIND_POD || kind > SM_KIND_IMAGE)
    return;
  sm_state_name((enum sm_kind)kind, state);
  sm_state_valid((enum sm_kind)kind, state);
  sm_is_terminal((enum sm_kind)kind, state);
  sm_find((enum sm_kind)kind, state, goal);
  sm_next_step((enum sm_kind)kind, state, goal);
  sm_reachable((enum sm_kind)kind, state, goal);
}

static void read_record(const store_record *rec) {
  check_states(rec->kind, rec->state, rec->goal);
  cleanup_pod_config Runtime__V1__PodSandboxConfig *pod = cri_pod_record_config(rec);
  cleanup_container_config Runtime__V1__ContainerConfig *ctr = cri_container_record_config(rec);
  /* A stored config carrying field number 0 cannot come from a request
   * (cri_request_decode refuses it); from a damaged record it is only read. */
  if (pod && store_protobuf_repackable(&pod->base))
    check_round_trip(&pod->base);
  if (ctr && store_protobuf_repackable(&ctr->base))
    check_round_trip(&ctr->base);
  if (rec->body_case == CRIO__STORE__OBJECT_RECORD__BODY_POD && rec->pod->network_status.len) {
    cleanup_free char *json =
        fuzz_cstring(rec->pod->network_status.data, rec->pod->network_status.len);
    struct cni_result r = {0};
    cleanup_error crio_error_t err = NULL;
    cni_result_parse(json, &r, &err);
    cni_result_release(&r);
  }
  if (rec->body_case == CRIO__STORE__OBJECT_RECORD__BODY_IMAGE) {
    cJSON_Delete(
        cJSON_ParseWithLength((const char *)rec->image->config.data, rec->image->config.len));
    struct img_manifest *m = NULL;
    cleanup_error crio_error_t err = NULL;
    if (img_manifest_parse((const char *)rec->image->manifest.data, rec->image->manifest.len, NULL,
                           &m, &err) == 0)
      img_manifest_free(m);
  }
  if (rec->resources_update.len) {
    Runtime__V1__LinuxContainerResources *res = runtime__v1__linux_container_resources__unpack(
        NULL, rec->resources_update.len, rec->resources_update.data);
    if (res)
      runtime__v1__linux_container_resources__free_unpacked(res, NULL);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  if (data[0] & 1) {
    store_log_entry *e = crio__store__log_entry__unpack(NULL, size - 1, data + 1);
    if (e == NULL)
      return 0;
    if (!store_protobuf_repackable(&e->base)) { /* store_log_decode refuses it */
      store_log_entry_free(e);
      return 0;
    }
    check_states(e->kind, e->from_state, e->to_state);
    check_round_trip(&e->base);
    store_log_entry_free(e);
  } else {
    store_record *rec = crio__store__object_record__unpack(NULL, size - 1, data + 1);
    if (rec == NULL)
      return 0;
    if (!store_protobuf_repackable(&rec->base)) { /* the store's decode refuses it */
      store_record_free(rec);
      return 0;
    }
    read_record(rec);
    check_round_trip(&rec->base);
    store_record_free(rec);
  }
  return 0;
}
