"""The crash matrix of the operations on a live object (reconciler_run_op):
the daemon dies right before and right after UpdateContainerResources,
UpdatePodSandboxResources and ReopenContainerLog do their work
(CRIO_CRASH_AT=<operation>:before|after),
and a restart without the hook, followed by the kubelet's usual retry, must
leave a consistent node: the container still runs, the record never claims
limits the host did not get (before: the old limits on both; after: the new
ones on both), the retried call does what it asks, and after removing the
pod there is nothing on the host, no record, and a log in which every
acquired resource was released."""

import base64
import os
from pathlib import Path

import pytest

import containers_harness as ch
import crio_harness as h
import matrix_harness as m
import pods_harness as p
from containers_harness import image_source  # noqa: F401 (fixtures)
from pods_harness import pod_cgroups, pod_net  # noqa: F401 (fixtures)

API = h.api()
MIB = 1 << 20
TICKER = "trap 'exit 0' TERM; i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.1; done"
OPERATIONS = ("container.update_resources", "pod.update_resources", "container.reopen_log")
CELLS = [(o, w) for o in OPERATIONS for w in ("before", "after")]
RESULTS = {}


def update(client, cid, memory):
    req = client.request("UpdateContainerResources", container_id=cid)
    req.linux.CopyFrom(API.LinuxContainerResources(memory_limit_in_bytes=memory))
    return client.call("UpdateContainerResources", req, timeout=30)


def reopen(client, cid):
    return client.call("ReopenContainerLog",
                       client.request("ReopenContainerLog", container_id=cid), timeout=30)


def memory_limit(client, cid):
    path = ch.info(client, cid)["cgroupsPath"]
    return int(Path(f"/sys/fs/cgroup/memory{path}/memory.limit_in_bytes").read_text())


def pod_memory_limit(parent):
    return int(Path(f"{p.CGROUP_ROOT}/memory{parent}/memory.limit_in_bytes").read_text())


def update_pod(client, pod_id, memory):
    req = client.request("UpdatePodSandboxResources", pod_sandbox_id=pod_id)
    req.resources.CopyFrom(API.LinuxContainerResources(memory_limit_in_bytes=memory))
    return client.call("UpdatePodSandboxResources", req, timeout=30)


def stored_pod_memory(env, pod_id):
    rec = next(r for r in p.db_pods(env.root) if r["id"] == pod_id)
    raw = base64.b64decode(rec.get("resources_update") or "")
    if not raw:
        return None
    return API.LinuxPodSandboxConfig.FromString(raw).resources.memory_limit_in_bytes


def stored_memory(env, cid):
    rec = next(r for r in ch.db_containers(env.root) if r["id"] == cid)
    raw = base64.b64decode(rec.get("resources_update") or "")
    if not raw:
        return None
    return API.LinuxContainerResources.FromString(raw).memory_limit_in_bytes


@pytest.fixture(scope="module", autouse=True)
def matrix_table(request):
    yield
    if not RESULTS:
        return
    lines = m.table_lines("operation crash matrix (daemon _exit(137) at the operation, restart, "
                          "retry):", CELLS, RESULTS)
    lines.append(f"  {m.passed_count(RESULTS)}/{len(RESULTS)} cells passed ({len(CELLS)} in the "
                 f"matrix)")
    m.write_past_capture(request, lines)


@pytest.fixture
def cell_env(pod_net, pod_cgroups, image_source):
    with m.crash_env(lambda workdir: ch.ContainerEnv(workdir, pod_net, pod_cgroups, image_source,
                                                     name="opcrash")) as env:
        yield env


def run_cell(env, op, when):
    point = f"{op}:{when}"
    env.start({"CRIO_CRASH_AT": point})
    env.pull()
    parent = f"{env.cgroups.path}/podop"  # the kubelet's pod<uid> parent
    pod_id, pod_cfg = env.run_pod("opcrash", shared_pid=False, cgroup_parent=parent)
    cfg = ch.shell("ticker", env.image, TICKER)
    cfg.linux.resources.memory_limit_in_bytes = 128 * MIB
    cid = ch.run_container(env, pod_id, pod_cfg, cfg)
    c = env.client
    log = Path(ch.container_status(c, cid).status.log_path)
    ch.wait_for(lambda: len(ch.log_lines(log)) >= 2, what=f"lines in {log}")
    rotated = log.with_name(log.name + ".1")

    if op == "container.update_resources":
        p.rpc_code(update, c, cid, 64 * MIB)
    elif op == "pod.update_resources":
        before = pod_memory_limit(parent)
        p.rpc_code(update_pod, c, pod_id, 256 * MIB)
    else:
        os.rename(log, rotated)
        p.rpc_code(reopen, c, cid)
    m.wait_for_crash(env, point)

    env.start(None)  # the same root and runroot, no hooks
    c = env.client
    st = ch.container_status(c, cid).status
    assert st.state == API.CONTAINER_RUNNING, f"expected the container still running, saw {st}"
    if op == "container.update_resources":
        want = 128 * MIB if when == "before" else 64 * MIB
        assert memory_limit(c, cid) == want, \
            f"expected the cgroup at {want} after a crash {when} the update, saw {memory_limit(c, cid)}"
        assert stored_memory(env, cid) == (None if when == "before" else 64 * MIB), \
            f"expected the record to agree with the host, saw {stored_memory(env, cid)}"
        update(c, cid, 64 * MIB)  # the kubelet's retry
        assert memory_limit(c, cid) == 64 * MIB and stored_memory(env, cid) == 64 * MIB
    elif op == "pod.update_resources":
        want = before if when == "before" else 256 * MIB
        assert pod_memory_limit(parent) == want, \
            f"expected the pod cgroup at {want} after a crash {when} the update, " \
            f"saw {pod_memory_limit(parent)}"
        assert stored_pod_memory(env, pod_id) == (None if when == "before" else 256 * MIB), \
            f"expected the record to agree with the host, saw {stored_pod_memory(env, pod_id)}"
        update_pod(c, pod_id, 256 * MIB)  # the kubelet's retry
        assert pod_memory_limit(parent) == 256 * MIB and stored_pod_memory(env, pod_id) == 256 * MIB
    else:
        assert log.exists() == (when == "after"), \
            f"expected the new log file {'' if when == 'after' else 'not '}made by a crash {when}"
        reopen(c, cid)  # the kubelet's retry
        assert log.exists(), "expected a new log file at the container's log path"
        ch.wait_for(lambda: ch.log_lines(log), what=f"new lines in {log}")

    ch.remove_container(c, cid)
    p.remove_pod(c, pod_id)
    for d in env.cgroups.dirs():  # the pod<uid> parent is the kubelet's to remove
        if (d / "podop").is_dir():
            (d / "podop").rmdir()
    assert ch.db_containers(env.root) == [], \
        f"expected no container records, saw {ch.db_containers(env.root)}"
    assert env.leaks() == [], f"expected nothing left on the host, saw {env.leaks()}"
    for i in (cid, pod_id):
        held = m.held_resources(env.root, i)
        assert held == {}, f"expected the log to release everything {i[:12]} acquired: {held}"


@pytest.mark.parametrize("op, when", CELLS, ids=[f"{o}:{w}" for o, w in CELLS])
def test_crash_at_operation_then_restart_and_retry(cell_env, op, when):
    RESULTS[(op, when)] = "FAIL"
    run_cell(cell_env, op, when)
    RESULTS[(op, when)] = "pass"
