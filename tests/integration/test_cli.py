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
    values = effective(out)
    assert values["crio.runtime.log_level"] == '"info"', out


def test_config_default_writes_every_setting_uncommented_as_cri_o_does(tmp_path):
    """CRI-O's `config --default` writes every key uncommented (its
    displayAllConfig), so a value can be edited in place (CRI-O's test
    helpers sed crio.conf's log_level); read back, it is the default
    configuration."""
    out = crio("config", "--default").stdout
    values = effective(out)
    assert values["crio.runtime.log_level"] == '"info"', out
    assert values["crio.image.pause_image"] and values["crio.api.listen"], values
    assert not any(line.startswith("# ") and " = " in line and not line.startswith("# (")
                   and line[2:].split(" = ")[0].isidentifier() for line in out.splitlines()), \
        "expected no commented-out setting in config --default"
    conf = tmp_path / "default.conf"
    conf.write_text(out.replace('log_level = "info"', 'log_level = "warn"'))
    values = effective(crio("-c", str(conf), "-d", "", "config").stdout)
    assert values["crio.runtime.log_level"] == '"warning"', values
    # Without --default, settings at their default stay commented out.
    assert "crio.runtime.log_level" not in effective(crio("-c", "", "-d", "", "config").stdout)


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
    """Exit status 1, as CRI-O's CLI exits on any error (logrus.Fatal)."""
    out = crio("frobnicate", check=False)
    assert out.returncode == 1 and "unknown command" in out.stderr, out.stderr
    out = crio("--no-such-flag", check=False)
    assert out.returncode == 1 and "Try 'crio --help'" in out.stderr, out.stderr
    # CRI-O's status tests: a missing id or an unknown socket fails with 1.
    out = crio("status", "--socket", "/nonexistent/crio.sock", "containers", check=False)
    assert out.returncode == 1 and "--id" in out.stderr, out.stderr
    out = crio("status", "--socket", "/nonexistent/crio.sock", "s", check=False)
    assert out.returncode == 1, out.stderr


def test_daemon_warns_once_about_a_flag_whose_feature_is_missing(crio_factory):
    d = crio_factory.start(extra_args=["--pinns-path", "/usr/bin/pinns", "--config", "",
                                 "--config-dir", ""])
    log = d.log()
    hits = [line for line in log.splitlines() if "pinns_path" in line and "no effect" in line]
    assert len(hits) == 1, f"expected one warning about pinns_path, saw {hits}"


def test_default_sysctls_cri_o_refuses_are_refused(tmp_path):
    """default_sysctls has no effect here, but what CRI-O's start refuses
    (a space around the key or value, no '=') is refused too (CRI-O's pod.bats starts crio with
    CONTAINER_DEFAULT_SYSCTLS="net.ipv4.ip_forward = 1" and expects no
    daemon)."""
    out = crio("-c", "", "-d", "", "config",
               env={"CONTAINER_DEFAULT_SYSCTLS": "net.ipv4.ip_forward = 1"}, check=False)
    assert out.returncode == 1 and "extra spaces found" in out.stderr, out.stderr
    out = crio("-c", "", "-d", "", "--default-sysctls", "net.ipv4.ip_forward", "config",
               check=False)
    assert out.returncode == 1 and "key=value" in out.stderr, out.stderr
    crio("-c", "", "-d", "", "--default-sysctls", "net.ipv4.ping_group_range=0 1", "config")
