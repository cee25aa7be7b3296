/* Internal to daemon/. */
#ifndef CRIO_DAEMON_INTERNAL_H
#define CRIO_DAEMON_INTERNAL_H

#include "daemon/daemon.h"
#include "store/store.h"

char *daemon_find_in_path(const char *name);
/* config.c: the configuration as a value. */
void daemon_config_defaults(struct daemon_config *cfg);
/* The handler named name, added (all fields unset) when absent. */
struct daemon_runtime *daemon_config_runtime(struct daemon_config *cfg, const char *name);
/* config_runtimes.c: the handler keys that reach the runtime and conmon
 * (monitor_env, allowed_annotations, platform_runtime_paths, and our
 * runtime_args).  1 if `key` is one of them (read into r), 0 if not. */
struct toml_value;
int daemon_runtime_read_key(struct daemon_runtime *r, const char *key, const struct toml_value *v,
                            crio_error_t *err);
void daemon_runtime_release_keys(struct daemon_runtime *r);
void daemon_config_clear_runtimes(struct daemon_config *cfg);
/* Fills what the sources left open (paths found on PATH, paths below
 * root and runroot) and checks the whole; with warn, warns once about
 * each setting whose feature we lack that is set away from its default. */
int daemon_config_finish(struct daemon_config *cfg, bool warn, crio_error_t *err);
/* cli.c: daemon_config_load from some of the sources: ALL (defaults,
 * files, environment, flags; warns about settings whose feature we lack),
 * RELOAD (the same without the warnings, which a SIGHUP does not repeat),
 * FILES (defaults and files only: what CRI-O's reload reads). */
enum daemon_load_mode { DAEMON_LOAD_ALL, DAEMON_LOAD_RELOAD, DAEMON_LOAD_FILES };
int daemon_config_load_sources(int argc, char **argv, struct daemon_config *cfg,
                               struct daemon_invocation *inv, enum daemon_load_mode mode,
                               crio_error_t *err);
/* config_file.c: crio.conf (TOML, CRI-O's table and key names), and the
 * files of a drop-in dir in lexical order (a missing dir is empty). */
int daemon_config_read_file(struct daemon_config *cfg, const char *path, crio_error_t *err);
int daemon_config_read_dir(struct daemon_config *cfg, const char *dir, crio_error_t *err);

/* wipe.c: CRI-O's version files.  Written at start (CRI-O's format);
 * stale (a wipe is due): see wipe.c. */
void daemon_version_files_write(const struct daemon_config *cfg);
bool daemon_version_file_stale(const char *path, char **why);

/* signals.c: the main thread while the daemon serves. */
struct img_service;
struct httpd_metrics;
struct daemon_live {
  const struct daemon_config *cfg; /* as started */
  struct daemon_config current;    /* as last (re)loaded */
  bool journal;                    /* logging to journald */
  struct cri_config *cri_config;   /* default_runtime changes on SIGHUP */
  struct store *store;
  struct img_service *images;    /* pinned set and registries.conf change on SIGHUP */
  struct httpd_metrics *metrics; /* crio_default_runtime follows SIGHUP; may be NULL */
  char **old_names;              /* default runtimes handlers may still read */
  size_t n_old_names;
  /* reload.c: what was last read, to log what a SIGHUP changed. */
  char *registries_path, *registries_text;
  char *network_key; /* the CNI network new pods join; NULL: none */
};
/* Returns the signal that asks to stop (SIGTERM, SIGINT). */
int daemon_serve_signals(struct daemon_live *live);
void daemon_live_release(struct daemon_live *live);
/* reload.c: SIGHUP. */
void daemon_reload(struct daemon_live *live);
/* At start: what the first SIGHUP compares with. */
void daemon_live_note_registries(struct daemon_live *live);
void daemon_live_note_network(struct daemon_live *live, bool log_changes);

#endif
