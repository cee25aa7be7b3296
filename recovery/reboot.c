/* A node reboot, as start-up finds it: the boot id differs from the stored
 * one, so every process, mount, pinned namespace and cgroup the records
 * describe is gone, and so is the run dir when it lives in tmpfs.  What
 * is left is what lives on disk (container dirs, host-local IPAM
 * reservations) and the records, which still say RUNNING and READY.
 *
 * Before the socket is served:
 *   - every CREATED or RUNNING container gets its exit, as the EVENT
 *     transition the tables have for it (container.exit_before_start,
 *     container.exit), posted through the reconciler like an exit file
 *     seen by the watch: the reconciler commits it with its log entry, so
 *     the state log explains the EXITED state the same way for a reboot as
 *     for any exit, and the NOTE "node rebooted" written just before says
 *     why.  The record says reason NodeRestarted; its exit code is the one
 *     conmon left in the container's persist dir if it wrote one while the
 *     node went down, else -1 with exit_code_lost (no code is made up);
 *   - a container whose creation the reboot cut short (PENDING,
 *     ROOTFS_MOUNTED) gets goal REMOVED: no CreateContainer call waits for
 *     it any more, and its rollback undoes the half-made container;
 *   - every pod asked to be READY gets goal STOPPED (a GOAL entry saying
 *     why), so its ordinary stop path runs: CNI DEL with the stored config
 *     and result (host-local gives the address back), the release of the
 *     pins (a missing pin is released already) and of the pause process
 *     (a pid whose start time no longer matches is not ours);
 *   - leftovers under the daemon's dirs that no record owns and the log
 *     does not say anything holds are removed;
 *   - the new boot id is stored last, in the transaction of the goals: a
 *     crash before it makes the next start handle the reboot again (every
 *     part is idempotent), never forget it.
 * Then the reconciler is started on everything, and start-up waits, with
 * a deadline, for the pods to be STOPPED: the kubelet must not see a READY
 * sandbox whose network is gone.  The kubelet then removes the old pods
 * and starts new ones. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "oci/oci.h"
#include "oci/runtime.h"
#include "reconciler/reconciler.h"
#include "recovery/internal.h"
#include "statemachine/statemachine.h"

/* Kubernetes shows this as the container's last termination reason. */
#define REBOOT_REASON "NodeRestarted"
/* The exit code of a container whose status nobody recorded, as the
 * container steps write it (with exit_code_lost): no process exits -1. */
#define REBOOT_EXIT_CODE_LOST (-1)
/* How often the waits look again when no commit woke them. */
#define REBOOT_POLL_NS (100 * 1000000LL)

struct recovery_reboot {
  char *old_boot_id, *new_boot_id;
  char **exited; /* containers given their exit event */
  size_t n_exited;
  char **unborn; /* containers whose creation the reboot ended */
  size_t n_unborn;
  char **pods; /* pods driven to STOPPED */
  size_t n_pods;
  struct recovery_reboot_report report;
};

static void strv_free_n(char **v, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(v[i]);
  free(v);
}

void recovery_reboot_free(struct recovery_reboot *rb) {
  if (rb == NULL)
    return;
  free(rb->old_boot_id);
  free(rb->new_boot_id);
  strv_free_n(rb->exited, rb->n_exited);
  strv_free_n(rb->unborn, rb->n_unborn);
  strv_free_n(rb->pods, rb->n_pods);
  free(rb);
}

void recovery_reboot_freep(struct recovery_reboot **rb) {
  recovery_reboot_free(*rb);
  *rb = NULL;
}

const struct recovery_reboot_report *recovery_reboot_report_of(const struct recovery_reboot *rb) {
  return &rb->report;
}

/* ---- what the records say ------------------------------------------------------------ */

static int collect_container(const store_record *rec, void *data) {
  struct recovery_reboot *rb = data;
  if (rec->state == SM_CONTAINER_CREATED || rec->state == SM_CONTAINER_RUNNING)
    recovery_strv_push(&rb->exited, &rb->n_exited, xstrdup(rec->id));
  else if ((rec->state == SM_CONTAINER_PENDING || rec->state == SM_CONTAINER_ROOTFS_MOUNTED) &&
           rec->goal != SM_CONTAINER_REMOVED)
    recovery_strv_push(&rb->unborn, &rb->n_unborn, xstrdup(rec->id));
  return 0;
}

/* A pod asked to be READY, whether it got there or was on its way. */
static int collect_pod(const store_record *rec, void *data) {
  struct recovery_reboot *rb = data;
  if (rec->goal == SM_POD_READY)
    recovery_strv_push(&rb->pods, &rb->n_pods, xstrdup(rec->id));
  return 0;
}

static int collect(struct store *store, struct recovery_reboot *rb, crio_error_t *err) {
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(store, STORE_TXN_READ, &txn, err) < 0)
    return -1;
  if (store_record_foreach(txn, STORE_KIND_CONTAINER, collect_container, rb, err) < 0 ||
      store_record_foreach(txn, STORE_KIND_POD, collect_pod, rb, err) < 0)
    return -1;
  return 0;
}

/* ---- leftovers on disk ------------------------------------------------------------------- */

/* Whether the log says some object still holds `type` `path`: an entry
 * naming it as acquired that no later entry released.  Such a thing is
 * left for crio wipe, which releases it and logs the release. */
struct held_search {
  const char *type, *path;
  bool held;
};

static int held_visit(const store_log_entry *entry, void *data) {
  struct held_search *s = data;
  for (size_t i = 0; i < entry->n_released; i++)
    if (strcmp(entry->released[i]->type, s->type) == 0 &&
        strcmp(entry->released[i]->id, s->path) == 0)
      s->held = false;
  for (size_t i = 0; i < entry->n_acquired; i++)
    if (strcmp(entry->acquired[i]->type, s->type) == 0 &&
        strcmp(entry->acquired[i]->id, s->path) == 0)
      s->held = true;
  return 0;
}

/* One kind of leftover: entries named by an object id in `dir`, whose
 * object is a `kind` record; `type` is how the log names them. */
struct leftover_kind {
  const char *dir;
  enum store_kind kind;
  const char *type;
};

static int sweep_dir(struct store *store, const struct leftover_kind *lk,
                     struct recovery_reboot_report *report, crio_error_t *err) {
  cleanup_dir DIR *d = opendir(lk->dir);
  if (d == NULL)
    return errno == ENOENT ? 0 : crio_error_errno(err, errno, "open %s", lk->dir);
  struct dirent *de;
  while ((errno = 0, de = readdir(d)) != NULL) {
    size_t len = strlen(de->d_name);
    /* Only names that are object ids are ours to judge. */
    if (len != 64 || !crio_is_hex_id(de->d_name, len))
      continue;
    cleanup_free char *path = xasprintf("%s/%s", lk->dir, de->d_name);
    struct held_search search = {.type = lk->type, .path = path};
    {
      cleanup_store_txn struct store_txn *txn = NULL;
      cleanup_store_record store_record *rec = NULL;
      cleanup_error crio_error_t get_err = NULL;
      if (store_txn_begin(store, STORE_TXN_READ, &txn, err) < 0)
        return -1;
      if (store_record_get(txn, lk->kind, de->d_name, &rec, &get_err) == 0)
        continue; /* a record owns it: its own steps release it */
      if (crio_error_status(&get_err) != ENOENT)
        return crio_error(err, crio_error_status(&get_err), "%s", crio_error_message(&get_err));
      if (store_log_foreach_object(txn, de->d_name, held_visit, &search, err) < 0)
        return -1;
    }
    if (search.held) {
      log_info("after the reboot: %s is held by deleted %s %s per the state log; crio wipe "
               "releases it",
               path, store_kind_name(lk->kind), de->d_name);
      continue;
    }
    cleanup_error crio_error_t rm_err = NULL;
    if (recovery_remove_tree(path, &rm_err) < 0) {
      crio_error_prefix(&rm_err, "after the reboot: remove leftover %s", path);
      crio_error_warn(&rm_err, "recovery");
      continue;
    }
    log_info("after the reboot: removed %s, which no record owns", path);
    report->leftovers_removed++;
  }
  if (errno != 0)
    return crio_error_errno(err, errno, "read %s", lk->dir);
  return 0;
}

/* Under the run dir only what a reboot of a disk-backed run dir would
 * leave: pins are plain files once their mount is gone (a file still
 * mounted is skipped: recovery_remove_tree refuses it with EBUSY). */
static int sweep_leftovers(struct store *store, const struct recovery_options *options,
                           struct recovery_reboot_report *report, crio_error_t *err) {
  if (options->root == NULL || options->runroot == NULL)
    return 0;
  cleanup_free char *ctr_dirs = xasprintf("%s/containers", options->root);
  cleanup_free char *bundles = xasprintf("%s/containers", options->runroot);
  cleanup_free char *exits = xasprintf("%s/exits", options->runroot);
  cleanup_free char *pods = xasprintf("%s/pods", options->runroot);
  struct leftover_kind kinds[4 + OCI_NS_COUNT] = {
      {ctr_dirs, STORE_KIND_CONTAINER, "dir"},
      {bundles, STORE_KIND_CONTAINER, "dir"},
      {exits, STORE_KIND_CONTAINER, "file"},
      {pods, STORE_KIND_POD, "dir"},
  };
  size_t n = 4;
  char *pin_dirs[OCI_NS_COUNT] = {0};
  char *pin_types[OCI_NS_COUNT] = {0};
  for (int t = 0; t < OCI_NS_COUNT; t++) {
    const char *name = oci_ns_type_name((enum oci_ns_type)t);
    pin_dirs[t] = xasprintf("%s/%sns", options->runroot, name);
    pin_types[t] = xasprintf("%sns", name);
    kinds[n++] = (struct leftover_kind){pin_dirs[t], STORE_KIND_POD, pin_types[t]};
  }
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++)
    rc = sweep_dir(store, &kinds[i], report, err);
  for (int t = 0; t < OCI_NS_COUNT; t++) {
    free(pin_dirs[t]);
    free(pin_types[t]);
  }
  return rc;
}

/* ---- containers: their exit events --------------------------------------------------------- */

struct reboot_exit {
  char *why; /* "the node restarted (boot id A -> B)" */
};

static void reboot_exit_free(void *data) {
  struct reboot_exit *ev = data;
  free(ev->why);
  free(ev);
}

/* conmon writes the exit code to <container_dir>/exit as well as to the
 * run dir; that copy survives the reboot when conmon saw the end. */
static int persisted_exit(const store_record *rec, struct oci_exit_status *st) {
  const char *dir = rec->container->container_dir;
  if (dir == NULL || dir[0] == '\0')
    return 0;
  cleanup_error crio_error_t e = NULL;
  if (oci_exit_file_read(dir, OCI_CONMON_EXIT, dir, st, &e) == 0)
    return 1;
  if (crio_error_status(&e) != ENOENT)
    log_warning("container %s: %s", rec->id, crio_error_message(&e));
  return 0;
}

/* The apply function of the exit event: what the record says of an end
 * that the reboot caused or hid. */
static int apply_reboot_exit(struct reconcile_step *step, crio_error_t *err) {
  (void)err;
  struct reboot_exit *ev = step->data;
  store_record *rec = step->record;
  if (rec->body_case != CRIO__STORE__OBJECT_RECORD__BODY_CONTAINER || rec->container == NULL)
    return crio_error(err, EINVAL, "container %s: record has no container body", rec->id);
  Crio__Store__ContainerBody *c = rec->container;
  bool was_running = rec->state == SM_CONTAINER_RUNNING;
  struct oci_exit_status st;
  cleanup_free char *message = NULL;
  if (persisted_exit(rec, &st)) {
    c->exit_code = st.exit_code;
    c->exit_code_lost = false;
    c->oom_killed = st.oom_killed;
    c->finished_at = st.finished_at_ns;
    message = xasprintf("%s; conmon recorded exit code %d before the node went down", ev->why,
                        st.exit_code);
  } else {
    int64_t now = crio_now_ns();
    c->exit_code = REBOOT_EXIT_CODE_LOST;
    c->exit_code_lost = true;
    c->finished_at = now > c->started_at ? now : c->started_at;
    message = xasprintf("%s while the container was %s; its exit status was not recorded", ev->why,
                        was_running ? "running" : "created");
  }
  c->pid = 0;
  c->pid_start_time = 0;
  store_string_set(&c->reason, REBOOT_REASON);
  store_string_set(&c->message, message);
  /* The reboot ended its conmon too. */
  for (size_t i = 0; i < rec->n_resources; i++) {
    if (strcmp(rec->resources[i]->type, "conmon") == 0) {
      reconcile_step_release(step, "conmon", rec->resources[i]->id);
      break;
    }
  }
  return 0;
}

static int post_exits(struct reconciler *r, struct store *store, struct recovery_reboot *rb,
                      const char *why, crio_error_t *err) {
  for (size_t i = 0; i < rb->n_exited; i++) {
    cleanup_store_record store_record *rec = NULL;
    {
      cleanup_store_txn struct store_txn *txn = NULL;
      if (store_txn_begin(store, STORE_TXN_READ, &txn, err) < 0)
        return -1;
      cleanup_error crio_error_t get_err = NULL;
      if (store_record_get(txn, STORE_KIND_CONTAINER, rb->exited[i], &rec, &get_err) < 0)
        continue;
    }
    const char *transition =
        rec->state == SM_CONTAINER_RUNNING ? "container.exit" : "container.exit_before_start";
    struct reboot_exit *ev = xzalloc(sizeof(*ev));
    ev->why = xstrdup(why);
    if (reconciler_post_event(r, SM_KIND_CONTAINER, rec->id, transition, apply_reboot_exit, ev,
                              reboot_exit_free, err) < 0)
      return crio_error_prefix(err, "container %s", rec->id);
  }
  return 0;
}

/* ---- waiting for the reconciler ------------------------------------------------------------- */

typedef bool (*settled_fn)(const store_record *rec);

static bool container_ended(const store_record *rec) {
  return rec->state != SM_CONTAINER_CREATED && rec->state != SM_CONTAINER_RUNNING;
}

/* STOPPED, or beyond it on the way to REMOVED. */
static bool pod_stopped(const store_record *rec) {
  return rec->state == SM_POD_STOPPED || rec->state == SM_POD_CONTAINERS_REMOVED ||
         rec->state == SM_POD_CGROUP_REMOVED;
}

/* How many of `ids` are not settled yet (a deleted record is); the ids
 * still waiting are moved to the front. */
static int count_unsettled(struct store *store, enum store_kind kind, char **ids, size_t n,
                           settled_fn settled, size_t *left, uint64_t *seq, crio_error_t *err) {
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(store, STORE_TXN_READ, &txn, err) < 0)
    return -1;
  *seq = store_log_last_seq(txn);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    cleanup_store_record store_record *rec = NULL;
    cleanup_error crio_error_t get_err = NULL;
    bool done = store_record_get(txn, kind, ids[i], &rec, &get_err) < 0 || settled(rec);
    if (!done) {
      char *tmp = ids[k];
      ids[k++] = ids[i];
      ids[i] = tmp;
    }
  }
  *left = k;
  return 0;
}

/* Waits until every record of `ids` is settled or the deadline passes;
 * wakes on this process's commits (store_log_wait), looking again at least
 * every REBOOT_POLL_NS.  Returns how many are not settled. */
static int wait_settled(struct store *store, enum store_kind kind, char **ids, size_t n,
                        settled_fn settled, int64_t deadline_ns, size_t *left, crio_error_t *err) {
  for (;;) {
    uint64_t seq = 0;
    if (count_unsettled(store, kind, ids, n, settled, left, &seq, err) < 0)
      return -1;
    n = *left;
    int64_t now = crio_monotonic_ns();
    if (n == 0 || now >= deadline_ns)
      return 0;
    int64_t until = now + REBOOT_POLL_NS < deadline_ns ? now + REBOOT_POLL_NS : deadline_ns;
    store_log_wait(store, seq, until);
  }
}

/* ---- the goals and the boot id ----------------------------------------------------------------
 */

static int write_goals(struct store *store, struct recovery_reboot *rb, const char *why,
                       crio_error_t *err) {
  cleanup_store_txn struct store_txn *txn = NULL;
  if (store_txn_begin(store, STORE_TXN_WRITE, &txn, err) < 0)
    return -1;
  cleanup_free char *ctr_why = xasprintf("%s: the creation cannot finish; rolling it back", why);
  for (size_t i = 0; i < rb->n_unborn; i++) {
    cleanup_store_record store_record *rec = NULL;
    cleanup_error crio_error_t get_err = NULL;
    if (store_record_get(txn, STORE_KIND_CONTAINER, rb->unborn[i], &rec, &get_err) < 0)
      continue;
    if (rec->goal != SM_CONTAINER_REMOVED)
      store_set_goal(txn, rec, SM_CONTAINER_REMOVED, ctr_why);
  }
  cleanup_free char *pod_why =
      xasprintf("%s: its processes, namespaces and network are gone; stopping it", why);
  for (size_t i = 0; i < rb->n_pods; i++) {
    cleanup_store_record store_record *rec = NULL;
    cleanup_error crio_error_t get_err = NULL;
    if (store_record_get(txn, STORE_KIND_POD, rb->pods[i], &rec, &get_err) < 0)
      continue;
    if (rec->goal == SM_POD_READY)
      store_set_goal(txn, rec, SM_POD_STOPPED, pod_why);
  }
  store_meta_put(txn, "boot_id", rb->new_boot_id);
  cleanup_free char *note = xasprintf(
      "reboot handled: %zu container(s) recorded exited (reason " REBOOT_REASON
      "), %zu unfinished creation(s) rolled back, %zu pod(s) to stop, %llu leftover(s) removed",
      rb->n_exited - rb->report.containers_not_exited, rb->n_unborn, rb->n_pods,
      (unsigned long long)rb->report.leftovers_removed);
  store_log_note(txn, note);
  return store_txn_commit(steal_pointer(&txn), err);
}

static int64_t settle_deadline(const struct recovery_options *options) {
  int64_t budget =
      options->reboot_settle_ns > 0 ? options->reboot_settle_ns : RECOVERY_DEFAULT_REBOOT_SETTLE_NS;
  return crio_monotonic_ns() + budget;
}

int recovery_reboot_begin(struct store *store, struct reconciler *reconciler,
                          const struct recovery_options *options, const char *old_boot_id,
                          const char *new_boot_id, struct recovery_reboot **out,
                          crio_error_t *err) {
  int64_t start = crio_monotonic_ns();
  struct recovery_reboot *rb = xzalloc(sizeof(*rb));
  __attribute__((cleanup(recovery_reboot_freep))) struct recovery_reboot *owned = rb;
  rb->old_boot_id = xstrdup(old_boot_id);
  rb->new_boot_id = xstrdup(new_boot_id);
  cleanup_free char *why =
      xasprintf("the node restarted (boot id %s -> %s)", old_boot_id, new_boot_id);

  /* First in the log, so every entry the reboot causes follows its cause. */
  {
    cleanup_store_txn struct store_txn *txn = NULL;
    if (store_txn_begin(store, STORE_TXN_WRITE, &txn, err) < 0)
      return -1;
    cleanup_free char *note =
        xasprintf("node rebooted: boot id %s -> %s; recording what the reboot ended", old_boot_id,
                  new_boot_id);
    store_log_note(txn, note);
    if (store_txn_commit(steal_pointer(&txn), err) < 0)
      return -1;
  }
  if (collect(store, rb, err) < 0)
    return crio_error_prefix(err, "read records");
  if (sweep_leftovers(store, options, &rb->report, err) < 0)
    return crio_error_prefix(err, "leftovers");

  if (post_exits(reconciler, store, rb, why, err) < 0)
    return crio_error_prefix(err, "container exits");
  size_t left = 0;
  if (wait_settled(store, STORE_KIND_CONTAINER, rb->exited, rb->n_exited, container_ended,
                   settle_deadline(options), &left, err) < 0)
    return -1;
  /* The adoption pass after recovery looks at these once more. */
  for (size_t i = 0; i < left; i++)
    log_warning("after the reboot: container %s was not recorded exited in time", rb->exited[i]);
  rb->report.containers_not_exited = left;
  rb->report.containers_exited = rb->n_exited - left;
  rb->report.creations_rolled_back = rb->n_unborn;
  rb->report.pods_stopping = rb->n_pods;

  if (write_goals(store, rb, why, err) < 0)
    return crio_error_prefix(err, "pod and container goals");
  rb->report.elapsed_ns = crio_monotonic_ns() - start;
  *out = steal_pointer(&owned);
  return 0;
}

void recovery_reboot_settle(struct store *store, const struct recovery_options *options,
                            struct recovery_reboot *rb) {
  int64_t start = crio_monotonic_ns();
  size_t left = 0;
  cleanup_error crio_error_t err = NULL;
  if (wait_settled(store, STORE_KIND_POD, rb->pods, rb->n_pods, pod_stopped,
                   settle_deadline(options), &left, &err) < 0) {
    crio_error_prefix(&err, "after the reboot: wait for the pods to stop");
    crio_error_warn(&err, "recovery");
    left = rb->n_pods;
  }
  for (size_t i = 0; i < left; i++)
    log_warning("after the reboot: pod %s is not STOPPED yet; the reconciler carries on",
                rb->pods[i]);
  rb->report.pods_stopped = rb->n_pods - left;
  rb->report.elapsed_ns += crio_monotonic_ns() - start;
}
