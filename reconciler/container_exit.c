/* How a container's end is recorded, in one place and one way: the exit
 * event that conmon's exit file becomes (one observation, one event, the
 * EVENT transition from whatever state the record is in), the stop steps'
 * look at the host (container_exit_observe: they signal, container_stop.c,
 * and this says when the container has ended), and what start-up does for
 * containers that ended while the daemon was down.
 *
 * Every way ends in record_end(): the record gets the exit status conmon
 * recorded: the code,
 * finish time, OOM kill, and a reason (Completed, Error, OOMKilled) and
 * message (the termination-message file, or the log's tail for
 * FallbackToLogsOnError).  A container that ended without any exit status
 * surviving (conmon killed, then a reboot) says so: reason
 * ContainerStatusUnknown and exit_code_lost — never a made-up code. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reconciler/container_steps.h"
#include "reconciler/internal.h"
#include "statemachine/statemachine.h"

#define ANN_TERMINATION_MESSAGE_POLICY "io.kubernetes.container.terminationMessagePolicy"
#define POLICY_FALLBACK_TO_LOGS "FallbackToLogsOnError"
/* The exit code the record carries when none survived: -1 is no code a
 * process can exit with. */
#define EXIT_CODE_LOST (-1)

/* ---- reading what a container left ----------------------------------------------------- */

/* conmon also writes the code to <persist dir>/exit, which outlives a
 * reboot (the run dir's exit file does not). */
static int read_persisted_exit(const struct container_paths *p, const char *id,
                               struct oci_exit_status *out, crio_error_t *err) {
  cleanup_error crio_error_t e = NULL;
  if (oci_exit_file_read(p->dir, OCI_CONMON_EXIT, p->dir, out, &e) < 0) {
    if (crio_error_status(&e) == ENOENT)
      return 0;
    *err = steal_pointer(&e);
    return -1;
  }
  out->id = id;
  return 1;
}

int container_read_exit(const struct container_paths *p, const char *id,
                        struct oci_exit_status *out, crio_error_t *err) {
  cleanup_error crio_error_t e = NULL;
  if (oci_exit_file_read(p->exits, id, p->dir, out, &e) == 0)
    return 1;
  if (crio_error_status(&e) != ENOENT) {
    *err = steal_pointer(&e);
    return -1;
  }
  return read_persisted_exit(p, id, out, err);
}

/* The first `cap` bytes of a regular file, or its last ones (tail), from
 * the start of a line. */
static char *read_capped(const char *path, size_t cap, bool tail) {
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
    return NULL;
  off_t start = 0;
  if (tail && st.st_size > (off_t)cap)
    start = st.st_size - (off_t)cap;
  char *buf = xmalloc(cap + 1);
  ssize_t n = pread(fd, buf, cap, start);
  if (n < 0)
    n = 0;
  buf[n] = '\0';
  if (start > 0) {
    /* The first line was cut. */
    char *nl = strchr(buf, '\n');
    size_t skip = nl ? (size_t)(nl + 1 - buf) : (size_t)n;
    memmove(buf, buf + skip, (size_t)n - skip + 1);
  }
  return buf;
}

/* The log's last lines without the CRI prefix ("<time> <stream> <P|F> "),
 * partial lines joined: what the kubelet shows for FallbackToLogsOnError. */
static char *log_tail(const char *log_path) {
  /* Lines carry ~40 bytes of prefix each: read enough to strip them. */
  cleanup_free char *raw = read_capped(log_path, CTR_LOG_TAIL_MAX * 4, true);
  if (raw == NULL)
    return NULL;
  char *lines[CTR_LOG_TAIL_LINES];
  size_t n = 0;
  char *save = NULL;
  for (char *line = strtok_r(raw, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    if (n == CTR_LOG_TAIL_LINES) {
      memmove(lines, lines + 1, (n - 1) * sizeof(*lines));
      n--;
    }
    lines[n++] = line;
  }
  size_t len = 0;
  char *out = xmalloc(CTR_LOG_TAIL_MAX * 4 + 1);
  for (size_t i = 0; i < n; i++) {
    char *msg = lines[i];
    char *tag = NULL;
    for (int field = 0; field < 3 && msg; field++) {
      char *sp = strchr(msg, ' ');
      if (field == 2)
        tag = msg;
      msg = sp ? sp + 1 : NULL;
    }
    if (msg == NULL)
      continue; /* not a CRI log line */
    size_t m = strlen(msg);
    memcpy(out + len, msg, m);
    len += m;
    if (tag && tag[0] == 'F')
      out[len++] = '\n';
  }
  out[len] = '\0';
  if (len > CTR_LOG_TAIL_MAX) {
    memmove(out, out + len - CTR_LOG_TAIL_MAX, CTR_LOG_TAIL_MAX + 1);
  }
  return out;
}

static const char *annotation(const Runtime__V1__ContainerConfig *config, const char *key) {
  for (size_t i = 0; config && i < config->n_annotations; i++)
    if (strcmp(config->annotations[i]->key, key) == 0)
      return config->annotations[i]->value;
  return NULL;
}

void container_record_exit(store_record *rec, const struct oci_exit_status *st) {
  Crio__Store__ContainerBody *c = rec->container;
  c->pid = 0;
  c->pid_start_time = 0;
  if (st == NULL) {
    c->exit_code = EXIT_CODE_LOST;
    c->exit_code_lost = true;
    c->finished_at = crio_now_ns();
    store_string_set(&c->reason, CTR_REASON_STATUS_UNKNOWN);
    store_string_set(&c->message, "the container ended while no monitor watched it; its exit "
                                  "status was not recorded");
    return;
  }
  c->exit_code = st->exit_code;
  /* The exit file's mtime comes from the kernel's coarse clock, which
   * may lag the started_at we took by up to a tick. */
  c->finished_at = st->finished_at_ns > c->started_at ? st->finished_at_ns : c->started_at;
  c->oom_killed = st->oom_killed;
  store_string_set(&c->reason, oci_exit_reason_name(oci_exit_reason_of(st)));
  cleanup_free char *message = NULL;
  if (*c->termination_message_path)
    message = read_capped(c->termination_message_path, CTR_TERMINATION_MESSAGE_MAX, false);
  if (message == NULL || message[0] == '\0') {
    cleanup_error crio_error_t e = NULL;
    cleanup_container_config Runtime__V1__ContainerConfig *config = container_config(rec, &e);
    const char *policy = annotation(config, ANN_TERMINATION_MESSAGE_POLICY);
    if (st->exit_code != 0 && policy && strcmp(policy, POLICY_FALLBACK_TO_LOGS) == 0) {
      free(message);
      message = log_tail(c->log_path);
    }
  }
  store_string_set(&c->message, message);
}

/* ---- the one path ------------------------------------------------------------------------ */

/* The end of the container on its record: the status (NULL: none
 * survived), conmon released in the log (it leaves on its own once it has
 * written the exit file), the stop table's entry forgotten. */
static void record_end(struct reconcile_step *step, struct reconciler_container_env *env,
                       const struct oci_exit_status *st) {
  store_record *rec = step->record;
  container_record_exit(rec, st);
  container_release_conmon(step);
  container_stop_forget(env, rec->id);
  log_info("container %s: exited with %d (%s)", rec->id, rec->container->exit_code,
           rec->container->reason);
}

/* 1 if no exit file can come any more: conmon is gone and the runtime
 * says the container ended (or does not know it). */
static int ended_without_monitor(const struct oci_runtime *rt, const store_record *rec,
                                 crio_error_t *err) {
  int alive = container_conmon_alive(rec, err);
  if (alive != 0)
    return alive < 0 ? -1 : 0;
  return container_runtime_ended(rt, rec, err);
}

int container_exit_observe(struct reconcile_step *step, const struct oci_runtime *rt,
                           crio_error_t *err) {
  store_record *rec = step->record;
  struct reconciler_container_env *env = container_env_of(step);
  cleanup_container_paths struct container_paths p;
  container_paths_init(&p, env, rec->id);
  struct oci_exit_status st;
  int found = container_read_exit(&p, rec->id, &st, err);
  if (found < 0)
    return -1;
  if (found == 0) {
    int orphan = ended_without_monitor(rt, rec, err);
    if (orphan <= 0)
      return orphan;
    /* conmon may have written it just before it left. */
    if ((found = container_read_exit(&p, rec->id, &st, err)) < 0)
      return -1;
  }
  st.id = rec->id;
  record_end(step, env, found ? &st : NULL);
  return 1;
}

/* ---- the exit event ------------------------------------------------------------------------ */

struct exit_event {
  struct reconciler_container_env *env;
  struct oci_exit_status st;
  bool lost;
};

static int apply_exit(struct reconcile_step *step, crio_error_t *err) {
  (void)err;
  struct exit_event *ev = step->data;
  store_record *rec = step->record;
  /* Asked to stop (or be removed): the stop step reads this same exit file
   * and commits container.stop itself, so the log says the container was
   * stopped, not that it ended on its own. */
  if (rec->goal >= SM_CONTAINER_EXITED) {
    log_debug("container %s: exit left to the stop step", rec->id);
    return RECONCILE_STEP_WAIT;
  }
  if (!ev->lost) {
    ev->st.id = rec->id;
    record_end(step, ev->env, &ev->st);
    return 0;
  }
  /* Posted at start-up with no status; the exit file may have come since. */
  cleanup_container_paths struct container_paths p;
  container_paths_init(&p, ev->env, rec->id);
  struct oci_exit_status st;
  cleanup_error crio_error_t e = NULL;
  bool found = container_read_exit(&p, rec->id, &st, &e) == 1;
  st.id = rec->id;
  record_end(step, ev->env, found ? &st : NULL);
  return 0;
}

void container_post_exit(struct reconciler *r, struct reconciler_container_env *env,
                         const struct oci_exit_status *st, bool lost) {
  struct exit_event *ev = xzalloc(sizeof(*ev));
  ev->env = env;
  ev->st = *st;
  ev->st.id = NULL;
  ev->lost = lost;
  /* container.exit from RUNNING, container.exit_before_start from
   * CREATED: whichever the state is when the event is applied. */
  cleanup_error crio_error_t err = NULL;
  if (reconciler_post_observed(r, SM_KIND_CONTAINER, st->id, SM_CONTAINER_EXITED, apply_exit, ev,
                               free, &err) < 0)
    crio_error_warn(&err, "container exit");
}

static void on_exit_file(const struct oci_exit_status *st, void *arg) {
  struct container_env_state *state = arg;
  log_debug("container %s: exit file says %d", st->id, st->exit_code);
  container_post_exit(state->reconciler, state->env, st, false);
}

int reconciler_container_watch_exits(struct reconciler *r, struct reconciler_container_env *env,
                                     struct oci_exit_watch **out, crio_error_t *err) {
  env->state->reconciler = r;
  cleanup_free char *exits = xasprintf("%s/exits", env->runroot);
  cleanup_free char *persist_root = container_persist_root(env);
  if (crio_mkdir_p(exits, 0700, err) < 0)
    return crio_error_prefix(err, "exit dir");
  return oci_exit_watch_start(exits, persist_root, on_exit_file, env->state, out, err);
}

/* ---- start-up ------------------------------------------------------------------------------- */

struct adopt_item {
  char *id;
  store_record *rec;
};

struct adopt_list {
  struct adopt_item *items;
  size_t n, cap;
};

static int collect_live(const store_record *rec, void *data) {
  struct adopt_list *list = data;
  if (rec->state != SM_CONTAINER_CREATED && rec->state != SM_CONTAINER_RUNNING)
    return 0;
  if (list->n == list->cap) {
    list->cap = list->cap ? list->cap * 2 : 16;
    list->items = xrealloc(list->items, list->cap * sizeof(*list->items));
  }
  /* The record is freed after the callback: keep a copy. */
  size_t len = crio__store__object_record__get_packed_size(rec);
  cleanup_free uint8_t *buf = xmalloc(len ? len : 1);
  crio__store__object_record__pack(rec, buf);
  list->items[list->n].rec = crio__store__object_record__unpack(NULL, len, buf);
  list->items[list->n].id = xstrdup(rec->id);
  list->n++;
  return 0;
}

int container_conmon_alive(const store_record *rec, crio_error_t *err) {
  const Crio__Store__ContainerBody *c = rec->container;
  if (c->conmon_pid <= 0)
    return 0;
  return oci_conmon_is_running(c->conmon_pid, c->conmon_start_time, err);
}

int container_runtime_ended(const struct oci_runtime *rt, const store_record *rec,
                            crio_error_t *err) {
  struct oci_runtime_state st;
  cleanup_error crio_error_t e = NULL;
  if (oci_runtime_state(rt, rec->id, &st, &e) < 0) {
    if (crio_error_status(&e) == ENOENT)
      return 1;
    *err = steal_pointer(&e);
    return -1;
  }
  return st.status == OCI_STATUS_STOPPED || st.status == OCI_STATUS_UNKNOWN;
}

/* 1 if the container ended (so an exit must be recorded), 0 if it lives. */
static int container_ended(const struct reconciler_container_env *env, const store_record *rec,
                           crio_error_t *err) {
  int alive = container_conmon_alive(rec, err);
  if (alive != 0)
    return alive < 0 ? -1 : 0;
  const struct oci_runtime *rt = container_runtime(env, rec, err);
  if (rt == NULL)
    return -1;
  int ended = container_runtime_ended(rt, rec, err);
  if (ended != 0)
    return ended;
  log_warning("container %s: its conmon is gone but the container still runs; its exit will not "
              "be observed until it is stopped",
              rec->id);
  return 0;
}

int reconciler_containers_adopt(struct reconciler *r, struct reconciler_container_env *env,
                                crio_error_t *err) {
  struct adopt_list list = {0};
  {
    cleanup_store_txn struct store_txn *txn = NULL;
    if (store_txn_begin(r->store, STORE_TXN_READ, &txn, err) < 0)
      return -1;
    if (store_record_foreach(txn, STORE_KIND_CONTAINER, collect_live, &list, err) < 0)
      return -1;
  }
  unsigned adopted = 0, ended = 0;
  int rc = 0;
  for (size_t i = 0; i < list.n; i++) {
    store_record *rec = list.items[i].rec;
    cleanup_container_paths struct container_paths p;
    container_paths_init(&p, env, rec->id);
    cleanup_error crio_error_t e = NULL;
    struct oci_exit_status st;
    int found = container_read_exit(&p, rec->id, &st, &e);
    if (found == 0) {
      int gone = container_ended(env, rec, &e);
      if (gone == 0) {
        adopted++;
      } else if (gone == 1) {
        st = (struct oci_exit_status){.id = rec->id};
        container_post_exit(r, env, &st, true);
        ended++;
      }
    } else if (found == 1) {
      st.id = rec->id;
      container_post_exit(r, env, &st, false);
      ended++;
    }
    if (e) {
      crio_error_prefix(&e, "container %s", rec->id);
      crio_error_warn(&e, "adopt");
    }
    store_record_free(rec);
    free(list.items[i].id);
  }
  free(list.items);
  if (list.n)
    log_info("containers: %u running or created adopted, %u ended while the daemon was down",
             adopted, ended);
  return rc;
}
