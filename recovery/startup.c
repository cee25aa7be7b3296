#include <errno.h>
#include <string.h>

#include "reconciler/reconciler.h"
#include "recovery/recovery.h"
#include "store/store.h"

static int read_boot_id(const char *path, char **out, crio_error_t *err) {
  cleanup_free char *text = NULL;
  if (crio_read_file(path, &text, NULL, err) < 0)
    return crio_error_prefix(err, "read boot id");
  text[strcspn(text, " \t\r\n")] = '\0';
  if (text[0] == '\0')
    return crio_error(err, EINVAL, "boot id file %s is empty", path);
  *out = steal_pointer(&text);
  return 0;
}

static int count_visit(const store_record *rec, void *data) {
  (*(uint64_t *)data)++;
  return 0;
}

static int count_records(struct store *store, struct recovery_report *report, crio_error_t *err) {
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(store, STORE_TXN_READ, &txn, err) < 0)
    return -1;
  if (store_record_foreach(txn, STORE_KIND_POD, count_visit, &report->pods, err) < 0 ||
      store_record_foreach(txn, STORE_KIND_CONTAINER, count_visit, &report->containers, err) < 0 ||
      store_record_foreach(txn, STORE_KIND_IMAGE, count_visit, &report->images, err) < 0)
    return -1;
  return 0;
}

/* The boot id tells a daemon restart (containers may still run, pinned
 * namespaces still exist) from a node reboot (everything in tmpfs, every
 * process and cgroup is gone).  A first start records it here; after a
 * reboot recovery_reboot_begin stores the new one once it has recorded
 * what the reboot ended, so a crash in between does not forget it. */
static int read_boot_ids(struct store *store, const char *path, char **stored_out,
                         char **current_out, struct recovery_report *report, crio_error_t *err) {
  cleanup_free char *current = NULL;
  if (read_boot_id(path, &current, err) < 0)
    return -1;
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(store, STORE_TXN_WRITE, &txn, err) < 0)
    return -1;
  cleanup_free char *stored = NULL;
  cleanup_error crio_error_t lookup_err = NULL;
  if (store_meta_get(txn, "boot_id", &stored, &lookup_err) < 0) {
    if (crio_error_status(&lookup_err) != ENOENT)
      return crio_error(err, crio_error_status(&lookup_err), "%s", crio_error_message(&lookup_err));
    report->first_start = true;
    store_meta_put(txn, "boot_id", current);
    cleanup_free char *note = xasprintf("first start on boot %s", current);
    store_log_note(txn, note);
    if (store_txn_commit(steal_pointer(&txn), err) < 0)
      return -1;
  } else if (strcmp(stored, current) != 0) {
    report->rebooted = true;
  }
  *stored_out = steal_pointer(&stored);
  *current_out = steal_pointer(&current);
  return 0;
}

static void log_reboot(const struct recovery_reboot_report *r) {
  log_info("after the reboot: %llu container(s) recorded exited (NodeRestarted), %llu unfinished "
           "creation(s) rolled back, %llu of %llu pod(s) stopped, %llu leftover(s) removed, in "
           "%.3f ms",
           (unsigned long long)r->containers_exited, (unsigned long long)r->creations_rolled_back,
           (unsigned long long)r->pods_stopped, (unsigned long long)r->pods_stopping,
           (unsigned long long)r->leftovers_removed, (double)r->elapsed_ns / 1e6);
}

int recovery_run(struct store *store, struct reconciler *reconciler,
                 const struct recovery_options *options, struct recovery_report *report,
                 crio_error_t *err) {
  memset(report, 0, sizeof(*report));
  int64_t start = crio_monotonic_ns();
  cleanup_free char *stored_boot = NULL, *current_boot = NULL;
  if (read_boot_ids(store, options->boot_id_path, &stored_boot, &current_boot, report, err) < 0)
    return -1;
  if (report->rebooted)
    log_warning("the node rebooted since the last start (boot id %s -> %s)", stored_boot,
                current_boot);
  int64_t compact_start = crio_monotonic_ns();
  if (recovery_compact_log(store, options->compact_threshold, &report->log_entries,
                           &report->log_dropped, err) < 0)
    return -1;
  if (report->log_dropped > 0)
    log_info("compacted the state log: dropped %llu of %llu entries in %.3f ms",
             (unsigned long long)report->log_dropped, (unsigned long long)report->log_entries,
             (double)(crio_monotonic_ns() - compact_start) / 1e6);
  if (count_records(store, report, err) < 0)
    return crio_error_prefix(err, "count records");
  __attribute__((cleanup(recovery_reboot_freep))) struct recovery_reboot *reboot = NULL;
  if (report->rebooted && recovery_reboot_begin(store, reconciler, options, stored_boot,
                                                current_boot, &reboot, err) < 0)
    return crio_error_prefix(err, "after the reboot");
  if (reconciler_enqueue_all(reconciler, err) < 0)
    return crio_error_prefix(err, "resume unfinished records");
  if (reboot) {
    recovery_reboot_settle(store, options, reboot);
    report->reboot = *recovery_reboot_report_of(reboot);
    log_reboot(&report->reboot);
  }
  report->elapsed_ns = crio_monotonic_ns() - start;
  return 0;
}
