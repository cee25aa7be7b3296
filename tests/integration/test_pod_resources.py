"""UpdatePodSandboxResources on real pods (cgroupfs on this cgroup v1
host): the pod cgroup the kubelet gave (its pod<uid> parent) gets the
resources plus the overhead, as the kubelet sizes a pod cgroup; the pod's
own cgroup when it has no parent; fields left at 0 keep their values; the
record keeps the new overhead and resources (a GOAL entry names the
change) through a restart and later commits; concurrent updates end with
the record and the cgroup agreeing; bad fields are INVALID_ARGUMENT naming
them and change nothing; an unknown pod is NOT_FOUND, a pod that is not
ready FAILED_PRECONDITION."""

import base64
import threading
from pathlib import Path

import grpc

import containers_harness as ch
import crio_harness as h
import pods_harness as p
from containers_harness import ctr_env, ctr_env_factory, image_source  # noqa: F401 (fixtures)
from pods_harness import pod_cgroups, pod_net  # noqa: F401 (fixtures)

API = h.api()
IDLE = "trap 'exit 0' TERM; while :; do sleep 0.1; done"
MIB = 1 << 20
CGROUP = p.CGROUP_ROOT


def res(**kw):
    return API.LinuxContainerResources(**kw)


def update(client, pod_id, resources=None, overhead=None, timeout=30):
    req = client.request("UpdatePodSandboxResources", pod_sandbox_id=pod_id)
    if resources is not None:
        req.resources.CopyFrom(resources)
    if overhead is not None:
        req.overhead.CopyFrom(overhead)
    return client.call("UpdatePodSandboxResources", req, timeout=timeout)


def value(controller, cgroup, name):
    return Path(f"{CGROUP}/{controller}{cgroup}/{name}").read_text().strip()


def limits(cgroup):
    return {"shares": value("cpu", cgroup, "cpu.shares"),
            "quota": value("cpu", cgroup, "cpu.cfs_quota_us"),
            "period": value("cpu", cgroup, "cpu.cfs_period_us"),
            "memory": value("memory", cgroup, "memory.limit_in_bytes")}


def stored(env, pod_id):
    """The pod record's resources_update as a LinuxPodSandboxConfig (None if unset)."""
    rec = [r for r in p.db_pods(env.root) if r["id"] == pod_id][0]
    raw = base64.b64decode(rec.get("resources_update") or "")
    return API.LinuxPodSandboxConfig.FromString(raw) if raw else None


class Parents:
    """A pod<uid>-like cgroup parent per pod, under the test's own parent."""

    def __init__(self, env):
        self.env = env
        self.n = 0

    def run_pod(self, name, **kw):
        self.n += 1
        parent = f"{self.env.cgroups.path}/pod{self.n}"
        pod_id, cfg = self.env.run_pod(name, cgroup_parent=parent, **kw)
        return pod_id, cfg, parent


def test_update_sets_the_pod_cgroup_to_resources_plus_overhead(ctr_env):
    env = ctr_env
    pod_id, cfg, parent = Parents(env).run_pod("resize")
    cid = ch.run_container(env, pod_id, cfg, ch.shell("app", env.image, IDLE))
    own = f"{parent}/crio-{pod_id}"
    own_before = limits(own)
    assert stored(env, pod_id) is None

    update(env.client, pod_id,
           resources=res(cpu_shares=1024, cpu_quota=100000, cpu_period=100000,
                         memory_limit_in_bytes=256 * MIB),
           overhead=res(cpu_shares=128, cpu_quota=10000, cpu_period=100000,
                        memory_limit_in_bytes=32 * MIB))
    assert limits(parent) == {"shares": "1152", "quota": "110000", "period": "100000",
                              "memory": str(288 * MIB)}, f"saw {limits(parent)}"
    assert limits(own) == own_before, "expected the sandbox's own cgroup left as it was"
    rec = stored(env, pod_id)
    assert rec.resources.memory_limit_in_bytes == 256 * MIB and rec.resources.cpu_shares == 1024
    assert rec.overhead.memory_limit_in_bytes == 32 * MIB and rec.overhead.cpu_quota == 10000
    last = p.db_log(env.root, "--object", pod_id)[-1]
    assert last["type"] == "GOAL" and "UpdatePodSandboxResources" in last["message"] and \
        "memory_limit_in_bytes=301989888" in last["message"], f"saw {last}"
    assert last["from_state"] == last["to_state"]
    # PodSandboxStats reads the same cgroup: its limit is the new one.
    stats = env.client.call("PodSandboxStats", env.client.request(
        "PodSandboxStats", pod_sandbox_id=pod_id)).stats
    mem = stats.linux.memory
    assert mem.available_bytes.value == 288 * MIB - mem.working_set_bytes.value, f"saw {mem}"

    # Only memory now: the CPU values stay; the record is the new request.
    update(env.client, pod_id, resources=res(memory_limit_in_bytes=128 * MIB))
    assert limits(parent) == {"shares": "1152", "quota": "110000", "period": "100000",
                              "memory": str(128 * MIB)}, f"saw {limits(parent)}"
    rec = stored(env, pod_id)
    assert rec.resources.memory_limit_in_bytes == 128 * MIB and not rec.HasField("overhead")
    # A quota at another period than the overhead's is scaled to the pod's.
    update(env.client, pod_id, resources=res(cpu_quota=50000, cpu_period=50000),
           overhead=res(cpu_quota=20000, cpu_period=100000))
    assert limits(parent)["quota"] == "60000" and limits(parent)["period"] == "50000"
    assert ch.container_status(env.client, cid).status.state == API.CONTAINER_RUNNING


def test_a_pod_without_a_parent_updates_its_own_cgroup(ctr_env):
    env = ctr_env
    # The daemon's default parent (/crio) is shared by every such pod and is
    # never changed; made here only if it did not exist, and removed then.
    default = "/crio"
    existed = {c: (CGROUP / c / default.lstrip("/")).is_dir() for c in ("cpu", "memory")}
    try:
        pod_id, _ = env.run_pod("parentless", cgroup_parent="")
        own = f"{default}/crio-{pod_id}"
        before = limits(default)
        update(env.client, pod_id, resources=res(cpu_shares=300, memory_limit_in_bytes=64 * MIB))
        assert limits(own)["shares"] == "300" and limits(own)["memory"] == str(64 * MIB)
        assert limits(default) == before, "expected the shared default parent untouched"
        p.stop_pod(env.client, pod_id)
        p.remove_pod(env.client, pod_id)
    finally:
        env.remove_all_pods()
        for hierarchy in CGROUP.iterdir():
            d = hierarchy / default.lstrip("/")
            if d.is_dir() and not existed.get(hierarchy.name, False):
                try:
                    d.rmdir()
                except OSError:
                    pass


def test_the_record_keeps_the_update_through_a_restart(ctr_env_factory):
    env = ctr_env_factory("podres")
    env.start()
    pod_id, _, parent = Parents(env).run_pod("kept")
    update(env.client, pod_id, resources=res(memory_limit_in_bytes=96 * MIB, cpu_shares=700))
    env.daemon.stop_cleanly()
    env.daemon.start()
    assert stored(env, pod_id).resources.memory_limit_in_bytes == 96 * MIB
    assert limits(parent)["memory"] == str(96 * MIB) and limits(parent)["shares"] == "700"
    # A step committed after the update (the stop) keeps it too.
    p.stop_pod(env.client, pod_id)
    assert stored(env, pod_id).resources.cpu_shares == 700


def test_concurrent_updates_leave_record_and_cgroup_agreeing(ctr_env):
    env = ctr_env
    pod_id, _, parent = Parents(env).run_pod("race")
    errors = []

    def one(i):
        try:
            update(env.client, pod_id, resources=res(memory_limit_in_bytes=(64 + i) * MIB))
        except grpc.RpcError as e:
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, f"saw {[(e.code(), e.details()) for e in errors]}"
    assert limits(parent)["memory"] == str(stored(env, pod_id).resources.memory_limit_in_bytes)
    updates = [e for e in p.db_log(env.root, "--object", pod_id) if e["type"] == "GOAL" and
               "UpdatePodSandboxResources" in e["message"]]
    assert len(updates) == 12


def test_bad_requests_change_nothing(ctr_env):
    env = ctr_env
    pod_id, cfg, parent = Parents(env).run_pod("bad")
    ch.run_container(env, pod_id, cfg, ch.shell("app", env.image, IDLE))
    update(env.client, pod_id, resources=res(memory_limit_in_bytes=128 * MIB))
    before_log = p.db_log(env.root, "--object", pod_id)
    before = limits(parent)
    cases = [
        (dict(resources=res(memory_limit_in_bytes=-5)), "resources.memory_limit_in_bytes"),
        (dict(overhead=res(cpuset_cpus="3-1")), "overhead.cpuset_cpus"),
        (dict(resources=res(cpu_period=10)), "resources.cpu_period"),
        (dict(resources=res(cpu_quota=5)), "resources.cpu_quota"),
        (dict(resources=res(cpu_shares=-2)), "resources.cpu_shares"),
        (dict(overhead=res(oom_score_adj=5000)), "overhead.oom_score_adj"),
        (dict(resources=res(memory_limit_in_bytes=64 * MIB, memory_swap_limit_in_bytes=32 * MIB)),
         "resources.memory_swap_limit_in_bytes"),
        (dict(), "resources"),
    ]
    for kw, field in cases:
        code, msg = p.rpc_code(update, env.client, pod_id, **kw)
        assert code == grpc.StatusCode.INVALID_ARGUMENT and field in msg, \
            f"{kw}: expected INVALID_ARGUMENT naming {field}, saw {code}: {msg}"
    code, msg = p.rpc_code(update, env.client, "", resources=res(cpu_shares=2))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "pod_sandbox_id" in msg
    code, _ = p.rpc_code(update, env.client, "no-such-pod", resources=res(cpu_shares=2))
    assert code == grpc.StatusCode.NOT_FOUND
    # A limit the kernel refuses (below what the container uses) fails in
    # the cgroup write and leaves the record as it was.
    code, msg = p.rpc_code(update, env.client, pod_id, resources=res(memory_limit_in_bytes=4096))
    assert code != grpc.StatusCode.OK, "expected a 4 KiB pod memory limit to be refused"
    assert p.db_log(env.root, "--object", pod_id) == before_log, "expected nothing logged"
    assert stored(env, pod_id).resources.memory_limit_in_bytes == 128 * MIB
    assert limits(parent) == before


def test_a_pod_that_is_not_ready_is_a_failed_precondition(ctr_env):
    env = ctr_env
    pod_id, _, _ = Parents(env).run_pod("stopped")
    p.stop_pod(env.client, pod_id)
    code, msg = p.rpc_code(update, env.client, pod_id, resources=res(cpu_shares=512))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "not ready" in msg, f"saw {code}: {msg}"
    assert stored(env, pod_id) is None
    p.remove_pod(env.client, pod_id)
    code, _ = p.rpc_code(update, env.client, pod_id, resources=res(cpu_shares=512))
    assert code == grpc.StatusCode.NOT_FOUND
