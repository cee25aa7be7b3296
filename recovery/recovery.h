/* recovery/: what happens between opening the database and serving the
 * socket — reboot detection, driving every unfinished record on, keeping
 * the state log bounded — and what an operator runs when the daemon is
 * stopped: `crio wipe` (releasing, from the state log alone, everything
 * the log says was acquired and never released), its `--from-host`
 * variant for a database that is lost, and the check that a database
 * file is whole before LMDB maps it.  This header is the folder's
 * interface. */
#ifndef CRIO_RECOVERY_H
#define CRIO_RECOVERY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/common.h"
#include "store/store.h"

struct reconciler;

/* ==== start-up ============================================================== */

/* Start-up compaction happens when the log holds more entries than this. */
#define RECOVERY_DEFAULT_COMPACT_THRESHOLD 100000u

/* How long start-up waits, after a reboot, for the containers' exits to
 * be recorded and then for the pods to be STOPPED (each wait). */
#define RECOVERY_DEFAULT_REBOOT_SETTLE_NS (30 * 1000000000LL)

struct recovery_options {
  const char *boot_id_path; /* /proc/sys/kernel/random/boot_id; tests override */
  /* Compact the state log at start when it holds more entries than this;
   * 0 means RECOVERY_DEFAULT_COMPACT_THRESHOLD. */
  uint64_t compact_threshold;
  /* The daemon's --root and --runroot: after a reboot, leftovers named by
   * an object id that no record owns are removed from them.  NULL: no
   * sweep. */
  const char *root;
  const char *runroot;
  /* 0: RECOVERY_DEFAULT_REBOOT_SETTLE_NS. */
  int64_t reboot_settle_ns;
};

/* What the handling of a node reboot did (recovery/reboot.c). */
struct recovery_reboot_report {
  uint64_t containers_exited;     /* CREATED/RUNNING, recorded EXITED (NodeRestarted) */
  uint64_t containers_not_exited; /* of those, not recorded in time (adoption retries) */
  uint64_t creations_rolled_back; /* PENDING/ROOTFS_MOUNTED containers, goal REMOVED */
  uint64_t pods_stopping;         /* pods asked to be READY, goal now STOPPED */
  uint64_t pods_stopped;          /* of those, STOPPED before the socket was served */
  uint64_t leftovers_removed;     /* id-named dirs and files no record owns */
  int64_t elapsed_ns;
};

struct recovery_report {
  bool first_start;                     /* no boot id was stored: a new database */
  bool rebooted;                        /* the stored boot id differs from this boot's */
  uint64_t pods, containers, images;    /* records found (before the reboot handling) */
  uint64_t log_entries;                 /* before compaction */
  uint64_t log_dropped;                 /* by start-up compaction */
  struct recovery_reboot_report reboot; /* when rebooted */
  int64_t elapsed_ns;
};

/* Runs before the socket is served, with the reconciler started.  Reads
 * the boot id (recording it, with a NOTE, on the first start), compacts
 * the log when it outgrew the threshold, handles a node reboot (below),
 * then hands every record whose state differs from its goal to the
 * reconciler; after a reboot it waits (RECOVERY_DEFAULT_REBOOT_SETTLE_NS
 * at most) for the pods it stops to be STOPPED. */
int recovery_run(struct store *store, struct reconciler *reconciler,
                 const struct recovery_options *options, struct recovery_report *report,
                 crio_error_t *err);

/* Compacts the whole log (store_log_compact with everything eligible)
 * when it holds more than `threshold` entries; *dropped may be NULL. */
int recovery_compact_log(struct store *store, uint64_t threshold, uint64_t *entries,
                         uint64_t *dropped, crio_error_t *err);

/* ==== the state log while the daemon runs (compactor.c) ========================
 * Retention: the log keeps every entry of an object that still has a record
 * or still holds a resource (what recovery and wipe replay), and the newest
 * `keep` entries whatever they are (what an event stream or an operator's
 * `crio-db-inspect history` reads of objects that just went).  Older
 * entries of objects that are deleted and released everything, and older
 * daemon NOTEs, are dropped: a thread compacts each time `every` entries
 * were appended since its last pass, so on a node that churns pods the log
 * stays between about `keep` and `keep + every` entries plus the histories
 * of live objects. */
#define RECOVERY_DEFAULT_LOG_KEEP 4096u
#define RECOVERY_DEFAULT_COMPACT_EVERY 4096u
struct recovery_compactor_options {
  uint64_t keep;  /* 0: RECOVERY_DEFAULT_LOG_KEEP */
  uint64_t every; /* 0: RECOVERY_DEFAULT_COMPACT_EVERY */
};
struct recovery_compactor;
/* Starts the thread (after recovery_run: start-up compaction has run). */
int recovery_compactor_start(struct store *store, const struct recovery_compactor_options *options,
                             struct recovery_compactor **out, crio_error_t *err);
/* Stops and frees it (NULL is fine); at most a pass in progress is waited
 * for.  Before the store is closed. */
void recovery_compactor_stop(struct recovery_compactor *compactor);
void recovery_compactor_stopp(struct recovery_compactor **compactor);
/* Passes made and entries dropped so far (logs and tests). */
void recovery_compactor_totals(const struct recovery_compactor *compactor, uint64_t *passes,
                               uint64_t *dropped);

/* ==== node reboot (reboot.c) ==================================================== */

/* After a reboot (the stored boot id differs from `new_boot_id`), before
 * the reconciler is handed the records: a NOTE; leftovers that no record
 * owns removed from options->root and ->runroot; every CREATED or RUNNING
 * container recorded EXITED through its event transition
 * (container.exit_before_start, container.exit; reason NodeRestarted, the
 * exit code conmon persisted or -1 with exit_code_lost), waited for; then
 * in one write txn: goal REMOVED for containers whose creation the reboot
 * cut short, goal STOPPED for every pod whose goal was READY, the new boot
 * id, and a NOTE summing it up.  Until that commit the stored boot id is
 * the old one, so a crash meanwhile makes the next start do it again. */
struct recovery_reboot;
int recovery_reboot_begin(struct store *store, struct reconciler *reconciler,
                          const struct recovery_options *options, const char *old_boot_id,
                          const char *new_boot_id, struct recovery_reboot **out, crio_error_t *err);
/* After reconciler_enqueue_all: waits until the pods recovery_reboot_begin
 * stopped are STOPPED (or the settle time passed: warnings; the
 * reconciler carries on). */
void recovery_reboot_settle(struct store *store, const struct recovery_options *options,
                            struct recovery_reboot *rb);
const struct recovery_reboot_report *recovery_reboot_report_of(const struct recovery_reboot *rb);
void recovery_reboot_free(struct recovery_reboot *rb);
void recovery_reboot_freep(struct recovery_reboot **rb);

/* ==== a damaged database ====================================================== */

/* The daemon's exit status when its database is damaged, so a service
 * manager can be told not to restart it (RestartPreventExitStatus=3). */
#define RECOVERY_EXIT_DB_DAMAGED 3
#define RECOVERY_DAMAGED_DOC "docs/operations.md#damaged-database"

/* Checks <db_dir>/data.mdb without LMDB and without mapping it: both meta
 * pages, and every page reachable from the newer one (the free-page tree,
 * the main tree and each named database's tree) lies inside the file, is
 * the kind of page its parent says, and keeps its nodes inside itself.
 * LMDB trusts all of that: a truncated file makes it fault with SIGBUS,
 * a bad page number can make it read anywhere.  A missing data.mdb is
 * fine (a new database).  EUCLEAN with what is wrong when the file is
 * damaged; other statuses when it cannot be read.  Only meaningful while
 * no process writes the database. */
int recovery_db_check(const char *db_dir, crio_error_t *err);

/* The one-line message for a damaged database (malloc'd):
 * "database <dir> is damaged: <why>; see docs/operations.md#damaged-database". */
char *recovery_db_damaged_message(const char *db_dir, const char *why);

/* From here on, a SIGBUS whose faulting address lies in a mapping of
 * <db_dir>/data.mdb (a file that shrank under LMDB) prints the damaged
 * database message to stderr and exits with RECOVERY_EXIT_DB_DAMAGED
 * instead of dumping core; any other SIGBUS keeps its default action. */
void recovery_db_fault_guard(const char *db_dir);

/* ==== resources ================================================================ */

/* What releasing a resource may need to know about the daemon that
 * acquired it: the same directories and plugin dirs it ran with. */
struct recovery_env {
  const char *root;                   /* --root: database, layers */
  const char *runroot;                /* --runroot: pins, pod dirs */
  const char *const *cni_plugin_dirs; /* NULL-terminated */
  const char *cgroup_manager;         /* "cgroupfs" or "systemd" */
};

/* How one resource type (the `type` of a logged Resource) is looked for on
 * the host and released.  `owner` is the id of the object that acquired
 * it (a CNI DEL needs the pod id).  Adding a type is one entry in the
 * table of resources.c, with its two functions. */
struct recovery_resource_type {
  const char *type;
  /* 1: still on the host, 0: gone, -1: could not tell (err set). */
  int (*exists)(const struct recovery_env *env, const char *owner, const store_resource *res,
                crio_error_t *err);
  /* Releases it; safe to repeat: 0 when released or already gone.
   * Refuses (EPERM) what looks like someone else's: a dir outside the
   * daemon's run and state dirs, a path that is not a pinned namespace. */
  int (*release)(const struct recovery_env *env, const char *owner, const store_resource *res,
                 crio_error_t *err);
};

/* The built-in table, and a lookup in it (NULL: a type this build does
 * not know, which wipe reports and leaves in the log). */
const struct recovery_resource_type *recovery_resource_types(size_t *n);
const struct recovery_resource_type *recovery_resource_type_find(const char *type);
/* A lookup in any table (tests bring their own). */
const struct recovery_resource_type *
recovery_resource_type_in(const struct recovery_resource_type *types, size_t n, const char *type);

/* The directories of cgroup `path` ("/a/b") that exist, one per hierarchy
 * (v1 controllers, the unified one), NULL-terminated (cleanup_strv). */
char **recovery_cgroup_dirs(const char *path);

/* ==== the ledger: what the log says is held ====================================== */

struct recovery_held {
  store_resource *res; /* owned copy, with the newest detail logged */
  uint64_t seq;        /* the entry that acquired it */
};

/* One object as its log entries tell it. */
struct recovery_object {
  uint32_t kind;
  char *id;
  char *parent_id; /* a container's pod; "" otherwise */
  uint64_t first_seq, last_seq;
  int last_type;              /* LogEntry type of the newest entry */
  uint32_t state;             /* to_state of the newest CREATE/TRANSITION (0 after DELETE) */
  uint64_t state_seq;         /* that entry's seq; 0 if there is none */
  bool deleted;               /* the newest CREATE/TRANSITION/DELETE is a DELETE */
  struct recovery_held *held; /* acquired and never released, in acquisition order */
  size_t n_held;
};

struct recovery_ledger {
  struct recovery_object *objects; /* in order of first appearance */
  size_t n_objects, cap_objects;
  size_t *buckets; /* id hash -> index + 1 */
  size_t n_buckets;
  uint64_t n_entries;
  uint64_t first_seq, last_seq; /* of the entries added */
  int64_t first_time;           /* of the oldest entry */
};

void recovery_ledger_init(struct recovery_ledger *ledger);
void recovery_ledger_release(struct recovery_ledger *ledger);
/* Adds one entry; entries must come in increasing seq order.  Each entry
 * releases first, then acquires, matching by type+id.  NOTEs (no object)
 * are only counted. */
void recovery_ledger_add(struct recovery_ledger *ledger, const store_log_entry *entry);
/* NULL if the log names no such object.  Valid until the next add. */
struct recovery_object *recovery_ledger_find(const struct recovery_ledger *ledger, const char *id);
size_t recovery_ledger_held_total(const struct recovery_ledger *ledger);
/* Adds every entry of the log (in the caller's txn). */
int recovery_ledger_load(struct store_txn *txn, struct recovery_ledger *ledger, crio_error_t *err);

/* ==== wipe ====================================================================== */

struct recovery_wipe_options {
  struct recovery_env env;
  bool dry_run;   /* print the plan, change nothing */
  bool from_host; /* no database: release what the run dir and cgroups show */
  bool images;    /* image records go too, with their layers (CRI-O's wipe
                     after an upgrade, and --force) */
  /* Extra cgroup parents --from-host searches for crio-<id> cgroups, besides
   * the default one; NULL-terminated, may be NULL. */
  const char *const *cgroup_parents;
  const char *default_cgroup_parent;
  FILE *out; /* the plan and what was done; NULL means stdout */
  /* The resource types to use; NULL means the built-in table. */
  const struct recovery_resource_type *types;
  size_t n_types;
};

struct recovery_wipe_report {
  size_t planned; /* resources to release */
  size_t released;
  size_t failed;  /* release failed: left in the log, for the next wipe */
  size_t unknown; /* of a type this build does not know: left in the log */
  size_t shared;  /* still held by an object wipe keeps (an image's layer) */
  size_t pods_deleted, containers_deleted, images_deleted;
  size_t records_kept; /* a release failed, so the record stays */
};

/* `crio wipe`: refuses while <root>/crio.lock is held (EBUSY, "crio is
 * running; stop it first"), holds it while it works.  Reads the whole
 * state log, and for every object releases, newest first, every resource
 * acquired and never released — containers before their pods, pods before
 * images — then, in one write txn per object, records the releases: a
 * live pod or container record is deleted with store_delete (transition
 * "wipe"; its name is freed), an object whose record was already deleted
 * gets a DELETE entry of its own (transition "wipe") listing what it
 * released.  Images keep their records and what they hold, unless
 * options->images: then image records are deleted last, their layers
 * released.  A NOTE sums
 * the wipe up.  A second wipe finds nothing.  With from_host, no database
 * is opened (see recovery_wipe_from_host). */
int recovery_wipe(const struct recovery_wipe_options *options, struct recovery_wipe_report *report,
                  crio_error_t *err);

/* For a database that is lost or damaged: releases what the host shows
 * under the run dir and in the cgroup tree, for every pod id found there —
 * the pause process named by <runroot>/pods/<id>/infra.pid (start time
 * checked), CNI DEL with the config stashed in the pod dir (so IPAM gives
 * the address back), the pins under <runroot>/<type>ns/<id>, cgroups named
 * crio-<id> under the default and the given parents, and the pod dir.
 * Touches nothing whose name does not carry a pod id found under the run
 * dir.  Called by recovery_wipe with from_host. */
int recovery_wipe_from_host(const struct recovery_wipe_options *options,
                            struct recovery_wipe_report *report, crio_error_t *err);

/* Takes <root>/crio.lock (flock, non-blocking) as the daemon does; EBUSY
 * "crio is running; stop it first" when it is held. */
int recovery_lock_state_dir(const char *root, int *fd_out, crio_error_t *err);

#endif
