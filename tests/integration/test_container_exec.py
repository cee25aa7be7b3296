"""ExecSync on real runc: output and exit code of a command in a running
container, as the container's process (its user, env and working dir);
the timeout (DEADLINE_EXCEEDED, the command and its children killed); the
output cap; a container that is not running is a FAILED_PRECONDITION; the
record is not touched (no log entry)."""

import time

import grpc

import containers_harness as ch
import crio_harness as h
import pods_harness as p
from containers_harness import ctr_env, image_source  # noqa: F401 (fixtures)
from pods_harness import pod_cgroups, pod_net  # noqa: F401 (fixtures)

API = h.api()
SLEEPER = "trap 'exit 0' TERM; while :; do sleep 0.1; done"


def exec_sync(client, cid, cmd, timeout_s=0, call_timeout=60):
    req = client.request("ExecSync", container_id=cid, cmd=cmd, timeout=timeout_s)
    return client.call("ExecSync", req, timeout=call_timeout)


def running(env, name="app", script=SLEEPER, **kw):
    pod_id, pod_cfg = env.run_pod(f"{name}-pod")
    cid = ch.run_container(env, pod_id, pod_cfg, ch.shell(name, env.image, script, **kw))
    return pod_id, cid


def test_exec_returns_stdout_stderr_and_the_exit_code(ctr_env):
    env = ctr_env
    _, cid = running(env, envs={"GREETING": b"hi"}, working_dir="/tmp")
    r = exec_sync(env.client, cid, ["/bin/sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (r.stdout, r.stderr, r.exit_code) == (b"out\n", b"err\n", 3), f"saw {r}"
    r = exec_sync(env.client, cid, ["/bin/true"])
    assert (r.stdout, r.stderr, r.exit_code) == (b"", b"", 0), f"saw {r}"
    # The container's own process settings: env, working dir; and it runs
    # inside the container (its hostname namespace, its rootfs).
    r = exec_sync(env.client, cid, ["/bin/sh", "-c", 'echo "$GREETING $(pwd) $(ls /bin/busybox)"'])
    assert r.stdout == b"hi /tmp /bin/busybox\n", f"saw {r.stdout!r}"
    # Unique id prefixes work like full ids.
    r = exec_sync(env.client, cid[:12], ["/bin/echo", "prefix"])
    assert r.stdout == b"prefix\n"


def test_a_command_that_cannot_start_is_a_result_not_an_error(ctr_env):
    env = ctr_env
    _, cid = running(env)
    r = exec_sync(env.client, cid, ["/no/such/binary"])
    assert r.exit_code != 0, f"expected a non-zero exit code, saw {r}"
    assert b"no such file" in r.stderr.lower() or b"not found" in r.stderr.lower(), \
        f"expected the runtime's message on stderr, saw {r.stderr!r}"


def test_a_background_process_holding_stdout_does_not_block(ctr_env):
    env = ctr_env
    _, cid = running(env)
    t0 = time.monotonic()
    r = exec_sync(env.client, cid, ["/bin/sh", "-c", "sleep 30 & echo hi"], timeout_s=20)
    took = time.monotonic() - t0
    assert r.stdout == b"hi\n" and r.exit_code == 0, f"saw {r}"
    assert took < 5, f"expected ExecSync to return once sh exited, took {took:.1f}s"


def test_timeout_is_deadline_exceeded_and_kills_the_command(ctr_env):
    env = ctr_env
    _, cid = running(env)
    t0 = time.monotonic()
    code, msg = p.rpc_code(exec_sync, env.client, cid, ["/bin/sh", "-c", "sleep 4321; echo x"],
                           timeout_s=1)
    took = time.monotonic() - t0
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED, f"expected DEADLINE_EXCEEDED, saw {code}: {msg}"
    assert "timed out" in msg, f"expected the message to say so, saw {msg!r}"
    assert 0.9 <= took < 5, f"expected the timeout after ~1s, took {took:.1f}s"
    # Nothing of the command is left in the container (critest checks this).
    r = exec_sync(env.client, cid, ["/bin/sh", "-c", "ps -o args | grep 'sleep 4321' | grep -v grep"])
    assert r.stdout.strip() == b"", f"expected the timed-out command gone, saw {r.stdout!r}"
    # The call's own deadline bounds a command without a timeout too.
    code, _ = p.rpc_code(exec_sync, env.client, cid, ["/bin/sleep", "4321"], call_timeout=1.5)
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED
    r = ch.wait_for(lambda: exec_sync(env.client, cid, [
        "/bin/sh", "-c", "ps -o args | grep 'sleep 4321' | grep -v grep || true"])
        .stdout.strip() == b"" or None, timeout=10, what="the deadline's command killed")
    assert r


def kubelet_client(env):
    """A client that accepts 16 MiB messages, as the kubelet does (gRPC's
    default is 4 MiB)."""
    client = h.CriClient(env.daemon.socket)
    client.channel.close()
    client.channel = grpc.insecure_channel(
        f"unix://{env.daemon.socket}", options=[("grpc.max_receive_message_length", 16 << 20)])
    return client


def test_output_is_capped_per_message(ctr_env):
    env = ctr_env
    _, cid = running(env)
    # 20 MiB on stdout and 1 MiB on stderr: the response must still fit one
    # 16 MiB gRPC message, stdout first, and the exit code is kept.
    script = ("head -c 20971520 /dev/zero; head -c 1048576 /dev/zero >&2; exit 7")
    client = kubelet_client(env)
    try:
        r = exec_sync(client, cid, ["/bin/sh", "-c", script], timeout_s=60)
    finally:
        client.close()
    total = len(r.stdout) + len(r.stderr)
    assert r.exit_code == 7, f"expected the exit code kept, saw {r.exit_code}"
    assert 15 << 20 < total <= 16 << 20, f"expected the output capped near 16 MiB, saw {total}"
    assert len(r.stderr) == 1 << 20, f"expected stderr whole, saw {len(r.stderr)}"


def test_exec_in_a_container_that_is_not_running_is_a_failed_precondition(ctr_env):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("notrunning")
    created = ch.create_container(env.client, pod_id, ch.shell("created", env.image, SLEEPER),
                                  pod_cfg)
    code, msg = p.rpc_code(exec_sync, env.client, created, ["/bin/true"])
    assert code == grpc.StatusCode.FAILED_PRECONDITION, f"saw {code}: {msg}"
    assert "not running" in msg
    exited = ch.run_container(env, pod_id, pod_cfg, ch.shell("job", env.image, "exit 0"))
    ch.wait_state(env.client, exited, API.CONTAINER_EXITED)
    code, msg = p.rpc_code(exec_sync, env.client, exited, ["/bin/true"])
    assert code == grpc.StatusCode.FAILED_PRECONDITION, f"saw {code}: {msg}"
    code, _ = p.rpc_code(exec_sync, env.client, "no-such-container", ["/bin/true"])
    assert code == grpc.StatusCode.NOT_FOUND


def test_bad_requests_are_invalid_arguments(ctr_env):
    env = ctr_env
    _, cid = running(env)
    for cmd, timeout_s in (([], 0), ([""], 0), (["/bin/true"], -1)):
        code, msg = p.rpc_code(exec_sync, env.client, cid, cmd, timeout_s=timeout_s)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, f"{cmd} {timeout_s}: saw {code}: {msg}"
    code, _ = p.rpc_code(exec_sync, env.client, "", ["/bin/true"])
    assert code == grpc.StatusCode.INVALID_ARGUMENT


def test_exec_changes_no_record(ctr_env):
    env = ctr_env
    _, cid = running(env)
    before = p.db_log(env.root, "--object", cid)
    for _ in range(3):
        exec_sync(env.client, cid, ["/bin/true"])
    p.rpc_code(exec_sync, env.client, cid, ["/bin/sleep", "10"], timeout_s=1)
    after = p.db_log(env.root, "--object", cid)
    assert after == before, "expected ExecSync to write nothing to the state log"
    st = ch.container_status(env.client, cid).status
    assert st.state == API.CONTAINER_RUNNING
