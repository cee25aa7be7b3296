"""The CRI metrics (ListMetricDescriptors, ListPodSandboxMetrics,
StreamPodSandboxMetrics) on real pods and containers: the descriptors name
exactly the metrics produced, with their label keys; each sample's labels
match them; the values are the stats RPCs' (the pod cgroup's and each
container's CPU and memory, the pod's process count and eth0 counters, the
writable layer) with the time they were read; a stopped pod gives no
network metrics rather than zeros; the stream sends what the list returns."""

import time

import containers_harness as ch
import crio_harness as h
from containers_harness import ctr_env, image_source  # noqa: F401 (fixtures)
from pods_harness import pod_cgroups, pod_net  # noqa: F401 (fixtures)
from test_pod_stats import ping

API = h.api()
IDLE = "trap 'exit 0' TERM; while :; do sleep 0.1; done"
BUSY = "head -c 3145728 /dev/zero > /data.bin; echo ready; while :; do :; done"
BASE_KEYS = ["id", "namespace", "pod", "container"]
POD_METRICS = {"container_cpu_usage_seconds_total", "container_memory_usage_bytes",
               "container_memory_working_set_bytes", "container_memory_rss",
               "container_memory_failures_total", "container_processes",
               "container_network_receive_bytes_total", "container_network_receive_errors_total",
               "container_network_transmit_bytes_total",
               "container_network_transmit_errors_total"}
CONTAINER_METRICS = {"container_cpu_usage_seconds_total", "container_memory_usage_bytes",
                     "container_memory_working_set_bytes", "container_memory_rss",
                     "container_memory_failures_total", "container_fs_usage_bytes"}


def run_pod(env, name, **kw):
    """A pod with a cgroup parent of its own (the kubelet's pod<uid>), so
    its pod-level samples are its own."""
    return env.run_pod(name, cgroup_parent=f"{env.cgroups.path}/{name}", **kw)


def descriptors(client):
    return {d.name: d for d in client.call("ListMetricDescriptors").descriptors}


def list_metrics(client):
    return {m.pod_sandbox_id: m for m in client.call("ListPodSandboxMetrics").pod_metrics}


def stream_metrics(client):
    responses = client.stream("StreamPodSandboxMetrics", timeout=30)
    for r in responses:
        assert len(r.pod_sandbox_metrics) > 0, "expected no empty message"
    return [m for r in responses for m in r.pod_sandbox_metrics]


def samples(metrics):
    """{(name, extra label values...): Metric}"""
    out = {}
    for m in metrics:
        key = (m.name, *m.label_values[len(BASE_KEYS):])
        assert key not in out, f"expected one sample per name and labels, saw {key} twice"
        out[key] = m
    return out


def value(metrics, name, *extra):
    return samples(metrics)[(name, *extra)].value.value


def test_descriptors_name_exactly_what_is_produced(ctr_env):
    env = ctr_env
    descs = descriptors(env.client)
    assert set(descs) == POD_METRICS | CONTAINER_METRICS, f"saw {sorted(descs)}"
    for d in descs.values():
        assert d.help and list(d.label_keys[:4]) == BASE_KEYS, f"saw {d}"
    assert list(descs["container_cpu_usage_seconds_total"].label_keys[4:]) == ["cpu"]
    assert list(descs["container_network_receive_bytes_total"].label_keys[4:]) == ["interface"]
    assert list(descs["container_memory_failures_total"].label_keys[4:]) == \
        ["failure_type", "scope"]

    pod_id, cfg = run_pod(env, "described", namespace="metrics-ns")
    cid = ch.run_container(env, pod_id, cfg, ch.shell("app", env.image, IDLE))
    pm = list_metrics(env.client)[pod_id]
    assert {m.name for m in pm.metrics} == POD_METRICS, f"saw {sorted({m.name for m in pm.metrics})}"
    [cm] = pm.container_metrics
    assert cm.container_id == cid
    assert {m.name for m in cm.metrics} == CONTAINER_METRICS
    now = time.time_ns()
    for m in list(pm.metrics) + list(cm.metrics):
        d = descs[m.name]
        assert len(m.label_values) == len(d.label_keys), f"{m.name}: labels {m.label_values}"
        assert 0 < m.timestamp <= now, f"{m.name}: expected the time it was read, saw {m.timestamp}"
        want = API.COUNTER if m.name.endswith("_total") else API.GAUGE
        assert m.metric_type == want, f"{m.name}: saw type {m.metric_type}"
    for m in pm.metrics:
        assert list(m.label_values[:4]) == [pod_id, "metrics-ns", "described", "POD"]
    for m in cm.metrics:
        assert list(m.label_values[:4]) == [cid, "metrics-ns", "described", "app"]


def test_values_are_the_stats_values(ctr_env):
    env = ctr_env
    pod_id, cfg = run_pod(env, "valued")
    cid = ch.run_container(env, pod_id, cfg, ch.shell("busy", env.image, BUSY))
    log = ch.container_status(env.client, cid).status.log_path
    ch.wait_for(lambda: ch.log_lines(log), what="the container to be ready")

    def container_cpu_seconds():
        [cm] = list_metrics(env.client)[pod_id].container_metrics
        return value(cm.metrics, "container_cpu_usage_seconds_total", "total")

    # A whole second of CPU, for a whole-second counter (however busy the
    # host is).
    ch.wait_for(lambda: container_cpu_seconds() >= 1, timeout=30,
                what="the container to have used a second of CPU")

    ip = env.client.call("PodSandboxStatus", env.client.request(
        "PodSandboxStatus", pod_sandbox_id=pod_id)).status.network.ip
    before = list_metrics(env.client)[pod_id]
    assert ping(ip, 5, payload=1000) >= 4, "expected the pod to answer pings on the test bridge"
    stats = env.client.call("PodSandboxStats", env.client.request(
        "PodSandboxStats", pod_sandbox_id=pod_id)).stats
    after = list_metrics(env.client)[pod_id]

    rx0 = value(before.metrics, "container_network_receive_bytes_total", "eth0")
    rx1 = value(after.metrics, "container_network_receive_bytes_total", "eth0")
    tx1 = value(after.metrics, "container_network_transmit_bytes_total", "eth0")
    assert rx1 - rx0 >= 4 * 1000, f"expected >= 4 KB more received after pings, saw {rx0} -> {rx1}"
    assert rx0 <= stats.linux.network.default_interface.rx_bytes.value <= rx1
    assert tx1 >= stats.linux.network.default_interface.tx_bytes.value > 0

    pod_cpu = [value(x.metrics, "container_cpu_usage_seconds_total", "total")
               for x in (before, after)]
    stats_cpu = stats.linux.cpu.usage_core_nano_seconds.value // 1_000_000_000
    assert 1 <= pod_cpu[0] <= stats_cpu <= pod_cpu[1], \
        f"expected whole CPU seconds around the stats' {stats_cpu}, saw {pod_cpu}"
    assert value(after.metrics, "container_processes") >= 1
    ws = value(after.metrics, "container_memory_working_set_bytes")
    usage = value(after.metrics, "container_memory_usage_bytes")
    assert 0 < ws <= usage, f"saw working set {ws}, usage {usage}"
    assert value(after.metrics, "container_memory_failures_total", "pgfault", "hierarchy") > 0

    [cm] = after.container_metrics
    [cs] = stats.linux.containers
    assert cm.container_id == cs.attributes.id == cid
    assert value(cm.metrics, "container_cpu_usage_seconds_total", "total") >= \
        cs.cpu.usage_core_nano_seconds.value // 1_000_000_000 >= 1
    assert value(cm.metrics, "container_fs_usage_bytes") >= 3 << 20, \
        "expected the 3 MiB the container wrote in its writable layer"
    assert 0 < value(cm.metrics, "container_memory_working_set_bytes") <= ws


def test_stream_sends_what_the_list_returns_and_a_stopped_pod_has_no_network(ctr_env):
    env = ctr_env
    assert list_metrics(env.client) == {} and stream_metrics(env.client) == []
    running, cfg = run_pod(env, "running")
    ch.run_container(env, running, cfg, ch.shell("one", env.image, IDLE))
    ch.run_container(env, running, cfg, ch.shell("two", env.image, IDLE))
    stopped, _ = run_pod(env, "stopped")
    env.client.call("StopPodSandbox", env.client.request("StopPodSandbox", pod_sandbox_id=stopped),
                    timeout=60)

    listed = list_metrics(env.client)
    streamed = {m.pod_sandbox_id: m for m in stream_metrics(env.client)}
    assert set(listed) == set(streamed) == {running, stopped}
    for pod_id in listed:
        a, b = listed[pod_id], streamed[pod_id]
        assert sorted(samples(a.metrics)) == sorted(samples(b.metrics)), pod_id
        assert [c.container_id for c in a.container_metrics] == \
            [c.container_id for c in b.container_metrics]
        for ca, cb in zip(a.container_metrics, b.container_metrics):
            assert sorted(samples(ca.metrics)) == sorted(samples(cb.metrics))
    assert len(listed[running].container_metrics) == 2
    names = {m.name for m in listed[stopped].metrics}
    assert not any("network" in n for n in names), \
        f"expected no network metrics of a stopped pod (its eth0 is gone), saw {sorted(names)}"
    assert "container_memory_usage_bytes" in names, \
        "expected the stopped pod's cgroup (kept until removal) still measured"
