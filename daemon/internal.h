/* Internal to daemon/. */
#ifndef CRIO_DAEMON_INTERNAL_H
#define CRIO_DAEMON_INTERNAL_H

#include "daemon/daemon.h"

char *daemon_find_in_path(const char *name);
void daemon_config_add_runtime(struct daemon_config *cfg, const char *name, const char *path,
                               const char *root);
/* config_file.c: crio.conf (TOML, CRI-O's table and key names). */
int daemon_config_read_file(struct daemon_config *cfg, const char *path, crio_error_t *err);
/* config.c: "a,b" appended to a NULL-terminated list (blanks trimmed). */
void daemon_strv_append_csv(char ***v, const char *csv);
/* "90s", "1m30s", "500ms" or plain seconds -> whole seconds; -1 if not. */
int daemon_parse_duration_s(const char *text, long *out);

#endif
