"""Runtime classes with real gVisor (Debian's runsc, ptrace platform): a pod
whose runtime_handler is "runsc" runs its containers in one gVisor sandbox
booted by the pod's infra container; its containers log, answer ExecSync,
report stats from runsc, stop with their exit codes, outlive a daemon
kill -9 and are removed leaving nothing; runc and runsc pods side by side;
an unknown handler is refused.

The handler is configured as CRI-O configures one ([crio.runtime.runtimes.
runsc]), plus runtime_args: --platform=ptrace (no KVM here) and
--network=host (this runsc release refuses sandbox networking on kernels
whose net.core.rmem_default exists in every network namespace; the
sandbox still lives in the pod's network namespace, see
docs/containers.md)."""

import shutil
import subprocess
import time
from pathlib import Path

import grpc
import pytest

import containers_harness as ch
import crio_harness as h
import pods_harness as p
import recovery_harness as r
from containers_harness import ctr_env_factory, image_source  # noqa: F401 (fixtures)
from pods_harness import pod_cgroups, pod_net  # noqa: F401 (fixtures)

RUNSC = shutil.which("runsc")
pytestmark = pytest.mark.skipif(
    RUNSC is None, reason="runsc (Debian package runsc, gVisor) is not installed; "
                          "`make test` installs it")

API = h.api()
SLEEPER = "trap 'exit 0' TERM; echo up; while :; do sleep 0.1; done"


def runsc_conf(runroot_hint="runsc"):
    return (f'[crio.runtime.runtimes.runsc]\n'
            f'runtime_path = "{RUNSC}"\n'
            f'runtime_type = "oci"\n'
            f'runtime_args = ["--platform=ptrace", "--network=host", "--oci-seccomp"]\n'
            f'allowed_annotations = ["dev.gvisor.spec.mount."]\n')


class RunscEnv:
    """A ContainerEnv with the runsc handler configured, and runsc's own
    leak checks: its state root under the run dir, its processes."""

    def __init__(self, env):
        self.env = env

    @property
    def root(self):
        return Path(self.env.runroot) / "runtimes" / "runsc"

    def containers(self):
        r = subprocess.run([RUNSC, "--root", str(self.root), "list", "-quiet"],
                           capture_output=True, text=True, check=False)
        return sorted(x for x in r.stdout.split() if x)

    def processes(self):
        """runsc sandbox and gofer processes whose command line names our root."""
        found = []
        needle = str(self.root).encode()
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and b"runsc" in argv[0] and any(needle in a for a in argv):
                found.append(int(proc.name))
        return found

    def cleanup(self):
        for cid in self.containers():
            subprocess.run([RUNSC, "--root", str(self.root), "delete", "--force", cid],
                           capture_output=True, check=False)


@pytest.fixture
def runsc_env(ctr_env_factory):
    env = ctr_env_factory(crio_conf_extra=runsc_conf())
    rs = RunscEnv(env)
    try:
        env.start()
        env.pull()
        yield env, rs
    finally:
        rs.cleanup()


def runsc_pod(env, name):
    cfg = env.pod_config(name)
    return p.run_pod(env.client, cfg, runtime_handler="runsc"), cfg


def exec_sync(client, cid, cmd, timeout_s=0):
    req = client.request("ExecSync", container_id=cid, cmd=cmd, timeout=timeout_s)
    return client.call("ExecSync", req, timeout=60)


def host_release():
    return Path("/proc/version").read_text().strip()


def kernel_release(env, cid):
    """The kernel a container sees, as /proc/version names it (gVisor's
    own, "Linux version 4.4.0 ...", under runsc)."""
    r = exec_sync(env.client, cid, ["cat", "/proc/version"])
    assert r.exit_code == 0 and r.stdout.strip(), f"saw {r}"
    return r.stdout.decode().strip()


def assert_clean(env, rs):
    assert rs.containers() == [], f"expected no runsc containers left, saw {rs.containers()}"
    ch.wait_for(lambda: not rs.processes(), timeout=15, what="runsc processes to exit")
    leaks = env.leaks()
    assert not leaks, f"expected nothing left, saw {leaks}"


def test_a_runsc_pod_runs_logs_execs_reports_stats_and_exits(runsc_env):
    env, rs = runsc_env
    pod_id, pod_cfg = runsc_pod(env, "gv")
    st = p.pod_status(env.client, pod_id, verbose=True)
    assert st.status.runtime_handler == "runsc", f"saw {st.status.runtime_handler!r}"
    # The infra container booted the pod's sandbox.
    assert rs.containers() == [pod_id], f"expected the infra container, saw {rs.containers()}"

    cid = ch.run_container(env, pod_id, pod_cfg, ch.shell("app", env.image, SLEEPER))
    assert sorted(rs.containers()) == sorted([pod_id, cid])
    log = Path(env.log_dir / "gv" / "app.log")
    ch.wait_for(lambda: any(m == "up" for _, _, m in ch.log_lines(log)), what="'up' in the log")

    r = exec_sync(env.client, cid, ["/bin/sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (r.stdout, r.stderr, r.exit_code) == (b"out\n", b"err\n", 3), f"saw {r}"
    # Inside gVisor: its kernel answers, not the host's.
    assert kernel_release(env, cid) != host_release()

    stats = env.client.call("ContainerStats",
                            env.client.request("ContainerStats", container_id=cid)).stats
    assert stats.cpu.usage_core_nano_seconds.value > 0, f"saw {stats.cpu}"
    assert stats.memory.working_set_bytes.value > 0, f"saw {stats.memory}"

    # A container that ends on its own reports its own code.
    c7 = ch.run_container(env, pod_id, pod_cfg, ch.shell("seven", env.image, "sleep 0.5; exit 7"))
    s = ch.wait_state(env.client, c7, API.CONTAINER_EXITED, timeout=30)
    assert s.exit_code == 7 and s.reason == "Error", f"saw {s}"
    # StopContainer: SIGTERM, which the script traps into exit 0.
    ch.stop_container(env.client, cid, timeout_s=10)
    s = ch.container_status(env.client, cid).status
    assert s.state == API.CONTAINER_EXITED and s.exit_code == 0, f"saw {s}"

    p.stop_pod(env.client, pod_id)
    p.remove_pod(env.client, pod_id)
    assert_clean(env, rs)


def test_a_runsc_pod_survives_a_daemon_kill_9_and_is_removed_cleanly(runsc_env):
    env, rs = runsc_env
    pod_id, pod_cfg = runsc_pod(env, "gk")
    cid = ch.run_container(env, pod_id, pod_cfg, ch.shell("app", env.image, SLEEPER))
    env.daemon.kill()
    env.daemon.start()
    # Adopted, not restarted: the same sandbox, the container still runs.
    s = ch.container_status(env.client, cid).status
    assert s.state == API.CONTAINER_RUNNING, f"saw {s}"
    r = exec_sync(env.client, cid, ["/bin/echo", "still here"])
    assert r.stdout == b"still here\n", f"saw {r}"
    assert sorted(rs.containers()) == sorted([pod_id, cid])
    # Its exit is still seen after the restart.
    ch.stop_container(env.client, cid, timeout_s=10)
    assert ch.container_status(env.client, cid).status.exit_code == 0
    p.stop_pod(env.client, pod_id)
    p.remove_pod(env.client, pod_id)
    assert_clean(env, rs)


def test_exec_sync_timeout_kills_the_command_inside_the_sandbox(runsc_env):
    """The host process of `runsc exec` is not the command: killing it
    leaves the command running in gVisor's kernel.  On timeout the command
    itself goes (critest's "runtime should support execSync with timeout")."""
    env, rs = runsc_env
    pod_id, pod_cfg = runsc_pod(env, "gt")
    cid = ch.run_container(env, pod_id, pod_cfg, ch.shell("app", env.image, SLEEPER))
    t0 = time.monotonic()
    code, msg = p.rpc_code(exec_sync, env.client, cid, ["/bin/sh", "-c", "sleep 4321; echo x"],
                           timeout_s=2)
    took = time.monotonic() - t0
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED, f"saw {code}: {msg}"
    assert took < 10, f"expected the timeout after ~2s, took {took:.1f}s"

    def sleepers():
        r = exec_sync(env.client, cid, ["/bin/sh", "-c", "ps -o args | grep 'sleep 4321' | "
                                        "grep -v grep || true"])
        return r.stdout.strip()
    ch.wait_for(lambda: sleepers() == b"" or None, timeout=10,
                what="the timed-out command gone from the sandbox")
    p.stop_pod(env.client, pod_id)
    p.remove_pod(env.client, pod_id)
    assert_clean(env, rs)


def test_a_runsc_container_binds_a_privileged_port(runsc_env):
    """With host networking, gVisor binds on the host with its sandbox
    process, which lacks CAP_NET_BIND_SERVICE: a runsc pod's network
    namespace lets every port be bound (critest's port mapping, port
    forward and PID-sharing specs serve on port 80).  A runc pod keeps the
    kernel's default."""
    env, rs = runsc_env
    gv_id, gv_cfg = runsc_pod(env, "gb")
    rc_cfg = env.pod_config("rb")
    rc_id = p.run_pod(env.client, rc_cfg)

    def port_start(pod_id):
        return p.nsenter("--net", env.runroot / "netns" / pod_id, "cat",
                         "/proc/sys/net/ipv4/ip_unprivileged_port_start").strip()
    assert port_start(gv_id) == "0" and port_start(rc_id) == "1024", \
        f"runsc pod {port_start(gv_id)}, runc pod {port_start(rc_id)}"
    cid = ch.run_container(env, gv_id, gv_cfg, ch.shell(
        "web", env.image, "httpd -f -p 80 -h /; echo httpd exited $?"))
    time.sleep(2)
    s = ch.container_status(env.client, cid).status
    log = [m for _, _, m in ch.log_lines(Path(env.log_dir / "gb" / "web.log"))]
    assert s.state == API.CONTAINER_RUNNING, f"expected httpd serving on :80, saw {s.state} {log}"
    for pod_id in (gv_id, rc_id):
        p.stop_pod(env.client, pod_id)
        p.remove_pod(env.client, pod_id)
    assert_clean(env, rs)


def test_pid_mode_pod_shares_the_sandbox_pid_namespace(runsc_env):
    """PID mode POD in a gVisor pod: an app container's PID 1 is the pod's
    infra (the pause) and the pod's other containers' processes are
    visible (critest's PodPID).  Mode CONTAINER keeps a PID namespace of
    its own: its command is PID 1 and nothing of the pod is visible.
    TARGET sees the target's processes."""
    env, rs = runsc_env

    def ctr(pod_id, pod_cfg, name, seconds, mode, target=""):
        cfg = ch.shell(name, env.image, f"exec sleep {seconds}")
        cfg.linux.security_context.namespace_options.pid = mode
        cfg.linux.security_context.namespace_options.target_id = target
        return ch.run_container(env, pod_id, pod_cfg, cfg)

    def view(cid):
        r = exec_sync(env.client, cid, ["/bin/sh", "-c",
                                        "tr '\\0' ' ' </proc/1/cmdline; echo; ps -o args"])
        assert r.exit_code == 0, f"saw {r}"
        first, _, ps = r.stdout.decode().partition("\n")
        return first.strip(), ps

    shared_cfg = env.pod_config("gps", shared_pid=True)
    shared = p.run_pod(env.client, shared_cfg, runtime_handler="runsc")
    a = ctr(shared, shared_cfg, "a", 4001, API.POD)
    ctr(shared, shared_cfg, "b", 4002, API.POD)
    first, ps = view(a)
    assert first == "/pause", f"expected the infra as PID 1, saw {first!r}; ps: {ps}"
    assert "sleep 4001" in ps and "sleep 4002" in ps, f"expected both containers' sleeps: {ps}"

    own_cfg = env.pod_config("gpc")
    own = p.run_pod(env.client, own_cfg, runtime_handler="runsc")
    c = ctr(own, own_cfg, "c", 4003, API.CONTAINER)
    ctr(own, own_cfg, "d", 4004, API.CONTAINER)
    first, ps = view(c)
    assert first == "sleep 4003", f"expected its own command as PID 1, saw {first!r}; ps: {ps}"
    assert "/pause" not in ps and "sleep 4004" not in ps, f"expected only its own: {ps}"
    # TARGET: gVisor names no container's own namespace, so the container
    # joins the sandbox's root one, where the target's process is visible
    # (as gVisor does with containerd's spec; docs/containers.md).
    t = ctr(own, own_cfg, "t", 4005, API.TARGET, target=c)
    first, ps = view(t)
    assert first == "/pause" and "sleep 4003" in ps, f"PID 1 {first!r}; ps: {ps}"

    for pod_id in (shared, own):
        p.stop_pod(env.client, pod_id)
        p.remove_pod(env.client, pod_id)
    assert_clean(env, rs)


def test_runc_and_runsc_pods_side_by_side(runsc_env):
    env, rs = runsc_env
    gv_id, gv_cfg = runsc_pod(env, "gv2")
    rc_cfg = env.pod_config("rc2")
    rc_id = p.run_pod(env.client, rc_cfg)  # the default handler: runc
    gv_c = ch.run_container(env, gv_id, gv_cfg, ch.shell("a", env.image, SLEEPER))
    rc_c = ch.run_container(env, rc_id, rc_cfg, ch.shell("b", env.image, SLEEPER))
    assert p.pod_status(env.client, rc_id).status.runtime_handler in ("", "runc")
    # Each in its own runtime: gVisor's kernel is not the host's.
    host = host_release()
    gv_k, rc_k = kernel_release(env, gv_c), kernel_release(env, rc_c)
    assert rc_k == host and gv_k != host, f"runc {rc_k!r}, runsc {gv_k!r}, host {host!r}"
    assert rc_c not in rs.containers() and gv_c in rs.containers()
    assert gv_c not in env.runc_containers() and rc_c in env.runc_containers()
    for pod_id in (gv_id, rc_id):
        p.stop_pod(env.client, pod_id)
        p.remove_pod(env.client, pod_id)
    assert_clean(env, rs)


def test_an_unknown_handler_is_refused_naming_it(runsc_env):
    env, rs = runsc_env
    cfg = env.pod_config("nohandler")
    code, msg = p.rpc_code(p.run_pod, env.client, cfg, runtime_handler="kata")
    assert code == grpc.StatusCode.INVALID_ARGUMENT, f"saw {code}: {msg}"
    assert "kata" in msg and "runtime_handler" in msg, f"saw {msg!r}"
    assert p.list_pods(env.client) == []


def test_status_and_runtime_config_list_the_handlers(runsc_env):
    env, rs = runsc_env
    st = env.client.status(verbose=True)
    names = [x.name for x in st.runtime_handlers]
    assert "runsc" in names and "runc" in names, f"saw {names}"
    assert "runsc" in st.info.get("config", "") or "runsc" in str(dict(st.info)), \
        f"expected the handlers in the verbose info, saw {dict(st.info)}"


def test_wipe_releases_a_runsc_pod_the_daemon_left(runsc_env):
    env, rs = runsc_env
    pod_id, pod_cfg = runsc_pod(env, "gw")
    cid = ch.run_container(env, pod_id, pod_cfg, ch.shell("app", env.image, SLEEPER))
    assert sorted(rs.containers()) == sorted([pod_id, cid])
    env.daemon.kill()
    plan = r.plan(r.crio_wipe(env, "--dry-run").stdout)
    runtime_rows = sorted((k, o) for k, o, t, _i in plan if t == "runtime")
    assert runtime_rows == sorted([("container", cid), ("pod", pod_id)]), \
        f"expected the sandbox (pod) and the container in the plan, saw {runtime_rows}"
    res = r.crio_wipe(env)
    assert res.returncode == 0, f"expected crio wipe to exit 0, saw {res.returncode}: {res.stderr}"
    assert rs.containers() == [], f"expected no runsc containers left, saw {rs.containers()}"
    ch.wait_for(lambda: not rs.processes(), timeout=15, what="runsc processes to exit")
    assert env.conmons() == [], f"expected no conmon left, saw {env.conmons()}"
    assert r.plan(r.crio_wipe(env, "--dry-run").stdout) == []
