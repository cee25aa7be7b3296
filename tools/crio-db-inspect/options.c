/* What every command of crio-db-inspect shares: the common options and
 * getopt's errors, usage errors, and the database opened once, read-only.
 * main.c dispatches to the commands; the commands and main.c call this. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tools/crio-db-inspect/inspect.h"

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
