"""crio-db-inspect check, orphans, history and stats against a real daemon's
database and host: a healthy node passes; inconsistencies planted in the
database (with lmdb-utils, bypassing the store) and on the host (a cgroup
removed by hand, a stray pod dir and cgroup) are reported one line each;
a truncated data.mdb stops the daemon with a clear message and exit
status 3 every time, never a crash."""

import os
import secrets
import signal
from pathlib import Path

import crio_harness as h
import pods_harness as p
import recovery_harness as r
from pods_harness import pod_cgroups, pod_env, pod_net  # noqa: F401 (fixtures)


def pods_in_several_states(env):
    ready = p.run_pod(env.client, env.config("chk-ready"))
    shared = p.run_pod(env.client, env.config("chk-shared", shared_pid=True))
    stopped = p.run_pod(env.client, env.config("chk-stopped"))
    p.stop_pod(env.client, stopped)
    removed = p.run_pod(env.client, env.config("chk-removed"))
    p.stop_pod(env.client, removed)
    p.remove_pod(env.client, removed)
    return ready, shared, stopped, removed


def orphans(env, *args):
    return h.inspect(env.root, "orphans", "--runroot", str(env.runroot),
                     "--cgroup-parent", env.cgroups.path, *args).json


def test_check_passes_on_a_healthy_database(pod_env):
    env = pod_env
    pods_in_several_states(env)
    res = h.inspect(env.root, "check", json_output=False, check=False)
    assert res.returncode == 0, f"expected check to pass, saw {res.returncode}: {res.stdout}{res.stderr}"
    assert res.stdout.startswith("ok: 3 record(s)"), f"expected an ok line, saw {res.stdout!r}"
    doc = h.inspect(env.root, "check").json
    assert doc["ok"] is True and doc["problems"] == [] and doc["records"] == 3, doc
    # While the daemon runs, and after it stopped.
    env.daemon.stop_cleanly()
    res = h.inspect(env.root, "check", json_output=False, check=False)
    assert res.returncode == 0, f"expected check to pass on the stopped daemon's db: {res.stdout}"


def test_orphans_is_empty_on_a_healthy_node_and_sees_a_cgroup_removed_by_hand(pod_env):
    env = pod_env
    ready, _shared, _stopped, _removed = pods_in_several_states(env)
    assert orphans(env) == [], f"expected no orphans on a healthy node, saw {orphans(env)}"

    # Someone removes the ready pod's cgroup by hand (it holds no process).
    cgroup = r.pod_cgroup(env, ready)
    for d in r.host_resources(env, ready)["cgroup"]:
        os.rmdir(d)
    found = orphans(env)
    assert {"problem": "missing", "type": "cgroup", "id": cgroup, "owner": f"pod/{ready}"} in found, \
        f"expected orphans to report the missing cgroup {cgroup} of pod {ready}, saw {found}"

    # Strays: a pod dir and a crio-<id> cgroup no record knows.
    stray = secrets.token_hex(32)
    stray_dir = Path(env.runroot) / "pods" / stray
    stray_dir.mkdir()
    stray_cgroup = f"{env.cgroups.path}/crio-{stray}"
    made = []
    for hier in p.CGROUP_ROOT.iterdir():
        parent = hier / env.cgroups.path.lstrip("/")
        if parent.is_dir():
            (parent / f"crio-{stray}").mkdir()
            made.append(parent / f"crio-{stray}")
    try:
        found = orphans(env)
        problems = {(f["problem"], f["type"], f["id"]) for f in found}
        assert ("orphan", "dir", str(stray_dir)) in problems, \
            f"expected the stray pod dir reported as an orphan, saw {found}"
        assert ("orphan", "cgroup", stray_cgroup) in problems, \
            f"expected the stray cgroup reported as an orphan, saw {found}"
        table = h.inspect(env.root, "orphans", "--runroot", str(env.runroot), json_output=False)
        assert table.stdout.splitlines()[0].split() == ["PROBLEM", "TYPE", "RESOURCE", "OWNER"]
    finally:
        for d in made:
            d.rmdir()
        stray_dir.rmdir()


def test_check_reports_each_planted_inconsistency(pod_env):
    env = pod_env
    ready, _shared, stopped, _removed = pods_in_several_states(env)
    env.daemon.stop_cleanly()
    rec = r.records_pb2()

    # A name pointing to no record; a pod's container index naming no
    # record; a log entry that moves a pod to a state its record is not in.
    ghost = secrets.token_hex(32)
    r.mdb_put(env.root, "names", [(b"pghost-pod", ghost.encode())])
    r.mdb_put(env.root, "pod_containers", [(ready.encode() + b"\0" + b"ctr-nowhere", b"")])
    seq = r.plant_log_entry(env.root, type=rec.LogEntry.TRANSITION, kind=1, object_id=stopped,
                            from_state=8, to_state=9, transition="pod.remove_containers")

    res = h.inspect(env.root, "check", json_output=False, check=False)
    assert res.returncode == 1, f"expected check to exit 1 on problems, saw {res.returncode}"
    lines = res.stdout.splitlines()
    expected = [
        f"name pod:ghost-pod: points to pod {ghost}, which has no record",
        f"pod/{ready}: its container index names ctr-nowhere, which has no record",
        f"pod/{stopped}: record is in state STOPPED, the log's last transition (seq {seq}) left it "
        f"in CONTAINERS_REMOVED",
    ]
    for want in expected:
        assert want in lines, f"expected the line {want!r} from check, saw:\n{res.stdout}"
    assert any(line.startswith(f"pod/{stopped}: record's last_seq is") for line in lines), \
        f"expected check to see the record's last_seq behind the log: {res.stdout}"
    assert "problem(s) found" in res.stderr, res.stderr
    doc = h.inspect(env.root, "check", check=False)
    assert doc.returncode == 1
    import json
    body = json.loads(doc.stdout)
    assert body["ok"] is False and len(body["problems"]) == len(lines), body


def test_history_and_stats(pod_env):
    env = pod_env
    ready, _shared, _stopped, removed = pods_in_several_states(env)
    hist = h.inspect(env.root, "history", removed[:10]).json
    assert hist["id"] == removed and hist["record"] is None, hist
    kinds = [e["type"] for e in hist["entries"]]
    assert kinds[0] == "CREATE" and kinds[-1] == "DELETE", \
        f"expected the removed pod's history from CREATE to DELETE, saw {kinds}"
    transitions = [e["transition"] for e in hist["entries"] if e["type"] == "TRANSITION"]
    assert transitions == p.pod_transitions(env.root, removed)[1:-1], transitions
    live = h.inspect(env.root, "history", ready).json
    assert live["record"]["id"] == ready and live["kind_name"] == "pod"
    table = h.inspect(env.root, "history", ready[:12], json_output=False).stdout.splitlines()
    assert table[0].startswith(f"pod {ready}:") and "record present" in table[0], table[0]
    assert table[1].split() == ["SEQ", "TIME", "TYPE", "STATE", "GOAL", "DETAIL"], table[1]
    missing = h.inspect(env.root, "history", "zzzz", check=False)
    assert missing.returncode == 1 and "no object in the log" in missing.stderr, missing.stderr

    st = h.inspect(env.root, "stats").json
    assert st["records"] == {"pods": 3, "containers": 0, "images": 0}, st["records"]
    assert st["names"]["pods"] == 3, st["names"]
    log = h.inspect(env.root, "log").json
    assert st["log"]["entries"] == len(log) and st["log"]["first_seq"] == log[0]["seq"], st["log"]
    assert st["log"]["oldest_time"] == log[0]["time"], (st["log"], log[0]["time"])
    assert st["schema"] == {"database": "1", "build": 1}, st["schema"]
    assert st["file"]["bytes"] > 0


def test_truncated_database_stops_the_daemon_with_a_message_every_time(pod_env):
    env = pod_env
    pods_in_several_states(env)
    env.daemon.kill()
    data = r.data_file(env.root)
    size = data.stat().st_size
    assert size > 3 * 4096, f"expected a database of several pages, saw {size} bytes"
    with open(data, "r+b") as f:
        f.truncate(size // 2)

    for attempt in range(2):
        rc, out = h.run_daemon_to_exit(env.daemon.argv)
        assert rc == 3, f"expected exit status 3 (database damaged) on start {attempt + 1}, saw {rc}: {out}"
        assert f"database {Path(env.root) / 'db'} is damaged:" in out and "truncated" in out, out
        assert "docs/operations.md#damaged-database" in out, out
    res = h.inspect(env.root, "check", json_output=False, check=False)
    assert res.returncode == 3, f"expected crio-db-inspect check to exit 3, saw {res.returncode}"
    assert "is damaged" in res.stderr, res.stderr
    listed = h.inspect(env.root, "pods", check=False)
    assert listed.returncode == 3 and "is damaged" in listed.stderr, \
        f"expected a listing to stop with the damaged message, not a crash: {listed.returncode} {listed.stderr}"
    wipe = r.crio_wipe(env)
    assert wipe.returncode == 3 and "--from-host" in wipe.stderr, wipe.stderr

    # The documented way out: release from the host, move the database aside.
    res = r.crio_wipe(env, "--from-host")
    assert res.returncode == 0, f"expected --from-host to succeed: {res.stdout}{res.stderr}"
    assert env.leaks() == [], f"expected nothing left, saw {env.leaks()}"
    os.rename(Path(env.root) / "db", Path(env.root) / "db.damaged")
    env.start()
    assert p.list_pods(env.client) == [], "expected a fresh database after moving the old aside"


def test_empty_database_file_is_damaged_not_new(pod_env):
    env = pod_env
    env.daemon.stop(signal.SIGTERM)
    r.data_file(env.root).write_bytes(b"")
    rc, out = h.run_daemon_to_exit(env.daemon.argv)
    assert rc == 3 and "is empty (0 bytes)" in out, f"expected exit 3 for an empty data.mdb: {rc} {out}"
