/* Container records as the CRI shows them.  Everything returned lives in
 * the request's arena: the stored config is decoded straight into it, so
 * its mounts and resources are handed out as they are. */
#include <signal.h>
#include <string.h>

#include "cri/container.h"
#include "cri/ctr_ops.h"
#include "statemachine/statemachine.h"

static void *arena_alloc(void *data, size_t size) {
  return cri_alloc(data, size);
}
static void arena_free(void *data, void *ptr) {
  (void)data;
  (void)ptr;
}

static Runtime__V1__ContainerConfig *config_in_arena(struct cri_request *req,
                                                     const store_record *rec) {
  if (rec->container == NULL || rec->container->cri_config.len == 0)
    return NULL;
  ProtobufCAllocator arena = {.alloc = arena_alloc, .free = arena_free, .allocator_data = req};
  return runtime__v1__container_config__unpack(&arena, rec->container->cri_config.len,
                                               rec->container->cri_config.data);
}

static Runtime__V1__ContainerMetadata *metadata_view(struct cri_request *req,
                                                     const Runtime__V1__ContainerConfig *config) {
  if (config && config->metadata)
    return config->metadata;
  Runtime__V1__ContainerMetadata *md = cri_alloc(req, sizeof(*md));
  runtime__v1__container_metadata__init(md);
  return md;
}

static Runtime__V1__ImageSpec *image_spec(struct cri_request *req, const store_record *rec) {
  Runtime__V1__ImageSpec *spec = cri_alloc(req, sizeof(*spec));
  runtime__v1__image_spec__init(spec);
  spec->image = cri_strdup(req, rec->container->image_ref);
  return spec;
}

Runtime__V1__Container *cri_container_view(struct cri_request *req, const store_record *rec) {
  Runtime__V1__ContainerConfig *config = config_in_arena(req, rec);
  Runtime__V1__Container *c = cri_alloc(req, sizeof(*c));
  runtime__v1__container__init(c);
  c->id = cri_strdup(req, rec->id);
  c->pod_sandbox_id = cri_strdup(req, rec->parent_id);
  c->metadata = metadata_view(req, config);
  c->image = image_spec(req, rec);
  c->image_ref = cri_strdup(req, rec->container->image_id);
  c->image_id = cri_strdup(req, rec->container->image_id);
  c->state = (Runtime__V1__ContainerState)sm_container_cri_state(rec->state);
  c->created_at = rec->created_at;
  CRI_COPY_MAP(req, c->n_labels, c->labels, Runtime__V1__Container__LabelsEntry,
               runtime__v1__container__labels_entry__init, rec->n_labels, rec->labels);
  CRI_COPY_MAP(req, c->n_annotations, c->annotations, Runtime__V1__Container__AnnotationsEntry,
               runtime__v1__container__annotations_entry__init, rec->n_annotations,
               rec->annotations);
  return c;
}

/* runtime.v1.Signal has a value per signal name ("SIGNAL_SIGTERM"). */
static Runtime__V1__Signal signal_view(int signo) {
  const char *abbrev = signo > 0 ? sigabbrev_np(signo) : NULL;
  if (abbrev == NULL)
    return RUNTIME__V1__SIGNAL__SIGNAL_RUNTIME_DEFAULT;
  char name[64];
  snprintf(name, sizeof(name), "SIGNAL_SIG%s", abbrev);
  const ProtobufCEnumValue *v =
      protobuf_c_enum_descriptor_get_value_by_name(&runtime__v1__signal__descriptor, name);
  return v ? (Runtime__V1__Signal)v->value : RUNTIME__V1__SIGNAL__SIGNAL_RUNTIME_DEFAULT;
}

static Runtime__V1__ContainerUser *user_view(struct cri_request *req, const store_record *rec) {
  const Crio__Store__ContainerBody *b = rec->container;
  Runtime__V1__ContainerUser *u = cri_alloc(req, sizeof(*u));
  runtime__v1__container_user__init(u);
  /* Known once the runtime create resolved it against the rootfs. */
  if (b->conmon_pid <= 0)
    return u;
  u->linux = cri_alloc(req, sizeof(*u->linux));
  runtime__v1__linux_container_user__init(u->linux);
  u->linux->uid = b->run_as_uid;
  u->linux->gid = b->run_as_gid;
  u->linux->n_supplemental_groups = b->n_supplemental_groups;
  u->linux->supplemental_groups =
      cri_alloc(req, (b->n_supplemental_groups + 1) * sizeof(*u->linux->supplemental_groups));
  for (size_t i = 0; i < b->n_supplemental_groups; i++)
    u->linux->supplemental_groups[i] = b->supplemental_groups[i];
  return u;
}

Runtime__V1__ContainerStatus *
cri_container_status_view(struct cri_request *req, const store_record *rec, const char *image_ref) {
  const Crio__Store__ContainerBody *b = rec->container;
  Runtime__V1__ContainerConfig *config = config_in_arena(req, rec);
  Runtime__V1__ContainerStatus *s = cri_alloc(req, sizeof(*s));
  runtime__v1__container_status__init(s);
  s->id = cri_strdup(req, rec->id);
  s->metadata = metadata_view(req, config);
  int state = sm_container_cri_state(rec->state);
  s->state = (Runtime__V1__ContainerState)state;
  s->created_at = rec->created_at;
  s->started_at = b->started_at;
  if (state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED) {
    s->finished_at = b->finished_at;
    s->exit_code = b->exit_code;
    s->reason = cri_strdup(req, b->reason);
    s->message = cri_strdup(req, b->message);
  } else if (rec->error_status && state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED) {
    /* A start that failed: the container stays created, and says why. */
    s->reason = cri_strdup(req, "StartError");
    s->message = cri_strdup(req, rec->error_message);
  }
  s->image = image_spec(req, rec);
  s->image_ref = cri_strdup(req, image_ref && *image_ref ? image_ref : b->image_id);
  s->image_id = cri_strdup(req, b->image_id);
  CRI_COPY_MAP(req, s->n_labels, s->labels, Runtime__V1__ContainerStatus__LabelsEntry,
               runtime__v1__container_status__labels_entry__init, rec->n_labels, rec->labels);
  CRI_COPY_MAP(
      req, s->n_annotations, s->annotations, Runtime__V1__ContainerStatus__AnnotationsEntry,
      runtime__v1__container_status__annotations_entry__init, rec->n_annotations, rec->annotations);
  if (config) {
    s->n_mounts = config->n_mounts;
    s->mounts = config->mounts;
  }
  /* The last UpdateContainerResources, else the config's. */
  const Runtime__V1__LinuxContainerResources *res = cri_ctr_resources(req, rec);
  if (res) {
    s->resources = cri_alloc(req, sizeof(*s->resources));
    runtime__v1__container_resources__init(s->resources);
    s->resources->linux = (Runtime__V1__LinuxContainerResources *)res;
  }
  s->log_path = cri_strdup(req, b->log_path);
  s->user = user_view(req, rec);
  s->stop_signal = signal_view(b->stop_signal);
  return s;
}
