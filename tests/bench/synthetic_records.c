/* crio-synthetic-records: writes pod and container records straight into a
 * daemon's database through the store API (the daemon stopped), for the
 * start-up recovery tests and bench (tests/integration/test_reboot.py,
 * tests/bench/bench_recovery.py).
 *
 *   crio-synthetic-records --root ROOT --runroot RUNROOT --pods N --containers M
 *                          [--running] [--boot-id ID]
 *
 * Containers are spread evenly over the pods.  By default the records are
 * in states the reconciler has nothing to do for and that touch nothing on
 * the host: pods STOPPED with goal STOPPED, containers EXITED with goal
 * EXITED (exit code 0, Completed).  With --running, pods are READY and
 * containers RUNNING (goals alike) with no process, no conmon, no
 * namespace and no network of their own (a host-network pod whose run dir
 * under RUNROOT does not exist): what a node reboot leaves of a busy node,
 * for timing the reboot handling.  Their conmon pid is one no process can
 * have (above the kernel's largest pid_max), since the CRI lists only
 * containers that had a conmon.  Every record is written with its CREATE
 * entry (store_create), in transactions of 500 records, so the state log
 * explains each one.  --boot-id stores ID as the boot the records were
 * written in (a start with another boot id is a node reboot; without it
 * the next start is a first start).  Prints the pod ids, one a line. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "statemachine/statemachine.h"
#include "store/store.h"

#define SYNTHETIC_CONMON_PID 2147483000

static void usage(void) {
  fprintf(stderr, "usage: crio-synthetic-records --root ROOT --runroot RUNROOT --pods N "
                  "--containers M [--running] [--boot-id ID]\n");
  exit(2);
}

static void die(crio_error_t *err, const char *what) {
  fprintf(stderr, "crio-synthetic-records: %s: %s\n", what, crio_error_message(err));
  exit(1);
}

int main(int argc, char **argv) {
  static const struct option options[] = {
      {"root", required_argument, NULL, 'r'},
      {"runroot", required_argument, NULL, 'R'},
      {"pods", required_argument, NULL, 'p'},
      {"containers", required_argument, NULL, 'c'},
      {"running", no_argument, NULL, 'x'},
      {"boot-id", required_argument, NULL, 'b'},
      {NULL, 0, NULL, 0},
  };
  const char *root = NULL, *runroot = NULL, *boot_id = NULL;
  long n_pods = -1, n_containers = -1;
  bool running = false;
  int opt;
  while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
    switch (opt) {
    case 'r':
      root = optarg;
      break;
    case 'R':
      runroot = optarg;
      break;
    case 'p':
      n_pods = strtol(optarg, NULL, 10);
      break;
    case 'c':
      n_containers = strtol(optarg, NULL, 10);
      break;
    case 'x':
      running = true;
      break;
    case 'b':
      boot_id = optarg;
      break;
    default:
      usage();
    }
  }
  if (root == NULL || runroot == NULL || n_pods < 1 || n_containers < 0 || optind != argc)
    usage();

  cleanup_error crio_error_t err = NULL;
  cleanup_free char *db_dir = xasprintf("%s/db", root);
  struct store_options store_options = {.dir = db_dir};
  cleanup_store struct store *store = NULL;
  if (store_open(&store_options, &store, &err) < 0)
    die(&err, "open database");

  char **pod_ids = xcalloc((size_t)n_pods, sizeof(char *));
  int64_t now = crio_now_ns();
  const long batch = 500;
  long written = 0, total = n_pods + n_containers;
  while (written < total) {
    cleanup_store_txn struct store_txn *txn = NULL;
    if (store_txn_begin(store, STORE_TXN_WRITE, &txn, &err) < 0)
      die(&err, "begin");
    for (long k = 0; k < batch && written < total; k++, written++) {
      char id[65];
      crio_random_id(id);
      cleanup_store_record store_record *rec = NULL;
      if (written < n_pods) {
        long i = written;
        rec = store_record_new(STORE_KIND_POD, id);
        rec->state = rec->goal = running ? SM_POD_READY : SM_POD_STOPPED;
        cleanup_free char *name = xasprintf("synthetic-pod-%ld", i);
        cleanup_free char *uid = xasprintf("synthetic-uid-%ld", i);
        cleanup_free char *run_dir = xasprintf("%s/pods/%s", runroot, id);
        store_string_set(&rec->name, name);
        store_string_set(&rec->pod->namespace_, "synthetic");
        store_string_set(&rec->pod->uid, uid);
        store_string_set(&rec->pod->run_dir, run_dir);
        pod_ids[i] = xstrdup(id);
      } else {
        long i = written - n_pods;
        const char *pod = pod_ids[i % n_pods];
        rec = store_record_new(STORE_KIND_CONTAINER, id);
        rec->state = rec->goal = running ? SM_CONTAINER_RUNNING : SM_CONTAINER_EXITED;
        cleanup_free char *name = xasprintf("synthetic-ctr-%ld", i);
        store_string_set(&rec->name, name);
        store_string_set(&rec->parent_id, pod);
        store_string_set(&rec->container->pod_id, pod);
        rec->container->started_at = now - 2000000000LL;
        /* The CRI lists a container once it has had a conmon; this pid is
         * above any pid_max, so nothing ever takes it for a process. */
        rec->container->conmon_pid = SYNTHETIC_CONMON_PID;
        rec->container->conmon_start_time = 1;
        if (!running) {
          rec->container->finished_at = now - 1000000000LL;
          store_string_set(&rec->container->reason, "Completed");
        }
      }
      store_create(txn, rec);
    }
    if (boot_id && written == total)
      store_meta_put(txn, "boot_id", boot_id);
    if (store_txn_commit(steal_pointer(&txn), &err) < 0)
      die(&err, "commit");
  }
  for (long i = 0; i < n_pods; i++) {
    printf("%s\n", pod_ids[i]);
    free(pod_ids[i]);
  }
  free(pod_ids);
  return 0;
}
