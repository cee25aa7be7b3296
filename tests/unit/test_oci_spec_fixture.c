#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/test_host_cleanup.h"
#include "tests/unit/test_oci_spec_fixture.h"

#define MAX_TRACKED 64

static pid_t owner;
static char *tmp_dir;
static void **arena;
static size_t n_arena, cap_arena;
static cJSON *specs[256];
static size_t n_specs;
static struct { char *root, *id; } runcs[MAX_TRACKED];
static size_t n_runcs;
static char *cgroups[MAX_TRACKED];
static size_t n_cgroups;

static void run_quiet(char *const argv[]) {
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    dup2(null, 1);
    dup2(null, 2);
    execvp(argv[0], argv);
    _exit(127);
  }
  if (pid > 0)
    waitpid(pid, NULL, 0);
}

static void cleanup_all(void) {
  if (getpid() != owner)
    return;
  for (size_t i = n_runcs; i-- > 0;) {
    char *argv[] = {"runc", "--root", runcs[i].root, "delete", "-f", runcs[i].id, NULL};
    run_quiet(argv);
    free(runcs[i].root);
    free(runcs[i].id);
  }
  for (size_t i = n_cgroups; i-- > 0;) {
    test_cgroup_rmdir_everywhere(cgroups[i]);
    free(cgroups[i]);
  }
  if (tmp_dir) {
    test_rm_tree(tmp_dir, FTW_MOUNT);
    free(tmp_dir);
  }
  for (size_t i = 0; i < n_specs; i++)
    cJSON_Delete(specs[i]);
  for (size_t i = 0; i < n_arena; i++)
    free(arena[i]);
  free(arena);
}

static void fixture_init(void) {
  if (owner != 0)
    return;
  owner = getpid();
  atexit(cleanup_all);
  /* SIGTERM from ctest's timeout: leave through exit() so cleanup runs. */
  signal(SIGTERM, exit);
}

const char *fx_dir(void) {
  fixture_init();
  if (tmp_dir == NULL) {
    tmp_dir = strdup("/tmp/crio-oci-spec-test.XXXXXX");
    CHECK(tmp_dir != NULL && mkdtemp(tmp_dir) != NULL);
  }
  return tmp_dir;
}

void *fx_new(size_t size) {
  fixture_init();
  if (n_arena == cap_arena) {
    cap_arena = cap_arena ? cap_arena * 2 : 64;
    arena = realloc(arena, cap_arena * sizeof(void *));
    CHECK(arena != NULL);
  }
  void *p = calloc(1, size ? size : 1);
  CHECK(p != NULL);
  arena[n_arena++] = p;
  return p;
}

char *fx_str(const char *s) {
  char *p = fx_new(strlen(s) + 1);
  strcpy(p, s);
  return p;
}

char *fx_printf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = NULL;
  CHECK(vasprintf(&s, fmt, ap) >= 0);
  va_end(ap);
  char *p = fx_str(s);
  free(s);
  return p;
}

char **fx_strv(size_t *n, ...) {
  va_list ap;
  va_start(ap, n);
  size_t count = 0;
  while (va_arg(ap, const char *) != NULL)
    count++;
  va_end(ap);
  char **v = fx_new((count + 1) * sizeof(char *));
  va_start(ap, n);
  for (size_t i = 0; i < count; i++)
    v[i] = fx_str(va_arg(ap, const char *));
  va_end(ap);
  *n = count;
  return v;
}

char *fx_path(const char *rel) {
  return fx_printf("%s/%s", fx_dir(), rel);
}

static void mkdir_parents(const char *path) {
  char *copy = fx_str(path);
  for (char *p = copy + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    mkdir(copy, 0755);
    *p = '/';
  }
}

void fx_mkdir(const char *rel) {
  char *p = fx_path(rel);
  mkdir_parents(p);
  CHECK(mkdir(p, 0755) == 0 || errno == EEXIST);
}

void fx_write(const char *rel, const char *content) {
  char *p = fx_path(rel);
  mkdir_parents(p);
  FILE *f = fopen(p, "w");
  CHECK(f != NULL);
  fputs(content, f);
  CHECK(fclose(f) == 0);
}

void fx_symlink(const char *target, const char *rel) {
  char *p = fx_path(rel);
  mkdir_parents(p);
  unlink(p);
  CHECK(symlink(target, p) == 0);
}

void fx_track_runc(const char *root, const char *id) {
  fixture_init();
  CHECK(n_runcs < MAX_TRACKED);
  runcs[n_runcs].root = strdup(root);
  runcs[n_runcs].id = strdup(id);
  n_runcs++;
}

void fx_track_cgroup(const char *path) {
  fixture_init();
  CHECK(n_cgroups < MAX_TRACKED);
  cgroups[n_cgroups++] = strdup(path);
}

const char *fx_rootfs(void) {
  static char *rootfs;
  if (rootfs)
    return rootfs;
  fx_write("rootfs/etc/passwd", "# users of the test image\n"
                                "root:x:0:0:root:/root:/bin/sh\n"
                                "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
                                "broken line without fields\n"
                                "tester:x:1000:1000:Tester:/home/tester:/bin/sh\n"
                                "nohome:x:1001:1001:::/bin/sh\n");
  fx_write("rootfs/etc/group", "root:x:0:\n"
                               "daemon:x:1:\n"
                               "wheel:x:10:tester,other\n"
                               "audio:x:29:other,tester\n"
                               "tester:x:1000:tester\n"
                               "users:x:100:other\n"
                               "wheel2:x:10:tester\n");
  rootfs = fx_path("rootfs");
  return rootfs;
}

void fx_case_set_image(struct fx_case *k, const char *config_json) {
  cJSON *section = cJSON_Parse(config_json);
  CHECK(section != NULL);
  cJSON *image = cJSON_CreateObject();
  cJSON_AddStringToObject(image, "architecture", "amd64");
  cJSON_AddItemToObject(image, "config", section);
  CHECK(n_specs < sizeof(specs) / sizeof(specs[0]));
  specs[n_specs++] = image;
  k->image = image;
  k->image_section = section;
  k->in.image_config = image;
}

void fx_case_init(struct fx_case *k) {
  memset(k, 0, sizeof(*k));
  k->cfg = FX_MSG(Runtime__V1__ContainerConfig, RUNTIME__V1__CONTAINER_CONFIG__INIT);
  k->cfg->metadata = FX_MSG(Runtime__V1__ContainerMetadata, RUNTIME__V1__CONTAINER_METADATA__INIT);
  k->cfg->metadata->name = fx_str("app");
  k->cfg->linux =
      FX_MSG(Runtime__V1__LinuxContainerConfig, RUNTIME__V1__LINUX_CONTAINER_CONFIG__INIT);
  k->sc = FX_MSG(Runtime__V1__LinuxContainerSecurityContext,
                 RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT);
  k->sc->namespace_options =
      FX_MSG(Runtime__V1__NamespaceOption, RUNTIME__V1__NAMESPACE_OPTION__INIT);
  k->sc->namespace_options->pid = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
  k->res =
      FX_MSG(Runtime__V1__LinuxContainerResources, RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT);
  k->cfg->linux->security_context = k->sc;
  k->cfg->linux->resources = k->res;

  k->pod = FX_MSG(Runtime__V1__PodSandboxConfig, RUNTIME__V1__POD_SANDBOX_CONFIG__INIT);
  k->pod->metadata =
      FX_MSG(Runtime__V1__PodSandboxMetadata, RUNTIME__V1__POD_SANDBOX_METADATA__INIT);
  k->pod->metadata->name = fx_str("web");
  k->pod->metadata->namespace_ = fx_str("default");
  k->pod->metadata->uid = fx_str("uid-1");
  k->pod->hostname = fx_str("podhost");
  k->pod->linux =
      FX_MSG(Runtime__V1__LinuxPodSandboxConfig, RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__INIT);
  k->pod_sc = FX_MSG(Runtime__V1__LinuxSandboxSecurityContext,
                     RUNTIME__V1__LINUX_SANDBOX_SECURITY_CONTEXT__INIT);
  k->pod_sc->namespace_options =
      FX_MSG(Runtime__V1__NamespaceOption, RUNTIME__V1__NAMESPACE_OPTION__INIT);
  k->pod->linux->security_context = k->pod_sc;

  k->host.cap_bounding = 0x1fffeffffffULL; /* all of 0..40 but CAP_SYS_RESOURCE */
  k->host.oom_score_adj = 0;
  k->host.nofile_hard = 1048576;
  k->host.memory_swap = true;
  k->host.hugetlb = true;
  snprintf(k->host.hostname, sizeof(k->host.hostname), "nodehost");

  k->in.container_id = "c1";
  k->in.sandbox_id = "p1";
  k->in.config = k->cfg;
  k->in.sandbox_config = k->pod;
  k->in.pod_hostname = "podhost";
  k->in.rootfs = fx_rootfs();
  k->in.host = &k->host;
  fx_case_set_image(k, "{\"Entrypoint\": [\"/bin/ep\"], \"Cmd\": [\"arg\"]}");
}

cJSON *fx_build(struct fx_case *k, crio_error_t *err) {
  /* The warnings move to the arena, so a case on a test's stack leaks
   * nothing. */
  struct oci_spec_warnings w = {0};
  cJSON *spec = NULL;
  int r = oci_spec_build(&k->in, &spec, &w, err);
  k->warnings.items = fx_new((w.n + 1) * sizeof(char *));
  k->warnings.n = w.n;
  for (size_t i = 0; i < w.n; i++)
    k->warnings.items[i] = fx_str(w.items[i]);
  oci_spec_warnings_release(&w);
  if (r < 0) {
    CHECK(spec == NULL);
    return NULL;
  }
  CHECK(n_specs < sizeof(specs) / sizeof(specs[0]));
  specs[n_specs++] = spec;
  return spec;
}

cJSON *fx_build_ok(struct fx_case *k) {
  crio_error_t err = NULL;
  cJSON *spec = fx_build(k, &err);
  if (spec == NULL) {
    fprintf(stderr, "build failed: %s\n", crio_error_message(&err));
    crio_error_release(&err);
    CHECK(spec != NULL);
  }
  return spec;
}

void fx_build_fails(struct fx_case *k, int status, const char *needle) {
  crio_error_t err = NULL;
  cJSON *spec = fx_build(k, &err);
  if (spec != NULL) {
    fprintf(stderr, "build succeeded, expected an error with \"%s\"\n", needle);
    CHECK(spec == NULL);
  }
  if (crio_error_status(&err) != status || strstr(crio_error_message(&err), needle) == NULL) {
    fprintf(stderr, "expected status %d with \"%s\", saw %d \"%s\"\n", status, needle,
            crio_error_status(&err), crio_error_message(&err));
    exit(1);
  }
  crio_error_release(&err);
}

const cJSON *fx_get(const cJSON *spec, const char *path) {
  char *copy = fx_str(path);
  const cJSON *cur = spec;
  char *save = NULL;
  for (char *part = strtok_r(copy, ".", &save); part && cur; part = strtok_r(NULL, ".", &save)) {
    char *end;
    long idx = strtol(part, &end, 10);
    if (*end == '\0' && cJSON_IsArray(cur))
      cur = cJSON_GetArrayItem(cur, (int)idx);
    else
      cur = cJSON_GetObjectItemCaseSensitive(cur, part);
  }
  return cur;
}

const char *fx_get_str(const cJSON *spec, const char *path) {
  return cJSON_GetStringValue(fx_get(spec, path));
}

int64_t fx_get_int(const cJSON *spec, const char *path) {
  const char *dot = strrchr(path, '.');
  const cJSON *parent = dot ? fx_get(spec, fx_printf("%.*s", (int)(dot - path), path)) : spec;
  int64_t v = 0;
  if (!oci_spec_get_int(parent, dot ? dot + 1 : path, &v)) {
    fprintf(stderr, "no integer at %s\n", path);
    exit(1);
  }
  return v;
}

bool fx_has_str(const cJSON *spec, const char *path, const char *s) {
  const cJSON *it;
  cJSON_ArrayForEach(it, fx_get(spec, path)) {
    if (cJSON_IsString(it) && strcmp(it->valuestring, s) == 0)
      return true;
  }
  return false;
}

const cJSON *fx_mount(const cJSON *spec, const char *dest, int *index) {
  int i = 0;
  const cJSON *m;
  cJSON_ArrayForEach(m, fx_get(spec, "mounts")) {
    const char *d = fx_get_str(m, "destination");
    if (d && strcmp(d, dest) == 0) {
      if (index)
        *index = i;
      return m;
    }
    i++;
  }
  return NULL;
}

bool fx_mount_has_option(const cJSON *mount, const char *option) {
  return fx_has_str(mount, "options", option);
}

const cJSON *fx_namespace(const cJSON *spec, const char *type) {
  const cJSON *ns;
  cJSON_ArrayForEach(ns, fx_get(spec, "linux.namespaces")) {
    if (strcmp(fx_get_str(ns, "type"), type) == 0)
      return ns;
  }
  return NULL;
}

uint64_t fx_caps(const cJSON *spec, const char *path) {
  uint64_t caps = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, fx_get(spec, path)) {
    int cap = spec_cap_from_name(it->valuestring);
    CHECK(cap >= 0);
    caps |= 1ULL << cap;
  }
  return caps;
}

bool fx_has_warning(const struct fx_case *k, const char *needle) {
  for (size_t i = 0; i < k->warnings.n; i++)
    if (strstr(k->warnings.items[i], needle))
      return true;
  return false;
}

/* ---- request builders ---------------------------------------------------- */
Runtime__V1__KeyValue *fx_kv(const char *key, const char *value) {
  Runtime__V1__KeyValue *e = FX_MSG(Runtime__V1__KeyValue, RUNTIME__V1__KEY_VALUE__INIT);
  e->key = fx_str(key);
  e->value.data = (uint8_t *)fx_str(value);
  e->value.len = strlen(value);
  return e;
}

void fx_set_envs(struct fx_case *k, size_t n, Runtime__V1__KeyValue **envs) {
  k->cfg->envs = fx_new(n * sizeof(*envs));
  memcpy(k->cfg->envs, envs, n * sizeof(*envs));
  k->cfg->n_envs = n;
}

Runtime__V1__Mount *fx_add_mount(struct fx_case *k, const char *container_path,
                                 const char *host_path) {
  Runtime__V1__Mount *m = FX_MSG(Runtime__V1__Mount, RUNTIME__V1__MOUNT__INIT);
  m->container_path = fx_str(container_path);
  m->host_path = fx_str(host_path);
  Runtime__V1__Mount **list = fx_new((k->cfg->n_mounts + 1) * sizeof(*list));
  if (k->cfg->n_mounts)
    memcpy(list, k->cfg->mounts, k->cfg->n_mounts * sizeof(*list));
  list[k->cfg->n_mounts++] = m;
  k->cfg->mounts = list;
  return m;
}

Runtime__V1__Device *fx_add_device(struct fx_case *k, const char *container_path,
                                   const char *host_path, const char *permissions) {
  Runtime__V1__Device *d = FX_MSG(Runtime__V1__Device, RUNTIME__V1__DEVICE__INIT);
  d->container_path = fx_str(container_path);
  d->host_path = fx_str(host_path);
  d->permissions = fx_str(permissions);
  Runtime__V1__Device **list = fx_new((k->cfg->n_devices + 1) * sizeof(*list));
  if (k->cfg->n_devices)
    memcpy(list, k->cfg->devices, k->cfg->n_devices * sizeof(*list));
  list[k->cfg->n_devices++] = d;
  k->cfg->devices = list;
  return d;
}

void fx_add_annotation(struct fx_case *k, bool label, const char *key, const char *value) {
  Runtime__V1__ContainerConfig__AnnotationsEntry *e =
      FX_MSG(Runtime__V1__ContainerConfig__AnnotationsEntry,
             RUNTIME__V1__CONTAINER_CONFIG__ANNOTATIONS_ENTRY__INIT);
  e->key = fx_str(key);
  e->value = fx_str(value);
  /* Labels and annotations entries have the same layout. */
  size_t *n = label ? &k->cfg->n_labels : &k->cfg->n_annotations;
  void ***items = label ? (void ***)&k->cfg->labels : (void ***)&k->cfg->annotations;
  void **list = fx_new((*n + 1) * sizeof(void *));
  if (*n)
    memcpy(list, *items, *n * sizeof(void *));
  list[(*n)++] = e;
  *items = list;
}

Runtime__V1__SecurityProfile *fx_profile(Runtime__V1__SecurityProfile__ProfileType type,
                                         const char *ref) {
  Runtime__V1__SecurityProfile *p =
      FX_MSG(Runtime__V1__SecurityProfile, RUNTIME__V1__SECURITY_PROFILE__INIT);
  p->profile_type = type;
  p->localhost_ref = fx_str(ref ? ref : "");
  return p;
}

Runtime__V1__Int64Value *fx_int64(int64_t v) {
  Runtime__V1__Int64Value *x = FX_MSG(Runtime__V1__Int64Value, RUNTIME__V1__INT64_VALUE__INIT);
  x->value = v;
  return x;
}

void fx_privileged(struct fx_case *k) {
  k->sc->privileged = true;
  k->pod_sc->privileged = true;
}

const char *fx_env_value(const cJSON *spec, const char *key) {
  const cJSON *it;
  size_t n = strlen(key);
  const char *found = NULL;
  cJSON_ArrayForEach(it, fx_get(spec, "process.env")) {
    if (strncmp(it->valuestring, key, n) == 0 && it->valuestring[n] == '=') {
      CHECK(found == NULL); /* each key once */
      found = it->valuestring + n + 1;
    }
  }
  return found;
}
