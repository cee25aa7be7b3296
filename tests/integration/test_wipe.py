"""crio wipe: with the daemon killed (SIGKILL, so nothing was cleaned up),
a replay of the state log releases every pod resource the log says was
acquired and never released — pinned namespaces, the CNI attachment
(veth, IPAM reservation), the cgroup, the pause process, the pod dir —
and deletes the pod records.  --dry-run prints the plan and changes
nothing; a second wipe finds nothing; wipe refuses while the daemon runs;
compaction never drops what wipe needs; --from-host works without the
database."""

import os
import signal
from pathlib import Path

import crio_harness as h
import pods_harness as p
import recovery_harness as r
from pods_harness import pod_cgroups, pod_env, pod_net  # noqa: F401 (fixtures)


def make_pods(env):
    """A ready pod, a ready shared-PID pod (pause + pinned PID ns), a stopped
    pod (network and namespaces released, cgroup and dir kept) and a
    removed one (nothing left).  Returns their ids."""
    ready = p.run_pod(env.client, env.config("wipe-ready"))
    shared = p.run_pod(env.client, env.config("wipe-shared", shared_pid=True))
    stopped = p.run_pod(env.client, env.config("wipe-stopped"))
    p.stop_pod(env.client, stopped)
    removed = p.run_pod(env.client, env.config("wipe-removed"))
    p.stop_pod(env.client, removed)
    p.remove_pod(env.client, removed)
    return ready, shared, stopped, removed


def test_dry_run_lists_every_unreleased_resource_and_changes_nothing(pod_env):
    env = pod_env
    ready, shared, stopped, removed = make_pods(env)
    ready_ip = p.pod_status(env.client, ready).status.network.ip
    env.daemon.kill()
    before = r.log_count(env.root)
    leaks_before = env.leaks()

    res = r.crio_wipe(env, "--dry-run")
    assert res.returncode == 0, f"expected crio wipe --dry-run to exit 0, saw {res.returncode}: {res.stderr}"
    rows = r.plan(res.stdout)
    run = Path(env.runroot)
    want = {
        "netns": [str(run / "netns" / ready)],
        "ipcns": [str(run / "ipcns" / ready)],
        "utsns": [str(run / "utsns" / ready)],
        "cgroup": [r.pod_cgroup(env, ready)],
        "cni": [f"{env.net.name}/{ready}/eth0"],
        "dir": [str(run / "pods" / ready)],
    }
    got = r.without_pod_mounts(env, ready, r.plan_of(rows, ready))
    records = got.pop("record", [])
    assert len(records) == 1 and records[0].startswith("k8s_wipe-ready_"), \
        f"expected one record line naming the ready pod, saw {records}"
    assert got == want, f"expected the plan for the ready pod to be {want}, saw {got}"

    got_shared = r.without_pod_mounts(env, shared, r.plan_of(rows, shared))
    assert set(got_shared) == {"netns", "ipcns", "utsns", "pidns", "process", "cgroup", "cni",
                               "dir", "record"}, \
        f"expected the shared-PID pod's plan to add pidns and the pause process, saw {got_shared}"
    got_stopped = r.without_pod_mounts(env, stopped, r.plan_of(rows, stopped))
    assert set(got_stopped) == {"cgroup", "dir", "record"}, \
        f"expected only the cgroup, dir and record of the stopped pod, saw {got_stopped}"
    assert r.plan_of(rows, removed) == {}, \
        f"expected nothing planned for the removed pod, saw {r.plan_of(rows, removed)}"

    # Newest first per pod: the CNI DEL before the netns goes.
    ready_types = [t for _k, o, t, _i in rows if o == ready]
    assert ready_types.index("cni") < ready_types.index("netns"), \
        f"expected the CNI attachment released before the netns, saw order {ready_types}"

    assert r.log_count(env.root) == before, "expected a dry run to append nothing to the log"
    assert env.leaks() == leaks_before, "expected a dry run to leave the host as it was"
    assert ready_ip in env.net.reserved_ips(), "expected the dry run to keep the IPAM reservation"


def test_wipe_releases_everything_and_a_second_wipe_finds_nothing(pod_env):
    env = pod_env
    ready, shared, stopped, _removed = make_pods(env)
    env.daemon.kill()
    assert env.leaks(), "expected the killed daemon's pods to hold host resources"

    res = r.crio_wipe(env)
    assert res.returncode == 0, \
        f"expected crio wipe to exit 0, saw {res.returncode}: {res.stdout}\n{res.stderr}"
    assert r.done_lines(res.stdout, "failed") == [], f"expected no failed release: {res.stdout}"
    leaks = env.leaks()
    assert leaks == [], f"expected nothing left on the host after wipe, saw {leaks}"
    assert env.net.reserved_ips() == [], "expected IPAM to have given every address back"
    assert h.inspect(env.root, "pods").json == [], "expected wipe to delete every pod record"

    # The log says what the wipe did: a DELETE per pod, and a NOTE.
    log = h.inspect(env.root, "log").json
    wiped = {e["object_id"] for e in log if e["type"] == "DELETE" and e["transition"] == "wipe"}
    assert {ready, shared, stopped} <= wiped, f"expected wipe DELETEs for the pods, saw {wiped}"
    assert any(e["type"] == "NOTE" and e["message"].startswith("crio wipe:") for e in log), \
        "expected a NOTE summing the wipe up"
    check = h.inspect(env.root, "check", check=False)
    assert check.returncode == 0, f"expected check to pass after wipe: {check.stdout}{check.stderr}"

    count = r.log_count(env.root)
    again = r.crio_wipe(env)
    assert again.returncode == 0, f"expected the second wipe to exit 0: {again.stderr}"
    assert r.done_lines(again.stdout, "released") == [], \
        f"expected the second wipe to release nothing, saw {again.stdout}"
    assert r.log_count(env.root) == count, "expected the second wipe to write nothing"
    dry = r.crio_wipe(env, "--dry-run")
    assert r.plan(dry.stdout) == [], f"expected an empty plan after wipe, saw {dry.stdout}"

    # The names are free again: the same pods can be made anew.
    env.start()
    again_id = p.run_pod(env.client, env.config("wipe-ready"))
    assert again_id != ready, "expected a new pod under the freed name"


def test_wipe_refuses_while_the_daemon_runs(pod_env):
    env = pod_env
    pod = p.run_pod(env.client, env.config("wipe-busy"))
    count = r.log_count(env.root)
    for args in ((), ("--dry-run",)):
        res = r.crio_wipe(env, *args)
        assert res.returncode != 0, f"expected crio wipe {args} to refuse while crio runs"
        assert "crio is running; stop it first" in res.stderr, \
            f"expected the refusal to say why, saw {res.stderr!r}"
    assert r.log_count(env.root) == count, "expected a refused wipe to write nothing"
    st = p.pod_status(env.client, pod).status
    assert st.state == p.api().SANDBOX_READY, "expected the pod untouched by the refused wipe"
    assert r.host_resources(env, pod).get("netns"), "expected the pod's netns still pinned"


def test_compaction_at_start_keeps_what_wipe_needs(pod_env):
    env = pod_env
    done = []
    for i in range(5):
        pod = p.run_pod(env.client, env.config(f"wipe-done-{i}"))
        p.stop_pod(env.client, pod)
        p.remove_pod(env.client, pod)
        done.append(pod)
    live = p.run_pod(env.client, env.config("wipe-live"))
    before = r.log_count(env.root)
    env.restart(sig=signal.SIGTERM, env={"CRIO_LOG_COMPACT_THRESHOLD": "1"})
    assert "compacted the state log" in env.daemon.log(), \
        "expected the daemon to compact the log at start above the threshold"
    after = r.log_count(env.root)
    assert after < before, f"expected compaction to drop entries ({before} -> {after})"
    gone = h.inspect(env.root, "history", done[0], check=False)
    assert gone.returncode == 1, "expected the removed pod's history to be compacted away"
    kept = h.inspect(env.root, "history", live).json
    assert kept["entries"][0]["type"] == "CREATE", \
        "expected the live pod's history to be whole after compaction"

    env.daemon.kill()
    rows = r.plan(r.crio_wipe(env, "--dry-run").stdout)
    assert set(r.without_pod_mounts(env, live, r.plan_of(rows, live))) == {"netns", "ipcns", "utsns", "cgroup", "cni", "dir",
                                          "record"}, \
        f"expected wipe to find every resource of the live pod after compaction, saw {rows}"
    res = r.crio_wipe(env)
    assert res.returncode == 0, f"expected wipe to succeed: {res.stdout}{res.stderr}"
    assert env.leaks() == [], f"expected nothing left after wipe, saw {env.leaks()}"


def test_from_host_releases_what_the_run_dir_shows_without_the_database(pod_env):
    env = pod_env
    ready = p.run_pod(env.client, env.config("host-ready"))
    shared = p.run_pod(env.client, env.config("host-shared", shared_pid=True))
    env.daemon.kill()
    # The database is lost: moved away, as the damaged-database procedure does.
    db = Path(env.root) / "db"
    lost = Path(env.root) / "db.lost"
    os.rename(db, lost)

    nothing = r.crio_wipe(env, "--dry-run")
    assert nothing.returncode == 0 and r.plan(nothing.stdout) == [], \
        f"expected a log wipe without a database to find nothing, saw {nothing.stdout}"
    dry = r.crio_wipe(env, "--from-host", "--dry-run")
    assert dry.returncode == 0, f"expected --from-host --dry-run to exit 0: {dry.stderr}"
    rows = r.plan(dry.stdout)
    assert set(r.without_pod_mounts(env, ready, r.plan_of(rows, ready))) == {"cni", "netns", "ipcns", "utsns", "cgroup", "dir"}, \
        f"expected the host to show the ready pod's resources, saw {r.plan_of(rows, ready)}"
    assert set(r.without_pod_mounts(env, shared, r.plan_of(rows, shared))) == {"process", "cni", "pidns", "netns", "ipcns", "utsns",
                                            "cgroup", "dir"}, \
        f"expected the shared-PID pod's pause and PID pin too, saw {r.plan_of(rows, shared)}"
    assert env.leaks(), "expected the dry run to change nothing"

    res = r.crio_wipe(env, "--from-host")
    assert res.returncode == 0, f"expected --from-host to succeed: {res.stdout}{res.stderr}"
    assert env.leaks() == [], f"expected nothing left after --from-host, saw {env.leaks()}"
    assert env.net.reserved_ips() == [], "expected the stashed config's DEL to free the IPs"
    again = r.crio_wipe(env, "--from-host", "--dry-run")
    assert r.plan(again.stdout) == [], f"expected nothing left to plan, saw {again.stdout}"
    os.rename(lost, db)
