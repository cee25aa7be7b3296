"""Helpers for the container tests (tests/integration/test_container_*.py):
a busybox image served by a docker-registry on 127.0.0.1, a daemon of the
test's own (pods_harness' network and cgroup parent, a registries.conf that
names only that registry), container configs and CRI calls, and the leak
checks that prove a removed container left nothing: mounts under the root
and run dirs, runc state, conmon processes, container cgroups, exit files.

Every process a test starts is found again through the test's own paths
(conmon's command line names the test's run dir) and nothing else is ever
signalled."""

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import grpc
import pytest

import crio_harness as h
import images_harness as ih
import pods_harness as p
import registry_harness as rh

APPLETS = ["sh", "sleep", "echo", "cat", "true", "false", "ls", "id", "kill", "touch",
           "hostname", "printf", "test", "mkdir", "rm", "ps", "grep", "env", "pwd", "wc",
           "dd", "head", "tail"]
IMAGE_REPO = "ctr/busybox"
IMAGE_TAG = "v1"


def busybox_image():
    """busybox-static with its applets linked, /etc/passwd and /etc/group."""
    files = {"bin/busybox": Path(rh.BUSYBOX).read_bytes()}
    for applet in APPLETS:
        files[f"bin/{applet}"] = ("link", "busybox")
    files["etc/passwd"] = (b"root:x:0:0:root:/root:/bin/sh\n"
                           b"nobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n")
    files["etc/group"] = b"root:x:0:\nnobody:x:65534:\n"
    return ih.TestImage([rh._layer(files), ih.marker_layer("containers")])


# ---- the module's registry ----------------------------------------------------------

class ImageSource:
    """A registry holding the test image, for the whole module."""

    def __init__(self):
        self.work = rh.Workdir(prefix="crio-ctr-registry-")
        self.image = busybox_image()
        self.registry = ih.start_registry(self.work.sub("registry"), access_log=False)
        ih.Pusher(self.registry.host).image(IMAGE_REPO, IMAGE_TAG, self.image)
        self.ref = f"{self.registry.host}/{IMAGE_REPO}:{IMAGE_TAG}"

    def close(self):
        try:
            self.registry.stop()
        finally:
            self.work.close()


@pytest.fixture(scope="module")
def image_source():
    src = ImageSource()
    try:
        yield src
    finally:
        src.close()


# ---- a test's own daemon ---------------------------------------------------------------

class ContainerEnv(p.PodEnv):
    """A PodEnv whose daemon pulls from the module's registry, with the
    container leak checks and cleanup."""

    def __init__(self, workdir, net, cgroups, source, name="ctr", crio_conf_extra=""):
        super().__init__(workdir, net, cgroups, name=name)
        self.source = source
        conf = ih.registries_conf(self.workdir / f"{name}-registries.conf",
                                  insecure=[source.registry.host])
        certs = self.workdir / f"{name}-certs.d"
        certs.mkdir(exist_ok=True)
        crio_conf = self.workdir / f"{name}-crio.conf"
        crio_conf.write_text(f'[crio.image]\ncerts_dir = "{certs}"\n{crio_conf_extra}')
        self.daemon.extra_args += ["--config", str(crio_conf), "--registries-conf", str(conf)]
        self.log_dir = self.workdir / f"{name}-logs"
        self.log_dir.mkdir(exist_ok=True)

    @property
    def image(self):
        return self.source.ref

    def pull(self):
        return ih.pull(self.client, self.image)

    def pod_config(self, name, **kw):
        kw.setdefault("log_directory", str(self.log_dir / name))
        return self.config(name, **kw)

    def run_pod(self, name="pod", **kw):
        cfg = self.pod_config(name, **kw)
        return p.run_pod(self.client, cfg), cfg

    # -- what containers leave --
    @property
    def runtime_root(self):
        return Path(self.runroot) / "runtimes" / "runc"

    def runc_containers(self):
        d = self.runtime_root
        return sorted(x.name for x in d.iterdir()) if d.is_dir() else []

    def conmons(self):
        """pids of conmon processes whose command line names our run dir."""
        return conmon_pids(self.runroot)

    def mounts(self):
        found = []
        for base in (self.root, self.runroot):
            for m in p.mounts_under(base):
                # Pin dirs are self bind mounts that live as long as the daemon.
                if Path(m).name.endswith("ns") and Path(m).parent == Path(self.runroot):
                    continue
                found.append(m)
        return found

    def exit_files(self):
        d = Path(self.runroot) / "exits"
        return sorted(x.name for x in d.iterdir()) if d.is_dir() else []

    def container_dirs(self):
        out = []
        for d in (Path(self.root) / "containers", Path(self.runroot) / "containers"):
            if d.is_dir():
                out += [str(x) for x in d.iterdir()]
        return out

    def leaks(self):
        found = super().leaks()
        mounts = self.mounts()
        if mounts:
            found.append(f"mounts: {mounts}")
        runc = self.runc_containers()
        if runc:
            found.append(f"runc state: {runc}")
        conmon = self.conmons()
        if conmon:
            found.append(f"conmon processes: {conmon}")
        exits = self.exit_files()
        if exits:
            found.append(f"exit files: {exits}")
        dirs = self.container_dirs()
        if dirs:
            found.append(f"container dirs: {dirs}")
        return found

    # -- cleanup --
    def remove_all_containers(self, timeout=30):
        if not self.daemon.running() or self.daemon.client is None:
            return
        try:
            ids = [r["id"] for r in h.inspect(self.root, "containers").json]
        except Exception:
            ids = [c.id for c in list_containers(self.client)]
        for cid in ids:
            try:
                remove_container(self.client, cid, timeout=timeout)
            except grpc.RpcError:
                pass

    def cleanup(self):
        """Through the daemon, then by hand; a daemon that was expected to
        exit cleanly and did not (a sanitizer report, a crash) fails."""
        rc = killed = None
        try:
            try:
                self.remove_all_containers()
            finally:
                self.remove_all_pods()
        finally:
            running = self.daemon.running()
            rc, _took, killed = self.daemon.stop()
            container_host_cleanup(self)
            p.host_cleanup(self.runroot, self.net, self.cgroups)
        if running and getattr(self.daemon, "expect_clean_exit", True):
            assert not killed and rc == 0, \
                f"expected the daemon to exit 0 on SIGTERM, saw {rc}" \
                f"{' (SIGKILLed)' if killed else ''}; log tail:\n{self.daemon.log()[-3000:]}"


def conmon_pids(runroot):
    found = []
    needle = str(runroot).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and Path(argv[0].decode(errors="replace")).name == "conmon" and \
                any(needle in a for a in argv):
            found.append(int(proc.name))
    return found


def container_host_cleanup(env):
    """What a failed test may have left of its containers: conmon processes
    naming its run dir, runc containers under its handler root (killed and
    deleted), mounts under its root and run dir."""
    for pid in conmon_pids(env.runroot):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for cid in env.runc_containers():
        subprocess.run(["runc", "--root", str(env.runtime_root), "delete", "--force", cid],
                       capture_output=True, check=False)
    for base in (env.root, env.runroot):
        for m in sorted(set(p.mounts_under(base)), key=lambda x: -len(x)):
            p.sh("umount", "-l", m, check=False)


@pytest.fixture
def ctr_env(pod_net, pod_cgroups, image_source):
    """A started daemon on a fresh root with the test image pulled."""
    workdir = h.new_workdir()
    env = ContainerEnv(workdir, pod_net, pod_cgroups, image_source)
    try:
        env.start()
        env.pull()
        yield env
    finally:
        try:
            env.cleanup()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def ctr_env_factory(pod_net, pod_cgroups, image_source):
    """ContainerEnvs made (not started) by the test."""
    def build(workdir, name="ctr", crio_conf_extra=""):
        return ContainerEnv(workdir, pod_net, pod_cgroups, image_source, name=name,
                            crio_conf_extra=crio_conf_extra)

    yield from h.env_factory(build)


# ---- configs and calls ------------------------------------------------------------------

def container_config(name, image, *, command=None, args=None, attempt=0, log_path=None,
                     labels=None, annotations=None, mounts=(), envs=None, working_dir="",
                     stop_signal=None):
    mod = h.api()
    cfg = mod.ContainerConfig(
        metadata=mod.ContainerMetadata(name=name, attempt=attempt),
        image=mod.ImageSpec(image=image),
        command=list(command or []),
        args=list(args or []),
        working_dir=working_dir,
        envs=[mod.KeyValue(key=k, value=v) for k, v in (envs or {}).items()],
        labels=labels or {},
        annotations=annotations or {},
        log_path=log_path if log_path is not None else f"{name}.log",
        mounts=list(mounts))
    if stop_signal is not None:
        cfg.stop_signal = stop_signal
    return cfg


def shell(name, image, script, **kw):
    """A container running `sh -c script`."""
    return container_config(name, image, command=["/bin/sh", "-c", script], **kw)


def create_container(client, pod_id, config, sandbox_config=None, timeout=60):
    req = client.request("CreateContainer", pod_sandbox_id=pod_id, config=config)
    if sandbox_config is not None:
        req.sandbox_config.CopyFrom(sandbox_config)
    return client.call("CreateContainer", req, timeout=timeout).container_id


def start_container(client, cid, timeout=60):
    return client.call("StartContainer", client.request("StartContainer", container_id=cid),
                       timeout=timeout)


def stop_container(client, cid, timeout_s=10, timeout=60):
    return client.call("StopContainer",
                       client.request("StopContainer", container_id=cid, timeout=timeout_s),
                       timeout=timeout)


def remove_container(client, cid, timeout=60):
    return client.call("RemoveContainer", client.request("RemoveContainer", container_id=cid),
                       timeout=timeout)


def container_status(client, cid, verbose=False):
    return client.call("ContainerStatus",
                       client.request("ContainerStatus", container_id=cid, verbose=verbose))


def list_containers(client, **filter_fields):
    mod = h.api()
    req = client.request("ListContainers")
    if filter_fields:
        state = filter_fields.pop("state", None)
        f = mod.ContainerFilter(**filter_fields)
        if state is not None:
            f.state.CopyFrom(mod.ContainerStateValue(state=state))
        req.filter.CopyFrom(f)
    return list(client.call("ListContainers", req).containers)


def run_container(env, pod_id, pod_cfg, config):
    cid = create_container(env.client, pod_id, config, pod_cfg)
    start_container(env.client, cid)
    return cid


def wait_state(client, cid, state, timeout=20.0):
    """Polls ContainerStatus until the CRI state is `state`; returns the status."""
    deadline = time.monotonic() + timeout
    st = None
    while time.monotonic() < deadline:
        st = container_status(client, cid).status
        if st.state == state:
            return st
        time.sleep(0.05)
    raise AssertionError(f"expected container {cid[:12]} to reach state {state} within "
                         f"{timeout}s, saw {st}")


def wait_for(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = predicate()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"expected {what} within {timeout}s")


def log_lines(path):
    """(stream, tag, message) of each CRI-format line of a container log."""
    out = []
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.split(" ", 3)
        if len(parts) == 4:
            out.append((parts[1], parts[2], parts[3]))
        elif len(parts) == 3:
            out.append((parts[1], parts[2], ""))
    return out


def info(client, cid):
    """The verbose info JSON of ContainerStatus."""
    resp = container_status(client, cid, verbose=True)
    return json.loads(resp.info["info"])


def db_containers(root):
    return h.inspect(root, "containers").json



# ---- crash-matrix scenarios -------------------------------------------------------

# A container that stops at SIGTERM: stops take the signal path, not the kill.
TRAPPING = "trap 'exit 0' TERM; echo up; while :; do sleep 0.1; done"


def scenario_config(image, scenario):
    """The container config of a crash-matrix scenario: one that exits 3 on
    its own for "exit", one that stops at SIGTERM otherwise."""
    script = {"exit": "echo up; sleep 0.3; exit 3"}.get(scenario, TRAPPING)
    return shell("c", image, script)


def drive_scenario(env, pod_id, pod_cfg, cfg, scenario):
    """Drives one container through the CRI calls that reach the crash
    matrices' `scenario` (create, stop_created, exit_before_start, start,
    exit, stop, remove); calls that the crash cuts off are expected to
    fail.  Returns the container id once one was created, else None."""
    c = env.client
    if scenario == "create":
        p.rpc_code(create_container, c, pod_id, cfg, pod_cfg)
        return None
    cid = create_container(c, pod_id, cfg, pod_cfg)
    if scenario == "stop_created":
        p.rpc_code(stop_container, c, cid, 10)
    elif scenario == "exit_before_start":
        os.kill(info(c, cid)["pid"], signal.SIGKILL)
    elif scenario == "start":
        p.rpc_code(start_container, c, cid)
    else:
        start_container(c, cid)
        if scenario == "stop":
            p.rpc_code(stop_container, c, cid, 10)
        elif scenario == "remove":
            stop_container(c, cid, 10)
            p.rpc_code(remove_container, c, cid)
    return cid
