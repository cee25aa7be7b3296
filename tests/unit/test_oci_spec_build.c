/* The rules of oci_spec_build for the process and its confinement, one
 * test each: what the kubelet and CRI-O do with command/args, env, cwd,
 * users, capabilities, limits, seccomp, AppArmor/SELinux and annotations,
 * and the field a bad request is refused for.  Mounts, namespaces,
 * cgroups and devices: test_oci_spec_linux.c. */
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

static void test_env_image_then_request_later_wins(void) {
  struct fx_case k;
  fx_case_init(&k);
  fx_case_set_image(&k, "{\"Cmd\": [\"/x\"], \"Env\": [\"PATH=/img/bin\", \"A=image\", "
                        "\"B=image\", \"NOVALUE\", \"=bad\"]}");
  fx_set_envs(
      &k, 3,
      (Runtime__V1__KeyValue *[]){fx_kv("A", "request"), fx_kv("C", "c=d"), fx_kv("A", "last")});
  const cJSON *spec = fx_build_ok(&k);
  CHECK_STR_EQ(fx_env_value(spec, "PATH"), "/img/bin");
  CHECK_STR_EQ(fx_env_value(spec, "A"), "last");
  CHECK_STR_EQ(fx_env_value(spec, "B"), "image");
  CHECK_STR_EQ(fx_env_value(spec, "C"), "c=d");
  CHECK_STR_EQ(fx_env_value(spec, "HOSTNAME"), "podhost");
  CHECK_STR_EQ(fx_env_value(spec, "HOME"), "/root");
  CHECK(fx_env_value(spec, "NOVALUE") == NULL && fx_env_value(spec, "TERM") == NULL);
  CHECK(!cJSON_IsTrue(fx_get(spec, "process.terminal")));

  /* No PATH anywhere: the default; a tty gets TERM; the request may set
   * HOSTNAME and HOME. */
  fx_case_set_image(&k, "{\"Cmd\": [\"/x\"]}");
  fx_set_envs(&k, 2, (Runtime__V1__KeyValue *[]){fx_kv("HOSTNAME", "mine"), fx_kv("HOME", "/h")});
  k.cfg->tty = true;
  spec = fx_build_ok(&k);
  CHECK_STR_EQ(fx_env_value(spec, "PATH"),
               "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  CHECK_STR_EQ(fx_env_value(spec, "TERM"), "xterm");
  CHECK_STR_EQ(fx_env_value(spec, "HOSTNAME"), "mine");
  CHECK_STR_EQ(fx_env_value(spec, "HOME"), "/h");
  CHECK(cJSON_IsTrue(fx_get(spec, "process.terminal")));

  fx_set_envs(&k, 2, (Runtime__V1__KeyValue *[]){fx_kv("OK", "1"), fx_kv("BAD=KEY", "x")});
  fx_build_fails(&k, EINVAL, "config.envs[1].key");
  fx_set_envs(&k, 1, (Runtime__V1__KeyValue *[]){fx_kv("", "x")});
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
  CHECK_STR_EQ(fx_env_value(spec, "HOME"), "/home/tester");
  fx_case_set_image(&k, "{\"Cmd\": [\"/x\"], \"User\": \"1000:audio\"}");
  check_user(fx_build_ok(&k), 1000, 29, "[10,1000]");
  /* run_as_user overrides the image; its passwd entry gives the group. */
  k.sc->run_as_user = fx_int64(1000);
  check_user(fx_build_ok(&k), 1000, 1000, "[10,29]");
  k.sc->run_as_user = fx_int64(0);
  check_user(fx_build_ok(&k), 0, 0, "none");
  k.sc->run_as_user = fx_int64(5555);
  check_user(fx_build_ok(&k), 5555, 0, "none");
  /* run_as_group with it; supplemental groups merged, once each. */
  k.sc->run_as_user = fx_int64(1000);
  k.sc->run_as_group = fx_int64(7);
  k.sc->supplemental_groups = fx_new(3 * sizeof(int64_t));
  k.sc->supplemental_groups[0] = 29;
  k.sc->supplemental_groups[1] = 2000;
  k.sc->supplemental_groups[2] = 3000;
  k.sc->n_supplemental_groups = 3;
  check_user(fx_build_ok(&k), 1000, 7, "[10,29,1000,2000,3000]");
  /* In ascending order, whatever the order asked (the kernel's order after
   * setgroups; gVisor keeps the spec's). */
  k.sc->supplemental_groups[0] = 3000;
  k.sc->supplemental_groups[1] = 5;
  k.sc->supplemental_groups[2] = 29;
  check_user(fx_build_ok(&k), 1000, 7, "[5,10,29,1000,3000]");
  /* Strict: only the requested groups. */
  k.sc->supplemental_groups_policy = RUNTIME__V1__SUPPLEMENTAL_GROUPS_POLICY__Strict;
  check_user(fx_build_ok(&k), 1000, 7, "[5,29,3000]");
  k.sc->supplemental_groups_policy = RUNTIME__V1__SUPPLEMENTAL_GROUPS_POLICY__Merge;
  k.sc->n_supplemental_groups = 0;
  /* By name. */
  k.sc->run_as_user = NULL;
  k.sc->run_as_username = fx_str("tester");
  check_user(fx_build_ok(&k), 1000, 7, "[10,29,1000]");
  k.sc->run_as_username = fx_str("nosuch");
  fx_build_fails(&k, EINVAL, "config.linux.security_context.run_as_username: user \"nosuch");
  k.sc->run_as_user = fx_int64(1);
  fx_build_fails(&k, EINVAL, "run_as_username: not together with run_as_user");
  k.sc->run_as_username = fx_str("");
  k.sc->run_as_user = NULL;
  fx_build_fails(&k, EINVAL, "run_as_group: needs run_as_user or run_as_username");
  k.sc->run_as_group = NULL;
  k.sc->run_as_user = fx_int64(-1);
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
  fx_privileged(&k);
  k.sc->seccomp = fx_profile(RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault, NULL);
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

/* ---- security profiles ----------------------------------------------------------- */
static void test_seccomp_choice(void) {
  struct fx_case k;
  fx_case_init(&k);
  /* Unset: unconfined, as the kubelet means it. */
  CHECK(fx_get(fx_build_ok(&k), "linux.seccomp") == NULL);
  k.sc->seccomp = fx_profile(RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault, NULL);
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

  k.sc->seccomp = fx_profile(RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined, NULL);
  CHECK(fx_get(fx_build_ok(&k), "linux.seccomp") == NULL);

  fx_write("profiles/deny-mkdir.json",
           "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"mkdir\", "
           "\"mkdirat\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 13}]}");
  k.sc->seccomp = fx_profile(RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost,
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
  k.sc->apparmor = fx_profile(RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost, "mine");
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
  fx_privileged(&k);
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
  fx_add_annotation(&k, true, "io.kubernetes.container.name", "stale");
  fx_add_annotation(&k, true, "app", "web");
  fx_add_annotation(&k, false, "io.kubernetes.container.hash", "abc");
  fx_add_annotation(&k, false, "app", "from-annotation");
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
  fx_add_mount(&k, "/mounted", fx_path("vol/m"));
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
  RUN_TEST(test_seccomp_choice);
  RUN_TEST(test_apparmor_and_selinux_where_the_host_has_them);
  RUN_TEST(test_annotations);
  RUN_TEST(test_bad_input);
  RUN_TEST(test_stop_signal);
  RUN_TEST(test_write_and_prepare_rootfs);
  RUN_TEST(test_host_detection);
  return 0;
}
