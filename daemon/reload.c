/* SIGHUP: the configuration read again from the same sources (files,
 * drop-ins, environment, the command line; for the settings below a file's
 * value wins, as CRI-O's reload reads only the files), and what can change
 * without a restart applied, as CRI-O's Config.Reload does:
 *
 *   log_level                    the log's level, at once
 *   default_runtime              the handler of pods created from now on
 *                                (it must name a configured handler)
 *   pause_image, pinned_images   the pinned set ImageStatus/ListImages report
 *   registries.conf              read again (its path may change too): pulls
 *                                and short-name lookups that start afterwards
 *   the CNI config dir           read again: pods created from now on join its
 *                                first network; running pods keep the one they
 *                                joined (its conflist is kept with the pod)
 *
 * Each change is logged ("SIGHUP: set config KEY to VALUE", CRI-O's words);
 * any other setting that changed is logged as needing a restart.  A file
 * that does not parse changes nothing ("SIGHUP: unable to reload
 * configuration: ..."); a value refused by its consumer (a pause image
 * that does not parse, a registries.conf with an error) keeps the old one
 * and says so.  "SIGHUP: configuration reload completed" ends a reload. */
#include <stdlib.h>
#include <string.h>

#include "cni/cni.h"
#include "daemon/daemon.h"
#include "daemon/internal.h"
#include "daemon/settings.h"
#include "httpd/httpd.h"
#include "images/images.h"

static bool runtime_known(const struct daemon_config *cfg, const char *name) {
  for (size_t i = 0; i < cfg->n_runtimes; i++)
    if (strcmp(cfg->runtimes[i].name, name) == 0)
      return true;
  return false;
}

static bool is_field(size_t i, size_t offset) {
  return daemon_settings[i].offset == (ptrdiff_t)offset;
}

#define FIELD(name) offsetof(struct daemon_config, name)

/* "table.key" or "--flag" for a setting, for the log. */
static char *setting_name(size_t i) {
  const struct daemon_setting *s = &daemon_settings[i];
  if (s->table)
    return xasprintf("%s.%s", s->table, s->key);
  return xasprintf("%s%s", s->key ? "" : "--", s->key ? s->key : s->flag);
}

/* A value on one line: lists as ["a", "b"]. */
static char *value_text(const struct daemon_config *cfg, size_t i) {
  if (daemon_settings[i].type != DS_STRINGS)
    return daemon_setting_format(cfg, i);
  char *const *v = *(char *const *const *)daemon_setting_slot_const(cfg, i);
  char *out = xstrdup("[");
  for (size_t k = 0; v && v[k]; k++) {
    cleanup_free char *q = daemon_toml_quote(v[k]);
    char *next = xasprintf("%s%s%s", out, k ? ", " : "", q);
    free(out);
    out = next;
  }
  char *done = xasprintf("%s]", out);
  free(out);
  return done;
}

static void apply_log_level(struct daemon_live *live, const struct daemon_config *next,
                            const char *value) {
  /* Logged at info whatever either level is, as CRI-O does: the operator
   * who lowers the level to warning still sees that it happened. */
  crio_log_set_level(CRIO_LOG_INFO);
  log_info("SIGHUP: set config log_level to %s", value);
  crio_log_set_level(next->log_level);
  (void)live;
}

static bool apply_default_runtime(struct daemon_live *live, const struct daemon_config *next,
                                  const char *value) {
  if (!runtime_known(live->cfg, next->default_runtime)) {
    log_warning("SIGHUP: default_runtime %s names no configured handler; kept \"%s\"", value,
                live->cri_config->default_runtime);
    return false;
  }
  /* Handlers may be reading the old name: it stays allocated (in the
   * live config's history) until the daemon exits. */
  live->old_names = xrealloc(live->old_names, (live->n_old_names + 1) * sizeof(char *));
  live->old_names[live->n_old_names++] = xstrdup(next->default_runtime);
  __atomic_store_n(&live->cri_config->default_runtime, live->old_names[live->n_old_names - 1],
                   __ATOMIC_RELEASE);
  httpd_metrics_set_default_runtime(live->metrics, next->default_runtime);
  log_info("SIGHUP: set config default_runtime to %s (pods created from now on)", value);
  return true;
}

static bool apply_pins(struct daemon_live *live, const struct daemon_config *next) {
  cleanup_error crio_error_t err = NULL;
  if (img_service_set_pinned(live->images, next->pause_image,
                             (const char *const *)next->pinned_images, &err) < 0) {
    log_error("SIGHUP: pinned images not changed: %s", crio_error_message(&err));
    return false;
  }
  return true;
}

/* registries.conf is read again on every SIGHUP, changed or not (CRI-O
 * does the same); what changed is logged by comparing the text. */
static void reload_registries(struct daemon_live *live, const struct daemon_config *next) {
  const char *path = next->registries_conf;
  cleanup_free char *text = NULL;
  size_t len = 0;
  cleanup_error crio_error_t read_err = NULL;
  if (path == NULL || crio_read_file(path, &text, &len, &read_err) < 0)
    text = xstrdup("");
  bool same_path = (live->registries_path == NULL) == (path == NULL) &&
                   (path == NULL || strcmp(live->registries_path, path) == 0);
  bool same_text = live->registries_text && strcmp(live->registries_text, text) == 0;
  cleanup_error crio_error_t err = NULL;
  if (img_service_reload_registries(live->images, path, &err) < 0) {
    log_error("SIGHUP: registries configuration %s not reloaded; the previous one stays: %s",
              path ? path : "(none)", crio_error_message(&err));
    return;
  }
  if (same_path && same_text) {
    log_debug("SIGHUP: registries configuration %s unchanged", path ? path : "(none)");
  } else {
    log_info("SIGHUP: applied new registries configuration from %s%s", path ? path : "(none)",
             text[0] ? "" : " (absent: empty)");
  }
  free(live->registries_path);
  live->registries_path = path ? xstrdup(path) : NULL;
  free(live->registries_text);
  live->registries_text = steal_pointer(&text);
}

void daemon_live_note_registries(struct daemon_live *live) {
  const char *path = live->cfg->registries_conf;
  cleanup_error crio_error_t err = NULL;
  size_t len = 0;
  live->registries_path = path ? xstrdup(path) : NULL;
  if (path == NULL || crio_read_file(path, &live->registries_text, &len, &err) < 0)
    live->registries_text = xstrdup("");
}

/* The network pods created from now on join: the CNI config dir's first
 * valid config (reconciler/pod_steps_network.c reads it at each pod's
 * ADD).  Noted at start and on SIGHUP, to log what changed. */
void daemon_live_note_network(struct daemon_live *live, bool log_changes) {
  const struct daemon_config *cfg = live->cfg;
  struct cni_network net;
  cleanup_error crio_error_t err = NULL;
  cleanup_free char *desc = NULL;
  if (cni_network_load(cfg->cni_config_dir, (const char *const *)cfg->cni_plugin_dirs, &net, &err) <
      0) {
    desc = xasprintf("none (%s)", crio_error_message(&err));
  } else {
    desc = xasprintf("\"%s\" from %s", net.name, net.path);
    /* The text too: a changed file under the same name is a change. */
    cleanup_free char *key = xasprintf("%s\n%s", desc, net.conflist);
    cni_network_release(&net);
    if (log_changes && live->network_key && strcmp(live->network_key, key) != 0)
      log_info("SIGHUP: CNI network for new pods is now %s; running pods keep theirs", desc);
    else if (log_changes)
      log_debug("SIGHUP: CNI network unchanged: %s", desc);
    free(live->network_key);
    live->network_key = steal_pointer(&key);
    return;
  }
  if (log_changes && live->network_key)
    log_warning("SIGHUP: no CNI network for new pods now: %s", desc);
  free(live->network_key);
  live->network_key = NULL;
}

/* CRI-O's reload reads the files alone (defaults, crio.conf, drop-ins:
 * pkg/config Reload), so for what a reload applies an edited file wins over
 * the flag or variable the daemon was started with: crio started with
 * --log-level debug and a crio.conf now saying "warn" runs at warning
 * after a SIGHUP, as CRI-O does.  A setting no file sets keeps its flag or
 * variable (CRI-O would put it back to its default). */
static bool reload_from_files(size_t i) {
  return is_field(i, FIELD(log_level)) || is_field(i, FIELD(default_runtime)) ||
         is_field(i, FIELD(pause_image)) || is_field(i, FIELD(pinned_images));
}

static void prefer_files(const struct daemon_config *cfg, struct daemon_config *next) {
  struct daemon_config files;
  struct daemon_invocation inv;
  cleanup_error crio_error_t err = NULL;
  int rc = daemon_config_load_sources(cfg->argc, cfg->argv, &files, &inv, DAEMON_LOAD_FILES, &err);
  daemon_invocation_release(&inv);
  if (rc < 0) {
    log_debug("SIGHUP: files alone do not load (%s); flags and variables keep precedence",
              crio_error_message(&err));
  } else {
    for (size_t i = 0; i < daemon_n_settings; i++)
      if (reload_from_files(i) && files.origins[i])
        daemon_setting_copy(next, &files, i);
  }
  daemon_config_release(&files);
}

void daemon_reload(struct daemon_live *live) {
  struct daemon_config next;
  struct daemon_invocation inv;
  cleanup_error crio_error_t err = NULL;
  log_info("SIGHUP: reloading configuration");
  int rc = daemon_config_load_sources(live->cfg->argc, live->cfg->argv, &next, &inv,
                                      DAEMON_LOAD_RELOAD, &err);
  daemon_invocation_release(&inv);
  if (rc < 0) {
    log_error("SIGHUP: unable to reload configuration: %s", crio_error_message(&err));
    daemon_config_release(&next);
    return;
  }
  prefer_files(live->cfg, &next);
  bool pins_changed = false;
  unsigned restart = 0;
  for (size_t i = 0; i < daemon_n_settings; i++) {
    const struct daemon_setting *s = &daemon_settings[i];
    if (daemon_setting_equal(&next, &live->current, i))
      continue;
    cleanup_free char *value = value_text(&next, i);
    cleanup_free char *name = setting_name(i);
    if (is_field(i, FIELD(log_level))) {
      apply_log_level(live, &next, value);
    } else if (is_field(i, FIELD(default_runtime))) {
      if (!apply_default_runtime(live, &next, value))
        continue;
    } else if (is_field(i, FIELD(pause_image)) || is_field(i, FIELD(pinned_images))) {
      pins_changed = true;
      continue; /* copied below, once the image service took them */
    } else if (is_field(i, FIELD(registries_conf))) {
      /* reload_registries below reads the new path. */
    } else if (s->offset == DS_NO_FIELD) {
      log_info("SIGHUP: set config %s to %s (accepted; no effect here)", name, value);
    } else {
      restart++;
      log_warning("SIGHUP: %s changed to %s; restart crio to apply it", name, value);
    }
    daemon_setting_copy(&live->current, &next, i);
  }
  if (pins_changed && apply_pins(live, &next)) {
    for (size_t i = 0; i < daemon_n_settings; i++) {
      if (!is_field(i, FIELD(pause_image)) && !is_field(i, FIELD(pinned_images)))
        continue;
      if (daemon_setting_equal(&next, &live->current, i))
        continue;
      cleanup_free char *value = value_text(&next, i);
      log_info("SIGHUP: set config %s to %s", daemon_settings[i].key, value);
      daemon_setting_copy(&live->current, &next, i);
    }
  }
  reload_registries(live, &next);
  daemon_live_note_network(live, true);
  daemon_config_release(&next);
  log_info("SIGHUP: configuration reload completed%s",
           restart ? "; some changes need a restart (above)" : "");
}
