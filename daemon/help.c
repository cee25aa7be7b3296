/* `crio --help`: the commands, then every flag from the settings table
 * with its variable, key and default, so the list can never drift from
 * what is accepted. */
#include <stdio.h>
#include <string.h>

#include "daemon/daemon.h"
#include "daemon/settings.h"

void daemon_usage(FILE *out) {
  fputs("Usage: crio [global flags] [command [flags]]\n"
        "\n"
        "A Kubernetes container runtime: serves the CRI v1 API (and an HTTP status\n"
        "endpoint) on a unix socket.  CRI-O's commands, flags, variables and\n"
        "configuration files; flags override variables, which override the files.\n"
        "\n"
        "Commands:\n"
        "  (none)      run the daemon\n"
        "  wipe        with crio stopped, release every host resource the state log\n"
        "              says was acquired and never released and delete pod and\n"
        "              container records, when version_file is missing (a reboot)\n"
        "              or of another version; images too when version_file_persist\n"
        "              is as well.  -f/--force: both, without the check.  --dry-run\n"
        "              prints the plan; --from-host works without the database\n"
        "              (damaged or lost).  Exit status: 0 done (or nothing to do),\n"
        "              1 refused (crio running) or a release failed, 3 the database\n"
        "              is damaged.\n"
        "  config      print the effective configuration as commented TOML;\n"
        "              --default prints the defaults\n"
        "  version     version and build facts; -j/--json for JSON\n"
        "  status      ask a running crio over its socket: info, config,\n"
        "              containers --id ID; -s/--socket PATH (default: --listen)\n"
        "\n"
        "Global flags:\n"
        "  -c, --config FILE        config file (default /etc/crio/crio.conf when it\n"
        "                           exists; \"\" none) [$CONTAINER_CONFIG]\n"
        "  -d, --config-dir DIR     drop-ins, in lexical order, later wins\n"
        "                           (default /etc/crio/crio.conf.d; \"\" none)\n"
        "                           [$CONTAINER_CONFIG_DIR]\n"
        "      --runtimes LIST      name:path:root:type[:privileged:config] handlers,\n"
        "                           comma-separated [$CONTAINER_RUNTIMES]\n"
        "  -h, --help               this help\n"
        "  -v, --version            the version, one line\n",
        out);
  for (size_t i = 0; i < daemon_n_settings; i++) {
    const struct daemon_setting *s = &daemon_settings[i];
    if (s->flag == NULL)
      continue;
    char head[96];
    if (s->short_flag)
      snprintf(head, sizeof(head), "  -%c, --%s", s->short_flag, s->flag);
    else
      snprintf(head, sizeof(head), "      --%s", s->flag);
    fprintf(out, "%s%s\n", head, s->offset == DS_NO_FIELD ? "  (accepted; no effect here)" : "");
    fprintf(out, "        %s", s->help);
    if (s->def && s->def[0])
      fprintf(out, " (default: %s)", s->def);
    if (s->env)
      fprintf(out, " [$%s]", s->env);
    if (s->table)
      fprintf(out, " [%s] %s", s->table, s->key);
    fputc('\n', out);
  }
  fputs("\nEnvironment (for tests): CRIO_CRASH_AT=<transition>[:before|:after],\n"
        "CRIO_FAIL_AT=<transition>, CRIO_BOOT_ID_PATH=<file>, CRIO_LOG_COMPACT_THRESHOLD=N\n"
        "(see docs/configuration.md).\n",
        out);
}

/* `crio markdown`: every key, flag and variable with its default, as the
 * table in docs/configuration.md (a test checks they agree). */
void daemon_settings_markdown(FILE *out) {
  fputs("| key | flag | variable | default | effect here |\n"
        "| --- | --- | --- | --- | --- |\n",
        out);
  for (size_t i = 0; i < daemon_n_settings; i++) {
    const struct daemon_setting *s = &daemon_settings[i];
    if (s->table)
      fprintf(out, "| `[%s] %s` | ", s->table, s->key);
    else
      fputs("| | ", out);
    if (s->flag && s->short_flag)
      fprintf(out, "`-%c`, `--%s` | ", s->short_flag, s->flag);
    else if (s->flag)
      fprintf(out, "`--%s` | ", s->flag);
    else
      fputs("| ", out);
    fprintf(out, "%s%s%s | ", s->env ? "`" : "", s->env ? s->env : "", s->env ? "`" : "");
    if (s->def == NULL)
      fputs("computed | ", out);
    else if (s->def[0] == '\0')
      fputs("\"\" | ", out);
    else
      fprintf(out, "`%s` | ", s->def);
    fprintf(out, "%s%s |\n", s->offset == DS_NO_FIELD ? "**accepted, no effect**: " : "", s->help);
  }
}
