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
 * namespaces still exist) from a node reboot (everything under the run dir
 * is gone).  Handling a reboot's consequences — marking containers exited,
 * replaying CNI DEL — belongs to the reboot work; here it is detected and
 * logged so the log shows when it happened. */
static int record_boot_id(struct store *store, const char *path, struct recovery_report *report,
                          crio_error_t *err) {
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
  } else if (strcmp(stored, current) != 0) {
    report->rebooted = true;
  } else {
    return 0; /* same boot: nothing to write */
  }
  store_meta_put(txn, "boot_id", current);
  cleanup_free char *note = report->first_start
                                ? xasprintf("first start on boot %s", current)
                                : xasprintf("node rebooted: boot id %s -> %s", stored, current);
  store_log_note(txn, note);
  return store_txn_commit(steal_pointer(&txn), err);
}

int recovery_run(struct store *store, struct reconciler *reconciler,
                 const struct recovery_options *options, struct recovery_report *report,
                 crio_error_t *err) {
  memset(report, 0, sizeof(*report));
  int64_t start = crio_monotonic_ns();
  if (record_boot_id(store, options->boot_id_path, report, err) < 0)
    return -1;
  if (report->rebooted)
    log_warning("the node rebooted since the last start");
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
  if (reconciler_enqueue_all(reconciler, err) < 0)
    return crio_error_prefix(err, "resume unfinished records");
  report->elapsed_ns = crio_monotonic_ns() - start;
  return 0;
}
