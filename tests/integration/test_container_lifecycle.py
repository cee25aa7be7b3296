"""Containers on real runc and conmon: create and start a busybox container
in a ready pod, its log in the CRI format, ContainerStatus and
ListContainers fields; exits on their own (Completed, Error, termination
message, FallbackToLogsOnError); StopContainer with a timeout; removal
leaves no mount, bundle, runtime state, conmon or cgroup."""

import time
from pathlib import Path

import grpc
import pytest

import containers_harness as ch
import crio_harness as h
import pods_harness as p
from containers_harness import ctr_env, image_source  # noqa: F401 (fixtures)
from pods_harness import pod_cgroups, pod_net  # noqa: F401 (fixtures)

API = h.api()


def test_a_started_container_runs_logs_and_reports_its_status(ctr_env):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("web")
    cfg = ch.shell("app", env.image, "echo hello; exec sleep 1000",
                   labels={"tier": "front"}, annotations={"note": "x"})
    cid = ch.create_container(env.client, pod_id, cfg, pod_cfg)
    st = ch.container_status(env.client, cid).status
    assert st.state == API.CONTAINER_CREATED, f"expected CREATED after create, saw {st.state}"
    ch.start_container(env.client, cid)
    st = ch.container_status(env.client, cid).status
    assert st.state == API.CONTAINER_RUNNING, f"expected RUNNING after start, saw {st}"
    assert st.metadata.name == "app" and st.image.image == env.image
    assert st.image_id == env.source.image.id
    assert st.started_at >= st.created_at > 0
    assert dict(st.labels) == {"tier": "front"} and dict(st.annotations) == {"note": "x"}
    log = Path(st.log_path)
    assert log == env.log_dir / "web" / "app.log", f"expected the log under the pod's dir, saw {log}"
    lines = ch.wait_for(lambda: ch.log_lines(log), what=f"a line in {log}")
    assert lines[0] == ("stdout", "F", "hello"), f"expected a CRI-format stdout line, saw {lines}"
    info = ch.info(env.client, cid)
    assert info["pid"] > 0 and info["sandboxID"] == pod_id
    assert info["runtimeSpec"]["process"]["args"] == ["/bin/sh", "-c", "echo hello; exec sleep 1000"]
    listed = ch.list_containers(env.client)
    assert [c.id for c in listed] == [cid]
    assert listed[0].pod_sandbox_id == pod_id and listed[0].state == API.CONTAINER_RUNNING
    assert [c.id for c in ch.list_containers(env.client, pod_sandbox_id=pod_id[:12])] == [cid]
    assert ch.list_containers(env.client, state=API.CONTAINER_EXITED) == []
    assert [c.id for c in ch.list_containers(env.client, label_selector={"tier": "front"})] == [cid]

    ch.stop_container(env.client, cid, timeout_s=0)
    st = ch.container_status(env.client, cid).status
    assert st.state == API.CONTAINER_EXITED and st.exit_code == 137, f"saw {st}"
    ch.remove_container(env.client, cid)
    code, _ = p.rpc_code(ch.container_status, env.client, cid)
    assert code == grpc.StatusCode.NOT_FOUND
    p.remove_pod(env.client, pod_id)
    assert env.leaks() == [], f"expected nothing left, saw {env.leaks()}"


# A shell that ends at once on SIGTERM (sh as PID 1 ignores signals it does
# not trap; `sleep` in short steps lets the trap run).
TRAPPING = "trap 'exit 0' TERM; echo up; while :; do sleep 0.1; done"
# One that ignores SIGTERM for good.
STUBBORN = "trap '' TERM; echo up; while :; do sleep 0.1; done"


def run(env, pod_id, pod_cfg, name, script, **kw):
    return ch.run_container(env, pod_id, pod_cfg, ch.shell(name, env.image, script, **kw))


def test_stop_with_a_timeout_kills_a_process_that_ignores_sigterm(ctr_env):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("stubborn")
    cid = run(env, pod_id, pod_cfg, "app", STUBBORN)
    ch.wait_for(lambda: ch.log_lines(ch.container_status(env.client, cid).status.log_path),
                what="the container's first line")
    t0 = time.monotonic()
    ch.stop_container(env.client, cid, timeout_s=2)
    took = time.monotonic() - t0
    st = ch.container_status(env.client, cid).status
    assert st.state == API.CONTAINER_EXITED, f"expected EXITED once StopContainer returned, saw {st}"
    assert 1.8 <= took < 5, f"expected the stop to take the 2 s grace period, took {took:.2f} s"
    assert st.exit_code == 137 and st.reason == "Error", \
        f"expected exit 137 (SIGKILL) with reason Error, saw {st.exit_code} {st.reason}"
    assert st.finished_at >= st.started_at
    # Idempotent: stopping again, and stopping what is gone, is fine.
    ch.stop_container(env.client, cid, timeout_s=2)
    ch.remove_container(env.client, cid)
    ch.stop_container(env.client, cid, timeout_s=2)
    ch.remove_container(env.client, cid)


def test_stop_sends_sigterm_first(ctr_env):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("polite")
    cid = run(env, pod_id, pod_cfg, "app", TRAPPING)
    ch.wait_for(lambda: ch.log_lines(ch.container_status(env.client, cid).status.log_path),
                what="the container's first line")
    t0 = time.monotonic()
    ch.stop_container(env.client, cid, timeout_s=30)
    assert time.monotonic() - t0 < 5, "expected a trapped SIGTERM to end the container at once"
    st = ch.container_status(env.client, cid).status
    assert (st.state, st.exit_code, st.reason) == (API.CONTAINER_EXITED, 0, "Completed"), f"saw {st}"


@pytest.mark.parametrize("code, reason", [(0, "Completed"), (3, "Error")])
def test_a_container_that_exits_on_its_own_is_exited_with_its_code(ctr_env, code, reason):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod(f"exit{code}")
    cid = run(env, pod_id, pod_cfg, "job", f"echo done; exit {code}")
    st = ch.wait_state(env.client, cid, API.CONTAINER_EXITED)
    assert (st.exit_code, st.reason) == (code, reason), f"expected {code} {reason}, saw {st}"
    assert st.finished_at >= st.started_at > 0
    # The exit is a transition of the log, seen through the exit file.
    names = [e["transition"] for e in p.db_log(env.root, "--object", cid)
             if e["type"] == "TRANSITION"]
    assert names[-1] == "container.exit", f"expected container.exit last, saw {names}"


def test_the_termination_message_file_becomes_the_message(ctr_env):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("msg")
    cid = run(env, pod_id, pod_cfg, "job", "echo 'all done' > /dev/termination-log; exit 1")
    st = ch.wait_state(env.client, cid, API.CONTAINER_EXITED)
    assert st.message == "all done\n", f"expected the termination message, saw {st.message!r}"
    # The kubelet's own file, at the path its annotation names.
    host_file = env.workdir / "termination-msg"
    host_file.write_text("")
    mount = API.Mount(container_path="/tmp/msg", host_path=str(host_file))
    cid = run(env, pod_id, pod_cfg, "job2", "echo 'from kubelet' > /tmp/msg; exit 2",
              mounts=[mount],
              annotations={"io.kubernetes.container.terminationMessagePath": "/tmp/msg"})
    st = ch.wait_state(env.client, cid, API.CONTAINER_EXITED)
    assert (st.exit_code, st.message) == (2, "from kubelet\n"), f"saw {st}"


def test_fallback_to_logs_on_error_takes_the_log_tail(ctr_env):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("fallback")
    policy = {"io.kubernetes.container.terminationMessagePolicy": "FallbackToLogsOnError"}
    cid = run(env, pod_id, pod_cfg, "bad", "for i in 1 2 3; do echo line $i; done; exit 4",
              annotations=policy)
    st = ch.wait_state(env.client, cid, API.CONTAINER_EXITED)
    assert st.exit_code == 4 and st.message == "line 1\nline 2\nline 3\n", f"saw {st.message!r}"
    # A long log: its last 80 lines, at most 2 KiB, ending with the last line.
    cid = run(env, pod_id, pod_cfg, "long",
              "i=0; while [ $i -lt 500 ]; do i=$((i+1)); echo line $i; done; exit 5",
              annotations=policy)
    st = ch.wait_state(env.client, cid, API.CONTAINER_EXITED)
    lines = st.message.splitlines()
    assert len(st.message) <= 2048 and lines[-1] == "line 500" and len(lines) <= 80, \
        f"expected the log's tail, saw {len(st.message)} bytes: {st.message[:80]!r}..."
    assert all(x.startswith("line ") for x in lines[1:]), f"saw {lines[:3]}"
    good = run(env, pod_id, pod_cfg, "good", "echo fine", annotations=policy)
    st = ch.wait_state(env.client, good, API.CONTAINER_EXITED)
    assert st.exit_code == 0 and st.message == "", \
        f"expected no message for a successful exit, saw {st.message!r}"


def test_remove_force_stops_and_leaves_nothing(ctr_env):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("rm")
    cid = run(env, pod_id, pod_cfg, "app", STUBBORN)
    info = ch.info(env.client, cid)
    assert Path(info["rootfs"]) in [Path(m) for m in env.mounts()], "expected the rootfs mounted"
    assert env.conmons() and env.runc_containers() == [cid]
    t0 = time.monotonic()
    ch.remove_container(env.client, cid)
    assert time.monotonic() - t0 < 5, "expected RemoveContainer to kill at once"
    assert ch.list_containers(env.client) == []
    assert env.conmons() == [] and env.runc_containers() == [] and env.exit_files() == []
    assert env.container_dirs() == [], f"saw {env.container_dirs()}"
    assert not [m for m in env.mounts() if "/containers/" in m]
    assert [c for c in env.cgroups.pod_cgroups() if cid in c] == []
    held = {}
    for e in p.db_log(env.root, "--object", cid):
        for r in e["acquired"]:
            held[(r["type"], r["id"])] = e["transition"]
        for r in e["released"]:
            held.pop((r["type"], r["id"]), None)
    assert held == {}, f"expected the log to release everything, still held: {held}"


def test_start_of_an_exited_container_is_a_failed_precondition(ctr_env):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("restart")
    cid = run(env, pod_id, pod_cfg, "job", "exit 0")
    ch.wait_state(env.client, cid, API.CONTAINER_EXITED)
    code, msg = p.rpc_code(ch.start_container, env.client, cid)
    assert code == grpc.StatusCode.FAILED_PRECONDITION, f"saw {code}: {msg}"
    # Starting a running container again is fine.
    cid2 = run(env, pod_id, pod_cfg, "app", TRAPPING)
    ch.start_container(env.client, cid2)


def test_a_shorter_stop_timeout_cuts_a_stop_under_way(ctr_env):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("force")
    cid = run(env, pod_id, pod_cfg, "app", STUBBORN)
    ch.wait_for(lambda: ch.log_lines(ch.container_status(env.client, cid).status.log_path),
                what="the container's first line")
    slow = Background(lambda: ch.stop_container(env.client, cid, timeout_s=60))
    time.sleep(0.5)
    t0 = time.monotonic()
    ch.stop_container(env.client, cid, timeout_s=0)
    assert time.monotonic() - t0 < 3, "expected the kubelet's force kill to end the grace period"
    slow.join(10)
    assert not slow.is_alive() and slow.error is None, f"the first stop: {slow.error}"
    st = ch.container_status(env.client, cid).status
    assert (st.state, st.exit_code) == (API.CONTAINER_EXITED, 137), f"saw {st}"


def test_stops_in_their_grace_period_do_not_hold_up_other_work(ctr_env):
    """Ten containers in their 3 s grace period at once (more than the
    reconciler's workers): a container of another pod is created and
    started meanwhile without waiting for them."""
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("slow")
    ids = [run(env, pod_id, pod_cfg, f"s{i}", STUBBORN) for i in range(10)]
    for cid in ids:
        ch.wait_for(lambda: ch.log_lines(ch.container_status(env.client, cid).status.log_path),
                    what="the container's first line")
    stops = [Background(lambda cid=cid: ch.stop_container(env.client, cid, timeout_s=3))
             for cid in ids]
    time.sleep(0.3)
    other_pod, other_cfg = env.run_pod("quick")
    t0 = time.monotonic()
    quick = run(env, other_pod, other_cfg, "q", "exec sleep 100")
    took = time.monotonic() - t0
    for t in stops:
        t.join(20)
        assert not t.is_alive() and t.error is None, f"a stop: {t.error}"
    assert took < 1.5, f"expected the create and start not to wait for the stops, took {took:.2f} s"
    assert ch.container_status(env.client, quick).status.state == API.CONTAINER_RUNNING
    for cid in ids:
        assert ch.container_status(env.client, cid).status.exit_code == 137


class Background:
    """A call on a thread of its own; .error holds what it raised."""

    def __init__(self, fn):
        import threading
        self.error = None

        def run_it():
            try:
                fn()
            except Exception as e:  # noqa: BLE001 — reported by the test
                self.error = e

        self.thread = threading.Thread(target=run_it)
        self.thread.start()

    def join(self, timeout):
        self.thread.join(timeout)

    def is_alive(self):
        return self.thread.is_alive()


def test_a_container_killed_by_the_oom_killer_is_oomkilled(ctr_env):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("oom")
    cfg = ch.shell("hog", env.image, "echo start; dd if=/dev/zero of=/dev/null bs=64M count=1")
    cfg.linux.resources.memory_limit_in_bytes = 16 << 20
    cid = ch.run_container(env, pod_id, pod_cfg, cfg)
    st = ch.wait_state(env.client, cid, API.CONTAINER_EXITED)
    assert st.reason == "OOMKilled" and st.exit_code == 137, \
        f"expected reason OOMKilled with exit 137, saw {st.reason} {st.exit_code}"
