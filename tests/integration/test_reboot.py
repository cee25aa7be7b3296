"""Node reboot and start-up recovery.

A reboot is simulated for real: the daemon is stopped, every conmon,
container and pause process of the test is killed by the pid (and start
time) its record holds, every mount under the root and run dirs is
unmounted, the run dir is emptied (it is tmpfs on a node), the pods' veths,
the test bridge and the pods' cgroups are deleted, and the boot id the
daemon reads (CRIO_BOOT_ID_PATH) changes.  Only the database, the
container dirs under the root and the host-local IPAM reservations stay,
as they would on disk.  After the start: every container EXITED with reason
NodeRestarted (conmon's persisted exit code when it wrote one, else -1
said to be lost), every pod NOTREADY with its address back in the IPAM
pool, the state log consistent; then the kubelet's way — RemovePodSandbox
for every old pod, new pods and containers — works and leaves nothing.

Start-up: the records of 500 containers (written through the store API by
crio-synthetic-records) are recovered before the socket is served and the
time is logged; after a reboot, 500 running container records are
recorded exited and their 100 pods stopped before the socket is served."""

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

import containers_harness as ch
import crio_harness as h
import pods_harness as p
from containers_harness import image_source  # noqa: F401 (fixtures)
from pods_harness import pod_cgroups, pod_net  # noqa: F401 (fixtures)

API = h.api()
SYNTHETIC = h.BUILD / "tests" / "crio-synthetic-records"
TRAPPING = "trap 'exit 0' TERM; echo up; while :; do sleep 0.1; done"


# ---- a daemon whose boot id the test owns ---------------------------------------------

class RebootEnv(ch.ContainerEnv):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.boot_file = self.workdir / "boot_id"
        self.boot_file.write_text("boot-1\n")

    def start(self, env=None):
        return super().start({"CRIO_BOOT_ID_PATH": str(self.boot_file), **(env or {})})

    def set_boot_id(self, boot_id):
        self.boot_file.write_text(boot_id + "\n")


@pytest.fixture
def reboot_env(pod_net, pod_cgroups, image_source):
    workdir = h.new_workdir()
    env = RebootEnv(workdir, pod_net, pod_cgroups, image_source, name="reboot")
    try:
        env.start()
        env.pull()
        yield env
    finally:
        try:
            env.cleanup()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


# ---- the reboot ---------------------------------------------------------------------------

def proc_start_time(pid):
    """Field 22 of /proc/PID/stat, or None if the process is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def kill_recorded(pid, start_time, what):
    """SIGKILLs pid if it is still the process the record names; waits
    until it is gone.  Returns whether it was killed."""
    if not pid or proc_start_time(pid) != int(start_time):
        return False
    os.kill(pid, signal.SIGKILL)
    ch.wait_for(lambda: proc_start_time(pid) is None, timeout=10, what=f"{what} {pid} to die")
    return True


def records(env):
    return p.db_pods(env.root), ch.db_containers(env.root)


def power_off(env, conmon_sees_the_end=()):
    """Everything a reboot ends, with the daemon stopped.  For the
    containers in `conmon_sees_the_end` the container process dies first,
    so conmon records its exit (in the persist dir too) before it is
    killed; for the others conmon dies first and nothing is recorded."""
    pods, ctrs = records(env)
    killed = []
    for c in ctrs:
        b = c["container"]
        order = [("container", b["pid"], b["pid_start_time"]),
                 ("conmon", b["conmon_pid"], b["conmon_start_time"])]
        if c["id"] in conmon_sees_the_end:
            killed += [w for w, pid, st in order[:1] if kill_recorded(pid, st, w)]
            exit_file = Path(b["container_dir"]) / "exit"
            ch.wait_for(exit_file.exists, what=f"conmon to persist {c['id'][:12]}'s exit")
            ch.wait_for(lambda: proc_start_time(b["conmon_pid"]) is None, what="conmon to end")
        else:
            order.reverse()
            killed += [w for w, pid, st in order if kill_recorded(pid, st, w)]
    for pod in pods:
        b = pod["pod"]
        if kill_recorded(b["infra_pid"], b["infra_start_time"], "pause"):
            killed.append("pause")
    # Mounts go with the kernel: overlays, /dev/shm tmpfs, namespace pins.
    for base in (env.root, env.runroot):
        for m in sorted(set(p.mounts_under(base)), key=lambda x: -len(x)):
            p.sh("umount", m, check=False)
            if m in p.mounts_under(base):
                p.sh("umount", "-l", m)
    # The run dir is tmpfs: empty after a boot.
    for child in Path(env.runroot).iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    # Links and cgroups live in the kernel too.
    # A veth may go by itself meanwhile: its peer's netns dies with its
    # last pin and process.
    for port in env.net.bridge_ports():
        p.sh("ip", "link", "del", port, check=False)
    ch.wait_for(lambda: not env.net.bridge_ports(), what="the pods' veths to be gone")
    p.sh("ip", "link", "del", env.net.bridge, check=False)
    # Pod cgroups, and the containers' beside them under the same parent.
    for obj in pods + ctrs:
        for d in env.cgroups.dirs():
            cg = d / f"crio-{obj['id']}"
            if cg.is_dir():
                for sub in sorted((x for x in cg.rglob("*") if x.is_dir()),
                                  key=lambda x: -len(x.parts)):
                    sub.rmdir()
                cg.rmdir()
    return killed


# ---- the test -------------------------------------------------------------------------------

def test_after_a_reboot_containers_are_exited_pods_not_ready_ips_released_and_new_pods_start(
        reboot_env):
    env = reboot_env
    c = env.client
    web_pod, web_cfg = env.run_pod("web", shared_pid=True)
    db_pod, db_cfg = env.run_pod("db")
    web = ch.run_container(env, web_pod, web_cfg, ch.shell("web", env.image, TRAPPING))
    sidecar = ch.create_container(c, web_pod, ch.shell("sidecar", env.image, TRAPPING), web_cfg)
    dbc = ch.run_container(env, db_pod, db_cfg, ch.shell("db", env.image, TRAPPING))
    old_ips = sorted(p.pod_status(c, x).status.network.ip for x in (web_pod, db_pod))
    assert env.net.reserved_ips() == old_ips, \
        f"expected host-local to hold {old_ips} before the reboot, saw {env.net.reserved_ips()}"
    assert p.pause_processes(env.cgroups), "expected the shared-PID pod's pause process"

    env.daemon.stop_cleanly()
    killed = power_off(env, conmon_sees_the_end={web})
    # web's conmon saw its container die and left on its own.
    assert sorted(killed) == sorted(["container"] * 3 + ["conmon"] * 2 + ["pause"]), \
        f"expected 3 containers, 2 conmons and 1 pause killed by their recorded pids, saw {killed}"
    assert env.conmons() == [] and p.pause_processes(env.cgroups) == []
    assert env.mounts() == [] and list(Path(env.runroot).iterdir()) == []
    env.set_boot_id("boot-2")

    log_start = len(env.daemon.log())
    c = env.start()
    log = env.daemon.log()[log_start:]  # this start's lines only
    assert "the node rebooted since the last start (boot id boot-1 -> boot-2)" in log
    m = re.search(r"after the reboot: (\d+) container\(s\) recorded exited \(NodeRestarted\), "
                  r"\d+ unfinished creation\(s\) rolled back, (\d+) of (\d+) pod\(s\) stopped", log)
    assert m and m.groups() == ("3", "2", "2"), \
        f"expected 3 containers exited and 2 of 2 pods stopped before serving, saw {m and m.group(0)}"
    assert log.index("after the reboot:") < log.index("serving CRI v1"), \
        "expected the reboot handled before the socket was served"

    pods = {x.id: x for x in p.list_pods(c)}
    assert set(pods) == {web_pod, db_pod}
    for pod_id in pods:
        st = p.pod_status(c, pod_id).status
        assert st.state == API.SANDBOX_NOTREADY and not st.network.ip, \
            f"expected pod {pod_id[:12]} NOTREADY without an IP after the reboot, saw {st}"
    assert env.net.reserved_ips() == [], \
        f"expected CNI DEL to give the addresses back, host-local still holds {env.net.reserved_ips()}"

    listed = {x.id for x in ch.list_containers(c)}
    assert listed == {web, sidecar, dbc}, f"expected the 3 containers listed, saw {listed}"
    want = {web: (137, False), sidecar: (-1, True), dbc: (-1, True)}
    for cid, (code, lost) in want.items():
        st = ch.container_status(c, cid).status
        assert (st.state, st.reason, st.exit_code) == (API.CONTAINER_EXITED, "NodeRestarted", code), \
            f"expected {cid[:12]} EXITED NodeRestarted {code}, saw {st}"
        assert "the node restarted (boot id boot-1 -> boot-2)" in st.message, st.message
        assert bool(ch.info(c, cid).get("exitCodeLost")) == lost
        history = [e["transition"] or e["type"] for e in p.db_log(env.root, "--object", cid)]
        event = "container.exit_before_start" if cid == sidecar else "container.exit"
        assert history[-1] == event, f"expected {cid[:12]}'s newest entry {event}, saw {history}"
    notes = [e["message"] for e in p.db_log(env.root) if e["type"] == "NOTE"]
    assert any(n.startswith("node rebooted: boot id boot-1 -> boot-2") for n in notes), notes
    assert any(n.startswith("reboot handled: 3 container(s)") for n in notes), notes
    assert h.inspect(env.root, "check").json["ok"] is True
    assert h.inspect(env.root, "meta").json["meta"]["boot_id"] == "boot-2"

    # The kubelet: remove the old sandboxes, start new ones.
    for pod_id in pods:
        p.remove_pod(c, pod_id)
    assert p.db_pods(env.root) == [] and ch.db_containers(env.root) == []
    new_pod, new_cfg = env.run_pod("web", attempt=1, shared_pid=True)
    new = ch.run_container(env, new_pod, new_cfg, ch.shell("web", env.image, TRAPPING))
    assert ch.container_status(c, new).status.state == API.CONTAINER_RUNNING
    assert p.pod_status(c, new_pod).status.network.ip, "expected the new pod to get an address"
    p.remove_pod(c, new_pod)
    assert env.leaks() == [], f"expected nothing left on the host, saw {env.leaks()}"
    orphans = h.inspect(env.root, "orphans", "--runroot", str(env.runroot),
                        "--cgroup-parent", env.cgroups.path).json
    assert orphans == [], f"expected crio-db-inspect orphans to find nothing, saw {orphans}"
    assert h.inspect(env.root, "check").json["ok"] is True


def test_a_plain_restart_is_no_reboot(reboot_env):
    env = reboot_env
    pod_id, pod_cfg = env.run_pod("pod")
    cid = ch.run_container(env, pod_id, pod_cfg, ch.shell("app", env.image, TRAPPING))
    env.restart()
    assert "the node rebooted" not in env.daemon.log()
    assert ch.container_status(env.client, cid).status.state == API.CONTAINER_RUNNING
    assert p.pod_status(env.client, pod_id).status.state == API.SANDBOX_READY
    p.remove_pod(env.client, pod_id)


# ---- start-up with many records ------------------------------------------------------------------

def synthetic(root, runroot, pods, containers, running=False, boot_id=None):
    argv = [str(SYNTHETIC), "--root", str(root), "--runroot", str(runroot),
            "--pods", str(pods), "--containers", str(containers)]
    if running:
        argv.append("--running")
    if boot_id:
        argv += ["--boot-id", boot_id]
    out = subprocess.run(argv, capture_output=True, text=True, check=True)
    return out.stdout.split()


RECOVERY_LINE = re.compile(r"recovery: (\d+) pod\(s\), (\d+) container\(s\), (\d+) image\(s\) "
                           r"in ([0-9.]+) ms")


def startup_daemon(crio_factory, boot_id):
    d = crio_factory.daemon(name="startup", cni="empty")
    d.root.mkdir(parents=True, exist_ok=True)
    boot_file = d.workdir / "startup-boot_id"
    boot_file.write_text(boot_id + "\n")
    d.env = {"CRIO_BOOT_ID_PATH": str(boot_file)}
    d.extra_args += ["--cgroup-manager", "cgroupfs"]
    return d


def test_500_container_records_are_recovered_before_the_socket_is_served(crio_factory):
    d = startup_daemon(crio_factory, "boot-same")
    synthetic(d.root, d.runroot, 100, 500, boot_id="boot-same")
    d.start()
    log = d.log()
    m = RECOVERY_LINE.search(log)
    assert m and m.groups()[:3] == ("100", "500", "0"), \
        f"expected the recovery of 100 pods and 500 containers logged with its time, saw {m}"
    assert log.index(m.group(0)) < log.index("serving CRI v1"), \
        "expected recovery logged before the socket was served"
    ctrs = ch.list_containers(d.client)
    assert len(ctrs) == 500 and {x.state for x in ctrs} == {API.CONTAINER_EXITED}
    pods = p.list_pods(d.client)
    assert len(pods) == 100 and {x.state for x in pods} == {API.SANDBOX_NOTREADY}
    assert h.inspect(d.root, "check").json["ok"] is True


def test_after_a_reboot_500_running_container_records_are_exited_before_serving(crio_factory):
    d = startup_daemon(crio_factory, "boot-new")
    synthetic(d.root, d.runroot, 100, 500, running=True, boot_id="boot-old")
    d.start()
    log = d.log()
    assert "after the reboot: 500 container(s) recorded exited (NodeRestarted), 0 unfinished " \
           "creation(s) rolled back, 100 of 100 pod(s) stopped" in log, log[-3000:]
    m = RECOVERY_LINE.search(log)
    assert m and log.index(m.group(0)) < log.index("serving CRI v1")
    ctrs = ch.list_containers(d.client)
    assert len(ctrs) == 500 and {x.state for x in ctrs} == {API.CONTAINER_EXITED}
    st = ch.container_status(d.client, ctrs[0].id).status
    assert (st.reason, st.exit_code) == ("NodeRestarted", -1), f"saw {st}"
    pods = p.list_pods(d.client)
    assert len(pods) == 100 and {x.state for x in pods} == {API.SANDBOX_NOTREADY}
    assert h.inspect(d.root, "check").json["ok"] is True


def bare_cni_add(net, container_id, netns):
    """The first plugin of the test's conflist run by hand, as an ADD the
    daemon started but never recorded would have left things."""
    import json
    conf = dict(net.conflist["plugins"][0])
    conf["cniVersion"] = net.conflist["cniVersion"]
    conf["name"] = net.conflist["name"]
    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": container_id, "CNI_NETNS": netns,
           "CNI_IFNAME": "eth0", "CNI_PATH": h.CNI_PLUGIN_DIR, "PATH": os.environ["PATH"]}
    res = subprocess.run([f"{h.CNI_PLUGIN_DIR}/{conf['type']}"], input=json.dumps(conf),
                         env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, f"expected the bare CNI ADD to succeed: {res.stdout} {res.stderr}"


def test_an_add_cut_off_by_a_reboot_is_deleted_with_the_config_on_disk(reboot_env):
    """The daemon died inside pod.cni_add (the ADD done, its commit never
    made) and then the node rebooted, taking the run dir and its stash of
    the config with it: host-local's reservation, which lives on disk, is
    released by a DEL with the config found on disk at the next start."""
    env = reboot_env
    env.daemon.stop()
    env.start({"CRIO_CRASH_AT": "pod.cni_add:before"})
    cfg = env.pod_config("cut")
    with pytest.raises(Exception):
        p.run_pod(env.client, cfg, timeout=30)
    env.daemon.wait_exit(20)
    assert env.daemon.returncode == 137, f"expected the crash hook's 137, saw {env.daemon.returncode}"
    pods, _ = records(env)
    assert len(pods) == 1, f"expected one pod record, saw {len(pods)}"
    pod_id = pods[0]["id"]
    bare_cni_add(env.net, pod_id, pods[0]["pod"]["netns_path"])
    assert env.net.reserved_ips(), "expected the bare ADD to reserve an address"

    power_off(env)
    env.set_boot_id("boot-2")
    env.start()
    assert env.net.reserved_ips() == [], \
        f"expected the reservation released before serving, saw {env.net.reserved_ips()}"
    p.remove_pod(env.client, pod_id)
    assert p.list_pods(env.client) == [], "expected no pods after the removal"
