/* Internal to recovery/: host helpers the resource types and wipe share. */
#ifndef CRIO_RECOVERY_INTERNAL_H
#define CRIO_RECOVERY_INTERNAL_H

#include <stdbool.h>

#include "recovery/recovery.h"

/* host.c */
/* True when `path` names something strictly below `dir` (both resolved:
 * symlinks and ".." cannot take a path out).  `path` itself need not
 * exist; its parent must.  False for `dir` itself. */
bool recovery_path_below(const char *path, const char *dir);
/* rm -rf that never follows a symlink and never crosses into another
 * filesystem (a mount point inside is EBUSY: whatever is mounted there is
 * someone's to unmount first).  Absent is success. */
int recovery_remove_tree(const char *path, crio_error_t *err);
/* The hierarchy roots under /sys/fs/cgroup (or /sys/fs/cgroup itself on a
 * unified host), NULL-terminated. */
char **recovery_cgroup_roots(void);
/* A file's text, NULL if it cannot be read (what is best effort reads
 * so: an absent file is nothing to do). */
char *recovery_read_text(const char *path);
/* Appends s (owned from now on) to the NULL-terminated *v of *n strings. */
void recovery_strv_push(char ***v, size_t *n, char *s);
/* "pid:start_time" -> 0, or -1 if malformed. */
int recovery_parse_process_id(const char *id, int *pid, uint64_t *start_time);
/* The mount point field of a /proc/self/mountinfo line ("id parent
 * major:minor root mountpoint ..."), cut off in place and still escaped
 * (octal \040 ...); NULL if the line has none. */
char *recovery_mountinfo_mount_point(char *line);

/* Releases the self bind mount of each <runroot>/<type>ns pin directory
 * that holds no pin any more (warnings only). */
void recovery_release_pin_dirs(const char *runroot);

/* Writes a plan or progress line to options->out (stdout if NULL). */
void recovery_wipe_say(const struct recovery_wipe_options *options, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
