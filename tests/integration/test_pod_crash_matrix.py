"""The crash matrix: the daemon dies right before and right after every
pod transition of the tables, and a restart without the hook, followed by
the kubelet's usual retry, must leave a consistent node: every listed pod
READY with an IP (or removable), and after removing them nothing on the
host, no records, no pause processes, and a log in which every acquired
resource was released.

The transitions come from the pod rows of docs/state-diagrams.md's
transition table (generated from statemachine/pod.c and checked against it
by test_state_diagrams), so a new transition gets its cells here without
editing this file.  A rollback transition is reached by making the forward
step from the same state fail (CRIO_FAIL_AT), which is what rolls a
creation back.  The pods share their PID namespace, so pod.mark_ready also
starts (and every teardown must stop) a pause process."""

import grpc
import pytest

import matrix_harness as m
import pods_harness as p
from pods_harness import pod_cgroups, pod_net  # noqa: F401 (fixtures)

ROWS = [r for r in m.transition_rows(("pod",)) if r["trigger"] == "step"]

# The states the CRI calls drive a pod to (RunPodSandbox, StopPodSandbox,
# RemovePodSandbox), which split the forward chain into three scenarios.
CRI_GOALS = {"run": "READY", "stop": "STOPPED", "remove": "REMOVED"}


CHAIN = m.forward_chain(ROWS)


def plan(row):
    """(scenario, transition to make fail or None) that reaches `row`."""
    if row["rollback"]:
        failing = [r["name"] for r in ROWS if not r["rollback"] and r["from"] == row["from"]]
        assert len(failing) == 1, f"expected one forward step from {row['from']}, saw {failing}"
        return "run", failing[0]
    to = CHAIN.index(row["to"])
    for scenario in ("run", "stop", "remove"):
        if to <= CHAIN.index(CRI_GOALS[scenario]):
            return scenario, None
    raise AssertionError(f"{row['name']} is on no CRI path")


CELLS = m.cells_of(ROWS)
RESULTS = {}


def test_the_matrix_covers_every_pod_step_transition():
    names = [r["name"] for r in ROWS]
    assert len(names) >= 14 and len(set(names)) == len(names), f"expected the pod transitions, saw {names}"
    assert CHAIN[0] == "PENDING" and CHAIN[-1] == "REMOVED", f"expected PENDING..REMOVED, saw {CHAIN}"
    # The brief's pairing of rollbacks and the steps whose failure reaches them.
    expected = {"pod.rollback_partial_namespaces": "pod.pin_namespaces",
                "pod.rollback_release_namespaces": "pod.create_cgroup",
                "pod.rollback_cni_del": "pod.cni_add",
                "pod.rollback_detach_network": "pod.mark_ready"}
    derived = {r["name"]: plan(r)[1] for r in ROWS if r["rollback"]}
    assert derived == expected, f"expected rollback triggers {expected}, derived {derived}"


@pytest.fixture(scope="module", autouse=True)
def matrix_table(request):
    yield
    if not RESULTS:
        return
    lines = m.table_lines("pod crash matrix (daemon _exit(137) at the transition, restart, retry):",
                          CELLS, RESULTS)
    lines.append(f"  {m.passed_count(RESULTS)}/{len(RESULTS)} cells passed ({len(CELLS)} in the matrix)")
    m.write_past_capture(request, lines)


@pytest.fixture
def cell_env(pod_net, pod_cgroups):
    with m.crash_env(lambda workdir: p.PodEnv(workdir, pod_net, pod_cgroups, name="crash")) as env:
        yield env


def call_until_crash(env, fn, *args):
    """A call the daemon dies during; returns the gRPC code (it may also
    have answered, if it died right after)."""
    code, _msg = p.rpc_code(fn, env.client, *args)
    return code


def retry_run(env, cfg):
    """RunPodSandbox as the kubelet retries it: once, with the same config.
    A name still held by a rolled-back attempt whose cleanup the restart
    resumed must not fail it: the daemon waits for that cleanup."""
    return p.run_pod(env.client, cfg)


def run_cell(env, transition, when):
    mod = p.api()
    row = next(r for r in ROWS if r["name"] == transition)
    scenario, fail_at = plan(row)
    hooks = {"CRIO_CRASH_AT": f"{transition}:{when}"}
    if fail_at:
        hooks["CRIO_FAIL_AT"] = fail_at
    env.start(hooks)
    cfg = env.config("crash", shared_pid=True)

    pod_id = None
    if scenario == "run":
        call_until_crash(env, p.run_pod, cfg)
    else:
        pod_id = p.run_pod(env.client, cfg)
        if scenario == "stop":
            call_until_crash(env, p.stop_pod, pod_id)
        else:
            p.stop_pod(env.client, pod_id)
            call_until_crash(env, p.remove_pod, pod_id)
    m.wait_for_crash(env, f"{transition}:{when}",
                     detail=f" ({scenario}{', failing ' + fail_at if fail_at else ''})")
    ids_at_crash = [r["id"] for r in p.db_pods(env.root)]

    env.start(None)  # the same root and runroot, no hooks
    if scenario == "run":
        new_id = retry_run(env, cfg)
        st = p.pod_status(env.client, new_id).status
        assert st.state == mod.SANDBOX_READY and st.network.ip, \
            f"expected the retried run to give a READY pod with an IP, saw {st}"
        if fail_at:
            assert new_id not in ids_at_crash, \
                f"expected a new pod after the rolled-back attempt {ids_at_crash}, saw the same id"
        else:
            assert ids_at_crash in ([], [new_id]), \
                f"expected the retry to attach to the pod in flight {ids_at_crash}, saw {new_id}"
        pod_id = new_id
    elif scenario == "stop":
        p.stop_pod(env.client, pod_id)
        st = p.pod_status(env.client, pod_id).status
        assert st.state == mod.SANDBOX_NOTREADY and not st.network.ip, \
            f"expected the retried stop to leave the pod NOTREADY without IP, saw {st}"
        assert p.pinned_namespaces(env.runroot) == [], "expected no pins after the retried stop"
        assert p.pause_processes(env.cgroups) == [], "expected no pause process after the stop"
    else:
        p.remove_pod(env.client, pod_id)
        code, msg = p.rpc_code(p.pod_status, env.client, pod_id)
        assert code == grpc.StatusCode.NOT_FOUND, f"expected the pod gone after the retried remove, saw {code}"

    for x in p.list_pods(env.client):
        st = p.pod_status(env.client, x.id).status
        ok = st.state == mod.SANDBOX_READY and st.network.ip
        if not ok:
            code, msg = p.rpc_code(p.remove_pod, env.client, x.id)
            assert code == grpc.StatusCode.OK, \
                f"expected a listed pod that is not READY to be removable, saw {code}: {msg}"
    ids = set(ids_at_crash) | {pod_id} | {r["id"] for r in p.db_pods(env.root)}
    for r in p.db_pods(env.root):
        p.remove_pod(env.client, r["id"])
    assert p.db_pods(env.root) == [], f"expected no records after removing every pod, saw {p.db_pods(env.root)}"
    assert env.leaks() == [], f"expected nothing left on the host, saw {env.leaks()}"
    for i in ids:
        held = m.held_resources(env.root, i)
        assert held == {}, f"expected the log to release everything pod {i[:12]} acquired, still held: {held}"


@pytest.mark.parametrize("transition, when", CELLS, ids=[f"{n}:{w}" for n, w in CELLS])
def test_crash_at_transition_then_restart_and_retry(cell_env, transition, when):
    RESULTS[(transition, when)] = "FAIL"
    run_cell(cell_env, transition, when)
    RESULTS[(transition, when)] = "pass"
