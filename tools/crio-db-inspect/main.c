/* crio-db-inspect: read-only inspection of the daemon's database and state
 * log, safe while the daemon runs.  This file parses the global options
 * and dispatches to one command per file through the table below; adding
 * a command is a new cmd_*.c, one line here and one in CMakeLists.txt.
 * What the commands share (options, usage errors, the store) is in
 * options.c, which calls none of them. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
