/* Writes the binary seeds of corpus/: CRI requests for cri_request, records
 * and log entries for store_record, and a small database for store_db, all
 * made with the same code the daemon uses.  Run after a change of
 * cri/api.proto or store/records.proto:
 *   build-fuzz/fuzz/fuzz_make_seeds fuzz/corpus */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cri/call.h"
#include "cri/pod.h"
#include "fuzz/fuzz.h"
#include "store/store.h"

/* The generated INIT macros name the proto's deprecated fields. */
#pragma clang diagnostic ignored "-Wdeprecated-declarations"

static const char *out_root;

static void write_seed(const char *target, const char *name, uint8_t first, const void *data,
                       size_t len, bool with_first) {
  char dir[512], path[768];
  snprintf(dir, sizeof(dir), "%s/%s", out_root, target);
  mkdir(dir, 0755);
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE *f = fopen(path, "we");
  FUZZ_ASSERT(f != NULL);
  if (with_first)
    fputc(first, f);
  FUZZ_ASSERT(fwrite(data, 1, len, f) == len || len == 0);
  FUZZ_ASSERT(fclose(f) == 0);
}

static void write_message(const char *target, const char *name, uint8_t first,
                          const ProtobufCMessage *m) {
  size_t len = protobuf_c_message_get_packed_size(m);
  cleanup_free uint8_t *buf = xmalloc(len + 1);
  protobuf_c_message_pack(m, buf);
  write_seed(target, name, first, buf, len, true);
}

/* ---- requests ---------------------------------------------------------------- */
static Runtime__V1__KeyValue *kv(const char *k, const char *v) {
  Runtime__V1__KeyValue *e = xmalloc(sizeof(*e));
  runtime__v1__key_value__init(e);
  e->key = (char *)k;
  e->value = (ProtobufCBinaryData){.data = (uint8_t *)v, .len = strlen(v)};
  return e;
}

static void request_seeds(void) {
  struct cri_dispatch dispatch;
  cri_dispatch_init(&dispatch);
  const char *d = "cri_request";
  for (size_t i = 0; i < dispatch.n_methods; i++) {
    const struct cri_method *m = &dispatch.methods[i];
    const char *slash = strrchr(m->path, '/');
    char name[128];
    snprintf(name, sizeof(name), "empty-%s", slash + 1);
    write_seed(d, name, (uint8_t)i, "", 0, true);

    const ProtobufCMessageDescriptor *in = m->input;
    Runtime__V1__PodSandboxMetadata pmd = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
    pmd.name = "web";
    pmd.namespace_ = "default";
    pmd.uid = "5b1c3b9e-uid";
    pmd.attempt = 1;
    Runtime__V1__DNSConfig dns = RUNTIME__V1__DNSCONFIG__INIT;
    char *servers[] = {"10.96.0.10"}, *searches[] = {"default.svc.cluster.local"},
         *options[] = {"ndots:5"};
    dns.n_servers = 1, dns.servers = servers;
    dns.n_searches = 1, dns.searches = searches;
    dns.n_options = 1, dns.options = options;
    Runtime__V1__PortMapping pm = RUNTIME__V1__PORT_MAPPING__INIT;
    pm.container_port = 80, pm.host_port = 8080, pm.host_ip = "127.0.0.1";
    Runtime__V1__PortMapping *pms[] = {&pm};
    Runtime__V1__NamespaceOption ns = RUNTIME__V1__NAMESPACE_OPTION__INIT;
    ns.network = RUNTIME__V1__NAMESPACE_MODE__POD;
    ns.pid = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
    Runtime__V1__LinuxSandboxSecurityContext psc =
        RUNTIME__V1__LINUX_SANDBOX_SECURITY_CONTEXT__INIT;
    psc.namespace_options = &ns;
    Runtime__V1__LinuxPodSandboxConfig plinux = RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__INIT;
    plinux.cgroup_parent = "kubepods-besteffort.slice";
    plinux.security_context = &psc;
    Runtime__V1__LinuxPodSandboxConfig__SysctlsEntry sys =
        RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__SYSCTLS_ENTRY__INIT;
    sys.key = "net.ipv4.ip_unprivileged_port_start", sys.value = "0";
    Runtime__V1__LinuxPodSandboxConfig__SysctlsEntry *syss[] = {&sys};
    plinux.n_sysctls = 1, plinux.sysctls = syss;
    Runtime__V1__PodSandboxConfig pod = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
    pod.metadata = &pmd;
    pod.hostname = "web-0";
    pod.log_directory = "/var/log/pods/default_web_uid";
    pod.dns_config = &dns;
    pod.n_port_mappings = 1, pod.port_mappings = pms;
    pod.linux = &plinux;
    Runtime__V1__PodSandboxConfig__LabelsEntry lab =
        RUNTIME__V1__POD_SANDBOX_CONFIG__LABELS_ENTRY__INIT;
    lab.key = "app", lab.value = "web";
    Runtime__V1__PodSandboxConfig__LabelsEntry *labs[] = {&lab};
    pod.n_labels = 1, pod.labels = labs;

    Runtime__V1__ContainerMetadata cmd = RUNTIME__V1__CONTAINER_METADATA__INIT;
    cmd.name = "app";
    Runtime__V1__ImageSpec image = RUNTIME__V1__IMAGE_SPEC__INIT;
    image.image = "quay.io/example/app:1.0";
    Runtime__V1__Mount mount = RUNTIME__V1__MOUNT__INIT;
    mount.container_path = "/data", mount.host_path = "/tmp", mount.readonly = true;
    Runtime__V1__Mount *mounts[] = {&mount};
    Runtime__V1__LinuxContainerResources res = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
    res.cpu_period = 100000, res.cpu_quota = 50000, res.cpu_shares = 512;
    res.memory_limit_in_bytes = 64 << 20, res.oom_score_adj = 100;
    Runtime__V1__Capability caps = RUNTIME__V1__CAPABILITY__INIT;
    char *add[] = {"NET_ADMIN"}, *drop[] = {"ALL"};
    caps.n_add_capabilities = 1, caps.add_capabilities = add;
    caps.n_drop_capabilities = 1, caps.drop_capabilities = drop;
    Runtime__V1__SecurityProfile seccomp = RUNTIME__V1__SECURITY_PROFILE__INIT;
    seccomp.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault;
    Runtime__V1__Int64Value uid = RUNTIME__V1__INT64_VALUE__INIT;
    uid.value = 1000;
    Runtime__V1__LinuxContainerSecurityContext csc =
        RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
    csc.capabilities = &caps;
    csc.seccomp = &seccomp;
    csc.run_as_user = &uid;
    csc.namespace_options = &ns;
    Runtime__V1__LinuxContainerConfig clinux = RUNTIME__V1__LINUX_CONTAINER_CONFIG__INIT;
    clinux.resources = &res;
    clinux.security_context = &csc;
    Runtime__V1__ContainerConfig ctr = RUNTIME__V1__CONTAINER_CONFIG__INIT;
    char *command[] = {"/bin/sh"}, *args[] = {"-c", "sleep 1000"};
    ctr.metadata = &cmd;
    ctr.image = &image;
    ctr.n_command = 1, ctr.command = command;
    ctr.n_args = 2, ctr.args = args;
    ctr.working_dir = "/work";
    Runtime__V1__KeyValue *envs[] = {kv("PATH", "/bin"), kv("A", "b")};
    ctr.n_envs = 2, ctr.envs = envs;
    ctr.n_mounts = 1, ctr.mounts = mounts;
    ctr.log_path = "app/0.log";
    ctr.linux = &clinux;

    if (in == &runtime__v1__run_pod_sandbox_request__descriptor) {
      Runtime__V1__RunPodSandboxRequest r = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
      r.config = &pod;
      write_message(d, "run-pod-sandbox", (uint8_t)i, &r.base);
      r.runtime_handler = "crun";
      write_message(d, "run-pod-sandbox-crun", (uint8_t)(i + dispatch.n_methods), &r.base);
    } else if (in == &runtime__v1__create_container_request__descriptor) {
      Runtime__V1__CreateContainerRequest r = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
      r.pod_sandbox_id = "0123456789abcdef";
      r.config = &ctr;
      r.sandbox_config = &pod;
      write_message(d, "create-container", (uint8_t)i, &r.base);
    } else if (in == &runtime__v1__exec_sync_request__descriptor) {
      Runtime__V1__ExecSyncRequest r = RUNTIME__V1__EXEC_SYNC_REQUEST__INIT;
      r.container_id = "0123";
      r.n_cmd = 2, r.cmd = args;
      r.timeout = 5;
      write_message(d, "exec-sync", (uint8_t)i, &r.base);
    } else if (in == &runtime__v1__pull_image_request__descriptor) {
      Runtime__V1__AuthConfig auth = RUNTIME__V1__AUTH_CONFIG__INIT;
      auth.username = "user", auth.password = "pass";
      Runtime__V1__PullImageRequest r = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
      r.image = &image;
      r.auth = &auth;
      write_message(d, "pull-image", (uint8_t)i, &r.base);
    } else if (in == &runtime__v1__image_status_request__descriptor) {
      Runtime__V1__ImageStatusRequest r = RUNTIME__V1__IMAGE_STATUS_REQUEST__INIT;
      r.image = &image;
      r.verbose = true;
      write_message(d, "image-status", (uint8_t)i, &r.base);
    } else if (in == &runtime__v1__update_container_resources_request__descriptor) {
      Runtime__V1__UpdateContainerResourcesRequest r =
          RUNTIME__V1__UPDATE_CONTAINER_RESOURCES_REQUEST__INIT;
      r.container_id = "0123";
      r.linux = &res;
      write_message(d, "update-container-resources", (uint8_t)i, &r.base);
    } else if (in == &runtime__v1__list_containers_request__descriptor) {
      Runtime__V1__ContainerFilter f = RUNTIME__V1__CONTAINER_FILTER__INIT;
      f.pod_sandbox_id = "0123";
      Runtime__V1__ContainerFilter__LabelSelectorEntry sel =
          RUNTIME__V1__CONTAINER_FILTER__LABEL_SELECTOR_ENTRY__INIT;
      sel.key = "app", sel.value = "web";
      Runtime__V1__ContainerFilter__LabelSelectorEntry *sels[] = {&sel};
      f.n_label_selector = 1, f.label_selector = sels;
      Runtime__V1__ListContainersRequest r = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
      r.filter = &f;
      write_message(d, "list-containers", (uint8_t)i, &r.base);
    }
    for (size_t k = 0; k < 2; k++)
      free(envs[k]);
  }
  cri_dispatch_release(&dispatch);
}

/* ---- records and a database -------------------------------------------------- */
static store_record *pod_record(void) {
  Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
  md.name = "web", md.namespace_ = "default", md.uid = "uid-1";
  Runtime__V1__PodSandboxConfig cfg = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
  cfg.metadata = &md;
  cfg.hostname = "web-0";
  Runtime__V1__RunPodSandboxRequest req = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
  req.config = &cfg;
  struct cri_runtime_handler runc = {.name = "runc", .runtime_path = "/usr/sbin/runc"};
  struct cri_config c = {.default_runtime = "runc", .runtimes = &runc, .n_runtimes = 1};
  store_record *rec = cri_pod_record_new(
      &req, &c, "aaaa000000000000000000000000000000000000000000000000000000000001");
  const char *result = "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\","
                       "\"sandbox\":\"/run/netns/x\"}],\"ips\":[{\"address\":\"10.85.0.5/16\","
                       "\"gateway\":\"10.85.0.1\",\"interface\":0}],\"dns\":{}}";
  rec->pod->network_status.data = (uint8_t *)xstrdup(result);
  rec->pod->network_status.len = strlen(result);
  return rec;
}

static store_record *container_record(void) {
  store_record *rec = store_record_new(
      STORE_KIND_CONTAINER, "cccc000000000000000000000000000000000000000000000000000000000001");
  store_string_set(&rec->parent_id,
                   "aaaa000000000000000000000000000000000000000000000000000000000001");
  store_string_set(&rec->name, "k8s_app_web_default_uid-1_0");
  Runtime__V1__ContainerMetadata md = RUNTIME__V1__CONTAINER_METADATA__INIT;
  md.name = "app";
  Runtime__V1__ContainerConfig cfg = RUNTIME__V1__CONTAINER_CONFIG__INIT;
  cfg.metadata = &md;
  size_t len = protobuf_c_message_get_packed_size(&cfg.base);
  rec->container->cri_config.data = xmalloc(len + 1);
  rec->container->cri_config.len =
      protobuf_c_message_pack(&cfg.base, rec->container->cri_config.data);
  rec->state = 2;
  rec->goal = 3;
  return rec;
}

static store_record *image_record(void) {
  store_record *rec = store_record_new(
      STORE_KIND_IMAGE, "eeee000000000000000000000000000000000000000000000000000000000001");
  const char *config = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"sh\"]},"
                       "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:"
                       "1111111111111111111111111111111111111111111111111111111111111111\"]}}";
  rec->image->config.data = (uint8_t *)xstrdup(config);
  rec->image->config.len = strlen(config);
  return rec;
}

static void copy_file(const char *from, const char *target, const char *name) {
  cleanup_free char *text = NULL;
  size_t len = 0;
  cleanup_error crio_error_t err = NULL;
  FUZZ_ASSERT(crio_read_file(from, &text, &len, &err) == 0);
  write_seed(target, name, 0, text, len, false);
}

static void store_seeds(void) {
  store_record *recs[] = {pod_record(), container_record(), image_record()};
  const char *names[] = {"record-pod", "record-container", "record-image"};
  for (size_t i = 0; i < 3; i++)
    write_message("store_record", names[i], 0, &recs[i]->base);

  char dir[512];
  snprintf(dir, sizeof(dir), "%s/seed-db", fuzz_workdir());
  struct store_options opts = {.dir = dir};
  struct store *store = NULL;
  cleanup_error crio_error_t err = NULL;
  FUZZ_ASSERT(store_open(&opts, &store, &err) == 0);
  write_seed("store_db", "empty-db", 0, "", 0, false);
  {
    char path[600];
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    copy_file(path, "store_db", "new-db");
  }
  struct store_txn *txn = NULL;
  FUZZ_ASSERT(store_txn_begin(store, STORE_TXN_WRITE, &txn, &err) == 0);
  store_log_note(txn, "daemon started");
  store_meta_put(txn, "boot_id", "0b7a3e58-boot");
  for (size_t i = 0; i < 3; i++)
    store_create(txn, recs[i]);
  store_resource *res = store_resource_new("netns", "/run/netns/x", NULL, 0);
  store_transition(txn, recs[0], 2, "pod.netns_create", &res, 1, NULL, 0);
  store_set_goal(txn, recs[1], 5, "stop");
  store_record_failure(txn, recs[1], "container.start", EIO, "runtime failed");
  store_name_reserve(txn, STORE_NAMES_IMAGE, "quay.io/example/app:1.0", recs[2]->id);
  FUZZ_ASSERT(store_txn_commit(txn, &err) == 0);

  FUZZ_ASSERT(store_txn_begin(store, STORE_TXN_READ, &txn, &err) == 0);
  uint64_t last = store_log_last_seq(txn);
  store_txn_abort(txn);
  (void)last;
  store_close(store);
  char path[600];
  snprintf(path, sizeof(path), "%s/data.mdb", dir);
  copy_file(path, "store_db", "small-db");

  /* A log entry alone, as store_record's odd first byte selects. */
  store_log_entry e = CRIO__STORE__LOG_ENTRY__INIT;
  e.seq = 7, e.kind = STORE_KIND_POD, e.from_state = 1, e.to_state = 2;
  e.object_id = recs[0]->id;
  e.transition = "pod.netns_create";
  e.n_acquired = 1;
  e.acquired = &res;
  write_message("store_record", "log-entry", 1, &e.base);
  store_resource_free(res);
  for (size_t i = 0; i < 3; i++)
    store_record_free(recs[i]);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  fuzz_quiet_logs();
  out_root = argv[1];
  request_seeds();
  store_seeds();
  return 0;
}
