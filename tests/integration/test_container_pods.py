"""Containers and their pod: StopPodSandbox stops every running container
of the pod (all at once), RemovePodSandbox removes them; the pod's
containers share its network, IPC and UTS namespaces and its /dev/shm
tmpfs; a host-IPC pod's containers use the host's /dev/shm."""

import time
from pathlib import Path

import grpc

import containers_harness as ch
import crio_harness as h
import pods_harness as p
from containers_harness import ctr_env, image_source  # noqa: F401 (fixtures)
from pods_harness import pod_cgroups, pod_net  # noqa: F401 (fixtures)

API = h.api()
TRAPPING = "trap 'exit 0' TERM; echo up; while :; do sleep 0.1; done"


def test_stop_pod_sandbox_stops_its_containers_and_remove_removes_them(ctr_env):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("pod")
    ids = [ch.run_container(env, pod_id, pod_cfg, ch.shell(f"c{i}", env.image, TRAPPING))
           for i in range(3)]
    other_pod, other_cfg = env.run_pod("other")
    other = ch.run_container(env, other_pod, other_cfg, ch.shell("x", env.image, TRAPPING))
    t0 = time.monotonic()
    p.stop_pod(env.client, pod_id)
    assert time.monotonic() - t0 < 8, "expected the containers to stop together and at once"
    for cid in ids:
        st = ch.container_status(env.client, cid).status
        assert (st.state, st.exit_code) == (API.CONTAINER_EXITED, 0), f"saw {st}"
    assert ch.container_status(env.client, other).status.state == API.CONTAINER_RUNNING, \
        "expected the other pod's container untouched"
    assert p.pod_status(env.client, pod_id).status.state == API.SANDBOX_NOTREADY
    # Exited containers are still listed and inspectable until removal.
    assert sorted(c.id for c in ch.list_containers(env.client, pod_sandbox_id=pod_id)) == sorted(ids)
    p.remove_pod(env.client, pod_id)
    for cid in ids:
        code, _ = p.rpc_code(ch.container_status, env.client, cid)
        assert code == grpc.StatusCode.NOT_FOUND, f"expected {cid[:12]} removed with its pod"
    assert [c.id for c in ch.list_containers(env.client)] == [other]
    assert [r["id"] for r in ch.db_containers(env.root)] == [other]


def test_remove_pod_sandbox_removes_running_containers(ctr_env):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("pod")
    ch.run_container(env, pod_id, pod_cfg, ch.shell("c", env.image, TRAPPING))
    ch.create_container(env.client, pod_id, ch.shell("never-started", env.image, TRAPPING),
                        pod_cfg)
    p.remove_pod(env.client, pod_id)
    assert ch.list_containers(env.client) == [] and ch.db_containers(env.root) == []
    assert env.leaks() == [], f"saw {env.leaks()}"


def test_create_in_a_pod_that_is_not_ready_is_a_failed_precondition(ctr_env):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("pod")
    p.stop_pod(env.client, pod_id)
    code, msg = p.rpc_code(ch.create_container, env.client, pod_id,
                           ch.shell("c", env.image, "true"), pod_cfg)
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "not ready" in msg, f"saw {code}: {msg}"
    assert ch.db_containers(env.root) == []


def test_containers_share_the_pods_namespaces_and_shm(ctr_env):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("shared", hostname="shared-host")
    writer = ch.run_container(env, pod_id, pod_cfg, ch.shell(
        "writer", env.image, "echo hi > /dev/shm/marker; hostname; " + TRAPPING))
    reader = ch.run_container(env, pod_id, pod_cfg, ch.shell(
        "reader", env.image,
        "while [ ! -e /dev/shm/marker ]; do sleep 0.1; done; cat /dev/shm/marker; " + TRAPPING))
    for cid, want in ((writer, "shared-host"), (reader, "hi")):
        log = ch.container_status(env.client, cid).status.log_path
        ch.wait_for(lambda: want in [m for _s, _t, m in ch.log_lines(log)],
                    what=f"'{want}' in {cid[:12]}'s log")
    pid_w = ch.info(env.client, writer)["pid"]
    pid_r = ch.info(env.client, reader)["pid"]
    for ns in ("net", "ipc", "uts"):
        a = Path(f"/proc/{pid_w}/ns/{ns}").stat().st_ino
        b = Path(f"/proc/{pid_r}/ns/{ns}").stat().st_ino
        assert a == b, f"expected both containers in the pod's {ns} namespace"
    shm = Path(env.runroot) / "pods" / pod_id / "shm"
    assert (shm / "marker").read_text() == "hi\n", "expected /dev/shm to be the pod's tmpfs"
    p.remove_pod(env.client, pod_id)
    assert env.leaks() == [], f"saw {env.leaks()}"


def test_full_ids_in_list_filters_find_exactly_their_objects(ctr_env):
    """A filter naming a whole id is one lookup, not a walk
    (cri/list_walk.c); it must still answer what the walk answers."""
    env = ctr_env
    pods = [env.run_pod(f"pod{i}") for i in range(2)]
    cids = [[ch.run_container(env, pid, cfg, ch.shell(f"c{j}", env.image, TRAPPING))
             for j in range(2)] for pid, cfg in pods]
    (pod_a, _), (pod_b, _) = pods
    assert [x.id for x in p.list_pods(env.client, id=pod_b)] == [pod_b]
    assert p.list_pods(env.client, id="f" * 64) == []
    assert p.list_pods(env.client, id=pod_b, state=API.SANDBOX_NOTREADY) == [], \
        "expected the state filter applied to the pod found by id"
    assert sorted(c.id for c in ch.list_containers(env.client, pod_sandbox_id=pod_a)) == \
        sorted(cids[0])
    assert [c.id for c in ch.list_containers(env.client, id=cids[1][1])] == [cids[1][1]]
    assert ch.list_containers(env.client, id=cids[1][1], pod_sandbox_id=pod_a) == [], \
        "expected a container of another pod not listed under this one"
    assert ch.list_containers(env.client, pod_sandbox_id="e" * 64) == []
    ch.stop_container(env.client, cids[0][0], timeout_s=5)
    assert [c.id for c in ch.list_containers(env.client, pod_sandbox_id=pod_a,
                                             state=API.CONTAINER_RUNNING)] == [cids[0][1]]
    ch.remove_container(env.client, cids[0][0])
    assert [c.id for c in ch.list_containers(env.client, pod_sandbox_id=pod_a)] == [cids[0][1]], \
        "expected a removed container gone from its pod's list"
