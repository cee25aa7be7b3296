"""Containers outlive the daemon: after a restart (SIGTERM or kill -9) a
running container is still RUNNING with the same process and can be
stopped and removed; one that exited while the daemon was down shows its
real exit code (from conmon's exit file, or from the persist dir's copy
when the run dir's is gone, as after a reboot); one whose exit nobody
recorded says so (ContainerStatusUnknown), never with a made-up code."""

import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

import containers_harness as ch
import crio_harness as h
import pods_harness as p
from containers_harness import ctr_env, ctr_env_factory, image_source  # noqa: F401 (fixtures)
from pods_harness import pod_cgroups, pod_net  # noqa: F401 (fixtures)

API = h.api()
TRAPPING = "trap 'exit 0' TERM; echo up; while :; do sleep 0.1; done"
# Ends with code 7 once /dev/shm/go exists (the test creates it through the
# pod's shm dir while the daemon is down).
WAIT_THEN_EXIT = "echo up; while [ ! -e /dev/shm/go ]; do sleep 0.1; done; exit 7"


def up(env, cid):
    log = ch.container_status(env.client, cid).status.log_path
    ch.wait_for(lambda: ch.log_lines(log), what=f"{cid[:12]}'s first line")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill9"])
def test_running_containers_survive_a_restart_and_stay_manageable(ctr_env, sig):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("pod")
    cid = ch.run_container(env, pod_id, pod_cfg, ch.shell("app", env.image, TRAPPING))
    up(env, cid)
    pid = ch.info(env.client, cid)["pid"]
    env.daemon.expect_clean_exit = sig != signal.SIGKILL
    env.restart(sig)
    st = ch.container_status(env.client, cid).status
    assert st.state == API.CONTAINER_RUNNING, f"expected RUNNING after the restart, saw {st}"
    assert ch.info(env.client, cid)["pid"] == pid and Path(f"/proc/{pid}").exists()
    assert "1 running or created adopted" in env.daemon.log()
    ch.stop_container(env.client, cid, timeout_s=10)
    st = ch.container_status(env.client, cid).status
    assert (st.state, st.exit_code, st.reason) == (API.CONTAINER_EXITED, 0, "Completed"), f"saw {st}"
    p.remove_pod(env.client, pod_id)
    assert env.leaks() == [], f"saw {env.leaks()}"


def test_an_exit_while_the_daemon_is_down_shows_its_real_code(ctr_env):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("pod")
    cid = ch.run_container(env, pod_id, pod_cfg, ch.shell("job", env.image, WAIT_THEN_EXIT))
    up(env, cid)
    env.daemon.expect_clean_exit = False
    env.daemon.kill()
    (Path(env.runroot) / "pods" / pod_id / "shm" / "go").write_text("")
    ch.wait_for(lambda: (Path(env.runroot) / "exits" / cid).exists(), what="conmon's exit file")
    env.start()
    st = ch.wait_state(env.client, cid, API.CONTAINER_EXITED, timeout=5)
    assert (st.exit_code, st.reason) == (7, "Error"), f"expected the real exit code 7, saw {st}"


def test_the_persist_dirs_exit_file_survives_the_run_dir(ctr_env):
    """After a reboot the run dir (tmpfs) is empty; conmon's second copy of
    the exit code in the container's persist dir still tells it."""
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("pod")
    cid = ch.run_container(env, pod_id, pod_cfg, ch.shell("job", env.image, WAIT_THEN_EXIT))
    up(env, cid)
    env.daemon.expect_clean_exit = False
    env.daemon.kill()
    (Path(env.runroot) / "pods" / pod_id / "shm" / "go").write_text("")
    exit_file = Path(env.runroot) / "exits" / cid
    ch.wait_for(exit_file.exists, what="conmon's exit file")
    ch.wait_for(lambda: not env.conmons(), what="conmon to end")
    exit_file.unlink()
    env.start()
    st = ch.wait_state(env.client, cid, API.CONTAINER_EXITED, timeout=5)
    assert (st.exit_code, st.reason) == (7, "Error"), f"expected the persisted code 7, saw {st}"


def test_an_exit_nobody_recorded_is_reported_as_unknown(ctr_env):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("pod")
    cid = ch.run_container(env, pod_id, pod_cfg, ch.shell("app", env.image, TRAPPING))
    up(env, cid)
    info = ch.info(env.client, cid)
    env.daemon.expect_clean_exit = False
    env.daemon.kill()
    # conmon first, so no exit file is ever written, then the container.
    os.kill(info["conmonPid"], signal.SIGKILL)
    ch.wait_for(lambda: not env.conmons(), what="conmon to end")
    os.kill(info["pid"], signal.SIGKILL)
    ch.wait_for(lambda: not Path(f"/proc/{info['pid']}").exists() or
                Path(f"/proc/{info['pid']}/stat").read_text().split()[2] == "Z",
                what="the container to end")
    env.start()
    st = ch.wait_state(env.client, cid, API.CONTAINER_EXITED, timeout=5)
    assert st.reason == "ContainerStatusUnknown" and st.exit_code == -1, \
        f"expected an unknown status said plainly, saw {st}"
    assert ch.info(env.client, cid).get("exitCodeLost") is True
    ch.remove_container(env.client, cid)
    p.remove_pod(env.client, pod_id)
    assert env.leaks() == [], f"saw {env.leaks()}"


def test_a_create_interrupted_inside_the_step_is_cleaned_up_and_retried(ctr_env_factory):
    """kill -9 while conmon runs `runtime create` (a runc wrapper makes it
    take a second): the record still says ROOTFS_MOUNTED, while the host may
    hold a conmon and a runtime container the log never named.  The rerun
    of the step removes them (conmon found through its pid file) before
    creating again; the retried CreateContainer gets a working container and
    nothing is left after removal."""
    workdir = ch.h.new_workdir()
    wrapper_dir = workdir / "slow-runtime"
    wrapper_dir.mkdir()
    wrapper = wrapper_dir / "runc"  # the name tells the daemon it is runc
    wrapper.write_text('#!/bin/sh\nfor a in "$@"; do [ "$a" = create ] && sleep 1; done\n'
                       'exec /usr/sbin/runc "$@"\n')
    wrapper.chmod(0o755)
    try:
        env = ctr_env_factory(crio_conf_extra=f'[crio.runtime.runtimes.runc]\n'
                                              f'runtime_path = "{wrapper}"\n')
        env.start()
        env.pull()
        pod_id, pod_cfg = env.run_pod("pod")
        cfg = ch.shell("app", env.image, TRAPPING)
        call = threading.Thread(target=lambda: p.rpc_code(ch.create_container, env.client,
                                                          pod_id, cfg, pod_cfg))
        call.start()
        ch.wait_for(env.conmons, what="conmon to be running the create")
        env.daemon.expect_clean_exit = False
        env.daemon.kill()
        call.join(30)
        # Let the orphaned create finish, as it would while a node restarts crio.
        time.sleep(1.5)
        [rec] = ch.db_containers(env.root)
        assert rec["state_name"] == "ROOTFS_MOUNTED", f"expected the create uncommitted, saw {rec}"
        env.daemon.expect_clean_exit = True
        env.start()
        cid = ch.create_container(env.client, pod_id, cfg, pod_cfg)
        ch.start_container(env.client, cid)
        assert ch.container_status(env.client, cid).status.state == API.CONTAINER_RUNNING
        assert len(env.conmons()) == 1, f"expected one conmon, saw {env.conmons()}"
        assert env.runc_containers() == [cid], f"saw {env.runc_containers()}"
        p.remove_pod(env.client, pod_id)
        assert env.leaks() == [], f"saw {env.leaks()}"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
