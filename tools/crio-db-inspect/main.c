/* crio-db-inspect: read-only inspection of the daemon's database and state
 * log, safe while the daemon runs.  This file parses the global options
 * and dispatches to one command per file through the table below; adding
 * a command is a new cmd_*.c, one line here and one in CMakeLists.txt. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tools/crio-db-inspect/inspect.h"

#ifndef CRIO_VERSION
#define CRIO_VERSION "unknown"
#endif

static const struct inspect_command *const commands[] = {
    &inspect_cmd_pods,  &inspect_cmd_containers, &inspect_cmd_images,
    &inspect_cmd_log,   &inspect_cmd_meta,       &inspect_cmd_history,
    &inspect_cmd_stats, &inspect_cmd_check,      &inspect_cmd_orphans,
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

int inspect_usage_error(crio_error_t *err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cleanup_free char *msg = xvasprintf(fmt, ap);
  va_end(ap);
  crio_error(err, EINVAL, "%s", msg);
  return INSPECT_USAGE;
}

int inspect_open_store(struct inspect_ctx *ctx, struct store **out, crio_error_t *err) {
  if (ctx->store == NULL) {
    free(ctx->db_dir);
    ctx->db_dir = xasprintf("%s/db", ctx->root);
    /* Checked here, before LMDB, so that a missing database is reported
     * as such, in one line, whatever the store would say about it. */
    cleanup_free char *data = xasprintf("%s/data.mdb", ctx->db_dir);
    struct stat st;
    if (stat(ctx->db_dir, &st) < 0 || stat(data, &st) < 0)
      return crio_error_errno(err, errno, "open database %s", ctx->db_dir);
    /* A data.mdb cut short makes LMDB fault; say so instead of dumping
     * core (exit status 3, as the daemon's). */
    recovery_db_fault_guard(ctx->db_dir);
    struct store_options options = {
        .dir = ctx->db_dir,
        .read_only = true,
    };
    if (store_open(&options, &ctx->store, err) < 0)
      return crio_error_prefix(err, "open database %s", ctx->db_dir);
  }
  *out = ctx->store;
  return 0;
}

int inspect_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts) {
  /* glibc reads a leading '+' (stop at the first non-option) only in
   * front of the ':'. */
  bool stop_at_arg = shortopts[0] == '+';
  char opts[32];
  snprintf(opts, sizeof(opts), "%s:%s", stop_at_arg ? "+" : "", shortopts + stop_at_arg);
  return getopt_long(argc, argv, opts, longopts, NULL);
}

static int getopt_error(int opt, char **argv, crio_error_t *err) {
  const char *arg = argv[optind - 1];
  if (opt == ':')
    return inspect_usage_error(err, "option '%s' needs an argument", arg);
  if (optopt != 0)
    return inspect_usage_error(err, "unknown option '-%c'", optopt);
  return inspect_usage_error(err, "unknown option '%s'", arg);
}

int inspect_common_option(struct inspect_ctx *ctx, int opt, char **argv, crio_error_t *err) {
  switch (opt) {
  case INSPECT_OPT_JSON:
    ctx->json = true;
    return 0;
  case INSPECT_OPT_ROOT:
    if (*optarg == '\0')
      return inspect_usage_error(err, "--root needs a directory");
    ctx->root = optarg;
    return 0;
  default:
    return getopt_error(opt, argv, err);
  }
}

int inspect_no_arguments(int argc, char **argv, crio_error_t *err) {
  if (optind < argc)
    return inspect_usage_error(err, "unexpected argument '%s'", argv[optind]);
  return 0;
}

int inspect_common_options_only(struct inspect_ctx *ctx, int argc, char **argv, crio_error_t *err) {
  static const struct option options[] = {
      INSPECT_COMMON_OPTIONS,
      {NULL, 0, NULL, 0},
  };
  int opt;
  while ((opt = inspect_getopt(argc, argv, "", options)) != -1)
    if (inspect_common_option(ctx, opt, argv, err) < 0)
      return INSPECT_USAGE;
  return 0;
}

int inspect_open_store_no_arguments(struct inspect_ctx *ctx, int argc, char **argv,
                                    struct store **store, crio_error_t *err) {
  if (inspect_no_arguments(argc, argv, err) < 0)
    return INSPECT_USAGE;
  if (inspect_open_store(ctx, store, err) < 0)
    return INSPECT_FAILED;
  return 0;
}

int inspect_open_store_plain(struct inspect_ctx *ctx, int argc, char **argv, struct store **store,
                             crio_error_t *err) {
  if (inspect_common_options_only(ctx, argc, argv, err) < 0)
    return INSPECT_USAGE;
  return inspect_open_store_no_arguments(ctx, argc, argv, store, err);
}

static void print_help(FILE *out) {
  fprintf(out, "Usage: " INSPECT_PROGRAM " [--root DIR] [--json] COMMAND [ARGS]\n"
               "\n"
               "Read-only inspection of the daemon's database (<root>/db) and\n"
               "state log.  Safe while the daemon runs.\n"
               "\n"
               "Commands:\n");
  for (size_t i = 0; i < N_COMMANDS; i++)
    fprintf(out, "  %-12s %s\n", commands[i]->name, commands[i]->summary);
  fprintf(out, "\n"
               "Options:\n"
               "  --root DIR   daemon state directory (default " INSPECT_DEFAULT_ROOT ")\n"
               "  --json       JSON for scripts instead of a table\n"
               "  -h, --help   print this help; COMMAND --help prints a command's\n"
               "  --version    print the version and exit\n"
               "\n"
               "Exit status: 0 ok, 1 error, 2 usage error.\n");
}

static void print_command_help(const struct inspect_command *cmd) {
  printf("Usage: " INSPECT_PROGRAM " [--root DIR] [--json] %s%s%s\n\n%c%s.\n", cmd->name,
         *cmd->args ? " " : "", cmd->args, toupper((unsigned char)cmd->summary[0]),
         cmd->summary + 1);
  if (cmd->options)
    printf("\nOptions:\n%s", cmd->options);
}

/* A command's own --help is answered before the command runs, so no
 * command needs to know about it. */
static bool wants_help(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0)
      return false;
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
      return true;
  }
  return false;
}

static void ctx_release(struct inspect_ctx *ctx) {
  if (ctx->store != NULL)
    store_close(ctx->store);
  ctx->store = NULL;
  free(ctx->db_dir);
  ctx->db_dir = NULL;
}

/* *cmd_out: the command, once known, so a usage error can point at the
 * command's own help. */
static int run(struct inspect_ctx *ctx, int argc, char **argv,
               const struct inspect_command **cmd_out, crio_error_t *err) {
  enum { OPT_VERSION = 0x200 };
  static const struct option options[] = {
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, OPT_VERSION},
      INSPECT_COMMON_OPTIONS,
      {NULL, 0, NULL, 0},
  };
  int opt;
  /* '+': stop at the command name; the command parses the rest. */
  while ((opt = inspect_getopt(argc, argv, "+h", options)) != -1) {
    switch (opt) {
    case 'h':
      print_help(stdout);
      return 0;
    case OPT_VERSION:
      printf(INSPECT_PROGRAM " %s (store schema %d)\n", CRIO_VERSION, STORE_SCHEMA_VERSION);
      return 0;
    default:
      if (inspect_common_option(ctx, opt, argv, err) < 0)
        return INSPECT_USAGE;
    }
  }
  if (optind >= argc)
    return inspect_usage_error(err, "missing command");

  const char *name = argv[optind];
  const struct inspect_command *cmd = NULL;
  for (size_t i = 0; i < N_COMMANDS && cmd == NULL; i++)
    if (strcmp(commands[i]->name, name) == 0)
      cmd = commands[i];
  if (cmd == NULL)
    return inspect_usage_error(err, "unknown command '%s'", name);
  *cmd_out = cmd;

  int cmd_argc = argc - optind;
  char **cmd_argv = argv + optind;
  if (wants_help(cmd_argc, cmd_argv)) {
    print_command_help(cmd);
    return 0;
  }
  optind = 0; /* glibc: 0 re-initialises getopt for the command's argv */
  return cmd->run(ctx, cmd_argc, cmd_argv, err);
}

int main(int argc, char **argv) {
  /* cJSON allocates through our allocator, which aborts on exhaustion like
   * everything else, so no cJSON call needs a NULL check. */
  cJSON_Hooks hooks = {.malloc_fn = xmalloc, .free_fn = free};
  cJSON_InitHooks(&hooks);
  /* Only warnings and errors of the libraries reach stderr: a tool's
   * stderr is for what went wrong. */
  crio_log_init(CRIO_LOG_WARNING, false);

  struct inspect_ctx ctx = {.root = INSPECT_DEFAULT_ROOT};
  const struct inspect_command *cmd = NULL;
  cleanup_error crio_error_t err = NULL;
  int ret = run(&ctx, argc, argv, &cmd, &err);
  ctx_release(&ctx);
  if (fflush(stdout) != 0 && ret == 0)
    ret = crio_error_errno(&err, errno, "write standard output");

  if (ret == INSPECT_USAGE) {
    fprintf(stderr, INSPECT_PROGRAM ": %s\nTry '" INSPECT_PROGRAM "%s%s --help'.\n",
            crio_error_message(&err), cmd ? " " : "", cmd ? cmd->name : "");
    return 2;
  }
  if (ret < 0) {
    fprintf(stderr, INSPECT_PROGRAM ": %s\n", crio_error_message(&err));
    /* A damaged database has the daemon's status for it. */
    return crio_error_status(&err) == EUCLEAN ? RECOVERY_EXIT_DB_DAMAGED : 1;
  }
  return 0;
}
