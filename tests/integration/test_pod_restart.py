"""A READY pod outlives the daemon: after a restart on the same root and
runroot (SIGTERM or SIGKILL) it is still READY with the same IP, the same
pinned namespaces and the same pause process, and it can then be stopped
and removed without leaving anything behind."""

import json
import os
import signal

import grpc
import pytest

import pods_harness as p
from pods_harness import pod_cgroups, pod_env, pod_net  # noqa: F401 (fixtures)

NS = ("net", "ipc", "uts")


def pins(env, pod_id, types):
    return {t: os.stat(env.runroot / f"{t}ns" / pod_id).st_ino for t in types}


@pytest.mark.parametrize("shared_pid", [False, True], ids=["plain", "shared-pid"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_a_ready_pod_survives_a_daemon_restart(pod_env, sig, shared_pid):
    env = pod_env
    mod = p.api()
    types = NS + (("pid",) if shared_pid else ())
    pod_id = p.run_pod(env.client, env.config("survivor", shared_pid=shared_pid))
    ip = p.pod_status(env.client, pod_id).status.network.ip
    before = pins(env, pod_id, types)
    pause = p.pause_processes(env.cgroups)
    assert len(pause) == (1 if shared_pid else 0), f"expected {int(shared_pid)} pause process, saw {pause}"

    env.restart(sig)

    st = p.pod_status(env.client, pod_id).status
    assert st.state == mod.SANDBOX_READY, \
        f"expected READY after the restart, saw {mod.PodSandboxState.Name(st.state)}"
    assert st.network.ip == ip, f"expected the same IP {ip} after the restart, saw {st.network.ip!r}"
    mounts = p.mounts_under(env.runroot)
    for t in types:
        assert str(env.runroot / f"{t}ns" / pod_id) in mounts, f"expected the {t} pin still mounted"
    assert pins(env, pod_id, types) == before, "expected the very same namespaces pinned after the restart"
    assert p.pause_processes(env.cgroups) == pause, \
        f"expected the same pause process {pause}, saw {p.pause_processes(env.cgroups)}"
    assert [x.id for x in p.list_pods(env.client)] == [pod_id], "expected List to show the pod"
    assert env.net.reserved_ips() == [ip] and len(env.net.bridge_ports()) == 1, \
        "expected the attachment untouched by the restart (one veth, one reservation)"

    p.stop_pod(env.client, pod_id)
    p.remove_pod(env.client, pod_id)
    assert env.leaks() == [], f"expected nothing left after stop+remove, saw {env.leaks()}"
    assert p.db_pods(env.root) == [], "expected no records left"


def test_a_stopped_pod_stays_stopped_across_a_restart_and_can_be_removed(pod_env):
    env = pod_env
    mod = p.api()
    pod_id = p.run_pod(env.client, env.config("sleeper"))
    p.stop_pod(env.client, pod_id)
    env.restart(signal.SIGKILL)
    st = p.pod_status(env.client, pod_id).status
    assert st.state == mod.SANDBOX_NOTREADY, "expected the stopped pod NOTREADY after the restart"
    assert p.pinned_namespaces(env.runroot) == [], "expected no pins to come back"
    p.remove_pod(env.client, pod_id)
    assert env.leaks() == [], f"expected nothing left, saw {env.leaks()}"


@pytest.mark.parametrize("failing", ["pod.cni_del", "pod.release_namespaces", "pod.remove_cgroup"])
def test_a_failing_teardown_step_is_reported_and_finished_after_a_restart(pod_env, failing):
    """StopPodSandbox/RemovePodSandbox report a teardown step that fails; the
    reconciler keeps retrying it (giving up would leak what the log says may
    exist), and once the cause is gone the kubelet's retry completes."""
    env = pod_env
    mod = p.api()
    cfg = env.config("stubborn")
    pod_id = p.run_pod(env.client, cfg)
    env.restart(env=({"CRIO_FAIL_AT": failing}))
    call = p.remove_pod if failing == "pod.remove_cgroup" else p.stop_pod
    code, msg = p.rpc_code(call, env.client, pod_id)
    assert code != grpc.StatusCode.OK and failing in msg, \
        f"expected the call to fail naming {failing}, saw {code}: {msg}"
    st = p.pod_status(env.client, pod_id, verbose=True)
    assert st.status.state == mod.SANDBOX_NOTREADY, "expected the pod NOTREADY while its teardown fails"
    info = json.loads(st.info["info"])
    assert "CRIO_FAIL_AT" in info.get("lastError", ""), f"expected the step's error in verbose info, saw {info}"

    env.restart()  # the cause is gone
    p.remove_pod(env.client, pod_id)
    assert p.db_pods(env.root) == [], "expected the record gone after the retried remove"
    assert env.leaks() == [], f"expected nothing left, saw {env.leaks()}"
