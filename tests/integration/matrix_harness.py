"""What the crash matrices (test_pod_crash_matrix, test_container_crash_matrix,
test_system_crash_matrix) share: the rows of docs/state-diagrams.md's
transition table, the forward chain through them, the daemon's crash at a
cell, the log's still-held resources, the per-cell environment and the
pass/FAIL table printed at the end."""

import shutil
from contextlib import contextmanager
from pathlib import Path

import crio_harness as h
import pods_harness as p

KINDS = ("pod", "container", "image")


def transition_rows(kinds=KINDS, doc=None):
    """The rows of `kinds` of the transition tables of docs/state-diagrams.md:
    [{kind, name, from, to, trigger, rollback}], in table order."""
    doc = Path(doc or h.REPO / "docs" / "state-diagrams.md")
    rows = []
    for line in doc.read_text().splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        kind = cells[0].split(".", 1)[0] if cells else ""
        if len(cells) >= 5 and kind in kinds and "." in cells[0] and \
                cells[3] in ("step", "event"):
            rows.append({"kind": kind, "name": cells[0], "from": cells[1], "to": cells[2],
                         "trigger": cells[3], "rollback": cells[4] == "yes"})
    return rows


def forward_chain(rows):
    """States along the non-rollback transitions of `rows` from PENDING."""
    step = {r["from"]: r for r in rows if not r["rollback"]}
    chain, state = ["PENDING"], "PENDING"
    while state in step:
        state = step[state]["to"]
        chain.append(state)
    return chain


def cells_of(rows):
    """Every (transition, before/after) cell of the matrix over `rows`."""
    return [(r["name"], when) for r in rows for when in ("before", "after")]


def held_resources(root, object_id):
    """{(type, id): transition that acquired it} the log never released."""
    held = {}
    for e in p.db_log(root, "--object", object_id):
        for r in e["acquired"]:
            held[(r["type"], r["id"])] = e["transition"]
        for r in e["released"]:
            held.pop((r["type"], r["id"]), None)
    return held


def wait_for_crash(env, point, timeout=30, detail=""):
    """The daemon died with 137 at the crash point `point` ("name:when")."""
    try:
        rc = env.daemon.wait_exit(timeout=timeout)
    except Exception:
        rc = None
    assert rc == 137, f"expected the daemon to die with 137 at {point}{detail}, " \
                      f"saw {'still running' if rc is None else rc}"
    assert f"crash point {point} fired" in env.daemon.log(), \
        f"expected 'crash point {point} fired' in the daemon's stderr"


@contextmanager
def crash_env(make):
    """The environment `make(workdir)` builds, whose daemon is expected to
    die; cleaned up with its workdir whatever the cell did."""
    workdir = h.new_workdir()
    env = make(workdir)
    env.daemon.expect_clean_exit = False
    try:
        yield env
    finally:
        try:
            env.cleanup()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


def table_lines(title, cells, results, trigger_of=None):
    """The pass/FAIL table: a row a transition, before and after columns
    (and a trigger column when `trigger_of(name)` is given)."""
    width = max(len(n) for n, _w in cells)
    extra = f"  {'trigger':<8}" if trigger_of else ""
    lines = ["", title, f"  {'transition':<{width}}{extra}  {'before':<8}  {'after':<8}"]
    for name in dict.fromkeys(n for n, _w in cells):
        extra = f"  {trigger_of(name):<8}" if trigger_of else ""
        row = [results.get((name, w), "-") for w in ("before", "after")]
        lines.append(f"  {name:<{width}}{extra}  {row[0]:<8}  {row[1]:<8}")
    return lines


def passed_count(results):
    return sum(1 for v in results.values() if v == "pass")


def write_past_capture(request, lines):
    """Shown even without -s: written past pytest's output capture."""
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    tr = request.config.pluginmanager.get_plugin("terminalreporter")
    with capture.global_and_fixture_disabled():
        for line in lines:
            if tr is not None:
                tr.write_line(line)
            else:
                print(line)
