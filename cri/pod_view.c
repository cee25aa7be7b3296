/* Pod records as the CRI shows them.  Everything returned lives in the
 * request's arena. */
#include <string.h>

#include "cri/pod.h"
#include "statemachine/statemachine.h"

Runtime__V1__PodSandboxMetadata *cri_pod_metadata_view(struct cri_request *req,
                                                       const store_record *rec) {
  Runtime__V1__PodSandboxMetadata *md = cri_alloc(req, sizeof(*md));
  runtime__v1__pod_sandbox_metadata__init(md);
  /* Lists show every pod: read the metadata from the body's own fields
   * rather than decoding each stored config (records written before
   * metadata_name existed fall back to the config). */
  const Crio__Store__PodSandboxBody *b = rec->pod;
  if (b && b->metadata_name && *b->metadata_name) {
    md->name = cri_strdup(req, b->metadata_name);
    md->namespace_ = cri_strdup(req, b->namespace_);
    md->uid = cri_strdup(req, b->uid);
    md->attempt = b->attempt;
    return md;
  }
  cleanup_pod_config Runtime__V1__PodSandboxConfig *config = cri_pod_record_config(rec);
  if (config && config->metadata) {
    md->name = cri_strdup(req, config->metadata->name);
    md->namespace_ = cri_strdup(req, config->metadata->namespace_);
    md->uid = cri_strdup(req, config->metadata->uid);
    md->attempt = config->metadata->attempt;
  }
  return md;
}

Runtime__V1__PodSandbox *cri_pod_view(struct cri_request *req, const store_record *rec) {
  Runtime__V1__PodSandbox *p = cri_alloc(req, sizeof(*p));
  runtime__v1__pod_sandbox__init(p);
  p->id = cri_strdup(req, rec->id);
  p->metadata = cri_pod_metadata_view(req, rec);
  p->state = (Runtime__V1__PodSandboxState)sm_pod_cri_state(rec->state);
  p->created_at = rec->created_at;
  CRI_COPY_MAP(req, p->n_labels, p->labels, Runtime__V1__PodSandbox__LabelsEntry,
               runtime__v1__pod_sandbox__labels_entry__init, rec->n_labels, rec->labels);
  CRI_COPY_MAP(req, p->n_annotations, p->annotations, Runtime__V1__PodSandbox__AnnotationsEntry,
               runtime__v1__pod_sandbox__annotations_entry__init, rec->n_annotations,
               rec->annotations);
  p->runtime_handler = cri_strdup(req, rec->pod ? rec->pod->runtime_handler : "");
  return p;
}

static Runtime__V1__NamespaceOption *namespace_view(struct cri_request *req,
                                                    const store_record *rec) {
  Runtime__V1__NamespaceOption *ns = cri_alloc(req, sizeof(*ns));
  runtime__v1__namespace_option__init(ns);
  cleanup_pod_config Runtime__V1__PodSandboxConfig *config = cri_pod_record_config(rec);
  if (config && config->linux && config->linux->security_context &&
      config->linux->security_context->namespace_options) {
    const Runtime__V1__NamespaceOption *in = config->linux->security_context->namespace_options;
    ns->network = in->network;
    ns->pid = in->pid;
    ns->ipc = in->ipc;
  }
  return ns;
}

Runtime__V1__PodSandboxStatus *cri_pod_status_view(struct cri_request *req,
                                                   const store_record *rec) {
  Runtime__V1__PodSandboxStatus *s = cri_alloc(req, sizeof(*s));
  runtime__v1__pod_sandbox_status__init(s);
  s->id = cri_strdup(req, rec->id);
  s->metadata = cri_pod_metadata_view(req, rec);
  s->state = (Runtime__V1__PodSandboxState)sm_pod_cri_state(rec->state);
  s->created_at = rec->created_at;

  s->network = cri_alloc(req, sizeof(*s->network));
  runtime__v1__pod_sandbox_network_status__init(s->network);
  /* The kubelet reads the IP of a ready pod; a stopped pod keeps none. */
  if (rec->pod && sm_pod_cri_state(rec->state) == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY) {
    s->network->ip = cri_strdup(req, rec->pod->ip);
    s->network->n_additional_ips = rec->pod->n_additional_ips;
    s->network->additional_ips =
        cri_alloc(req, (rec->pod->n_additional_ips + 1) * sizeof(*s->network->additional_ips));
    for (size_t i = 0; i < rec->pod->n_additional_ips; i++) {
      Runtime__V1__PodIP *ip = cri_alloc(req, sizeof(*ip));
      runtime__v1__pod_ip__init(ip);
      ip->ip = cri_strdup(req, rec->pod->additional_ips[i]);
      s->network->additional_ips[i] = ip;
    }
  }
  s->linux = cri_alloc(req, sizeof(*s->linux));
  runtime__v1__linux_pod_sandbox_status__init(s->linux);
  s->linux->namespaces = cri_alloc(req, sizeof(*s->linux->namespaces));
  runtime__v1__namespace__init(s->linux->namespaces);
  s->linux->namespaces->options = namespace_view(req, rec);

  CRI_COPY_MAP(req, s->n_labels, s->labels, Runtime__V1__PodSandboxStatus__LabelsEntry,
               runtime__v1__pod_sandbox_status__labels_entry__init, rec->n_labels, rec->labels);
  CRI_COPY_MAP(req, s->n_annotations, s->annotations,
               Runtime__V1__PodSandboxStatus__AnnotationsEntry,
               runtime__v1__pod_sandbox_status__annotations_entry__init, rec->n_annotations,
               rec->annotations);
  s->runtime_handler = cri_strdup(req, rec->pod ? rec->pod->runtime_handler : "");
  return s;
}
