"""PodSandboxStats and ListPodSandboxStats against real pods: CPU, memory
and process count of the pod's cgroup (cgroupfs on this cgroup v1 host),
eth0 counters from the pod's network namespace that grow when the test
pings the pod, what a stopped or host-network pod still reports, the list
filters, and NOT_FOUND.

Every pod gets its own cgroup parent (as the kubelet's pod<uid> cgroup) under
a test-owned root, on a test-owned bridge network; all of it is removed at
the end, also on failure."""

import os
import shutil
import socket
import struct
import time
from pathlib import Path

import grpc
import pytest

import crio_harness as h
import pods_harness as p

MEMORY_ROOT = p.CGROUP_ROOT / "memory"
CPUACCT_ROOT = p.CGROUP_ROOT / "cpuacct"


class Env:
    def __init__(self, daemon, net, cgroups):
        self.daemon = daemon
        self.client = daemon.client
        self.net = net
        self.cgroups = cgroups
        self.pods = []
        self._serial = 0

    def run(self, name, **kw):
        """A READY pod with a cgroup parent of its own; returns (id, parent)."""
        self._serial += 1
        parent = f"{self.cgroups.path}/pod{self._serial}"
        cfg = p.pod_config(name, cgroup_parent=parent, **kw)
        pod_id = p.run_pod(self.client, cfg)
        self.pods.append(pod_id)
        return pod_id, parent

    def remove_all(self):
        for pod_id in self.pods:
            try:
                p.stop_pod(self.client, pod_id)
                p.remove_pod(self.client, pod_id)
            except grpc.RpcError:
                pass
        self.pods = []


@pytest.fixture(scope="module")
def env():
    workdir = h.new_workdir()
    net = p.PodNetwork(workdir)
    cgroups = p.CgroupParent()
    daemon = h.Daemon(workdir, name="stats", cni=net.conflist,
                      extra_args=["--cgroup-manager", "cgroupfs"])
    e = None
    try:
        daemon.start()
        e = Env(daemon, net, cgroups)
        yield e
        e.remove_all()
        daemon.stop_cleanly()
    finally:
        if e is not None and daemon.running():
            e.remove_all()
        daemon.kill()
        # The daemon leaves its pin directories (self bind mounts marked
        # unbindable) mounted when it exits; without this the workdir
        # could not be removed.
        for mount_point in sorted(p.mounts_under(daemon.runroot), key=len, reverse=True):
            p.sh("umount", "-l", mount_point, check=False)
        net.cleanup()
        cgroups.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def pods(env):
    """The module's env; the pods a test made are removed after it."""
    yield env
    env.remove_all()


def pod_stats(client, pod_id):
    req = client.request("PodSandboxStats", pod_sandbox_id=pod_id)
    return client.call("PodSandboxStats", req).stats


def list_stats(client, **filter_fields):
    mod = h.api()
    req = client.request("ListPodSandboxStats")
    if filter_fields:
        req.filter.CopyFrom(mod.PodSandboxStatsFilter(**filter_fields))
    return list(client.call("ListPodSandboxStats", req).stats)


def read_int(path):
    return int(Path(path).read_text().split()[0])


def icmp_checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def ping(ip, count, payload=56):
    """ICMP echo to `ip` (only ever a pod on the test's own bridge) from a
    raw socket; returns how many replies came back."""
    ident = os.getpid() & 0xFFFF
    replies = 0
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as s:
        s.settimeout(1.0)
        for seq in range(count):
            body = bytes(payload)
            header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
            header = struct.pack("!BBHHH", 8, 0, icmp_checksum(header + body), ident, seq)
            s.sendto(header + body, (ip, 0))
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                try:
                    packet, addr = s.recvfrom(2048)
                except socket.timeout:
                    break
                ihl = (packet[0] & 0x0F) * 4
                typ, _code, _sum, rid, rseq = struct.unpack("!BBHHH", packet[ihl:ihl + 8])
                if addr[0] == ip and typ == 0 and rid == ident and rseq == seq:
                    replies += 1
                    break
    return replies


# ---- a READY pod --------------------------------------------------------------

def test_ready_pod_reports_cpu_memory_and_processes_of_its_cgroup(pods):
    pod_id, parent = pods.run("stats-ready", shared_pid=True,
                              labels={"app": "stats"}, annotations={"note": "x"})
    cpu_file = CPUACCT_ROOT / parent.lstrip("/") / "cpuacct.usage"
    t0 = time.time_ns()
    cpu_before = read_int(cpu_file)
    s = pod_stats(pods.client, pod_id)
    cpu_after = read_int(cpu_file)
    t1 = time.time_ns()

    a = s.attributes
    assert a.id == pod_id, f"expected attributes.id {pod_id}, saw {a.id}"
    assert (a.metadata.name, a.metadata.namespace, a.metadata.uid) == \
        ("stats-ready", "default", "uid-stats-ready"), f"expected the pod's metadata, saw {a.metadata}"
    assert dict(a.labels) == {"app": "stats"}, f"expected the pod's labels, saw {dict(a.labels)}"
    assert dict(a.annotations) == {"note": "x"}, \
        f"expected the pod's annotations, saw {dict(a.annotations)}"

    lx = s.linux
    assert lx.HasField("cpu"), f"expected cpu stats for a READY pod, saw {lx}"
    assert t0 <= lx.cpu.timestamp <= t1, \
        f"expected the cpu timestamp within the call ({t0}..{t1}), saw {lx.cpu.timestamp}"
    usage = lx.cpu.usage_core_nano_seconds.value
    # pause entered the cgroup before exec, so the cgroup has used some CPU.
    assert 0 < usage and cpu_before <= usage <= cpu_after, \
        f"expected cpuacct.usage of {parent} between {cpu_before} and {cpu_after} ns, saw {usage}"
    assert not lx.cpu.HasField("usage_nano_cores"), \
        "expected usage_nano_cores unset (it needs a previous sample, which is not kept)"

    m = lx.memory
    assert t0 <= m.timestamp <= t1, f"expected the memory timestamp within the call, saw {m.timestamp}"
    usage_file = read_int(MEMORY_ROOT / parent.lstrip("/") / "memory.usage_in_bytes")
    assert 0 < m.usage_bytes.value < 64 << 20, \
        f"expected a pause-only pod to use between 0 and 64 MiB, saw {m.usage_bytes.value}"
    assert abs(m.usage_bytes.value - usage_file) < 4 << 20, \
        f"expected usage_bytes near memory.usage_in_bytes ({usage_file}), saw {m.usage_bytes.value}"
    assert m.working_set_bytes.value <= m.usage_bytes.value, \
        f"expected working set <= usage, saw {m.working_set_bytes.value} > {m.usage_bytes.value}"
    assert m.rss_bytes.value <= m.usage_bytes.value, \
        f"expected rss <= usage, saw {m.rss_bytes.value} > {m.usage_bytes.value}"
    assert m.HasField("rss_bytes") and m.HasField("page_faults") and \
        m.HasField("major_page_faults"), f"expected rss and page fault counters, saw {m}"
    # memory.stat is flushed lazily by the kernel (every ~2 s), so pause's
    # anonymous pages and faults may show up a little after usage does.
    deadline = time.monotonic() + 6
    while m.page_faults.value == 0 and time.monotonic() < deadline:
        time.sleep(0.25)
        m = pod_stats(pods.client, pod_id).linux.memory
    assert m.page_faults.value > 0 and m.rss_bytes.value > 0, \
        f"expected pause's page faults and rss to be counted within 6 s, saw {m}"
    assert not m.HasField("available_bytes"), \
        f"expected no available_bytes without a memory limit, saw {m.available_bytes.value}"

    assert lx.process.process_count.value == 1, \
        f"expected one process (pause) in the pod's cgroup, saw {lx.process.process_count.value}"
    assert len(lx.containers) == 0, f"expected no container stats yet, saw {len(lx.containers)}"

    again = pod_stats(pods.client, pod_id).linux.cpu.usage_core_nano_seconds.value
    assert again >= usage, f"expected cpu usage never to go down, saw {usage} then {again}"


def test_available_bytes_is_the_limit_minus_the_working_set(pods):
    pod_id, parent = pods.run("stats-limit", shared_pid=True)
    limit = 256 << 20
    # The kubelet sets the pod-level limit on its pod cgroup; the test plays it.
    (MEMORY_ROOT / parent.lstrip("/") / "memory.limit_in_bytes").write_text(str(limit))
    m = pod_stats(pods.client, pod_id).linux.memory
    assert m.HasField("available_bytes"), f"expected available_bytes under a limit, saw {m}"
    assert m.available_bytes.value == limit - m.working_set_bytes.value, \
        (f"expected available = {limit} - {m.working_set_bytes.value}, "
         f"saw {m.available_bytes.value}")


def test_network_counters_grow_when_the_pod_is_pinged(pods):
    pod_id, _parent = pods.run("stats-net")
    ip = p.pod_status(pods.client, pod_id).status.network.ip
    assert ip.startswith(f"10.251.{pods.net.subnet_octet}."), \
        f"expected a pod IP on the test's bridge network {pods.net.subnet}, saw {ip!r}"
    before = pod_stats(pods.client, pod_id).linux.network
    assert before.default_interface.name == "eth0", \
        f"expected the default interface eth0, saw {before.default_interface.name!r}"
    count = 5
    replies = ping(ip, count)
    assert replies == count, f"expected {count} echo replies from {ip}, saw {replies}"
    after = pod_stats(pods.client, pod_id).linux.network
    assert after.timestamp > before.timestamp, "expected a newer network timestamp"
    frame = 14 + 20 + 8 + 56  # Ethernet + IPv4 + ICMP + payload
    rx = after.default_interface.rx_bytes.value - before.default_interface.rx_bytes.value
    tx = after.default_interface.tx_bytes.value - before.default_interface.tx_bytes.value
    assert rx >= count * frame, f"expected eth0 rx to grow by >= {count * frame} bytes, saw {rx}"
    assert tx >= count * frame, f"expected eth0 tx to grow by >= {count * frame} bytes, saw {tx}"
    assert after.default_interface.rx_errors.value == 0 and \
        after.default_interface.tx_errors.value == 0, \
        f"expected no errors on eth0, saw {after.default_interface}"


# ---- what a pod without some parts still reports ---------------------------------

def test_stopped_pod_keeps_cgroup_stats_and_loses_network(pods):
    pod_id, parent = pods.run("stats-stopped", shared_pid=True)
    p.stop_pod(pods.client, pod_id)
    pids_dir = p.CGROUP_ROOT / "pids" / parent.lstrip("/")
    pids_before = read_int(pids_dir / "pids.current")
    s = pod_stats(pods.client, pod_id)
    pids_after = read_int(pids_dir / "pids.current")
    assert s.attributes.id == pod_id, f"expected the stopped pod's attributes, saw {s.attributes}"
    assert s.linux.HasField("cpu") and s.linux.HasField("memory"), \
        f"expected cpu and memory of the stopped pod's cgroup, saw {s.linux}"
    assert s.linux.cpu.usage_core_nano_seconds.value > 0, \
        "expected the CPU pause used to stay accounted after stop"
    assert not s.linux.HasField("network"), \
        f"expected no network stats for a NOTREADY pod, saw {s.linux.network}"
    # pids.current counts pause until it is reaped; here PID 1 is not a real
    # init and reaps the orphaned zombie late, so compare with the kernel's
    # count around the call and check that nothing is running.
    count = s.linux.process.process_count.value
    assert pids_after <= count <= pids_before, \
        f"expected process_count between pids.current {pids_after}..{pids_before}, saw {count}"
    running = [f.read_text().split() for f in pids_dir.rglob("cgroup.procs")]
    assert not any(running), f"expected no process running after stop, saw {running}"


def test_host_network_pod_has_no_network_stats(pods):
    pod_id, _parent = pods.run("stats-hostnet", host_network=True)
    s = pod_stats(pods.client, pod_id)
    assert s.linux.HasField("cpu") and s.linux.HasField("memory"), \
        f"expected cpu and memory for a host-network pod, saw {s.linux}"
    assert not s.linux.HasField("network"), \
        f"expected no network stats for a host-network pod, saw {s.linux.network}"


# ---- lookups -------------------------------------------------------------------

def test_unknown_and_removed_pods_are_not_found(pods):
    with pytest.raises(grpc.RpcError) as info:
        pod_stats(pods.client, "f" * 64)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND, \
        f"expected NOT_FOUND for an unknown pod, saw {info.value.code()}: {info.value.details()}"

    pod_id, _parent = pods.run("stats-gone")
    p.stop_pod(pods.client, pod_id)
    p.remove_pod(pods.client, pod_id)
    with pytest.raises(grpc.RpcError) as info:
        pod_stats(pods.client, pod_id)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND, \
        f"expected NOT_FOUND for a removed pod, saw {info.value.code()}: {info.value.details()}"
    assert pod_id not in [s.attributes.id for s in list_stats(pods.client)], \
        "expected a removed pod to be absent from ListPodSandboxStats"

    with pytest.raises(grpc.RpcError) as info:
        pod_stats(pods.client, "")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, \
        f"expected INVALID_ARGUMENT for an empty id, saw {info.value.code()}"


def test_list_filters_by_id_prefix_and_labels(pods):
    a, _ = pods.run("stats-list-a", labels={"tier": "web", "set": "list"})
    b, _ = pods.run("stats-list-b", labels={"tier": "db", "set": "list"})
    c, _ = pods.run("stats-list-c", labels={"tier": "web", "set": "list"})

    every = {s.attributes.id: s for s in list_stats(pods.client)}
    assert {a, b, c} <= set(every), f"expected all three pods unfiltered, saw {sorted(every)}"
    assert every[a].linux.HasField("cpu") and every[a].linux.HasField("network"), \
        f"expected full stats in the list, saw {every[a].linux}"

    ids = lambda stats: sorted(s.attributes.id for s in stats)  # noqa: E731
    seen = ids(list_stats(pods.client, label_selector={"set": "list"}))
    assert seen == sorted([a, b, c]), f"expected the three pods for set=list, saw {seen}"
    seen = ids(list_stats(pods.client, label_selector={"set": "list", "tier": "web"}))
    assert seen == sorted([a, c]), f"expected a and c for tier=web, saw {seen}"
    seen = ids(list_stats(pods.client, id=b))
    assert seen == [b], f"expected only b for its full id, saw {seen}"
    seen = ids(list_stats(pods.client, id=b[:12]))
    assert seen == [b], f"expected only b for its 12-char id prefix, saw {seen}"
    seen = ids(list_stats(pods.client, id=b, label_selector={"tier": "web"}))
    assert seen == [], f"expected nothing when id and labels disagree, saw {seen}"
    seen = ids(list_stats(pods.client, label_selector={"set": "nothing-has-this"}))
    assert seen == [], f"expected nothing for an unmatched label, saw {seen}"
