"""The Prometheus endpoint (enable_metrics): off by default, CRI-O's metric
names on metrics_host:metrics_port, and counters that move with what the
daemon does: operations per RPC, image pulls, containers created and
started, step latencies, the database gauges."""

import re
import time
import urllib.request

import containers_harness as ch
from containers_harness import ctr_env_factory, image_source  # noqa: F401 (fixtures)
from pods_harness import pod_cgroups, pod_net  # noqa: F401 (fixtures)
from registry_harness import free_port


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        assert r.status == 200
        return r.read().decode()


def value(text, name, **labels):
    """The sample's value, 0 when absent."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(want) + r"\}" if want else "") + r" (\S+)$"
    for line in text.splitlines():
        m = re.match(pattern, line)
        if m:
            return float(m.group(1))
    return 0.0


def test_metrics_are_off_by_default(crio):
    assert "metrics on" not in crio.log(), "expected no metrics endpoint without enable_metrics"


def test_metrics_move_with_operations_pulls_and_containers(ctr_env_factory):
    port = free_port()
    env = ctr_env_factory("metrics", crio_conf_extra=f"[crio.metrics]\nenable_metrics = true\n"
                                                     f"metrics_port = {port}\n")
    env.start()
    env.pull()
    first = scrape(port)
    assert "# TYPE container_runtime_crio_operations_total counter" in first
    assert value(first, "container_runtime_crio_image_pulls_success_total") >= 1, "the harness pulled one image"
    assert value(first, "crio_store_database_bytes") > 0
    assert value(first, "crio_store_log_entries") > 0
    assert value(first, "container_runtime_crio_default_runtime", runtime="runc") == 1 or \
        "container_runtime_crio_default_runtime{" in first
    versions = value(first, "container_runtime_crio_operations_total", operation="Version")
    for _ in range(3):
        env.client.version()
    pod_id, pod_cfg = env.run_pod("m")
    cid = ch.create_container(env.client, pod_id, ch.shell("app", env.image, "exec sleep 100"),
                              pod_cfg)
    ch.start_container(env.client, cid)
    after = scrape(port)
    assert value(after, "container_runtime_crio_operations_total", operation="Version") >= versions + 3
    assert value(after, "container_runtime_crio_operations_total", operation="RunPodSandbox") >= 1
    assert value(after, "crio_containers_created_total") >= 1
    assert value(after, "crio_containers_started_total") >= 1
    assert value(after, "crio_reconciler_step_latency_seconds_count",
                 transition="container.start") >= 1
    assert value(after, "crio_store_records", kind="container") >= 1
    # An error is counted as one.
    errors = value(after, "container_runtime_crio_operations_errors_total", operation="ContainerStatus")
    try:
        ch.container_status(env.client, "0" * 64)
    except Exception:  # noqa: BLE001 (NOT_FOUND expected)
        pass
    assert value(scrape(port), "container_runtime_crio_operations_errors_total",
                 operation="ContainerStatus") == errors + 1
    ch.stop_container(env.client, cid, timeout_s=0)


# ---- CRI-O's labelled series: pulls by media type and size, layer reuse -----------

def test_pull_bytes_by_mediatype_and_size_layer_reuse_and_default_runtime(crio_factory,
                                                                        tmp_path):
    import signal

    import images_harness as ih
    import registry_harness as rh

    work = rh.Workdir(prefix="crio-metrics-labels-")
    reg = ih.start_registry(work.sub("registry"), access_log=False)
    try:
        one, two = ih.make_image("labels one"), ih.make_image("labels two")  # share busybox
        pusher = ih.Pusher(reg.host)
        pusher.image("m/one", "v1", one)
        pusher.image("m/two", "v1", two)
        conf = ih.registries_conf(tmp_path / "registries.conf", insecure=[reg.host])
        port = free_port()
        d = ih.image_daemon(crio_factory, conf,
                            extra=["--enable-metrics", "--metrics-port", str(port)])
        dropins = tmp_path / "crio.conf.d"
        dropins.mkdir()
        crio_conf = dropins / "10-runtime.conf"
        crio_conf.write_text('[crio.runtime]\ndefault_runtime = "runc"\n')
        d.extra_args += ["--config-dir", str(dropins)]
        d.start()
        ih.pull(d.client, f"{reg.host}/m/one:v1")
        time.sleep(0.3)
        first = scrape(port)
        pulled = [line for line in first.splitlines()
                  if line.startswith("container_runtime_crio_image_pulls_bytes_total{")]
        assert pulled and all(re.match(r'container_runtime_crio_image_pulls_bytes_total\{mediatype="[^"]*layer[^"]*",'
                                       r'size=">[0-9]+ [KMG]?i?B"\} ', line)
                              for line in pulled), pulled
        total = sum(float(line.rsplit(" ", 1)[1]) for line in pulled)
        assert total > 1_000_000, f"expected busybox's compressed bytes counted, saw {pulled}"
        assert "container_runtime_crio_image_layer_reuse_total{" not in first, "nothing reused yet"

        ih.pull(d.client, f"{reg.host}/m/two:v1")
        time.sleep(0.3)
        after = scrape(port)
        busybox_hex = two.chain_ids[0].split(":", 1)[-1]
        reuse = re.findall(r'^container_runtime_crio_image_layer_reuse_total\{name="(?:sha256:)?([0-9a-f]{64})"\} (\S+)$',
                           after, re.M)
        assert reuse == [(busybox_hex, "1")], \
            f"expected busybox's layer reused once, saw {reuse}:\n{after}"
        skipped = [line for line in after.splitlines()
                   if line.startswith("container_runtime_crio_image_pulls_skipped_bytes_total{")]
        assert skipped and sum(float(x.rsplit(" ", 1)[1]) for x in skipped) > 1_000_000, skipped
        assert value(after, "container_runtime_crio_image_pulls_success_total") == 2

        # container_runtime_crio_default_runtime follows a SIGHUP.
        assert value(after, "container_runtime_crio_default_runtime", runtime="runc") == 1
        crio_conf.write_text('[crio.runtime]\ndefault_runtime = "crun"\n')
        d.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and \
                value(scrape(port), "container_runtime_crio_default_runtime", runtime="crun") != 1:
            time.sleep(0.1)
        last = scrape(port)
        assert value(last, "container_runtime_crio_default_runtime", runtime="crun") == 1, last
        assert 'runtime="runc"' not in last
    finally:
        reg.stop()
        work.close()


def test_an_oom_kill_counts_by_container_name_until_the_container_is_removed(ctr_env_factory):
    port = free_port()
    env = ctr_env_factory("oom", crio_conf_extra=f"[crio.metrics]\nenable_metrics = true\n"
                                                 f"metrics_port = {port}\n")
    env.start()
    env.pull()
    pod_id, pod_cfg = env.run_pod("oom")
    cfg = ch.shell("hog", env.image, "echo start; dd if=/dev/zero of=/dev/null bs=64M count=1")
    cfg.linux.resources.memory_limit_in_bytes = 16 << 20
    cid = ch.run_container(env, pod_id, pod_cfg, cfg)
    st = ch.wait_state(env.client, cid, ch.h.api().CONTAINER_EXITED)
    assert st.reason == "OOMKilled", st
    pattern = re.compile(r'^container_runtime_crio_containers_oom_count_total\{name="([^"]*)"\} (\S+)$', re.M)
    samples = []
    for _ in range(50):
        text = scrape(port)
        samples = pattern.findall(text)
        if samples:
            break
        time.sleep(0.1)
    assert value(text, "container_runtime_crio_containers_oom_total") == 1, text
    assert len(samples) == 1 and "hog" in samples[0][0] and samples[0][1] == "1", samples
    ch.remove_container(env.client, cid)
    for _ in range(50):
        if not pattern.findall(scrape(port)):
            break
        time.sleep(0.1)
    assert pattern.findall(scrape(port)) == [], "expected the series gone with the container"
    assert value(scrape(port), "container_runtime_crio_containers_oom_total") == 1
