/* `crio version [-j]`: CRI-O's fields, in its text layout (name, colon,
 * value aligned by tabwriter) and its JSON keys, so scripts written for
 * CRI-O read ours.  GoVersion keeps its name for them and tells the C
 * toolchain instead; there is no Go in this daemon. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/utsname.h>

#include <cjson/cJSON.h>
#include <linux/seccomp.h>

#include "daemon/daemon.h"

#ifndef CRIO_GIT_COMMIT
#define CRIO_GIT_COMMIT "unknown"
#endif
#ifndef CRIO_GIT_COMMIT_DATE
#define CRIO_GIT_COMMIT_DATE ""
#endif
#ifndef CRIO_GIT_TREE_STATE
#define CRIO_GIT_TREE_STATE "unknown"
#endif
#ifndef CRIO_BUILD_DATE
#define CRIO_BUILD_DATE ""
#endif

/* As libseccomp's and CRI-O's check: the kernel has seccomp filters when
 * setting a NULL filter fails with EFAULT rather than EINVAL. */
static bool seccomp_enabled(void) {
  if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0)
    return false;
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, NULL, 0, 0) < 0 && errno == EFAULT;
}

static bool apparmor_enabled(void) {
  FILE *f = fopen("/sys/module/apparmor/parameters/enabled", "re");
  if (f == NULL)
    return false;
  int c = fgetc(f);
  fclose(f);
  return c == 'Y';
}

static char *machine_arch(void) {
  struct utsname u;
  if (uname(&u) < 0)
    return xstrdup("unknown");
  /* Go's names, as CRI-O prints them. */
  const char *m = u.machine;
  if (strcmp(m, "x86_64") == 0)
    m = "amd64";
  else if (strcmp(m, "aarch64") == 0)
    m = "arm64";
  return xstrdup(m);
}

static const char *compiler_version(void) {
#if defined(__clang__)
  return "clang " __clang_version__;
#elif defined(__GNUC__)
  return "gcc " __VERSION__;
#else
  return "cc";
#endif
}

void daemon_version_print(bool json, FILE *out) {
  cleanup_free char *arch = machine_arch();
  cleanup_free char *platform = xasprintf("linux/%s", arch);
  cleanup_free char *toolchain = xasprintf("none (C11, %s)", compiler_version());
  const char *compiler =
#if defined(__clang__)
      "clang";
#else
      "gcc";
#endif
  static const char *const tags[] = {"seccomp", "systemd", "lmdb", NULL};
  struct {
    const char *name, *json, *value;
  } fields[] = {
      {"Version", "version", CRIO_VERSION},
      {"GitCommit", "gitCommit", CRIO_GIT_COMMIT},
      {"GitCommitDate", "gitCommitDate", CRIO_GIT_COMMIT_DATE},
      {"GitTreeState", "gitTreeState", CRIO_GIT_TREE_STATE},
      {"BuildDate", "buildDate", CRIO_BUILD_DATE},
      {"GoVersion", "goVersion", toolchain},
      {"Compiler", "compiler", compiler},
      {"Platform", "platform", platform},
      {"Linkmode", "linkmode", "dynamic"},
  };
  bool seccomp = seccomp_enabled(), apparmor = apparmor_enabled();
  size_t n = sizeof(fields) / sizeof(fields[0]);
  if (json) {
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; i < n; i++)
      if (fields[i].value[0])
        cJSON_AddStringToObject(o, fields[i].json, fields[i].value);
    cJSON *t = cJSON_AddArrayToObject(o, "buildTags");
    for (size_t i = 0; tags[i]; i++)
      cJSON_AddItemToArray(t, cJSON_CreateString(tags[i]));
    cJSON_AddBoolToObject(o, "seccompEnabled", seccomp);
    cJSON_AddBoolToObject(o, "appArmorEnabled", apparmor);
    cleanup_free char *text = cJSON_Print(o);
    cJSON_Delete(o);
    fprintf(out, "%s\n", text);
    return;
  }
  /* tabwriter with padding 2: values start two columns after the longest
   * name and its colon ("AppArmorEnabled:" is the longest). */
  const int width = (int)strlen("AppArmorEnabled:") + 2;
  for (size_t i = 0; i < n; i++) {
    if (fields[i].value[0] == '\0')
      continue;
    cleanup_free char *label = xasprintf("%s:", fields[i].name);
    fprintf(out, "%-*s%s\n", width, label, fields[i].value);
  }
  fputs("BuildTags:", out);
  for (size_t i = 0; tags[i]; i++)
    fprintf(out, "\n  %s", tags[i]);
  fputc('\n', out);
  fprintf(out, "%-*s%s\n", width, "SeccompEnabled:", seccomp ? "true" : "false");
  fprintf(out, "%-*s%s\n", width, "AppArmorEnabled:", apparmor ? "true" : "false");
}
