"""crio.conf and crio.conf.d: CRI-O's tables and keys, drop-ins in lexical
order (a later file wins), unknown keys warned about naming file and key,
a wrong type or value refused naming file, line and key, runtime_path = ""
meaning "find it on PATH", and `crio config` output that reads back into the
same configuration."""

import subprocess

from test_cli import crio, effective

import crio_harness as h


def test_drop_ins_apply_in_lexical_order_later_wins(tmp_path):
    conf = tmp_path / "crio.conf"
    conf.write_text('[crio.runtime]\nlog_level = "error"\n')
    d = tmp_path / "crio.conf.d"
    d.mkdir()
    (d / "20-b.conf").write_text('[crio.runtime]\nlog_level = "trace"\n')
    (d / "10-a.conf").write_text('[crio.runtime]\nlog_level = "debug"\n'
                                 '[crio.image]\npause_image = "example.com/p:1"\n')
    (d / "30-c.conf~").write_text('[crio.runtime]\nlog_level = "warn"\n')
    (d / ".40-hidden.conf").write_text('[crio.runtime]\nlog_level = "warn"\n')
    values = effective(crio("-c", str(conf), "-d", str(d), "config").stdout)
    assert values["crio.runtime.log_level"] == '"trace"', values
    # 20-b did not name pause_image, so 10-a's stays.
    assert values["crio.image.pause_image"] == '"example.com/p:1"', values


def test_unknown_keys_warn_naming_file_and_key(tmp_path):
    conf = tmp_path / "crio.conf"
    conf.write_text('[crio.runtime]\nno_such_key = 1\n[crio.bogus]\nx = 1\n')
    out = crio("-c", str(conf), "-d", "", "config")
    assert f"{conf}:2: unknown key crio.runtime.no_such_key" in out.stderr, out.stderr
    assert "crio.bogus" in out.stderr, out.stderr


def test_wrong_type_fails_naming_file_line_and_key(tmp_path):
    conf = tmp_path / "crio.conf"
    conf.write_text('[crio]\n\n[crio.metrics]\nenable_metrics = "yes"\n')
    out = crio("-c", str(conf), "-d", "", "config", check=False)
    assert out.returncode != 0
    assert f"{conf}:4:1: crio.metrics.enable_metrics" in out.stderr, out.stderr
    conf.write_text('[crio.runtime]\nlog_level = "loud"\n')
    out = crio("-c", str(conf), "-d", "", "config", check=False)
    assert out.returncode != 0 and f"{conf}:2:1: crio.runtime.log_level" in out.stderr, out.stderr
    assert "not a valid logrus" in out.stderr, "CRI-O's tests look for its wording"


def test_empty_runtime_path_means_found_on_path(tmp_path):
    conf = tmp_path / "crio.conf"
    conf.write_text('[crio.runtime]\ndefault_runtime = "runc"\n'
                    '[crio.runtime.runtimes.runc]\nruntime_path = ""\nruntime_type = "oci"\n'
                    'monitor_path = ""\n')
    out = crio("-c", str(conf), "-d", "", "config").stdout
    runc = subprocess.run(["sh", "-c", "command -v runc"], capture_output=True, text=True,
                          env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
                                       "/sbin:/bin"}).stdout.strip()
    assert f'runtime_path = "{runc}"' in out, out


def test_config_output_round_trips(tmp_path):
    first = crio("-c", "", "-d", "", "--root", str(tmp_path / "r"), "--runroot",
                 str(tmp_path / "rr"), "-l", "debug", "--pinned-images", "a,b",
                 "--pinned-images", "c*", "--default-sysctls", "net.ipv4.ping_group_range=0 1",
                 "--enable-metrics", "--metrics-port", "9123", "--stream-port", "10010",
                 "--pull-progress-timeout", "2m", "--hooks-dir", "/h1,/h2", "config").stdout
    conf = tmp_path / "crio.conf"
    conf.write_text(first)
    second = crio("-c", str(conf), "-d", "", "config").stdout
    assert first == second, "crio config fed back gave another configuration"
    values = effective(first)
    assert values["crio.image.pull_progress_timeout"] == '"120s"', values
    assert values["crio.metrics.enable_metrics"] == "true"


def test_crio_o_default_style_file_is_accepted(tmp_path):
    """The shapes CRI-O's own `crio config --default` writes: an empty
    runtime_path, string ports, commented keys, an uncommented handler
    table and sub-tables for features we lack."""
    conf = tmp_path / "crio.conf"
    conf.write_text('[crio]\n# root = "/var/lib/containers/storage"\n'
                    'log_dir = "/var/log/crio/pods"\nversion_file = ""\n'
                    '[crio.api]\nstream_address = "127.0.0.1"\nstream_port = "0"\n'
                    '[crio.runtime]\ndefault_runtime = "crun"\ndrop_infra_ctr = true\n'
                    'namespaces_dir = "/var/run"\npinns_path = ""\ndefault_sysctls = []\n'
                    '[crio.runtime.runtimes.crun]\nruntime_path = ""\nruntime_type = "oci"\n'
                    'runtime_root = "/run/crun"\nmonitor_path = "/usr/libexec/crio/conmon"\n'
                    'allowed_annotations = ["io.containers.trace-syscall"]\n'
                    '[crio.runtime.workloads.management]\nactivation_annotation = "x"\n'
                    '[crio.image]\npause_image = "registry.k8s.io/pause:3.10"\n'
                    'pull_progress_timeout = "0s"\n'
                    '[crio.network]\nnetwork_dir = "/etc/cni/net.d/"\n'
                    'plugin_dirs = ["/opt/cni/bin/"]\n'
                    '[crio.metrics]\nenable_metrics = false\nmetrics_port = 9090\n'
                    '[crio.stats]\nstats_collection_period = 0\n'
                    '[crio.nri]\nenable_nri = true\n[crio.nri.default_validator]\n'
                    'nri_enable_default_validator = false\n')
    out = crio("-c", str(conf), "-d", "", "config")
    values = effective(out.stdout)
    assert values["crio.runtime.default_runtime"] == '"crun"'
    assert values["crio.image.pull_progress_timeout"] == '"0s"'
    assert "unknown key" not in out.stderr, out.stderr


def test_docs_list_every_setting_as_the_binary_does():
    doc = (h.REPO / "docs" / "configuration.md").read_text()
    begin, end = "<!-- settings:begin -->\n", "<!-- settings:end -->"
    table = doc[doc.index(begin) + len(begin):doc.index(end)]
    assert table == crio("markdown").stdout, \
        "docs/configuration.md's settings table differs from `crio markdown`; regenerate it"
