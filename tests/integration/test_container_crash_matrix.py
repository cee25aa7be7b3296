"""The container crash matrix: the daemon dies right before and right after
every container transition of the tables — steps and the exit events
alike — and a restart without the hook, followed by the kubelet's usual
retry, must leave a consistent node: the retried call does what it asks,
every listed container can be removed, and after removing the pods there
is nothing on the host (no mount under the root or run dir, no runc state,
no conmon, no container cgroup, no exit file), no record, and a log in
which every acquired resource was released.

The transitions come from the container rows of docs/state-diagrams.md's
transition table (generated from statemachine/container.c), so a new
transition must get a scenario here (the coverage test fails until it
does).  A rollback transition is reached by making the forward step from
its state fail (CRIO_FAIL_AT)."""


import grpc
import pytest

import containers_harness as ch
import crio_harness as h
import matrix_harness as m
import pods_harness as p
from containers_harness import image_source  # noqa: F401 (fixtures)
from pods_harness import pod_cgroups, pod_net  # noqa: F401 (fixtures)

API = h.api()
ROWS = m.transition_rows(("container",))

# Which CRI call (or host event) drives a container through each transition.
SCENARIO = {
    "container.mount_rootfs": "create",
    "container.runtime_create": "create",
    "container.start": "start",
    "container.stop": "stop",
    "container.exit": "exit",
    "container.stop_created": "stop_created",
    "container.exit_before_start": "exit_before_start",
    "container.runtime_delete": "remove",
    "container.unmount_rootfs": "remove",
    "container.delete_record": "remove",
    "container.rollback_partial_mount": "create",
    "container.rollback_runtime_delete": "create",
}


def failing_step(row):
    """The forward step whose failure reaches a rollback row."""
    if not row["rollback"]:
        return None
    found = [r["name"] for r in ROWS
             if r["from"] == row["from"] and not r["rollback"] and r["trigger"] == "step"]
    assert len(found) == 1, f"expected one forward step from {row['from']}, saw {found}"
    return found[0]


CELLS = m.cells_of(ROWS)
RESULTS = {}


def test_the_matrix_covers_every_container_transition():
    names = [r["name"] for r in ROWS]
    assert len(names) >= 12 and len(set(names)) == len(names), f"saw {names}"
    assert set(names) == set(SCENARIO), \
        f"expected a scenario for every transition: missing {set(names) - set(SCENARIO)}, " \
        f"stale {set(SCENARIO) - set(names)}"
    derived = {r["name"]: failing_step(r) for r in ROWS if r["rollback"]}
    assert derived == {"container.rollback_partial_mount": "container.mount_rootfs",
                       "container.rollback_runtime_delete": "container.runtime_create"}, \
        f"saw {derived}"
    events = {r["name"] for r in ROWS if r["trigger"] == "event"}
    assert events == {"container.exit", "container.exit_before_start"}, f"saw {events}"


@pytest.fixture(scope="module", autouse=True)
def matrix_table(request):
    yield
    if not RESULTS:
        return
    lines = m.table_lines("container crash matrix (daemon _exit(137) at the transition, restart, retry):",
                          CELLS, RESULTS)
    lines.append(f"  {m.passed_count(RESULTS)}/{len(RESULTS)} cells passed ({len(CELLS)} in the matrix)")
    m.write_past_capture(request, lines)


@pytest.fixture
def cell_env(pod_net, pod_cgroups, image_source):
    with m.crash_env(lambda workdir: ch.ContainerEnv(workdir, pod_net, pod_cgroups, image_source,
                                                     name="crash")) as env:
        yield env


def run_cell(env, transition, when):
    row = next(r for r in ROWS if r["name"] == transition)
    scenario = SCENARIO[transition]
    fail_at = failing_step(row)
    hooks = {"CRIO_CRASH_AT": f"{transition}:{when}"}
    if fail_at:
        hooks["CRIO_FAIL_AT"] = fail_at
    env.start(hooks)
    env.pull()
    pod_id, pod_cfg = env.run_pod("crash", shared_pid=False)
    cfg = ch.scenario_config(env.image, scenario)
    c = env.client
    cid = ch.drive_scenario(env, pod_id, pod_cfg, cfg, scenario)
    m.wait_for_crash(env, f"{transition}:{when}")
    ids_at_crash = [r["id"] for r in ch.db_containers(env.root)]

    env.start(None)  # the same root and runroot, no hooks
    c = env.client
    if scenario == "create":
        new_id = ch.create_container(c, pod_id, cfg, pod_cfg)
        st = ch.container_status(c, new_id).status
        assert st.state == API.CONTAINER_CREATED, f"expected the retried create CREATED, saw {st}"
        if fail_at:
            assert new_id not in ids_at_crash, "expected a new container after the rollback"
        else:
            assert ids_at_crash in ([], [new_id]), \
                f"expected the retry to attach to the container in flight {ids_at_crash}"
        ch.start_container(c, new_id)
        assert ch.container_status(c, new_id).status.state == API.CONTAINER_RUNNING
        cid = new_id
    elif scenario == "start":
        ch.start_container(c, cid)
        st = ch.container_status(c, cid).status
        assert st.state == API.CONTAINER_RUNNING, f"expected the retried start RUNNING, saw {st}"
    elif scenario in ("stop", "stop_created"):
        ch.stop_container(c, cid, 10)
        st = ch.container_status(c, cid).status
        want = 0 if scenario == "stop" else 137
        assert (st.state, st.exit_code) == (API.CONTAINER_EXITED, want), \
            f"expected the retried stop to give EXITED {want}, saw {st}"
    elif scenario in ("exit", "exit_before_start"):
        want = 3 if scenario == "exit" else 137
        st = ch.wait_state(c, cid, API.CONTAINER_EXITED, timeout=10)
        assert st.exit_code == want and not ch.info(c, cid).get("exitCodeLost"), \
            f"expected the real exit code {want} after the restart, saw {st}"
    else:
        ch.remove_container(c, cid)
        code, _ = p.rpc_code(ch.container_status, c, cid)
        assert code == grpc.StatusCode.NOT_FOUND, f"expected the container gone, saw {code}"

    for x in ch.list_containers(c):
        code, msg = p.rpc_code(ch.remove_container, c, x.id)
        assert code == grpc.StatusCode.OK, f"expected {x.id[:12]} removable, saw {code}: {msg}"
    ids = set(ids_at_crash) | {cid} | {r["id"] for r in ch.db_containers(env.root)}
    p.remove_pod(c, pod_id)
    assert ch.db_containers(env.root) == [], \
        f"expected no container records, saw {ch.db_containers(env.root)}"
    assert env.leaks() == [], f"expected nothing left on the host, saw {env.leaks()}"
    for i in ids | {pod_id}:
        held = m.held_resources(env.root, i)
        assert held == {}, f"expected the log to release everything {i[:12]} acquired: {held}"


@pytest.mark.parametrize("transition, when", CELLS, ids=[f"{n}:{w}" for n, w in CELLS])
def test_crash_at_container_transition_then_restart_and_retry(cell_env, transition, when):
    RESULTS[(transition, when)] = "FAIL"
    run_cell(cell_env, transition, when)
    RESULTS[(transition, when)] = "pass"
