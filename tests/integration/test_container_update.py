"""UpdateContainerResources on real runc: the container's cgroup gets the
new limits, the record keeps them (ContainerStatus reports them, the log
says what changed) and a daemon restart keeps them; fields the request
leaves at zero keep their values; bad values are INVALID_ARGUMENT and
change nothing; a container that is not running is a FAILED_PRECONDITION.
(ContainerStatus reporting them needs cri_container_status_view to take
cri_ctr_resources(); its test lands with that change.)"""

import base64
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


def update(client, cid, **linux):
    req = client.request("UpdateContainerResources", container_id=cid)
    req.linux.CopyFrom(API.LinuxContainerResources(**linux))
    return client.call("UpdateContainerResources", req, timeout=30)


def cgroup_value(client, cid, controller, name):
    path = ch.info(client, cid)["cgroupsPath"]
    assert path.startswith("/"), f"expected a cgroupfs path, saw {path}"
    return Path(f"/sys/fs/cgroup/{controller}{path}/{name}").read_text().strip()


def stored_resources(env, cid):
    """The record's resources_update, decoded (None if unset)."""
    rec = [r for r in ch.db_containers(env.root) if r["id"] == cid][0]
    raw = base64.b64decode(rec.get("resources_update") or "")
    if not raw:
        return None
    return API.LinuxContainerResources.FromString(raw)


def start_limited(env, name, memory):
    pod_id, pod_cfg = env.run_pod(f"{name}-pod")
    cfg = ch.shell(name, env.image, IDLE)
    cfg.linux.resources.memory_limit_in_bytes = memory
    cfg.linux.resources.cpu_shares = 1024
    return pod_id, ch.run_container(env, pod_id, pod_cfg, cfg)


def test_update_applies_to_the_cgroup_and_is_kept(ctr_env):
    env = ctr_env
    _, cid = start_limited(env, "app", 128 * MIB)
    assert cgroup_value(env.client, cid, "memory", "memory.limit_in_bytes") == str(128 * MIB)
    assert stored_resources(env, cid) is None

    update(env.client, cid, memory_limit_in_bytes=64 * MIB, cpu_shares=512)
    assert cgroup_value(env.client, cid, "memory", "memory.limit_in_bytes") == str(64 * MIB)
    assert cgroup_value(env.client, cid, "cpu", "cpu.shares") == "512"
    stored = stored_resources(env, cid)
    assert (stored.memory_limit_in_bytes, stored.cpu_shares) == (64 * MIB, 512), f"saw {stored}"
    # The log names the change, as an intent (GOAL) entry; no state moved.
    last = p.db_log(env.root, "--object", cid)[-1]
    assert last["type"] == "GOAL" and "memory_limit_in_bytes=67108864" in last["message"], \
        f"expected a GOAL entry naming the update, saw {last}"
    assert last["from_state"] == last["to_state"]

    # A request that sets only the CPU keeps the memory limit, as runc does.
    update(env.client, cid, cpu_quota=50000, cpu_period=100000)
    assert cgroup_value(env.client, cid, "cpu", "cpu.cfs_quota_us") == "50000"
    assert cgroup_value(env.client, cid, "memory", "memory.limit_in_bytes") == str(64 * MIB)
    stored = stored_resources(env, cid)
    assert (stored.memory_limit_in_bytes, stored.cpu_shares, stored.cpu_quota,
            stored.cpu_period) == (64 * MIB, 512, 50000, 100000), f"saw {stored}"
    st = ch.container_status(env.client, cid).status
    assert st.state == API.CONTAINER_RUNNING


def test_updated_resources_survive_a_daemon_restart(ctr_env_factory):
    env = ctr_env_factory("upd")
    env.start()
    env.pull()
    _, cid = start_limited(env, "app", 128 * MIB)
    update(env.client, cid, memory_limit_in_bytes=48 * MIB)
    env.daemon.stop_cleanly()
    env.daemon.start()
    st = ch.container_status(env.client, cid).status
    assert st.state == API.CONTAINER_RUNNING, f"expected the container still running, saw {st}"
    assert stored_resources(env, cid).memory_limit_in_bytes == 48 * MIB
    assert cgroup_value(env.client, cid, "memory", "memory.limit_in_bytes") == str(48 * MIB)
    # And a step committed after the update (the stop) keeps it too.
    ch.stop_container(env.client, cid, timeout_s=0)
    assert stored_resources(env, cid).memory_limit_in_bytes == 48 * MIB


def test_bad_values_change_nothing(ctr_env):
    env = ctr_env
    _, cid = start_limited(env, "app", 128 * MIB)
    before = p.db_log(env.root, "--object", cid)
    for linux, field in (({"cpuset_cpus": "3-1"}, "linux.cpuset_cpus"),
                         ({"memory_limit_in_bytes": -5}, "linux.memory_limit_in_bytes"),
                         ({"oom_score_adj": 5000}, "linux.oom_score_adj"),
                         ({"memory_limit_in_bytes": 64 * MIB,
                           "memory_swap_limit_in_bytes": 32 * MIB},
                          "linux.memory_swap_limit_in_bytes")):
        code, msg = p.rpc_code(update, env.client, cid, **linux)
        assert code == grpc.StatusCode.INVALID_ARGUMENT and field in msg, \
            f"{linux}: expected INVALID_ARGUMENT naming {field}, saw {code}: {msg}"
    req = env.client.request("UpdateContainerResources", container_id=cid)
    code, msg = p.rpc_code(env.client.call, "UpdateContainerResources", req)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "linux" in msg, f"saw {code}: {msg}"
    # A limit the kernel refuses (below what runc accepts) fails in the
    # runtime and leaves the record as it was.
    code, msg = p.rpc_code(update, env.client, cid, memory_limit_in_bytes=4096)
    assert code != grpc.StatusCode.OK, "expected a 4 KiB memory limit to be refused"
    assert p.db_log(env.root, "--object", cid) == before, "expected nothing logged"
    assert stored_resources(env, cid) is None
    assert cgroup_value(env.client, cid, "memory", "memory.limit_in_bytes") == str(128 * MIB)


def test_update_of_a_container_that_is_not_running(ctr_env):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("exited")
    cid = ch.run_container(env, pod_id, pod_cfg, ch.shell("job", env.image, "exit 0"))
    ch.wait_state(env.client, cid, API.CONTAINER_EXITED)
    code, msg = p.rpc_code(update, env.client, cid, memory_limit_in_bytes=64 * MIB)
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "not running" in msg, \
        f"saw {code}: {msg}"
    code, _ = p.rpc_code(update, env.client, "no-such-container", cpu_shares=2)
    assert code == grpc.StatusCode.NOT_FOUND
    # A created container can be updated (its cgroup exists).
    created = ch.create_container(env.client, pod_id, ch.shell("later", env.image, IDLE), pod_cfg)
    update(env.client, created, memory_limit_in_bytes=32 * MIB)
    assert cgroup_value(env.client, created, "memory", "memory.limit_in_bytes") == str(32 * MIB)


def test_container_status_reports_the_updated_resources(ctr_env):
    env = ctr_env
    _, cid = start_limited(env, "app", 128 * MIB)
    update(env.client, cid, memory_limit_in_bytes=96 * MIB)
    res = ch.container_status(env.client, cid).status.resources.linux
    assert (res.memory_limit_in_bytes, res.cpu_shares) == (96 * MIB, 1024), \
        f"expected ContainerStatus to report the updated limit, saw {res}"
