/* `crio wipe`: CRI-O's version-file check deciding what to wipe, then
 * recovery_wipe (the state log's replay) with the daemon's configuration.
 *
 * As CRI-O's cmd wipe does (internal/criocli/wipe.go): the version file
 * (version_file, in a tmpfs: gone after a reboot) missing, unreadable,
 * malformed or of another major.minor version means the node rebooted or
 * crio was upgraded: containers and pods are wiped.  The persistent one
 * (version_file_persist, when set) likewise means an upgrade: images are
 * wiped too — but only together with containers, as in CRI-O; so are
 * they when containers are wiped after a stop that was not clean (the
 * clean shutdown file missing where "<file>.supported" says the daemon
 * writes it).  Neither: nothing to do.  --force skips the check and wipes
 * both. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "daemon/internal.h"
#include "recovery/recovery.h"

/* major.minor of a version as CRI-O writes it (a JSON string holding a
 * semver, "1.37.0+<commit>") or as plain text; -1 when it is neither. */
static int parse_major_minor(const char *text, long *major, long *minor) {
  while (isspace((unsigned char)*text))
    text++;
  if (*text == '"')
    text++;
  if (*text == 'v')
    text++;
  char *end = NULL;
  errno = 0;
  *major = strtol(text, &end, 10);
  if (errno || end == text || *end != '.')
    return -1;
  const char *m = end + 1;
  *minor = strtol(m, &end, 10);
  if (errno || end == m || (*end != '.' && *end != '"' && *end != '\0' && !isspace(*end)))
    return -1;
  return 0;
}

/* Whether the version file asks for a wipe (CRI-O's ShouldCrioWipe): no
 * file configured: no; missing, unreadable or malformed: yes (*why says
 * which); another major.minor than ours: yes. */
bool daemon_version_file_stale(const char *path, char **why) {
  *why = NULL;
  if (path == NULL || path[0] == '\0')
    return false;
  cleanup_free char *text = NULL;
  size_t len = 0;
  cleanup_error crio_error_t err = NULL;
  if (crio_read_file(path, &text, &len, &err) < 0) {
    *why = xasprintf("%s", crio_error_message(&err));
    return true;
  }
  long major = 0, minor = 0, our_major = 0, our_minor = 0;
  if (parse_major_minor(text, &major, &minor) < 0) {
    *why = xasprintf("version file %s malformatted", path);
    return true;
  }
  if (parse_major_minor(CRIO_VERSION, &our_major, &our_minor) < 0)
    return true;
  if (major != our_major || minor != our_minor) {
    *why = xasprintf("version file %s says %ld.%ld, this is %ld.%ld", path, major, minor, our_major,
                     our_minor);
    return true;
  }
  return false;
}

void daemon_version_files_write(const struct daemon_config *cfg) {
  /* CRI-O's format: the version as a JSON string. */
  cleanup_free char *text = xasprintf("\"%s\"", CRIO_VERSION);
  const char *const paths[] = {cfg->version_file, cfg->version_file_persist};
  for (size_t i = 0; i < 2; i++) {
    if (paths[i] == NULL || paths[i][0] == '\0')
      continue;
    cleanup_error crio_error_t err = NULL;
    cleanup_free char *dir = xstrdup(paths[i]);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir)
      *slash = '\0';
    if (crio_mkdir_p(dir, 0755, &err) < 0 ||
        crio_write_file_atomic(paths[i], text, strlen(text), 0644, &err) < 0)
      crio_error_warn(&err, "version file");
  }
}

/* CRI-O's shutdownWasUnclean: a clean shutdown file is configured, the
 * daemon that ran wrote "<file>.supported" (so it was one that writes the
 * file at a clean stop), and the file is missing. */
static bool shutdown_was_unclean(const struct daemon_config *cfg) {
  if (cfg->clean_shutdown_file == NULL || cfg->clean_shutdown_file[0] == '\0')
    return false;
  cleanup_free char *supported = xasprintf("%s.supported", cfg->clean_shutdown_file);
  return access(supported, F_OK) == 0 && access(cfg->clean_shutdown_file, F_OK) != 0;
}

int daemon_wipe(const struct daemon_config *cfg, crio_error_t *err) {
  bool containers = true, images = true;
  /* --from-host is for a database that is lost or damaged: the operator
   * asked for it, whatever the version files say. */
  if (!cfg->wipe_force && !cfg->wipe_from_host) {
    cleanup_free char *why_containers = NULL, *why_images = NULL;
    containers = daemon_version_file_stale(cfg->version_file, &why_containers);
    images = daemon_version_file_stale(cfg->version_file_persist, &why_images);
    if (!containers) {
      if (images)
        printf("# %s; but the node did not reboot and crio was not upgraded (%s): images are "
               "wiped only with containers\n",
               why_images ? why_images : "persistent version file stale", cfg->version_file);
      printf("# version unchanged and node not rebooted (%s): no wipe needed; --force wipes "
             "anyway\n",
             cfg->version_file);
      return 0;
    }
    printf("# wiping containers and pods: %s\n",
           why_containers ? why_containers : "version file stale");
    /* As CRI-O: a reboot after a crio that did not stop cleanly may have
     * left the image store half written, so images go too. */
    if (!images && shutdown_was_unclean(cfg)) {
      images = true;
      printf("# wiping images too: %s not found, the last stop was not clean\n",
             cfg->clean_shutdown_file);
    } else if (images)
      printf("# wiping images too: %s\n", why_images ? why_images : "version changed");
  } else if (cfg->wipe_force) {
    printf("# --force: wiping containers, pods and images\n");
  }
  fflush(stdout);
  struct recovery_wipe_options options = {
      .env =
          {
              .root = cfg->root,
              .runroot = cfg->runroot,
              .cni_plugin_dirs = (const char *const *)cfg->cni_plugin_dirs,
              .cgroup_manager = cfg->cgroup_manager,
          },
      .dry_run = cfg->wipe_dry_run,
      .from_host = cfg->wipe_from_host,
      .images = images && !cfg->wipe_from_host,
      .default_cgroup_parent = cfg->default_cgroup_parent,
  };
  struct recovery_wipe_report report;
  return recovery_wipe(&options, &report, err);
}
