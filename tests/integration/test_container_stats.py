"""ContainerStats, ListContainerStats and the containers of PodSandboxStats
on real containers: CPU time of a busy container grows, memory is the
cgroup's (working set within the limit), the writable layer counts what
the container wrote; attributes are the config's; the filters of
ListContainerStats."""

import os
import time

import grpc

import containers_harness as ch
import crio_harness as h
import pods_harness as p
from containers_harness import ctr_env, image_source  # noqa: F401 (fixtures)
from pods_harness import pod_cgroups, pod_net  # noqa: F401 (fixtures)

API = h.api()
BUSY = ("head -c 3145728 /dev/zero > /data.bin; mkdir -p /d/e; touch /d/e/f; echo ready; "
        "while :; do :; done")
IDLE = "trap 'exit 0' TERM; while :; do sleep 0.1; done"


def container_stats(client, cid):
    return client.call("ContainerStats",
                       client.request("ContainerStats", container_id=cid)).stats


def list_stats(client, **filter_fields):
    req = client.request("ListContainerStats")
    if filter_fields:
        req.filter.CopyFrom(API.ContainerStatsFilter(**filter_fields))
    return list(client.call("ListContainerStats", req).stats)


def start(env, pod_id, pod_cfg, name, script, memory_limit=0, **kw):
    cfg = ch.shell(name, env.image, script, **kw)
    if memory_limit:
        cfg.linux.resources.memory_limit_in_bytes = memory_limit
    return ch.run_container(env, pod_id, pod_cfg, cfg)


def test_stats_of_a_busy_container(ctr_env):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("busy")
    cid = start(env, pod_id, pod_cfg, "spinner", BUSY, memory_limit=256 << 20,
                labels={"app": "spin"}, annotations={"note": "n"})
    log = ch.container_status(env.client, cid).status.log_path
    ch.wait_for(lambda: ch.log_lines(log), what="the container to be ready")
    time.sleep(0.5)
    s1 = container_stats(env.client, cid)
    time.sleep(0.5)
    s2 = container_stats(env.client, cid)

    a = s2.attributes
    assert a.id == cid and a.metadata.name == "spinner", f"saw {a}"
    assert dict(a.labels) == {"app": "spin"} and dict(a.annotations) == {"note": "n"}
    now = time.time_ns()
    for sample in (s2.cpu, s2.memory, s2.writable_layer):
        assert 0 < sample.timestamp <= now, f"expected a timestamp, saw {sample}"
    used1 = s1.cpu.usage_core_nano_seconds.value
    used2 = s2.cpu.usage_core_nano_seconds.value
    # A spinning shell burns about a core: at least a fifth of the half
    # second between the samples, whatever else the host does.
    assert used1 > 0 and used2 - used1 >= 100_000_000, \
        f"expected CPU time to grow by >= 0.1 s in 0.5 s, saw {used1} -> {used2}"
    mem = s2.memory
    assert 0 < mem.working_set_bytes.value <= mem.usage_bytes.value, f"saw {mem}"
    assert mem.working_set_bytes.value < 256 << 20
    assert mem.available_bytes.value == (256 << 20) - mem.working_set_bytes.value, \
        f"expected available = limit - working set, saw {mem}"
    assert mem.page_faults.value > 0
    layer = s2.writable_layer
    # /data.bin (3 MiB) plus /d, /d/e, /d/e/f and the upper dir itself.
    assert layer.used_bytes.value >= 3 << 20, f"expected >= 3 MiB written, saw {layer}"
    assert layer.inodes_used.value >= 5, f"saw {layer}"
    assert layer.fs_id.mountpoint == str(env.root / "containers"), f"saw {layer.fs_id}"


GROW = ("echo ready; while [ ! -e /grow ]; do :; done; "
        "head -c 33554432 /dev/zero > /dev/shm/grown; echo grown; while :; do :; done")


def test_cpu_and_memory_move_for_a_busy_container_in_the_lists(ctr_env):
    """The lists read each cgroup's kept files afresh on every call: CPU time
    grows while the container spins, and its working set (and its pod's)
    grows by the 32 MiB it then writes to its /dev/shm, a tmpfs whose pages
    are charged to the writer's cgroup."""
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("mover")
    cid = start(env, pod_id, pod_cfg, "mover", GROW, memory_limit=256 << 20)
    log = ch.container_status(env.client, cid).status.log_path
    said = lambda word: any(msg == word for _s, _t, msg in ch.log_lines(log))  # noqa: E731
    ch.wait_for(lambda: said("ready"), what="the container to be ready")

    def sample():
        ctr = {s.attributes.id: s for s in list_stats(env.client)}[cid]
        pods = env.client.call("ListPodSandboxStats",
                               env.client.request("ListPodSandboxStats")).stats
        pod = {s.attributes.id: s for s in pods}[pod_id]
        in_pod = {c.attributes.id: c for c in pod.linux.containers}[cid]
        return ctr, pod.linux, in_pod

    c1, pod1, in_pod1 = sample()
    time.sleep(0.5)
    c2, pod2, in_pod2 = sample()
    cpu = [c1.cpu.usage_core_nano_seconds.value, c2.cpu.usage_core_nano_seconds.value]
    assert cpu[1] - cpu[0] >= 50_000_000, \
        f"expected the spinning container's CPU time to grow by >= 50 ms in 0.5 s, saw {cpu}"
    pod_cpu = [pod1.cpu.usage_core_nano_seconds.value, pod2.cpu.usage_core_nano_seconds.value]
    assert pod_cpu[1] - pod_cpu[0] >= 50_000_000, f"expected the pod's CPU to grow, saw {pod_cpu}"
    assert in_pod2.cpu.usage_core_nano_seconds.value >= cpu[0]

    req = env.client.request("ExecSync", container_id=cid, cmd=["touch", "/grow"])
    assert env.client.call("ExecSync", req, timeout=60).exit_code == 0
    ch.wait_for(lambda: said("grown"), timeout=30, what="the container to write 32 MiB")
    c3, pod3, in_pod3 = sample()
    grew = c3.memory.working_set_bytes.value - c2.memory.working_set_bytes.value
    assert grew >= 30 << 20, \
        f"expected the working set to grow by ~32 MiB, saw {c2.memory} -> {c3.memory}"
    pod_grew = pod3.memory.working_set_bytes.value - pod2.memory.working_set_bytes.value
    assert pod_grew >= 30 << 20, f"expected the pod's working set to grow too, saw +{pod_grew}"
    assert in_pod3.memory.working_set_bytes.value >= c2.memory.working_set_bytes.value + (30 << 20)
    assert c3.memory.available_bytes.value == (256 << 20) - c3.memory.working_set_bytes.value


def test_available_bytes_follow_an_update_of_the_memory_limit(ctr_env):
    """The sampler keeps a container's memory limit between calls (only an
    update changes it): after UpdateContainerResources, the lists report
    the new limit at once."""
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("limits")
    cid = start(env, pod_id, pod_cfg, "limited", IDLE, memory_limit=256 << 20)

    def available():
        ctr = {s.attributes.id: s for s in list_stats(env.client)}[cid]
        return ctr.memory.available_bytes.value + ctr.memory.working_set_bytes.value

    assert available() == 256 << 20
    assert available() == 256 << 20  # the kept limit
    req = env.client.request("UpdateContainerResources", container_id=cid)
    req.linux.CopyFrom(API.LinuxContainerResources(memory_limit_in_bytes=128 << 20))
    env.client.call("UpdateContainerResources", req, timeout=30)
    assert available() == 128 << 20, "expected the updated limit in the next list"


def test_list_container_stats_and_its_filters(ctr_env):
    env = ctr_env
    pod_a, cfg_a = env.run_pod("a")
    pod_b, cfg_b = env.run_pod("b")
    a1 = start(env, pod_a, cfg_a, "a1", IDLE, labels={"tier": "front"})
    a2 = start(env, pod_a, cfg_a, "a2", IDLE, labels={"tier": "back"})
    b1 = start(env, pod_b, cfg_b, "b1", IDLE, labels={"tier": "front"})
    created = ch.create_container(env.client, pod_b, ch.shell("b2", env.image, IDLE), cfg_b)

    def ids(stats):
        return sorted(s.attributes.id for s in stats)

    everything = list_stats(env.client)
    assert ids(everything) == sorted([a1, a2, b1, created]), f"saw {ids(everything)}"
    for s in everything:
        assert s.cpu.timestamp > 0 and s.memory.working_set_bytes.value > 0, \
            f"expected CPU and memory of every container with a cgroup, saw {s}"
    assert ids(list_stats(env.client, id=a2)) == [a2]
    assert ids(list_stats(env.client, id=a2[:12])) == [a2]
    assert ids(list_stats(env.client, pod_sandbox_id=pod_a)) == sorted([a1, a2])
    assert ids(list_stats(env.client, label_selector={"tier": "front"})) == sorted([a1, b1])
    assert ids(list_stats(env.client, pod_sandbox_id=pod_b,
                          label_selector={"tier": "front"})) == [b1]
    assert list_stats(env.client, label_selector={"tier": "nowhere"}) == []
    assert list_stats(env.client, id="f" * 64) == []

    # An exited container is still listed, with its writable layer.
    ch.stop_container(env.client, a1, timeout_s=0)
    st = {s.attributes.id: s for s in list_stats(env.client, pod_sandbox_id=pod_a)}
    assert set(st) == {a1, a2}
    assert st[a1].writable_layer.inodes_used.value >= 1


def test_pod_stats_include_the_pods_containers(ctr_env):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("withctrs")
    c1 = start(env, pod_id, pod_cfg, "one", IDLE)
    c2 = start(env, pod_id, pod_cfg, "two", IDLE)
    other, other_cfg = env.run_pod("empty")
    resp = env.client.call("PodSandboxStats",
                           env.client.request("PodSandboxStats", pod_sandbox_id=pod_id))
    ctrs = {c.attributes.id: c for c in resp.stats.linux.containers}
    assert set(ctrs) == {c1, c2}, f"expected the pod's two containers, saw {list(ctrs)}"
    for c in ctrs.values():
        assert c.cpu.usage_core_nano_seconds.value > 0 and c.memory.working_set_bytes.value > 0
    # The pod's memory (its cgroup parent) covers its containers'.
    pod_ws = resp.stats.linux.memory.working_set_bytes.value
    assert pod_ws >= sum(c.memory.working_set_bytes.value for c in ctrs.values()) * 0.9
    resp = env.client.call("PodSandboxStats",
                           env.client.request("PodSandboxStats", pod_sandbox_id=other))
    assert list(resp.stats.linux.containers) == []
    listed = env.client.call("ListPodSandboxStats", env.client.request("ListPodSandboxStats"))
    by_pod = {s.attributes.id: sorted(c.attributes.id for c in s.linux.containers)
              for s in listed.stats}
    assert by_pod[pod_id] == sorted([c1, c2]) and by_pod[other] == []


def test_stats_of_unknown_containers(ctr_env):
    env = ctr_env
    code, _ = p.rpc_code(container_stats, env.client, "no-such-container")
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = p.rpc_code(container_stats, env.client, "")
    assert code == grpc.StatusCode.INVALID_ARGUMENT


def daemon_fds(env):
    return len(os.listdir(f"/proc/{env.daemon.pid}/fd"))


def test_many_pods_sampled_at_once_each_get_their_own_values_and_give_back_their_fds(ctr_env):
    """The list calls sample their items on several threads at once: with
    enough pods for that, each entry still carries its own cgroup's values
    (every container has a memory limit of its own, which its entry's
    available bytes and working set add up to), and the descriptors the
    samplers keep for them (three per container, five per pod cgroup, a
    netlink socket per pod) are all given back once the pods are removed."""
    env = ctr_env
    n = 20
    limits = {}
    pods = []
    ch.wait_for(lambda: daemon_fds(env) > 0, what="the daemon")
    baseline = daemon_fds(env)
    for i in range(n):
        pod_id, pod_cfg = env.run_pod(f"many{i}")
        limit = (64 << 20) + i * (1 << 20)
        cid = start(env, pod_id, pod_cfg, f"m{i}", IDLE, memory_limit=limit)
        limits[cid] = limit
        pods.append(pod_id)
    for _ in range(3):
        ctrs = {s.attributes.id: s for s in list_stats(env.client) if s.attributes.id in limits}
        assert set(ctrs) == set(limits)
        for cid, s in ctrs.items():
            m = s.memory
            assert m.working_set_bytes.value > 0 and s.cpu.usage_core_nano_seconds.value > 0
            assert m.available_bytes.value + m.working_set_bytes.value == limits[cid], \
                f"{cid}: expected its own limit {limits[cid]}, saw {m}"
        listed = env.client.call("ListPodSandboxStats",
                                 env.client.request("ListPodSandboxStats")).stats
        by_pod = {s.attributes.id: s for s in listed}
        for pod_id in pods:
            linux = by_pod[pod_id].linux
            assert linux.memory.working_set_bytes.value > 0 and linux.process.process_count.value > 0
            assert len(linux.containers) == 1
            c = linux.containers[0]
            assert c.memory.available_bytes.value + c.memory.working_set_bytes.value == \
                limits[c.attributes.id]
    kept = daemon_fds(env) - baseline
    assert kept >= n * 3, f"expected the samplers to keep descriptors for {n} pods, saw +{kept}"
    for pod_id in pods:
        p.stop_pod(env.client, pod_id)
        p.remove_pod(env.client, pod_id)
    # A removed pod's sockets and cgroup files go with its release; a
    # sample of what is left finds nothing of theirs to keep.
    list_stats(env.client)
    ch.wait_for(lambda: daemon_fds(env) <= baseline + 2, timeout=30,
                what=f"the daemon's fds to return to {baseline} (+2)")
