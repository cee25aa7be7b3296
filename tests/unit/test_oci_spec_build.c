/* The rules of oci_spec_build, one test each: what the kubelet and CRI-O
 * do with command/args, env, cwd, users, mounts, namespaces, capabilities,
 * security profiles, resources, devices and annotations, and the field a
 * bad request is refused for. */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "tests/unit/test_oci_spec_fixture.h"

/* The tests set the kubelet's deprecated string profiles on purpose. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#define DEFAULT_CAPS                                                                               \
  ((1ULL << CAP_CHOWN) | (1ULL << CAP_DAC_OVERRIDE) | (1ULL << CAP_FSETID) |                       \
   (1ULL << CAP_FOWNER) | (1ULL << CAP_SETGID) | (1ULL << CAP_SETUID) | (1ULL << CAP_SETPCAP) |    \
   (1ULL << CAP_NET_BIND_SERVICE) | (1ULL << CAP_KILL))

static Runtime__V1__KeyValue *kv(const char *key, const char *value) {
  Runtime__V1__KeyValue *e = FX_MSG(Runtime__V1__KeyValue, RUNTIME__V1__KEY_VALUE__INIT);
  e->key = fx_str(key);
  e->value.data = (uint8_t *)fx_str(value);
  e->value.len = strlen(value);
  return e;
}

static void set_envs(struct fx_case *k, size_t n, Runtime__V1__KeyValue **envs) {
  k->cfg->envs = fx_new(n * sizeof(*envs));
  memcpy(k->cfg->envs, envs, n * sizeof(*envs));
  k->cfg->n_envs = n;
}

static Runtime__V1__Mount *add_mount(struct fx_case *k, const char *container_path,
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

static Runtime__V1__Device *add_device(struct fx_case *k, const char *container_path,
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

static void add_annotation(struct fx_case *k, bool label, const char *key, const char *value) {
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

static Runtime__V1__SecurityProfile *profile(Runtime__V1__SecurityProfile__ProfileType type,
                                             const char *ref) {
  Runtime__V1__SecurityProfile *p =
      FX_MSG(Runtime__V1__SecurityProfile, RUNTIME__V1__SECURITY_PROFILE__INIT);
  p->profile_type = type;
  p->localhost_ref = fx_str(ref ? ref : "");
  return p;
}

static Runtime__V1__Int64Value *int64v(int64_t v) {
  Runtime__V1__Int64Value *x = FX_MSG(Runtime__V1__Int64Value, RUNTIME__V1__INT64_VALUE__INIT);
  x->value = v;
  return x;
}

static void privileged(struct fx_case *k) {
  k->sc->privileged = true;
  k->pod_sc->privileged = true;
}

/* ---- process --------------------------------------------------------------- */
static void check_args(const cJSON *spec, const char *expected) {
  char *got = cJSON_PrintUnformatted(fx_get(spec, "process.args"));
  if (strcmp(got, expected) != 0) {
    fprintf(stderr, "args: expected %s, saw %s\n", expected, got);
    exit(1);
  }
  free(got);
}

static void test_args_merge_command_args_entrypoint_cmd(void) {
  struct fx_case k;
  fx_case_init(&k);
  /* Neither: the image's ENTRYPOINT + CMD. */
  check_args(fx_build_ok(&k), "[\"/bin/ep\",\"arg\"]");
  /* args only: ENTRYPOINT + args. */
  k.cfg->args = fx_strv(&k.cfg->n_args, "x", "y", NULL);
  check_args(fx_build_ok(&k), "[\"/bin/ep\",\"x\",\"y\"]");
  /* command and args: command + args. */
  k.cfg->command = fx_strv(&k.cfg->n_command, "/bin/sh", "-c", NULL);
  check_args(fx_build_ok(&k), "[\"/bin/sh\",\"-c\",\"x\",\"y\"]");
  /* command only: the image's CMD is dropped too. */
  k.cfg->n_args = 0;
  check_args(fx_build_ok(&k), "[\"/bin/sh\",\"-c\"]");
  /* An image with only a CMD. */
  k.cfg->n_command = 0;
  fx_case_set_image(&k, "{\"Entrypoint\": null, \"Cmd\": [\"/bin/cmd\", \"1\"]}");
  check_args(fx_build_ok(&k), "[\"/bin/cmd\",\"1\"]");
  /* Nothing to run. */
  fx_case_set_image(&k, "{}");
  fx_build_fails(&k, EINVAL, "config.command: empty, and the image has no Entrypoint or Cmd");
  k.in.image_config = NULL;
  fx_build_fails(&k, EINVAL, "config.command");
  fx_case_set_image(&k, "{\"Entrypoint\": \"/bin/sh -c\"}");
  fx_build_fails(&k, EINVAL, "image config Entrypoint: not a list of strings");
}

static const char *env_value(const cJSON *spec, const char *key) {
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

static void test_env_image_then_request_later_wins(void) {
  struct fx_case k;
  fx_case_init(&k);
  fx_case_set_image(&k, "{\"Cmd\": [\"/x\"], \"Env\": [\"PATH=/img/bin\", \"A=image\", "
                        "\"B=image\", \"NOVALUE\", \"=bad\"]}");
  set_envs(&k, 3, (Runtime__V1__KeyValue *[]){kv("A", "request"), kv("C", "c=d"), kv("A", "last")});
  const cJSON *spec = fx_build_ok(&k);
  CHECK_STR_EQ(env_value(spec, "PATH"), "/img/bin");
  CHECK_STR_EQ(env_value(spec, "A"), "last");
  CHECK_STR_EQ(env_value(spec, "B"), "image");
  CHECK_STR_EQ(env_value(spec, "C"), "c=d");
  CHECK_STR_EQ(env_value(spec, "HOSTNAME"), "podhost");
  CHECK_STR_EQ(env_value(spec, "HOME"), "/root");
  CHECK(env_value(spec, "NOVALUE") == NULL && env_value(spec, "TERM") == NULL);
  CHECK(!cJSON_IsTrue(fx_get(spec, "process.terminal")));

  /* No PATH anywhere: the default; a tty gets TERM; the request may set
   * HOSTNAME and HOME. */
  fx_case_set_image(&k, "{\"Cmd\": [\"/x\"]}");
  set_envs(&k, 2, (Runtime__V1__KeyValue *[]){kv("HOSTNAME", "mine"), kv("HOME", "/h")});
  k.cfg->tty = true;
  spec = fx_build_ok(&k);
  CHECK_STR_EQ(env_value(spec, "PATH"),
               "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  CHECK_STR_EQ(env_value(spec, "TERM"), "xterm");
  CHECK_STR_EQ(env_value(spec, "HOSTNAME"), "mine");
  CHECK_STR_EQ(env_value(spec, "HOME"), "/h");
  CHECK(cJSON_IsTrue(fx_get(spec, "process.terminal")));

  set_envs(&k, 2, (Runtime__V1__KeyValue *[]){kv("OK", "1"), kv("BAD=KEY", "x")});
  fx_build_fails(&k, EINVAL, "config.envs[1].key");
  set_envs(&k, 1, (Runtime__V1__KeyValue *[]){kv("", "x")});
  fx_build_fails(&k, EINVAL, "config.envs[0].key");
}

static void test_cwd_request_then_image_then_root(void) {
  struct fx_case k;
  fx_case_init(&k);
  CHECK_STR_EQ(fx_get_str(fx_build_ok(&k), "process.cwd"), "/");
  fx_case_set_image(&k, "{\"Cmd\": [\"/x\"], \"WorkingDir\": \"/srv//app/\"}");
  CHECK_STR_EQ(fx_get_str(fx_build_ok(&k), "process.cwd"), "/srv/app");
  k.cfg->working_dir = fx_str("/work");
  CHECK_STR_EQ(fx_get_str(fx_build_ok(&k), "process.cwd"), "/work");
  k.cfg->working_dir = fx_str("relative");
  fx_build_fails(&k, EINVAL, "config.working_dir: \"relative\" must be an absolute path");
  k.cfg->working_dir = fx_str("");
  fx_case_set_image(&k, "{\"Cmd\": [\"/x\"], \"WorkingDir\": \"/a/../b\"}");
  fx_build_fails(&k, EINVAL, "image config WorkingDir");
}

static void check_user(const cJSON *spec, uint32_t uid, uint32_t gid, const char *gids) {
  CHECK_INT_EQ(fx_get_int(spec, "process.user.uid"), uid);
  CHECK_INT_EQ(fx_get_int(spec, "process.user.gid"), gid);
  const cJSON *add = fx_get(spec, "process.user.additionalGids");
  char *got = add ? cJSON_PrintUnformatted(add) : strdup("none");
  if (strcmp(got, gids) != 0) {
    fprintf(stderr, "additionalGids: expected %s, saw %s\n", gids, got);
    exit(1);
  }
  free(got);
}

static void test_user_from_security_context_or_image(void) {
  struct fx_case k;
  fx_case_init(&k);
  check_user(fx_build_ok(&k), 0, 0, "none");
  /* The image's USER, by name: groups from /etc/group, HOME from passwd. */
  fx_case_set_image(&k, "{\"Cmd\": [\"/x\"], \"User\": \"tester\"}");
  const cJSON *spec = fx_build_ok(&k);
  check_user(spec, 1000, 1000, "[10,29]");
  CHECK_STR_EQ(env_value(spec, "HOME"), "/home/tester");
  fx_case_set_image(&k, "{\"Cmd\": [\"/x\"], \"User\": \"1000:audio\"}");
  check_user(fx_build_ok(&k), 1000, 29, "[10,1000]");
  /* run_as_user overrides the image; its passwd entry gives the group. */
  k.sc->run_as_user = int64v(1000);
  check_user(fx_build_ok(&k), 1000, 1000, "[10,29]");
  k.sc->run_as_user = int64v(0);
  check_user(fx_build_ok(&k), 0, 0, "none");
  k.sc->run_as_user = int64v(5555);
  check_user(fx_build_ok(&k), 5555, 0, "none");
  /* run_as_group with it; supplemental groups merged, once each. */
  k.sc->run_as_user = int64v(1000);
  k.sc->run_as_group = int64v(7);
  k.sc->supplemental_groups = fx_new(3 * sizeof(int64_t));
  k.sc->supplemental_groups[0] = 29;
  k.sc->supplemental_groups[1] = 2000;
  k.sc->supplemental_groups[2] = 3000;
  k.sc->n_supplemental_groups = 3;
  check_user(fx_build_ok(&k), 1000, 7, "[10,29,1000,2000,3000]");
  /* Strict: only the requested groups. */
  k.sc->supplemental_groups_policy = RUNTIME__V1__SUPPLEMENTAL_GROUPS_POLICY__Strict;
  check_user(fx_build_ok(&k), 1000, 7, "[29,2000,3000]");
  k.sc->supplemental_groups_policy = RUNTIME__V1__SUPPLEMENTAL_GROUPS_POLICY__Merge;
  k.sc->n_supplemental_groups = 0;
  /* By name. */
  k.sc->run_as_user = NULL;
  k.sc->run_as_username = fx_str("tester");
  check_user(fx_build_ok(&k), 1000, 7, "[10,29,1000]");
  k.sc->run_as_username = fx_str("nosuch");
  fx_build_fails(&k, EINVAL, "config.linux.security_context.run_as_username: user \"nosuch");
  k.sc->run_as_user = int64v(1);
  fx_build_fails(&k, EINVAL, "run_as_username: not together with run_as_user");
  k.sc->run_as_username = fx_str("");
  k.sc->run_as_user = NULL;
  fx_build_fails(&k, EINVAL, "run_as_group: needs run_as_user or run_as_username");
  k.sc->run_as_group = NULL;
  k.sc->run_as_user = int64v(-1);
  fx_build_fails(&k, EINVAL, "run_as_user: -1 is not a valid uid");
  k.sc->run_as_user = NULL;
  fx_case_set_image(&k, "{\"Cmd\": [\"/x\"], \"User\": \"ghost\"}");
  fx_build_fails(&k, EINVAL, "image config User: user \"ghost\"");
}

static void test_capabilities_default_add_drop_all(void) {
  struct fx_case k;
  fx_case_init(&k);
  const cJSON *spec = fx_build_ok(&k);
  CHECK_INT_EQ(fx_caps(spec, "process.capabilities.bounding"), DEFAULT_CAPS);
  CHECK_INT_EQ(fx_caps(spec, "process.capabilities.effective"), DEFAULT_CAPS);
  CHECK_INT_EQ(fx_caps(spec, "process.capabilities.permitted"), DEFAULT_CAPS);
  CHECK_INT_EQ(fx_caps(spec, "process.capabilities.inheritable"), 0);
  CHECK_INT_EQ(fx_caps(spec, "process.capabilities.ambient"), 0);

  Runtime__V1__Capability *caps = FX_MSG(Runtime__V1__Capability, RUNTIME__V1__CAPABILITY__INIT);
  k.sc->capabilities = caps;
  caps->add_capabilities = fx_strv(&caps->n_add_capabilities, "NET_ADMIN", "CAP_sys_time", NULL);
  caps->drop_capabilities = fx_strv(&caps->n_drop_capabilities, "chown", NULL);
  spec = fx_build_ok(&k);
  CHECK_INT_EQ(fx_caps(spec, "process.capabilities.effective"),
               (DEFAULT_CAPS | (1ULL << CAP_NET_ADMIN) | (1ULL << CAP_SYS_TIME)) &
                   ~(1ULL << CAP_CHOWN));
  /* add ALL, drop one: all but that one, within the host's bounding set
   * (which lacks SYS_RESOURCE: a warning, not a failure). */
  caps->add_capabilities = fx_strv(&caps->n_add_capabilities, "ALL", NULL);
  caps->drop_capabilities = fx_strv(&caps->n_drop_capabilities, "NET_RAW", NULL);
  spec = fx_build_ok(&k);
  CHECK_INT_EQ(fx_caps(spec, "process.capabilities.bounding"),
               k.host.cap_bounding & ~(1ULL << CAP_NET_RAW));
  CHECK(fx_has_warning(&k, "CAP_SYS_RESOURCE"));
  /* drop ALL, add one: only that one. */
  caps->add_capabilities = fx_strv(&caps->n_add_capabilities, "KILL", NULL);
  caps->drop_capabilities = fx_strv(&caps->n_drop_capabilities, "all", NULL);
  spec = fx_build_ok(&k);
  CHECK_INT_EQ(fx_caps(spec, "process.capabilities.permitted"), 1ULL << CAP_KILL);
  CHECK_INT_EQ(k.warnings.n, 0);
  /* Ambient: into every set, inheritable included, for non-root users. */
  caps->n_drop_capabilities = 0;
  caps->n_add_capabilities = 0;
  caps->add_ambient_capabilities =
      fx_strv(&caps->n_add_ambient_capabilities, "NET_BIND_SERVICE", "NET_RAW", NULL);
  spec = fx_build_ok(&k);
  uint64_t ambient = (1ULL << CAP_NET_BIND_SERVICE) | (1ULL << CAP_NET_RAW);
  CHECK_INT_EQ(fx_caps(spec, "process.capabilities.ambient"), ambient);
  CHECK_INT_EQ(fx_caps(spec, "process.capabilities.inheritable"), ambient);
  CHECK_INT_EQ(fx_caps(spec, "process.capabilities.effective"), DEFAULT_CAPS | ambient);
  /* Unknown names fail naming the field. */
  caps->n_add_ambient_capabilities = 0;
  caps->add_capabilities = fx_strv(&caps->n_add_capabilities, "KILL", "CAP_NOPE", NULL);
  fx_build_fails(&k, EINVAL,
                 "config.linux.security_context.capabilities.add_capabilities[1]: unknown "
                 "capability \"CAP_NOPE\"");
  caps->n_add_capabilities = 0;
  caps->drop_capabilities = fx_strv(&caps->n_drop_capabilities, "", NULL);
  fx_build_fails(&k, EINVAL, "drop_capabilities[0]");
}

static void test_privileged_everything_the_host_allows(void) {
  struct fx_case k;
  fx_case_init(&k);
  k.sc->privileged = true;
  fx_build_fails(&k, EINVAL, "privileged: the pod sandbox is not privileged");
  privileged(&k);
  k.sc->seccomp = profile(RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault, NULL);
  /* A fake /dev: its device nodes, not pts. */
  fx_mkdir("fakedev/pts");
  fx_mkdir("fakedev/snd");
  CHECK(mknod(fx_path("fakedev/null"), S_IFCHR | 0666, makedev(1, 3)) == 0);
  CHECK(mknod(fx_path("fakedev/snd/pcm"), S_IFCHR | 0660, makedev(116, 2)) == 0);
  CHECK(chmod(fx_path("fakedev/snd/pcm"), 0660) == 0); /* past the umask */
  CHECK(mknod(fx_path("fakedev/pts/0"), S_IFCHR | 0620, makedev(136, 0)) == 0);
  CHECK(mknod(fx_path("fakedev/loop0"), S_IFBLK | 0660, makedev(7, 0)) == 0);
  fx_write("fakedev/notadevice", "");
  fx_symlink("null", "fakedev/link");
  k.host.dev_dir = fx_path("fakedev");
  const cJSON *spec = fx_build_ok(&k);
  CHECK_INT_EQ(fx_caps(spec, "process.capabilities.bounding"), k.host.cap_bounding);
  CHECK_INT_EQ(fx_caps(spec, "process.capabilities.effective"), k.host.cap_bounding);
  CHECK(fx_get(spec, "linux.seccomp") == NULL);
  CHECK(fx_get(spec, "linux.maskedPaths") == NULL && fx_get(spec, "linux.readonlyPaths") == NULL);
  CHECK(fx_mount_has_option(fx_mount(spec, "/sys", NULL), "rw"));
  CHECK(fx_mount_has_option(fx_mount(spec, "/sys/fs/cgroup", NULL), "rw"));
  /* One rule allowing every device; every node of the host's /dev. */
  CHECK_INT_EQ(cJSON_GetArraySize(fx_get(spec, "linux.resources.devices")), 1);
  CHECK(cJSON_IsTrue(fx_get(spec, "linux.resources.devices.0.allow")));
  CHECK(fx_get(spec, "linux.resources.devices.0.type") == NULL);
  CHECK_STR_EQ(fx_get_str(spec, "linux.resources.devices.0.access"), "rwm");
  const cJSON *devices = fx_get(spec, "linux.devices");
  CHECK_INT_EQ(cJSON_GetArraySize(devices), 3);
  bool saw_pcm = false, saw_loop = false;
  const cJSON *d;
  cJSON_ArrayForEach(d, devices) {
    const char *path = fx_get_str(d, "path");
    if (strcmp(path, "/dev/snd/pcm") == 0) {
      saw_pcm = true;
      CHECK_INT_EQ(fx_get_int(d, "major"), 116);
      CHECK_INT_EQ(fx_get_int(d, "fileMode"), 0660);
    } else if (strcmp(path, "/dev/loop0") == 0) {
      saw_loop = true;
      CHECK_STR_EQ(fx_get_str(d, "type"), "b");
    } else {
      CHECK_STR_EQ(path, "/dev/null");
    }
  }
  CHECK(saw_pcm && saw_loop);
}

static void test_oom_score_adj_and_rlimits_clamped_by_the_host(void) {
  struct fx_case k;
  fx_case_init(&k);
  k.res->oom_score_adj = 500;
  cJSON *spec = fx_build_ok(&k);
  CHECK_INT_EQ(fx_get_int(spec, "process.oomScoreAdj"), 500);
  CHECK_INT_EQ(k.warnings.n, 0);
  CHECK_STR_EQ(fx_get_str(spec, "process.rlimits.0.type"), "RLIMIT_NOFILE");
  CHECK_INT_EQ(fx_get_int(spec, "process.rlimits.0.hard"), 1048576);
  CHECK_INT_EQ(fx_get_int(spec, "process.rlimits.0.soft"), 1048576);
  /* Below the runtime's own, without CAP_SYS_RESOURCE: the runtime's, and
   * a warning (the kubelet's -997 for Guaranteed pods would otherwise fail
   * every such pod here). */
  k.host.oom_score_adj = -100;
  k.res->oom_score_adj = -997;
  k.host.nofile_hard = 20000;
  spec = fx_build_ok(&k);
  CHECK_INT_EQ(fx_get_int(spec, "process.oomScoreAdj"), -100);
  CHECK(fx_has_warning(&k, "oom_score_adj -997 is below the runtime's -100"));
  CHECK_INT_EQ(fx_get_int(spec, "process.rlimits.0.hard"), 20000);
  CHECK(fx_has_warning(&k, "RLIMIT_NOFILE"));
  /* With CAP_SYS_RESOURCE both are as asked. */
  k.host.cap_bounding |= 1ULL << CAP_SYS_RESOURCE;
  spec = fx_build_ok(&k);
  CHECK_INT_EQ(fx_get_int(spec, "process.oomScoreAdj"), -997);
  CHECK_INT_EQ(fx_get_int(spec, "process.rlimits.0.hard"), 1048576);
  CHECK_INT_EQ(k.warnings.n, 0);
  k.res->oom_score_adj = 1001;
  fx_build_fails(&k, EINVAL, "config.linux.resources.oom_score_adj: 1001 is outside");
  /* No resources at all: inherited. */
  k.cfg->linux->resources = NULL;
  CHECK(fx_get(fx_build_ok(&k), "process.oomScoreAdj") == NULL);
}

static void test_no_new_privileges_and_readonly_rootfs(void) {
  struct fx_case k;
  fx_case_init(&k);
  cJSON *spec = fx_build_ok(&k);
  CHECK(cJSON_IsFalse(fx_get(spec, "process.noNewPrivileges")));
  CHECK(cJSON_IsFalse(fx_get(spec, "root.readonly")));
  CHECK_STR_EQ(fx_get_str(spec, "root.path"), fx_rootfs());
  CHECK_STR_EQ(fx_get_str(spec, "ociVersion"), "1.0.2");
  k.sc->no_new_privs = true;
  k.sc->readonly_rootfs = true;
  k.in.hosts_path = fx_path("pod/hosts");
  spec = fx_build_ok(&k);
  CHECK(cJSON_IsTrue(fx_get(spec, "process.noNewPrivileges")));
  CHECK(cJSON_IsTrue(fx_get(spec, "root.readonly")));
  /* The pod's files are read-only in a read-only container. */
  CHECK(fx_mount_has_option(fx_mount(spec, "/etc/hosts", NULL), "ro"));
}

/* ---- mounts ----------------------------------------------------------------- */
static void test_default_mounts_and_pod_files(void) {
  struct fx_case k;
  fx_case_init(&k);
  fx_write("pod/hosts", "");
  fx_write("pod/hostname", "");
  fx_write("pod/resolv.conf", "");
  fx_write("pod/term", "");
  fx_mkdir("pod/shm");
  cJSON *spec = fx_build_ok(&k);
  /* Without pod files: the kernel file systems and a private /dev/shm. */
  const char *bare[] = {"/proc",       "/dev",     "/sys",          "/dev/pts",
                        "/dev/mqueue", "/dev/shm", "/sys/fs/cgroup"};
  CHECK_INT_EQ(cJSON_GetArraySize(fx_get(spec, "mounts")), 7);
  for (size_t i = 0; i < 7; i++)
    CHECK_STR_EQ(fx_get_str(spec, fx_printf("mounts.%zu.destination", i)), bare[i]);
  CHECK_STR_EQ(fx_get_str(fx_mount(spec, "/dev/shm", NULL), "type"), "tmpfs");
  const cJSON *sys = fx_mount(spec, "/sys", NULL);
  CHECK_STR_EQ(fx_get_str(sys, "type"), "sysfs");
  CHECK(fx_mount_has_option(sys, "ro") && !fx_mount_has_option(sys, "rw"));
  CHECK(fx_mount_has_option(fx_mount(spec, "/sys/fs/cgroup", NULL), "ro"));
  CHECK(fx_mount_has_option(fx_mount(spec, "/dev/pts", NULL), "newinstance"));
  CHECK_STR_EQ(fx_get_str(fx_mount(spec, "/proc", NULL), "type"), "proc");
  CHECK_STR_EQ(fx_get_str(fx_mount(spec, "/dev/mqueue", NULL), "type"), "mqueue");

  /* With them: binds of the pod's files, the shm and the termination log. */
  k.in.hosts_path = fx_path("pod/hosts");
  k.in.hostname_path = fx_path("pod/hostname");
  k.in.resolv_conf_path = fx_path("pod/resolv.conf");
  k.in.shm_path = fx_path("pod/shm");
  k.in.termination_message_path = fx_path("pod/term");
  spec = fx_build_ok(&k);
  const cJSON *m = fx_mount(spec, "/dev/shm", NULL);
  CHECK_STR_EQ(fx_get_str(m, "type"), "bind");
  CHECK_STR_EQ(fx_get_str(m, "source"), fx_path("pod/shm"));
  const char *files[][2] = {{"/etc/hosts", "pod/hosts"},
                            {"/etc/hostname", "pod/hostname"},
                            {"/etc/resolv.conf", "pod/resolv.conf"},
                            {"/dev/termination-log", "pod/term"}};
  for (size_t i = 0; i < 4; i++) {
    m = fx_mount(spec, files[i][0], NULL);
    CHECK(m != NULL);
    CHECK_STR_EQ(fx_get_str(m, "source"), fx_path(files[i][1]));
    CHECK(fx_mount_has_option(m, "rbind") && fx_mount_has_option(m, "rw"));
  }
  /* The kubelet's annotation moves the termination message. */
  add_annotation(&k, false, "io.kubernetes.container.terminationMessagePath", "/tmp/msg");
  spec = fx_build_ok(&k);
  CHECK(fx_mount(spec, "/dev/termination-log", NULL) == NULL);
  CHECK_STR_EQ(fx_get_str(fx_mount(spec, "/tmp/msg", NULL), "source"), fx_path("pod/term"));
  /* A request mount on a default's destination replaces it (the kubelet
   * mounts its own /etc/hosts). */
  fx_write("kubelet/etc-hosts", "");
  add_mount(&k, "/etc/hosts", fx_path("kubelet/etc-hosts"));
  spec = fx_build_ok(&k);
  CHECK_STR_EQ(fx_get_str(fx_mount(spec, "/etc/hosts", NULL), "source"),
               fx_path("kubelet/etc-hosts"));
  int count = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, fx_get(spec, "mounts")) count +=
      strcmp(fx_get_str(it, "destination"), "/etc/hosts") == 0;
  CHECK_INT_EQ(count, 1);
}

static void test_request_mounts_checked_and_sorted(void) {
  struct fx_case k;
  fx_case_init(&k);
  fx_mkdir("vol/a");
  fx_mkdir("vol/b");
  fx_symlink(fx_path("vol/b"), "vol/link-to-b");
  add_mount(&k, "/data/deep/er", fx_path("vol/a"));
  Runtime__V1__Mount *ro = add_mount(&k, "/data", fx_path("vol/link-to-b"));
  ro->readonly = true;
  ro->mount_options = fx_strv(&ro->n_mount_options, "noexec", "nosuid", NULL);
  add_mount(&k, "/dev/extra", fx_path("vol/a"));
  cJSON *spec = fx_build_ok(&k);
  int i_data, i_deep, i_dev, i_extra;
  const cJSON *data = fx_mount(spec, "/data", &i_data);
  CHECK(fx_mount(spec, "/data/deep/er", &i_deep) != NULL);
  CHECK(fx_mount(spec, "/dev", &i_dev) != NULL);
  CHECK(fx_mount(spec, "/dev/extra", &i_extra) != NULL);
  /* Parents before children, whatever the request's order. */
  CHECK(i_data < i_deep && i_dev < i_extra);
  /* The source with links followed; read-only; private; options added. */
  CHECK_STR_EQ(fx_get_str(data, "source"), fx_path("vol/b"));
  CHECK_STR_EQ(fx_get_str(data, "type"), "bind");
  CHECK(fx_mount_has_option(data, "rbind") && fx_mount_has_option(data, "ro") &&
        fx_mount_has_option(data, "rprivate") && fx_mount_has_option(data, "noexec") &&
        fx_mount_has_option(data, "nosuid"));
  CHECK(fx_mount_has_option(fx_mount(spec, "/dev/extra", NULL), "rw"));
  CHECK(fx_get(spec, "linux.rootfsPropagation") == NULL);

  ro->mount_options = fx_strv(&ro->n_mount_options, "bind", NULL);
  fx_build_fails(&k, EINVAL, "config.mounts[1].mount_options[0]: \"bind\" not allowed");
  ro->n_mount_options = 0;
  ro->container_path = fx_str("relative/path");
  fx_build_fails(&k, EINVAL,
                 "config.mounts[1].container_path: \"relative/path\" must be an "
                 "absolute path");
  ro->container_path = fx_str("/x/../etc");
  fx_build_fails(&k, EINVAL, "config.mounts[1].container_path");
  ro->container_path = fx_str("/data/deep/er/");
  fx_build_fails(&k, EINVAL, "config.mounts[1].container_path: /data/deep/er is mounted twice");
  ro->container_path = fx_str("/data");
  ro->host_path = fx_str(fx_path("vol/missing"));
  fx_build_fails(&k, EINVAL, "config.mounts[1].host_path");
  ro->host_path = fx_str("vol/a");
  fx_build_fails(&k, EINVAL, "config.mounts[1].host_path: \"vol/a\" must be absolute");
  ro->host_path = fx_str(fx_path("vol/a"));
  ro->recursive_read_only = true;
  fx_build_fails(&k, ENOSYS, "config.mounts[1].recursive_read_only");
  ro->recursive_read_only = false;
  ro->image = FX_MSG(Runtime__V1__ImageSpec, RUNTIME__V1__IMAGE_SPEC__INIT);
  ro->image->image = fx_str("busybox");
  fx_build_fails(&k, ENOSYS, "config.mounts[1].image");
}

/* Propagation other than private needs a host mount that passes events:
 * read from mountinfo (a fake one here). */
static void test_mount_propagation_needs_shared_or_slave_host_mounts(void) {
  struct fx_case k;
  fx_case_init(&k);
  fx_mkdir("prop/shared/x");
  fx_mkdir("prop/slave");
  fx_mkdir("prop/private");
  fx_write("mountinfo", fx_printf("27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
                                  "50 27 0:50 / %s rw,relatime shared:5 - tmpfs tmpfs rw\n"
                                  "51 27 0:51 / %s rw,relatime master:7 - tmpfs tmpfs rw\n"
                                  "52 27 0:52 / %s rw,relatime - tmpfs tmpfs rw\n"
                                  "53 52 0:53 / %s/with\\040space rw shared:9 - tmpfs tmpfs rw\n",
                                  fx_path("prop/shared"), fx_path("prop/slave"),
                                  fx_path("prop/private"), fx_path("prop/private")));
  k.host.mountinfo_path = fx_path("mountinfo");
  Runtime__V1__Mount *m = add_mount(&k, "/m", fx_path("prop/shared/x"));
  m->propagation = RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL;
  cJSON *spec = fx_build_ok(&k);
  CHECK(fx_mount_has_option(fx_mount(spec, "/m", NULL), "rshared"));
  CHECK_STR_EQ(fx_get_str(spec, "linux.rootfsPropagation"), "rshared");
  m->host_path = fx_str(fx_path("prop/slave"));
  fx_build_fails(&k, EINVAL, "config.mounts[0].propagation: BIDIRECTIONAL needs");
  m->propagation = RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_HOST_TO_CONTAINER;
  spec = fx_build_ok(&k);
  CHECK(fx_mount_has_option(fx_mount(spec, "/m", NULL), "rslave"));
  CHECK_STR_EQ(fx_get_str(spec, "linux.rootfsPropagation"), "rslave");
  m->host_path = fx_str(fx_path("prop/private"));
  fx_build_fails(&k, EINVAL, "HOST_TO_CONTAINER needs");
  /* The deepest mount decides, with mountinfo's escapes undone. */
  fx_mkdir("prop/private/with space");
  m->host_path = fx_str(fx_path("prop/private/with space"));
  CHECK(fx_build_ok(&k) != NULL);
}

static void test_masked_and_readonly_paths(void) {
  struct fx_case k;
  fx_case_init(&k);
  cJSON *spec = fx_build_ok(&k);
  CHECK(fx_has_str(spec, "linux.maskedPaths", "/proc/kcore"));
  CHECK(fx_has_str(spec, "linux.maskedPaths", "/sys/firmware"));
  CHECK_INT_EQ(cJSON_GetArraySize(fx_get(spec, "linux.maskedPaths")), 11);
  CHECK(fx_has_str(spec, "linux.readonlyPaths", "/proc/sys"));
  CHECK_INT_EQ(cJSON_GetArraySize(fx_get(spec, "linux.readonlyPaths")), 5);
  k.sc->masked_paths = fx_strv(&k.sc->n_masked_paths, "/proc/secret", NULL);
  spec = fx_build_ok(&k);
  CHECK_INT_EQ(cJSON_GetArraySize(fx_get(spec, "linux.maskedPaths")), 1);
  CHECK_INT_EQ(cJSON_GetArraySize(fx_get(spec, "linux.readonlyPaths")), 0);
  k.sc->readonly_paths = fx_strv(&k.sc->n_readonly_paths, "/ok", "relative", NULL);
  fx_build_fails(&k, EINVAL, "config.linux.security_context.readonly_paths[1]");
}

/* ---- namespaces, hostname, cgroups ---------------------------------------------- */
static void test_namespaces_join_the_pod_or_the_host(void) {
  struct fx_case k;
  fx_case_init(&k);
  /* No pod paths: new ones of each kind. */
  cJSON *spec = fx_build_ok(&k);
  const char *types[] = {"pid", "network", "ipc", "uts", "mount"};
  CHECK_INT_EQ(cJSON_GetArraySize(fx_get(spec, "linux.namespaces")), 5);
  for (size_t i = 0; i < 5; i++) {
    const cJSON *ns = fx_namespace(spec, types[i]);
    CHECK(ns != NULL && fx_get(ns, "path") == NULL);
  }
  CHECK_STR_EQ(fx_get_str(spec, "hostname"), "podhost");
  /* The pod's pins. */
  k.in.netns_path = "/run/netns/p1";
  k.in.ipcns_path = "/run/ipcns/p1";
  k.in.utsns_path = "/run/utsns/p1";
  spec = fx_build_ok(&k);
  CHECK_STR_EQ(fx_get_str(fx_namespace(spec, "network"), "path"), "/run/netns/p1");
  CHECK_STR_EQ(fx_get_str(fx_namespace(spec, "ipc"), "path"), "/run/ipcns/p1");
  CHECK_STR_EQ(fx_get_str(fx_namespace(spec, "uts"), "path"), "/run/utsns/p1");
  CHECK(fx_get(fx_namespace(spec, "pid"), "path") == NULL);
  /* Host network (so host UTS: no hostname, the node's in HOSTNAME) and
   * host IPC: those namespaces absent. */
  k.pod_sc->namespace_options->network = RUNTIME__V1__NAMESPACE_MODE__NODE;
  k.pod_sc->namespace_options->ipc = RUNTIME__V1__NAMESPACE_MODE__NODE;
  spec = fx_build_ok(&k);
  CHECK(fx_namespace(spec, "network") == NULL && fx_namespace(spec, "uts") == NULL &&
        fx_namespace(spec, "ipc") == NULL);
  CHECK(fx_get(spec, "hostname") == NULL);
  CHECK_STR_EQ(env_value(spec, "HOSTNAME"), "nodehost");
  /* PID: the pod's, the host's, a target's. */
  k.sc->namespace_options->pid = RUNTIME__V1__NAMESPACE_MODE__POD;
  fx_build_fails(&k, EINVAL, "namespace_options.pid: POD, but the pod has no shared PID");
  k.in.pidns_path = "/run/pidns/p1";
  CHECK_STR_EQ(fx_get_str(fx_namespace(fx_build_ok(&k), "pid"), "path"), "/run/pidns/p1");
  k.sc->namespace_options->pid = RUNTIME__V1__NAMESPACE_MODE__NODE;
  CHECK(fx_namespace(fx_build_ok(&k), "pid") == NULL);
  k.sc->namespace_options->pid = RUNTIME__V1__NAMESPACE_MODE__TARGET;
  k.sc->namespace_options->target_id = fx_str("other");
  fx_build_fails(&k, EINVAL, "namespace_options.pid: TARGET \"other\"");
  k.in.target_pidns_path = "/proc/4242/ns/pid";
  CHECK_STR_EQ(fx_get_str(fx_namespace(fx_build_ok(&k), "pid"), "path"), "/proc/4242/ns/pid");
  /* A cgroup namespace only on cgroup v2 hosts. */
  k.host.cgroup_unified = true;
  CHECK(fx_namespace(fx_build_ok(&k), "cgroup") != NULL);
  /* User namespaces: not implemented. */
  k.sc->namespace_options->userns_options =
      FX_MSG(Runtime__V1__UserNamespace, RUNTIME__V1__USER_NAMESPACE__INIT);
  k.sc->namespace_options->userns_options->n_uids = 1;
  k.sc->namespace_options->userns_options->uids = fx_new(sizeof(Runtime__V1__IDMapping *));
  k.sc->namespace_options->userns_options->uids[0] =
      FX_MSG(Runtime__V1__IDMapping, RUNTIME__V1__IDMAPPING__INIT);
  fx_build_fails(&k, ENOSYS, "user namespaces are not supported");
}

static void test_cgroups_path_per_driver(void) {
  struct fx_case k;
  fx_case_init(&k);
  CHECK_STR_EQ(fx_get_str(fx_build_ok(&k), "linux.cgroupsPath"), "/crio-c1");
  k.pod->linux->cgroup_parent = fx_str("/kubepods/burstable/podX/");
  CHECK_STR_EQ(fx_get_str(fx_build_ok(&k), "linux.cgroupsPath"),
               "/kubepods/burstable/podX/crio-c1");
  k.in.cgroup_parent = "/explicit";
  CHECK_STR_EQ(fx_get_str(fx_build_ok(&k), "linux.cgroupsPath"), "/explicit/crio-c1");
  k.in.cgroup_parent = "relative";
  fx_build_fails(&k, EINVAL, "cgroup_parent: \"relative\" must be an absolute path");
  k.in.cgroup_parent = NULL;
  k.in.cgroup_driver = OCI_CGROUP_DRIVER_SYSTEMD;
  k.pod->linux->cgroup_parent = fx_str("kubepods-burstable-podX.slice");
  CHECK_STR_EQ(fx_get_str(fx_build_ok(&k), "linux.cgroupsPath"),
               "kubepods-burstable-podX.slice:crio:c1");
  k.pod->linux->cgroup_parent = fx_str("/kubepods.slice/kubepods-besteffort.slice");
  CHECK_STR_EQ(fx_get_str(fx_build_ok(&k), "linux.cgroupsPath"),
               "kubepods-besteffort.slice:crio:c1");
  k.pod->linux->cgroup_parent = fx_str("");
  CHECK_STR_EQ(fx_get_str(fx_build_ok(&k), "linux.cgroupsPath"), "system.slice:crio:c1");
  k.pod->linux->cgroup_parent = fx_str("/kubepods/pod1");
  fx_build_fails(&k, EINVAL,
                 "sandbox_config.linux.cgroup_parent: \"/kubepods/pod1\" is not a "
                 "systemd slice");
}

/* ---- resources ------------------------------------------------------------------- */
static void test_resources(void) {
  struct fx_case k;
  fx_case_init(&k);
  cJSON *spec = fx_build_ok(&k);
  CHECK(fx_get(spec, "linux.resources.cpu") == NULL &&
        fx_get(spec, "linux.resources.memory") == NULL &&
        fx_get(spec, "linux.resources.pids") == NULL);
  k.res->cpu_shares = 512;
  k.res->cpu_quota = 50000;
  k.res->cpu_period = 100000;
  k.res->cpuset_cpus = fx_str("0-1,3");
  k.res->cpuset_mems = fx_str("0");
  k.res->memory_limit_in_bytes = 1LL << 62; /* beyond what a double holds exactly */
  k.in.pids_limit = 321;
  Runtime__V1__HugepageLimit *h =
      FX_MSG(Runtime__V1__HugepageLimit, RUNTIME__V1__HUGEPAGE_LIMIT__INIT);
  h->page_size = fx_str("2MB");
  h->limit = 4 << 20;
  k.res->hugepage_limits = fx_new(sizeof(h));
  k.res->hugepage_limits[0] = h;
  k.res->n_hugepage_limits = 1;
  spec = fx_build_ok(&k);
  CHECK_INT_EQ(fx_get_int(spec, "linux.resources.cpu.shares"), 512);
  CHECK_INT_EQ(fx_get_int(spec, "linux.resources.cpu.quota"), 50000);
  CHECK_INT_EQ(fx_get_int(spec, "linux.resources.cpu.period"), 100000);
  CHECK_STR_EQ(fx_get_str(spec, "linux.resources.cpu.cpus"), "0-1,3");
  CHECK_STR_EQ(fx_get_str(spec, "linux.resources.cpu.mems"), "0");
  CHECK_INT_EQ(fx_get_int(spec, "linux.resources.memory.limit"), 1LL << 62);
  /* Swap accounting on: no swap unless asked (swap = limit). */
  CHECK_INT_EQ(fx_get_int(spec, "linux.resources.memory.swap"), 1LL << 62);
  CHECK_INT_EQ(fx_get_int(spec, "linux.resources.pids.limit"), 321);
  CHECK_STR_EQ(fx_get_str(spec, "linux.resources.hugepageLimits.0.pageSize"), "2MB");
  CHECK_INT_EQ(fx_get_int(spec, "linux.resources.hugepageLimits.0.limit"), 4 << 20);
  /* The exact integer reaches the JSON text. */
  char *text = cJSON_PrintUnformatted(spec);
  CHECK(strstr(text, "\"limit\":4611686018427387904") != NULL);
  free(text);

  k.res->memory_limit_in_bytes = 64 << 20;
  k.res->memory_swap_limit_in_bytes = 128 << 20;
  CHECK_INT_EQ(fx_get_int(fx_build_ok(&k), "linux.resources.memory.swap"), 128 << 20);
  k.res->memory_swap_limit_in_bytes = -1;
  CHECK_INT_EQ(fx_get_int(fx_build_ok(&k), "linux.resources.memory.swap"), -1);
  k.res->memory_swap_limit_in_bytes = 32 << 20;
  fx_build_fails(&k, EINVAL, "memory_swap_limit_in_bytes: 33554432 is below the memory limit");
  /* No swap accounting, no hugetlb controller: asked-for limits dropped
   * with warnings. */
  k.host.memory_swap = false;
  k.host.hugetlb = false;
  k.res->memory_swap_limit_in_bytes = 128 << 20;
  spec = fx_build_ok(&k);
  CHECK(fx_get(spec, "linux.resources.memory.swap") == NULL);
  CHECK(fx_get(spec, "linux.resources.hugepageLimits") == NULL);
  CHECK(fx_has_warning(&k, "swap") && fx_has_warning(&k, "hugepage"));
  k.res->memory_limit_in_bytes = 0;
  fx_build_fails(&k, EINVAL, "memory_swap_limit_in_bytes: needs memory_limit_in_bytes");
  k.res->memory_swap_limit_in_bytes = 0;

  k.res->cpuset_cpus = fx_str("0-");
  fx_build_fails(&k, EINVAL, "config.linux.resources.cpuset_cpus: \"0-\"");
  k.res->cpuset_cpus = fx_str("3-1");
  fx_build_fails(&k, EINVAL, "cpuset_cpus");
  k.res->cpuset_cpus = fx_str("");
  h->page_size = fx_str("2M");
  fx_build_fails(&k, EINVAL, "hugepage_limits[0].page_size: \"2M\"");
  k.res->n_hugepage_limits = 0;

  Runtime__V1__LinuxContainerResources__UnifiedEntry *u =
      FX_MSG(Runtime__V1__LinuxContainerResources__UnifiedEntry,
             RUNTIME__V1__LINUX_CONTAINER_RESOURCES__UNIFIED_ENTRY__INIT);
  u->key = fx_str("memory.high");
  u->value = fx_str("1000000");
  k.res->unified = fx_new(sizeof(u));
  k.res->unified[0] = u;
  k.res->n_unified = 1;
  spec = fx_build_ok(&k);
  CHECK(fx_get(spec, "linux.resources.unified") == NULL);
  CHECK(fx_has_warning(&k, "unified"));
  k.host.cgroup_unified = true;
  CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                   fx_get(fx_build_ok(&k), "linux.resources.unified"), "memory.high")),
               "1000000");
  u->key = fx_str("../escape");
  fx_build_fails(&k, EINVAL, "config.linux.resources.unified: \"../escape\"");
}

/* ---- devices --------------------------------------------------------------------- */
static void test_devices_from_the_request(void) {
  struct fx_case k;
  fx_case_init(&k);
  cJSON *spec = fx_build_ok(&k);
  /* Deny everything, then the standard nodes. */
  const cJSON *rules = fx_get(spec, "linux.resources.devices");
  CHECK(cJSON_IsFalse(fx_get(rules, "0.allow")));
  CHECK_STR_EQ(fx_get_str(rules, "0.access"), "rwm");
  bool null_allowed = false, pts_allowed = false;
  const cJSON *r;
  cJSON_ArrayForEach(r, rules) {
    int64_t major = -1, minor = -1;
    oci_spec_get_int(r, "major", &major);
    oci_spec_get_int(r, "minor", &minor);
    null_allowed = null_allowed || (major == 1 && minor == 3 && cJSON_IsTrue(fx_get(r, "allow")));
    pts_allowed = pts_allowed || (major == 136 && minor == -1);
  }
  CHECK(null_allowed && pts_allowed);
  CHECK_INT_EQ(cJSON_GetArraySize(fx_get(spec, "linux.devices")), 0);

  CHECK(mknod(fx_path("devnode"), S_IFCHR | 0640, makedev(10, 200)) == 0);
  fx_mkdir("devdir/sub");
  CHECK(mknod(fx_path("devdir/sub/blk"), S_IFBLK | 0600, makedev(8, 1)) == 0);
  add_device(&k, "/dev/net/tun", fx_path("devnode"), "rw");
  add_device(&k, "/dev/disks", fx_path("devdir"), "");
  spec = fx_build_ok(&k);
  const cJSON *tun = fx_get(spec, "linux.devices.0");
  CHECK_STR_EQ(fx_get_str(tun, "path"), "/dev/net/tun");
  CHECK_STR_EQ(fx_get_str(tun, "type"), "c");
  CHECK_INT_EQ(fx_get_int(tun, "major"), 10);
  CHECK_INT_EQ(fx_get_int(tun, "minor"), 200);
  CHECK_INT_EQ(fx_get_int(tun, "fileMode"), 0640);
  CHECK_STR_EQ(fx_get_str(spec, "linux.devices.1.path"), "/dev/disks/sub/blk");
  CHECK_STR_EQ(fx_get_str(spec, "linux.devices.1.type"), "b");
  /* Their rules come after the defaults, with the permissions asked. */
  int n = cJSON_GetArraySize(fx_get(spec, "linux.resources.devices"));
  const cJSON *tun_rule = cJSON_GetArrayItem(fx_get(spec, "linux.resources.devices"), n - 2);
  CHECK_STR_EQ(fx_get_str(tun_rule, "access"), "rw");
  CHECK_INT_EQ(fx_get_int(tun_rule, "major"), 10);
  CHECK_STR_EQ(
      fx_get_str(cJSON_GetArrayItem(fx_get(spec, "linux.resources.devices"), n - 1), "access"),
      "rwm");

  k.cfg->devices[0]->permissions = fx_str("rwx");
  fx_build_fails(&k, EINVAL, "config.devices[0].permissions: \"rwx\"");
  k.cfg->devices[0]->permissions = fx_str("r");
  fx_write("regular", "");
  k.cfg->devices[1]->host_path = fx_path("regular");
  fx_build_fails(&k, EINVAL, "config.devices[1].host_path");
  k.cfg->devices[1]->host_path = fx_path("nothing-here");
  fx_build_fails(&k, EINVAL, "config.devices[1].host_path");
  k.cfg->devices[1]->host_path = fx_path("devnode");
  k.cfg->devices[1]->container_path = fx_str("dev/x");
  fx_build_fails(&k, EINVAL, "config.devices[1].container_path");
}

/* ---- security profiles -------------------------------------------------------------- */
static void test_seccomp_choice(void) {
  struct fx_case k;
  fx_case_init(&k);
  /* Unset: unconfined, as the kubelet means it. */
  CHECK(fx_get(fx_build_ok(&k), "linux.seccomp") == NULL);
  k.sc->seccomp = profile(RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault, NULL);
  cJSON *spec = fx_build_ok(&k);
  CHECK_STR_EQ(fx_get_str(spec, "linux.seccomp.defaultAction"), "SCMP_ACT_ERRNO");
  CHECK(fx_has_str(spec, "linux.seccomp.syscalls.0.names", "read"));
  /* The default caps lack SYS_ADMIN: no mount, clone3 answers ENOSYS. */
  CHECK(!fx_has_str(spec, "linux.seccomp.syscalls.0.names", "mount"));
  const cJSON *r;
  bool clone3_enosys = false;
  cJSON_ArrayForEach(r, fx_get(spec, "linux.seccomp.syscalls")) {
    if (fx_has_str(r, "names", "clone3"))
      clone3_enosys = strcmp(fx_get_str(r, "action"), "SCMP_ACT_ERRNO") == 0 &&
                      fx_get_int(r, "errnoRet") == ENOSYS;
  }
  CHECK(clone3_enosys);
  /* The profile follows the container's capabilities. */
  Runtime__V1__Capability *caps = FX_MSG(Runtime__V1__Capability, RUNTIME__V1__CAPABILITY__INIT);
  caps->add_capabilities = fx_strv(&caps->n_add_capabilities, "SYS_ADMIN", NULL);
  k.sc->capabilities = caps;
  CHECK(fx_has_str(fx_build_ok(&k), "linux.seccomp.syscalls.0.names", "mount"));
  k.sc->capabilities = NULL;

  k.sc->seccomp = profile(RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined, NULL);
  CHECK(fx_get(fx_build_ok(&k), "linux.seccomp") == NULL);

  fx_write("profiles/deny-mkdir.json",
           "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"mkdir\", "
           "\"mkdirat\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 13}]}");
  k.sc->seccomp = profile(RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost,
                          fx_path("profiles/deny-mkdir.json"));
  spec = fx_build_ok(&k);
  CHECK_STR_EQ(fx_get_str(spec, "linux.seccomp.defaultAction"), "SCMP_ACT_ALLOW");
  CHECK(fx_has_str(spec, "linux.seccomp.syscalls.0.names", "mkdirat"));
  CHECK_INT_EQ(fx_get_int(spec, "linux.seccomp.syscalls.0.errnoRet"), 13);
  k.sc->seccomp->localhost_ref = fx_str("profiles/deny-mkdir.json");
  fx_build_fails(&k, EINVAL,
                 "seccomp.localhost_ref: \"profiles/deny-mkdir.json\" is not an "
                 "absolute path");
  k.sc->seccomp->localhost_ref = fx_path("profiles/missing.json");
  fx_build_fails(&k, EINVAL, "missing.json: cannot be read");
  fx_write("profiles/broken.json", "{\"defaultAction\": ");
  k.sc->seccomp->localhost_ref = fx_path("profiles/broken.json");
  fx_build_fails(&k, EINVAL, "broken.json: not valid JSON");

  /* The deprecated string form. */
  k.sc->seccomp = NULL;
  k.sc->seccomp_profile_path = fx_str("runtime/default");
  CHECK(fx_get(fx_build_ok(&k), "linux.seccomp") != NULL);
  k.sc->seccomp_profile_path = fx_printf("localhost/%s", fx_path("profiles/deny-mkdir.json"));
  CHECK_STR_EQ(fx_get_str(fx_build_ok(&k), "linux.seccomp.defaultAction"), "SCMP_ACT_ALLOW");
  k.sc->seccomp_profile_path = fx_str("unconfined");
  CHECK(fx_get(fx_build_ok(&k), "linux.seccomp") == NULL);
  k.sc->seccomp_profile_path = fx_str("bogus");
  fx_build_fails(&k, EINVAL, "seccomp_profile_path: \"bogus\"");
}

static void test_apparmor_and_selinux_where_the_host_has_them(void) {
  struct fx_case k;
  fx_case_init(&k);
  /* Neither on the host: nothing, and Localhost only warns. */
  k.sc->apparmor = profile(RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost, "mine");
  cJSON *spec = fx_build_ok(&k);
  CHECK(fx_get(spec, "process.apparmorProfile") == NULL);
  CHECK(fx_get(spec, "process.selinuxLabel") == NULL);
  CHECK(fx_has_warning(&k, "AppArmor profile \"mine\" not applied"));
  /* AppArmor on. */
  k.host.apparmor_enabled = true;
  CHECK_STR_EQ(fx_get_str(fx_build_ok(&k), "process.apparmorProfile"), "mine");
  k.sc->apparmor = NULL;
  fx_build_fails(&k, ENOSYS, "no default profile is configured");
  k.host.apparmor_default_profile = "crio-default";
  CHECK_STR_EQ(fx_get_str(fx_build_ok(&k), "process.apparmorProfile"), "crio-default");
  k.sc->apparmor_profile = fx_str("unconfined");
  CHECK(fx_get(fx_build_ok(&k), "process.apparmorProfile") == NULL);
  k.sc->apparmor_profile = fx_str("localhost/legacy");
  CHECK_STR_EQ(fx_get_str(fx_build_ok(&k), "process.apparmorProfile"), "legacy");
  privileged(&k);
  CHECK(fx_get(fx_build_ok(&k), "process.apparmorProfile") == NULL);
  /* SELinux on: labels are not implemented, so no container runs
   * unlabeled by mistake. */
  k.host.selinux_enabled = true;
  fx_build_fails(&k, ENOSYS, "SELinux");
}

/* ---- annotations, hostname, stop signal, input -------------------------------------- */
static void test_annotations(void) {
  struct fx_case k;
  fx_case_init(&k);
  add_annotation(&k, true, "io.kubernetes.container.name", "stale");
  add_annotation(&k, true, "app", "web");
  add_annotation(&k, false, "io.kubernetes.container.hash", "abc");
  add_annotation(&k, false, "app", "from-annotation");
  k.in.image_name = "docker.io/library/busybox:latest";
  cJSON *spec = fx_build_ok(&k);
  const cJSON *a = fx_get(spec, "annotations");
  const char *expected[][2] = {
      {"io.kubernetes.container.name", "app"},
      {"io.kubernetes.container.hash", "abc"},
      {"app", "from-annotation"},
      {"io.kubernetes.pod.name", "web"},
      {"io.kubernetes.pod.namespace", "default"},
      {"io.kubernetes.pod.uid", "uid-1"},
      {"io.kubernetes.cri.container-type", "container"},
      {"io.kubernetes.cri.sandbox-id", "p1"},
      {"io.kubernetes.cri.container-name", "app"},
      {"io.kubernetes.cri.image-name", "docker.io/library/busybox:latest"},
  };
  for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
    CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, expected[i][0])),
                 expected[i][1]);
}

static void test_bad_input(void) {
  struct fx_case k;
  fx_case_init(&k);
  k.cfg->metadata->name = fx_str("");
  fx_build_fails(&k, EINVAL, "config.metadata.name: required");
  fx_case_init(&k);
  k.in.rootfs = "relative";
  fx_build_fails(&k, EINVAL, "rootfs");
  fx_case_init(&k);
  k.in.rootfs = fx_path("no-such-rootfs");
  fx_build_fails(&k, ENOENT, "open rootfs");
  fx_case_init(&k);
  k.in.container_id = "a/b";
  fx_build_fails(&k, EINVAL, "container_id");
}

static void test_stop_signal(void) {
  struct fx_case k;
  fx_case_init(&k);
  crio_error_t err = NULL;
  int sig = 0;
  CHECK(oci_spec_stop_signal(k.cfg, k.image, &sig, &err) == 0 && sig == SIGTERM);
  const struct {
    const char *image;
    int expected;
  } images[] = {
      {"SIGQUIT", SIGQUIT},         {"int", SIGINT},    {"9", SIGKILL}, {"RTMIN+2", SIGRTMIN + 2},
      {"SIGRTMAX-1", SIGRTMAX - 1}, {"SIGCLD", SIGCHLD}};
  for (size_t i = 0; i < sizeof(images) / sizeof(images[0]); i++) {
    fx_case_set_image(&k, fx_printf("{\"StopSignal\": \"%s\"}", images[i].image));
    CHECK(oci_spec_stop_signal(k.cfg, k.image, &sig, &err) == 0);
    CHECK_INT_EQ(sig, images[i].expected);
  }
  fx_case_set_image(&k, "{\"StopSignal\": \"SIGNOPE\"}");
  CHECK(oci_spec_stop_signal(k.cfg, k.image, &sig, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  crio_error_release(&err);
  /* The request's wins. */
  k.cfg->stop_signal = RUNTIME__V1__SIGNAL__SIGNAL_SIGUSR1;
  CHECK(oci_spec_stop_signal(k.cfg, k.image, &sig, &err) == 0 && sig == SIGUSR1);
  k.cfg->stop_signal = RUNTIME__V1__SIGNAL__SIGNAL_SIGRTMINPLUS1;
  CHECK(oci_spec_stop_signal(k.cfg, k.image, &sig, &err) == 0 && sig == SIGRTMIN + 1);
  k.cfg->stop_signal = RUNTIME__V1__SIGNAL__SIGNAL_SIGRTMAXMINUS14;
  CHECK(oci_spec_stop_signal(k.cfg, k.image, &sig, &err) == 0 && sig == SIGRTMAX - 14);
  k.cfg->stop_signal = RUNTIME__V1__SIGNAL__SIGNAL_SIGPOLL;
  CHECK(oci_spec_stop_signal(k.cfg, k.image, &sig, &err) == 0 && sig == SIGIO);
}

/* ---- writing and preparing -------------------------------------------------------------- */
static void test_write_and_prepare_rootfs(void) {
  struct fx_case k;
  fx_case_init(&k);
  fx_case_set_image(&k, "{\"Cmd\": [\"/x\"], \"WorkingDir\": \"/app/run\", \"Volumes\": "
                        "{\"/var/data\": {}, \"/mounted/vol\": {}}}");
  fx_mkdir("vol/m");
  add_mount(&k, "/mounted", fx_path("vol/m"));
  k.res->memory_limit_in_bytes = 1LL << 62;
  cJSON *spec = fx_build_ok(&k);
  crio_error_t err = NULL;
  fx_mkdir("bundle");
  CHECK(oci_spec_write(fx_path("bundle"), spec, &err) == 0);
  struct stat st;
  CHECK(stat(fx_path("bundle/config.json"), &st) == 0);
  CHECK_INT_EQ(st.st_mode & 0777, 0600);
  char *text = NULL;
  CHECK(crio_read_file(fx_path("bundle/config.json"), &text, NULL, &err) == 0);
  cJSON *back = cJSON_Parse(text);
  free(text);
  CHECK(back != NULL);
  CHECK_STR_EQ(fx_get_str(back, "process.cwd"), "/app/run");
  /* 2^62 is exact as a double too; the text form was checked above. */
  CHECK(fx_get(back, "linux.resources.memory.limit")->valuedouble == 4611686018427387904.0);
  cJSON_Delete(back);

  /* The working dir and the uncovered volume appear inside the rootfs;
   * the covered one does not. */
  CHECK(oci_spec_prepare_rootfs(fx_rootfs(), spec, k.image, &err) == 0);
  CHECK(oci_spec_prepare_rootfs(fx_rootfs(), spec, k.image, &err) == 0);
  CHECK(stat(fx_path("rootfs/app/run"), &st) == 0 && S_ISDIR(st.st_mode));
  CHECK(stat(fx_path("rootfs/var/data"), &st) == 0 && S_ISDIR(st.st_mode));
  CHECK(stat(fx_path("rootfs/mounted"), &st) < 0);
  fx_case_set_image(&k, "{\"Volumes\": {\"relative\": {}}}");
  CHECK(oci_spec_prepare_rootfs(fx_rootfs(), spec, k.image, &err) < 0);
  CHECK_INT_EQ(crio_error_status(&err), EINVAL);
  crio_error_release(&err);
}

static void test_host_detection(void) {
  uint64_t caps = 0;
  crio_error_t err = NULL;
  CHECK(spec_parse_cap_bounding("Name:\tx\nCapBnd:\t000001fffeffffff\nCapAmb:\t0\n", &caps, &err) ==
        0);
  CHECK_INT_EQ(caps, 0x1fffeffffffULL);
  CHECK(spec_parse_cap_bounding("Name:\tx\n", &caps, &err) < 0);
  crio_error_release(&err);

  struct oci_spec_host host;
  CHECK(oci_spec_host_detect(&host, &err) == 0);
  fprintf(stderr,
          "   this host: CapBnd %llx, oom_score_adj %d, nofile %llu, unified %d, swap %d, "
          "hugetlb %d, selinux %d, apparmor %d, hostname %s\n",
          (unsigned long long)host.cap_bounding, host.oom_score_adj,
          (unsigned long long)host.nofile_hard, host.cgroup_unified, host.memory_swap, host.hugetlb,
          host.selinux_enabled, host.apparmor_enabled, host.hostname);
  char *status = NULL;
  CHECK(crio_read_file("/proc/self/status", &status, NULL, &err) == 0);
  char line[64];
  snprintf(line, sizeof(line), "CapBnd:\t%016llx\n", (unsigned long long)host.cap_bounding);
  CHECK(strstr(status, line) != NULL);
  free(status);
  struct stat st;
  CHECK(host.selinux_enabled == (stat("/sys/fs/selinux/enforce", &st) == 0));
  CHECK(host.hostname[0] != '\0');
}

int main(void) {
  RUN_TEST(test_args_merge_command_args_entrypoint_cmd);
  RUN_TEST(test_env_image_then_request_later_wins);
  RUN_TEST(test_cwd_request_then_image_then_root);
  RUN_TEST(test_user_from_security_context_or_image);
  RUN_TEST(test_capabilities_default_add_drop_all);
  RUN_TEST(test_privileged_everything_the_host_allows);
  RUN_TEST(test_oom_score_adj_and_rlimits_clamped_by_the_host);
  RUN_TEST(test_no_new_privileges_and_readonly_rootfs);
  RUN_TEST(test_default_mounts_and_pod_files);
  RUN_TEST(test_request_mounts_checked_and_sorted);
  RUN_TEST(test_mount_propagation_needs_shared_or_slave_host_mounts);
  RUN_TEST(test_masked_and_readonly_paths);
  RUN_TEST(test_namespaces_join_the_pod_or_the_host);
  RUN_TEST(test_cgroups_path_per_driver);
  RUN_TEST(test_resources);
  RUN_TEST(test_devices_from_the_request);
  RUN_TEST(test_seccomp_choice);
  RUN_TEST(test_apparmor_and_selinux_where_the_host_has_them);
  RUN_TEST(test_annotations);
  RUN_TEST(test_bad_input);
  RUN_TEST(test_stop_signal);
  RUN_TEST(test_write_and_prepare_rootfs);
  RUN_TEST(test_host_detection);
  return 0;
}
