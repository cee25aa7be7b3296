"""ReopenContainerLog: after the kubelet rotates a running container's log
(renames it away), a reopen makes conmon write to a fresh file at the same
path, and the old file stops growing; a container that is not running is
a FAILED_PRECONDITION."""

import os
import time
from pathlib import Path

import grpc

import containers_harness as ch
import crio_harness as h
import pods_harness as p
from containers_harness import ctr_env, image_source  # noqa: F401 (fixtures)
from pods_harness import pod_cgroups, pod_net  # noqa: F401 (fixtures)

API = h.api()
TICKER = "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.1; done"


def reopen(client, cid):
    return client.call("ReopenContainerLog",
                       client.request("ReopenContainerLog", container_id=cid))


def test_reopen_after_rotation_writes_a_new_file(ctr_env):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("logs")
    cid = ch.run_container(env, pod_id, pod_cfg, ch.shell("ticker", env.image, TICKER))
    log = Path(ch.container_status(env.client, cid).status.log_path)
    ch.wait_for(lambda: len(ch.log_lines(log)) >= 3, what=f"three lines in {log}")

    rotated = log.with_name(log.name + ".1")
    os.rename(log, rotated)
    reopen(env.client, cid)
    assert log.exists(), "expected a new log file at the container's log path"
    new_lines = ch.wait_for(lambda: ch.log_lines(log), what=f"new lines in {log}")
    assert all(stream == "stdout" and msg.startswith("tick ") for stream, _, msg in new_lines), \
        f"expected CRI-format lines in the new file, saw {new_lines}"
    # The numbering goes on: the new file continues where the old one ended.
    last_old = int(ch.log_lines(rotated)[-1][2].split()[1])
    first_new = int(new_lines[0][2].split()[1])
    assert first_new > last_old, f"expected new ticks after {last_old}, saw {first_new}"
    # Nothing more goes to the rotated file.
    size = rotated.stat().st_size
    time.sleep(0.5)
    assert rotated.stat().st_size == size, "expected the rotated file to stop growing"
    assert len(ch.log_lines(log)) > len(new_lines), "expected the new file to keep growing"
    # Reopening again without a rotation is harmless.
    reopen(env.client, cid)
    ch.wait_for(lambda: ch.log_lines(log), what=f"lines in {log} after a second reopen")


def test_reopen_of_a_container_that_is_not_running_is_a_failed_precondition(ctr_env):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("nolog")
    cid = ch.run_container(env, pod_id, pod_cfg, ch.shell("job", env.image, "echo bye"))
    ch.wait_state(env.client, cid, API.CONTAINER_EXITED)
    code, msg = p.rpc_code(reopen, env.client, cid)
    assert code == grpc.StatusCode.FAILED_PRECONDITION, f"saw {code}: {msg}"
    assert "not running" in msg, f"expected the message to say so, saw {msg!r}"
    created = ch.create_container(env.client, pod_id, ch.shell("created", env.image, TICKER),
                                  pod_cfg)
    code, _ = p.rpc_code(reopen, env.client, created)
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    code, _ = p.rpc_code(reopen, env.client, "no-such-container")
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = p.rpc_code(reopen, env.client, "")
    assert code == grpc.StatusCode.INVALID_ARGUMENT
