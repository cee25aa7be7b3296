"""CRI-O's command line on our binary: global flags before a subcommand,
`crio version [-j]` with CRI-O's fields, `crio config [--default]`, short
flags, CONTAINER_* variables, --help listing every flag, and flags CRI-O has
for features we lack accepted with a warning."""

import json
import subprocess

import crio_harness as h


def crio(*args, env=None, check=True):
    run_env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    run_env.update(env or {})
    out = subprocess.run([str(h.CRIO_BIN), *args], capture_output=True, text=True,
                         timeout=30, env=run_env)
    if check:
        assert out.returncode == 0, \
            f"crio {' '.join(args)}: expected exit 0, saw {out.returncode}: {out.stderr}"
    return out


def effective(text):
    """The uncommented key = value lines of `crio config` by table."""
    table, values = None, {}
    for line in text.splitlines():
        if line.startswith("[") and line.endswith("]"):
            table = line[1:-1]
        elif line and not line.startswith("#") and " = " in line:
            key, value = line.split(" = ", 1)
            values[f"{table}.{key}"] = value
    return values


def test_version_prints_crio_o_fields_as_text():
    out = crio("version").stdout
    for field in ["Version:", "GitCommit:", "GitTreeState:", "BuildDate:", "GoVersion:",
                  "Compiler:", "Platform:", "Linkmode:", "BuildTags:", "SeccompEnabled:",
                  "AppArmorEnabled:"]:
        assert field in out, f"expected {field} in `crio version`, saw:\n{out}"


def test_version_json_has_crio_o_keys():
    doc = json.loads(crio("version", "-j").stdout)
    for key in ["version", "gitCommit", "gitTreeState", "buildDate", "goVersion", "compiler",
                "platform", "linkmode", "buildTags"]:
        assert doc.get(key), f"expected a non-empty {key} in `crio version -j`, saw {doc}"
    assert isinstance(doc["seccompEnabled"], bool) and isinstance(doc["appArmorEnabled"], bool)
    assert doc["linkmode"] == "dynamic" and doc["buildDate"]


def test_global_flags_before_wipe(tmp_path):
    root, runroot = tmp_path / "root", tmp_path / "run"
    out = crio("-c", "", "-d", "", "--root", str(root), "--runroot", str(runroot), "wipe")
    assert out.returncode == 0
    # The short form of --root too.
    crio("-c", "", "-d", "", "-r", str(root), "--runroot", str(runroot), "wipe")


def test_config_default_ignores_files_and_flags(tmp_path):
    conf = tmp_path / "crio.conf"
    conf.write_text('[crio.runtime]\nlog_level = "debug"\n')
    out = crio("-c", str(conf), "-l", "trace", "config", "--default").stdout
    assert "log_level" not in effective(out).get("crio.runtime.log_level", ""), out
    assert '# log_level = "info"' in out, "expected the default log_level commented out"


def test_config_prints_file_values_and_flags_override_files(tmp_path):
    conf = tmp_path / "crio.conf"
    conf.write_text('[crio.runtime]\nlog_level = "debug"\n[crio.image]\n'
                    'pause_image = "example.com/pause:1"\n')
    values = effective(crio("--config", str(conf), "-d", "", "config").stdout)
    assert values["crio.runtime.log_level"] == '"debug"'
    assert values["crio.image.pause_image"] == '"example.com/pause:1"'
    values = effective(crio("--config", str(conf), "-d", "", "--log-level", "warn",
                            "config").stdout)
    assert values["crio.runtime.log_level"] == '"warning"', values


def test_environment_overrides_files_and_flags_override_environment(tmp_path):
    conf = tmp_path / "crio.conf"
    conf.write_text('[crio.runtime]\nlog_level = "debug"\n')
    env = {"CONTAINER_LOG_LEVEL": "error", "CONTAINER_DEFAULT_SYSCTLS": "a=1,b=2"}
    values = effective(crio("-c", str(conf), "-d", "", "config", env=env).stdout)
    assert values["crio.runtime.log_level"] == '"error"', values
    assert '"a=1"' in values["crio.runtime.default_sysctls"] or \
        "a=1" in crio("-c", str(conf), "-d", "", "config", env=env).stdout
    values = effective(crio("-c", str(conf), "-d", "", "-l", "trace", "config", env=env).stdout)
    assert values["crio.runtime.log_level"] == '"trace"', values


def test_help_lists_crio_o_flags():
    out = crio("--help").stdout
    for flag in ["--hooks-dir", "--apparmor-profile", "--registry",
                 "--cni-default-network", "--pinns-path", "--default-mounts-file",
                 "--config-dir", "--metrics-port", "--enable-metrics", "--log-size-max",
                 "--default-ulimits", "-r, --root", "-l, --log-level", "-s, --storage-driver",
                 "-c, --config", "-d, --config-dir", "CONTAINER_DEFAULT_SYSCTLS"]:
        assert flag in out, f"expected {flag} in --help"


def test_flags_for_missing_features_are_accepted(tmp_path):
    out = crio("-c", "", "-d", "", "--hooks-dir", "/x", "--apparmor-profile", "",
               "--cni-default-network", "crio", "--pinns-path", "/usr/bin/pinns",
               "--default-mounts-file", "/m", "--metrics-port", "9191", "--enable-metrics",
               "--log-size-max", "1024", "--default-ulimits", "nofile=1024:1024",
               "--container-exits-dir", "/e", "--irqbalance-config-file", "/i", "config")
    values = effective(out.stdout)
    assert values["crio.runtime.pinns_path"] == '"/usr/bin/pinns"'
    assert values["crio.metrics.metrics_port"] == "9191"


def test_unknown_command_and_flag_are_usage_errors():
    out = crio("frobnicate", check=False)
    assert out.returncode == 2 and "unknown command" in out.stderr, out.stderr
    out = crio("--no-such-flag", check=False)
    assert out.returncode == 2 and "Try 'crio --help'" in out.stderr, out.stderr


def test_daemon_warns_once_about_a_flag_whose_feature_is_missing(crio_factory):
    d = crio_factory.start(extra_args=["--pinns-path", "/usr/bin/pinns", "--config", "",
                                 "--config-dir", ""])
    log = d.log()
    hits = [line for line in log.splitlines() if "pinns_path" in line and "no effect" in line]
    assert len(hits) == 1, f"expected one warning about pinns_path, saw {hits}"
