/* recovery/: what happens between opening the database and serving the
 * socket — reboot detection and driving every unfinished record on — and,
 * later, wipe by log replay.  This header is the folder's interface. */
#ifndef CRIO_RECOVERY_H
#define CRIO_RECOVERY_H

#include <stdbool.h>
#include <stdint.h>

#include "common/common.h"

struct store;
struct reconciler;

struct recovery_options {
  const char *boot_id_path; /* /proc/sys/kernel/random/boot_id; tests override */
};

struct recovery_report {
  bool first_start;   /* no boot id was stored: a new database */
  bool rebooted;      /* the stored boot id differs from this boot's */
  uint64_t pods, containers, images; /* records found */
  int64_t elapsed_ns;
};

/* Runs before the socket is served.  Records the current boot id (and a
 * log note when it changed), then hands every record whose state differs
 * from its goal to the reconciler. */
int recovery_run(struct store *store, struct reconciler *reconciler,
                 const struct recovery_options *options,
                 struct recovery_report *report, crio_error_t *err);

#endif
