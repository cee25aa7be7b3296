"""The whole-system crash matrix: every transition of every machine (pod,
container, image — the transition tables of docs/state-diagrams.md,
generated from statemachine/), before and after its side effect.  For each
cell a realistic scenario reaches the transition, the daemon dies there
(CRIO_CRASH_AT: _exit(137) right before the step's side effect, or right
after its commit; for the EVENT transitions container.exit and
container.exit_before_start, before the event is applied or after its
commit), a restart without the hook recovers, the kubelet-like client
retries what it was doing, and then, with the node quiet:

  - the retried operation did what it asks;
  - every record is in a state the log explains
    (`crio-db-inspect --json check` exits 0);
  - the host matches the records (`crio-db-inspect --json orphans`
    reports nothing);
  - the CRI view agrees with the records (ListPodSandbox, ListContainers,
    ListImages list exactly the records the CRI shows: pods past PENDING,
    containers that had a conmon, READY images);
  - no orphan process: every process in the test's cgroup parent lives in
    the cgroup of a live pod or container record, and every conmon naming
    the test's run dir is the conmon of a live container record;
and after the client removed everything: orphans and check still clean,
nothing on the host (pins, veths, IPAM reservations, cgroups, pause and
conmon processes, mounts, runtime state, exit files, container and layer
dirs), and a log in which everything acquired was released.

Scenarios are those of the per-kind matrices (test_pod_crash_matrix.plan,
test_container_crash_matrix.SCENARIO and failing_step), driven here against
one daemon that runs pods, containers and images together; a rollback
transition is reached by making the forward step from its state fail
(CRIO_FAIL_AT).  A table of transitions x before/after with pass/FAIL and
the total is printed at the end."""

import time
from pathlib import Path

import grpc
import pytest

import containers_harness as ch
import crio_harness as h
import images_harness as ih
import matrix_harness as m
import pods_harness as p
import test_container_crash_matrix as ccm
import test_pod_crash_matrix as pcm
from containers_harness import image_source  # noqa: F401 (fixtures)
from pods_harness import pod_cgroups, pod_net  # noqa: F401 (fixtures)

API = h.api()
KINDS = m.KINDS


ROWS = m.transition_rows()
BY_NAME = {r["name"]: r for r in ROWS}
CELLS = m.cells_of(ROWS)
RESULTS = {}


# ---- images: the scenario of each transition ------------------------------------------

def image_plan(row):
    """(scenario, transition to make fail or None): "pull" for the way to
    READY, "remove" for the way out; a rollback is reached by failing the
    forward step from its state."""
    rows = [r for r in ROWS if r["kind"] == "image"]
    if row["rollback"]:
        failing = [r["name"] for r in rows if r["from"] == row["from"] and not r["rollback"]]
        assert len(failing) == 1, f"expected one forward step from {row['from']}, saw {failing}"
        return "pull", failing[0]
    chain = m.forward_chain(rows)
    return ("pull" if chain.index(row["to"]) <= chain.index("READY") else "remove"), None


def plan_of(row):
    if row["kind"] == "pod":
        return pcm.plan(row)
    if row["kind"] == "container":
        return ccm.SCENARIO[row["name"]], ccm.failing_step(row)
    return image_plan(row)


def test_the_matrix_covers_every_transition_of_every_machine():
    kinds = {r["kind"] for r in ROWS}
    assert kinds == set(KINDS), f"expected rows of {KINDS}, saw {kinds}"
    names = [r["name"] for r in ROWS]
    assert len(set(names)) == len(names), "transition names are unique across machines"
    counts = {k: sum(1 for r in ROWS if r["kind"] == k) for k in KINDS}
    assert counts["pod"] >= 14 and counts["container"] >= 12 and counts["image"] >= 6, counts
    events = {r["name"] for r in ROWS if r["trigger"] == "event"}
    assert events == {"container.exit", "container.exit_before_start"}, events
    for r in ROWS:
        plan_of(r)  # every transition has a scenario
    assert len(CELLS) == 2 * len(ROWS)


# ---- the table ------------------------------------------------------------------------------

@pytest.fixture(scope="module", autouse=True)
def matrix_table(request):
    yield
    if not RESULTS:
        return
    def trigger_of(name):
        return BY_NAME[name]["trigger"] + ("/rb" if BY_NAME[name]["rollback"] else "")
    lines = m.table_lines("system crash matrix (kill at the transition, restart, client retry, invariants):",
                          CELLS, RESULTS, trigger_of)
    lines.append(f"  {m.passed_count(RESULTS)}/{len(RESULTS)} cells passed ({len(CELLS)} in the matrix: "
                 f"{len(ROWS)} transitions x before/after)")
    m.write_past_capture(request, lines)


@pytest.fixture
def cell_env(pod_net, pod_cgroups, image_source):
    with m.crash_env(lambda workdir: ch.ContainerEnv(workdir, pod_net, pod_cgroups, image_source,
                                                     name="system")) as env:
        yield env


# ---- invariants ------------------------------------------------------------------------------

def db_snapshot(root):
    pods, ctrs = p.db_pods(root), ch.db_containers(root)
    imgs = h.inspect(root, "images").json
    return pods, ctrs, imgs


def settle(env, timeout=30.0):
    """Waits until the records stop moving (three equal reads 0.1 s apart):
    whatever the restart resumed has finished."""
    def key():
        pods, ctrs, imgs = db_snapshot(env.root)
        return sorted((r["id"], r["state"], r["goal"]) for r in pods + ctrs + imgs)
    deadline = time.monotonic() + timeout
    last, same = None, 0
    while time.monotonic() < deadline:
        k = key()
        same = same + 1 if k == last else 0
        if same >= 2:
            return
        last = k
        time.sleep(0.1)
    raise AssertionError(f"expected the records to settle within {timeout}s, still moving: {last}")


def check_ok(env):
    out = h.inspect(env.root, "check", check=False)
    assert out.returncode == 0, \
        f"expected crio-db-inspect check to exit 0, saw {out.returncode}: {out.stdout.strip()}"


def orphans(env):
    return h.inspect(env.root, "orphans", "--runroot", str(env.runroot),
                     "--cgroup-parent", env.cgroups.path).json


def proc_start_time(pid):
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return None if fields[0] == "Z" else int(fields[19])


def orphans_ok(env):
    found = orphans(env)
    assert found == [], f"expected crio-db-inspect orphans to report nothing, saw {found}"


def cri_view_ok(env):
    pods, ctrs, imgs = db_snapshot(env.root)
    c = env.client
    want_pods = {r["id"] for r in pods if r["state"] != 1}  # PENDING is not a sandbox yet
    seen_pods = {x.id for x in p.list_pods(c)}
    assert seen_pods == want_pods, f"expected ListPodSandbox to show {want_pods}, saw {seen_pods}"
    want_ctrs = {r["id"] for r in ctrs if r["container"]["conmon_pid"] > 0}
    seen_ctrs = {x.id for x in ch.list_containers(c)}
    assert seen_ctrs == want_ctrs, f"expected ListContainers to show {want_ctrs}, saw {seen_ctrs}"
    want_imgs = {r["id"] for r in imgs if r["state"] == 3}  # READY
    seen_imgs = {x.id for x in ih.list_images(c)}
    assert seen_imgs == want_imgs, f"expected ListImages to show {want_imgs}, saw {seen_imgs}"


def cgroup_owner(pid, parent):
    """The crio-<id> directly under `parent` that pid lives in (any
    hierarchy), or None."""
    try:
        text = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return None
    prefix = parent.rstrip("/") + "/"
    for line in text.splitlines():
        path = line.split(":", 2)[2]
        if path.startswith(prefix):
            first = path[len(prefix):].split("/", 1)[0]
            return first[len("crio-"):] if first.startswith("crio-") else first
    return None


def no_orphan_process(env):
    pods, ctrs, _ = db_snapshot(env.root)
    live = {r["id"] for r in pods + ctrs}
    strays = {}
    for proc in Path("/proc").iterdir():
        # A zombie is no process that runs: here PID 1 does not reap the
        # pause processes of daemons that died, as systemd would.
        if not proc.name.isdigit() or proc_start_time(proc.name) is None:
            continue
        owner = cgroup_owner(proc.name, env.cgroups.path)
        if owner is not None and owner not in live:
            strays[int(proc.name)] = owner
    assert strays == {}, f"expected every process in {env.cgroups.path} to belong to a live " \
                         f"record, saw pid -> cgroup owner {strays}"
    conmons = {r["container"]["conmon_pid"] for r in ctrs if r["state"] in (3, 4)}
    extra = set(env.conmons()) - conmons
    assert extra == set(), f"expected every conmon to be a live container's, saw strays {extra}"


def invariants(env):
    settle(env)
    check_ok(env)
    orphans_ok(env)
    cri_view_ok(env)
    no_orphan_process(env)


def remove_everything(env, object_ids):
    """The client's cleanup, then the node must be empty."""
    c = env.client
    for x in ch.list_containers(c):
        ch.remove_container(c, x.id)
    for r in p.db_pods(env.root):
        p.remove_pod(c, r["id"])
    for img in ih.list_images(c):
        ih.remove(c, img.id)
    settle(env)
    pods, ctrs, imgs = db_snapshot(env.root)
    assert (pods, ctrs, imgs) == ([], [], []), \
        f"expected no records after removing everything, saw {len(pods)} pod(s), " \
        f"{len(ctrs)} container(s), {len(imgs)} image(s)"
    check_ok(env)
    orphans_ok(env)
    assert env.leaks() == [], f"expected nothing left on the host, saw {env.leaks()}"
    assert ih.layer_dirs(env.daemon) == (set(), set()), \
        f"expected no layer dir left, saw {ih.layer_dirs(env.daemon)}"
    for i in object_ids:
        held = m.held_resources(env.root, i)
        assert held == {}, f"expected the log to release everything {i[:12]} acquired: {held}"


# ---- crashing -------------------------------------------------------------------------------------

def restart(env):
    """The same root and run dir, no hooks; this daemon must exit 0 on
    SIGTERM at the end (sanitizer builds report there)."""
    client = env.start(None)
    env.daemon.expect_clean_exit = True
    return client


def ids_of(env):
    pods, ctrs, imgs = db_snapshot(env.root)
    return {r["id"] for r in pods + ctrs + imgs}


def pod_cell(env, row, when, fail_at, scenario):
    point = f"{row['name']}:{when}"
    env.pull()  # before the hook can matter: pods only
    cfg = env.config("crash", shared_pid=True)
    pod_id = None
    if scenario == "run":
        p.rpc_code(p.run_pod, env.client, cfg)
    else:
        pod_id = p.run_pod(env.client, cfg)
        if scenario == "stop":
            p.rpc_code(p.stop_pod, env.client, pod_id)
        else:
            p.stop_pod(env.client, pod_id)
            p.rpc_code(p.remove_pod, env.client, pod_id)
    m.wait_for_crash(env, point, timeout=60)
    seen = ids_of(env)

    c = restart(env)
    if scenario == "run":
        pod_id = p.run_pod(c, cfg)
        st = p.pod_status(c, pod_id).status
        assert st.state == API.SANDBOX_READY and st.network.ip, \
            f"expected the retried RunPodSandbox to give a READY pod with an IP, saw {st}"
    elif scenario == "stop":
        p.stop_pod(c, pod_id)
        st = p.pod_status(c, pod_id).status
        assert st.state == API.SANDBOX_NOTREADY and not st.network.ip, \
            f"expected the retried StopPodSandbox to leave it NOTREADY without IP, saw {st}"
    else:
        p.remove_pod(c, pod_id)
        code, _ = p.rpc_code(p.pod_status, c, pod_id)
        assert code == grpc.StatusCode.NOT_FOUND, f"expected the pod gone, saw {code}"
    return seen | {pod_id}


def container_cell(env, row, when, fail_at, scenario):
    point = f"{row['name']}:{when}"
    env.pull()
    pod_id, pod_cfg = env.run_pod("crash")
    cfg = ch.scenario_config(env.image, scenario)
    c = env.client
    cid = ch.drive_scenario(env, pod_id, pod_cfg, cfg, scenario)
    m.wait_for_crash(env, point, timeout=60)
    seen = ids_of(env)

    c = restart(env)
    if scenario == "create":
        cid = ch.create_container(c, pod_id, cfg, pod_cfg)
        ch.start_container(c, cid)
        st = ch.container_status(c, cid).status
        assert st.state == API.CONTAINER_RUNNING, f"expected the retried create+start RUNNING, saw {st}"
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
        # The kubelet's retry of an observation is its next status poll.
        want = 3 if scenario == "exit" else 137
        st = ch.wait_state(c, cid, API.CONTAINER_EXITED, timeout=10)
        assert st.exit_code == want, f"expected the real exit code {want}, saw {st}"
    else:
        ch.remove_container(c, cid)
        code, _ = p.rpc_code(ch.container_status, c, cid)
        assert code == grpc.StatusCode.NOT_FOUND, f"expected the container gone, saw {code}"
    return seen | {pod_id, cid}


def image_cell(env, row, when, fail_at, scenario):
    point = f"{row['name']}:{when}"
    c = env.client
    if scenario == "pull":
        p.rpc_code(env.pull)
    else:
        env.pull()
        p.rpc_code(ih.remove, c, env.image)
    m.wait_for_crash(env, point, timeout=60)
    seen = ids_of(env)

    c = restart(env)
    if scenario == "pull":
        ref = env.pull()
        img = ih.status(c, env.image).image
        assert img.id and ref, f"expected the retried PullImage to give the image, saw {img}"
        assert env.image in img.repo_tags, f"expected it tagged {env.image}, saw {img.repo_tags}"
    else:
        ih.remove(c, env.image)
        assert not ih.status(c, env.image).HasField("image"), "expected the image gone"
    return seen


DRIVERS = {"pod": pod_cell, "container": container_cell, "image": image_cell}


def run_cell(env, transition, when):
    row = BY_NAME[transition]
    scenario, fail_at = plan_of(row)
    hooks = {"CRIO_CRASH_AT": f"{transition}:{when}"}
    if fail_at:
        hooks["CRIO_FAIL_AT"] = fail_at
    env.start(hooks)
    object_ids = DRIVERS[row["kind"]](env, row, when, fail_at, scenario)
    invariants(env)
    remove_everything(env, object_ids - {None})


@pytest.mark.parametrize("transition, when", CELLS, ids=[f"{n}:{w}" for n, w in CELLS])
def test_crash_at_every_transition_then_restart_retry_and_check_the_invariants(
        cell_env, transition, when):
    RESULTS[(transition, when)] = "FAIL"
    run_cell(cell_env, transition, when)
    RESULTS[(transition, when)] = "pass"
