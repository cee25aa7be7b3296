"""Helpers for the pod sandbox tests: a test-owned CNI network (its own
bridge, subnet and host-local IPAM dir, never the host's /etc/cni/net.d or
/var/lib/cni), pod configs, and the leak checks that prove a pod left
nothing behind: pinned-namespace mounts, veths on the bridge, IPAM
reservations, cgroups."""

import json
import os
import secrets
import subprocess
from pathlib import Path

from crio_harness import api

CGROUP_ROOT = Path("/sys/fs/cgroup")


def sh(*argv, check=True):
    return subprocess.run(argv, capture_output=True, text=True, check=check)


class PodNetwork:
    """A bridge network of the test's own: bridge crt<hex>, a /24 in
    10.251.0.0/16, host-local reservations under workdir."""

    def __init__(self, workdir, *, extra_plugins=(), cni_version="1.0.0", ip_masq=False):
        tag = secrets.token_hex(3)
        self.bridge = f"crt{tag}"
        self.name = f"crio-test-{tag}"
        self.subnet_octet = int(tag[:2], 16) % 250 + 1
        self.subnet = f"10.251.{self.subnet_octet}.0/24"
        self.gateway = f"10.251.{self.subnet_octet}.1"
        self.ipam_dir = Path(workdir) / f"ipam-{tag}"
        self.ipam_dir.mkdir(parents=True)
        self.conflist = {
            "cniVersion": cni_version,
            "name": self.name,
            "plugins": [{
                "type": "bridge",
                "bridge": self.bridge,
                "isGateway": True,
                "ipMasq": ip_masq,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(self.ipam_dir),
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "ranges": [[{"subnet": self.subnet, "gateway": self.gateway}]],
                },
            }, *extra_plugins],
        }

    def reserved_ips(self):
        """IPs host-local still holds for this network."""
        d = self.ipam_dir / self.name
        if not d.is_dir():
            return []
        return sorted(p.name for p in d.iterdir()
                      if p.name not in ("lock",) and not p.name.startswith("last_reserved_ip"))

    def bridge_ports(self):
        """Interfaces still enslaved to the bridge (the pods' host-side veths)."""
        p = sh("ip", "-j", "link", "show", "master", self.bridge, check=False)
        if p.returncode != 0 or not p.stdout.strip():
            return []
        return [link["ifname"] for link in json.loads(p.stdout)]

    def cleanup(self):
        sh("ip", "link", "del", self.bridge, check=False)


class CgroupParent:
    """A cgroup parent of the test's own, removed afterwards in every
    hierarchy (cgroupfs driver)."""

    def __init__(self):
        self.path = f"/crio-test-{secrets.token_hex(4)}"

    def dirs(self):
        found = []
        for hierarchy in CGROUP_ROOT.iterdir():
            d = hierarchy / self.path.lstrip("/")
            if d.is_dir():
                found.append(d)
        return found

    def pod_cgroups(self):
        """Child cgroups (pods) still present under the parent."""
        left = []
        for d in self.dirs():
            left += [str(c) for c in d.iterdir() if c.is_dir()]
        return left

    def cleanup(self):
        for d in self.dirs():
            for child in sorted(d.rglob("*"), key=lambda p: -len(p.parts)):
                if child.is_dir():
                    try:
                        child.rmdir()
                    except OSError:
                        pass
            try:
                d.rmdir()
            except OSError:
                pass


def pod_config(name, *, uid=None, namespace="default", attempt=0, hostname=None,
               labels=None, annotations=None, cgroup_parent=None, dns=None,
               port_mappings=(), sysctls=None, host_network=False, host_ipc=False,
               shared_pid=False, log_directory=None):
    mod = api()
    ns = mod.NamespaceOption(
        network=mod.NODE if host_network else mod.POD,
        ipc=mod.NODE if host_ipc else mod.POD,
        pid=mod.POD if shared_pid else mod.CONTAINER)
    linux = mod.LinuxPodSandboxConfig(
        cgroup_parent=cgroup_parent or "",
        security_context=mod.LinuxSandboxSecurityContext(namespace_options=ns),
        sysctls=sysctls or {})
    cfg = mod.PodSandboxConfig(
        metadata=mod.PodSandboxMetadata(name=name, uid=uid or f"uid-{name}",
                                        namespace=namespace, attempt=attempt),
        hostname=hostname if hostname is not None else name,
        log_directory=log_directory or "",
        labels=labels or {},
        annotations=annotations or {},
        linux=linux,
        port_mappings=list(port_mappings))
    if dns:
        cfg.dns_config.CopyFrom(mod.DNSConfig(**dns))
    return cfg


def run_pod(client, config, runtime_handler="", timeout=60):
    req = client.request("RunPodSandbox", config=config, runtime_handler=runtime_handler)
    return client.call("RunPodSandbox", req, timeout=timeout).pod_sandbox_id


def pod_status(client, pod_id, verbose=False):
    return client.call("PodSandboxStatus",
                       client.request("PodSandboxStatus", pod_sandbox_id=pod_id, verbose=verbose))


def stop_pod(client, pod_id, timeout=60):
    return client.call("StopPodSandbox",
                       client.request("StopPodSandbox", pod_sandbox_id=pod_id), timeout=timeout)


def remove_pod(client, pod_id, timeout=60):
    return client.call("RemovePodSandbox",
                       client.request("RemovePodSandbox", pod_sandbox_id=pod_id), timeout=timeout)


def list_pods(client, **filter_fields):
    mod = api()
    req = client.request("ListPodSandbox")
    if filter_fields:
        state = filter_fields.pop("state", None)
        f = mod.PodSandboxFilter(**filter_fields)
        if state is not None:
            f.state.CopyFrom(mod.PodSandboxStateValue(state=state))
        req.filter.CopyFrom(f)
    return list(client.call("ListPodSandbox", req).items)


def mounts_under(path):
    """Mount points below `path` (from /proc/self/mountinfo)."""
    prefix = str(path).rstrip("/") + "/"
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mount_point = line.split()[4]
            if mount_point.startswith(prefix) or mount_point == str(path):
                found.append(mount_point)
    return found


def pinned_namespaces(runroot):
    """Pinned namespace files (mount points) under <runroot>/*ns/."""
    return [m for m in mounts_under(runroot)
            if Path(m).parent.name.endswith("ns") and Path(m).name not in ("",)
            and not Path(m).name.endswith("ns")]


def leaks(daemon, net, cgroups):
    """Everything a removed pod could have left behind; [] when clean."""
    found = []
    pins = pinned_namespaces(daemon.runroot)
    if pins:
        found.append(f"pinned namespaces: {pins}")
    ports = net.bridge_ports()
    if ports:
        found.append(f"veths on {net.bridge}: {ports}")
    ips = net.reserved_ips()
    if ips:
        found.append(f"host-local reservations: {ips}")
    cg = cgroups.pod_cgroups()
    if cg:
        found.append(f"pod cgroups: {cg}")
    pods_dir = Path(daemon.runroot) / "pods"
    if pods_dir.is_dir() and any(pods_dir.iterdir()):
        found.append(f"pod run dirs: {[p.name for p in pods_dir.iterdir()]}")
    return found


def nsenter(ns_flag, path, *argv):
    return sh("nsenter", f"{ns_flag}={path}", *argv).stdout


# ---- a test's own pod world (additive: fixtures and cleanup) -----------------

import shutil  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402

import grpc  # noqa: E402
import pytest  # noqa: E402

import crio_harness as h  # noqa: E402

PAUSE_BIN = h.BUILD / "daemon" / "crio-pause"


def rpc_code(call, *args, **kwargs):
    """The gRPC status code and message a call ended with (OK, "" on success)."""
    try:
        call(*args, **kwargs)
    except grpc.RpcError as e:
        return e.code(), e.details() or ""
    return grpc.StatusCode.OK, ""


def db_pods(root):
    """The pod records crio-db-inspect sees (list of dicts)."""
    return h.inspect(root, "pods").json


def db_log(root, *args):
    """State log entries (list of dicts), oldest first."""
    return h.inspect(root, "log", *args).json


def pod_transitions(root, pod_id):
    """The transition names the log holds for one pod, in order
    (CREATE/DELETE entries as "CREATE"/"DELETE" when they name none)."""
    out = []
    for e in db_log(root, "--object", pod_id):
        if e["type"] in ("TRANSITION", "DELETE") and e["transition"]:
            out.append(e["transition"])
        elif e["type"] == "CREATE":
            out.append("CREATE")
    return out


def pause_processes(cgroups):
    """pids of crio-pause processes in the test's cgroup parent."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            exe = os.readlink(proc / "exe")
            cg = (proc / "cgroup").read_text()
        except OSError:
            continue
        if Path(exe).name.startswith("crio-pause") and cgroups.path + "/" in cg:
            found.append(int(proc.name))
    return found


def ns_inode(path):
    return os.stat(path).st_ino


def iptables_chains():
    """{table: set(chain names)} from iptables-save."""
    p = sh("iptables-save", check=False)
    chains, table = {}, None
    for line in p.stdout.splitlines():
        if line.startswith("*"):
            table = line[1:]
            chains[table] = set()
        elif line.startswith(":") and table:
            chains[table].add(line[1:].split()[0])
    return chains


def iptables_remove_new_chains(before):
    """Removes every chain that is not in `before` (an iptables_chains()
    snapshot), with the jumps to it from older chains: what the test's
    plugins (portmap) created and left."""
    import shlex
    for table, chains in iptables_chains().items():
        new = chains - before.get(table, set())
        if not new:
            continue
        for line in sh("iptables-save", "-t", table).stdout.splitlines():
            if not line.startswith("-A "):
                continue
            parts = shlex.split(line)
            target = parts[parts.index("-j") + 1] if "-j" in parts else None
            if parts[1] not in new and target in new:
                sh("iptables", "-t", table, "-D", *parts[1:], check=False)
        for chain in new:
            sh("iptables", "-t", table, "-F", chain, check=False)
        for chain in new:
            sh("iptables", "-t", table, "-X", chain, check=False)


def iptables_rules(table, chain):
    p = sh("iptables", "-t", table, "-S", chain, check=False)
    return p.stdout.splitlines() if p.returncode == 0 else []


class PodEnv:
    """One test's pods: a daemon (cgroupfs driver) on a root and runroot of
    its own, the network and cgroup parent it uses, and a cleanup that
    leaves the host as it was even when the test failed half-way."""

    def __init__(self, workdir, net, cgroups, *, conflist=None, name="pods"):
        self.workdir = Path(workdir)
        self.net = net
        self.cgroups = cgroups
        self.cni_dir = self.workdir / f"{name}-net.d"
        self.cni_dir.mkdir(parents=True, exist_ok=True)
        self.write_conflist(conflist or net.conflist)
        self.daemon = h.Daemon(self.workdir, name=name, cni_config_dir=self.cni_dir,
                               extra_args=["--cgroup-manager", "cgroupfs"])
        self.expected_pods = []

    # -- daemon --
    def write_conflist(self, conflist, filename="10-test.conflist"):
        for old in self.cni_dir.glob("*.conf*"):
            old.unlink()
        return h.write_conflist(self.cni_dir, conflist, filename)

    def start(self, env=None):
        self.daemon.env = env
        self.daemon.start()
        return self.daemon.client

    @property
    def client(self):
        return self.daemon.client

    @property
    def root(self):
        return self.daemon.root

    @property
    def runroot(self):
        return self.daemon.runroot

    def restart(self, sig=signal.SIGTERM, env=None):
        """Stops (SIGTERM must exit 0; SIGKILL just kills) and starts again
        on the same root and runroot."""
        if sig == signal.SIGKILL:
            self.daemon.kill()
        else:
            self.daemon.stop_cleanly()
        return self.start(env)

    def config(self, name, **kw):
        kw.setdefault("cgroup_parent", self.cgroups.path)
        return pod_config(name, **kw)

    def leaks(self):
        found = leaks(self.daemon, self.net, self.cgroups)
        pause = pause_processes(self.cgroups)
        if pause:
            found.append(f"crio-pause processes: {pause}")
        return found

    # -- cleanup --
    def remove_all_pods(self, timeout=30):
        """Through the daemon: every record (also PENDING ones List hides)."""
        if not self.daemon.running() or self.daemon.client is None:
            return
        try:
            ids = [p["id"] for p in db_pods(self.root)]
        except Exception:
            ids = [p.id for p in list_pods(self.client)]
        for pod_id in ids:
            try:
                remove_pod(self.client, pod_id, timeout=timeout)
            except grpc.RpcError:
                pass

    def cleanup(self):
        """Best effort through the daemon, then by hand on the host."""
        try:
            self.remove_all_pods()
        finally:
            self.daemon.stop()
            host_cleanup(self.runroot, self.net, self.cgroups)


def host_cleanup(runroot, net, cgroups):
    """What a failed test may have left: pause processes in the test's
    cgroup parent, namespace pins and pin dirs under runroot, veths on the
    test bridge, pod cgroups.  Never touches anything outside them."""
    for pid in pause_processes(cgroups):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    while pause_processes(cgroups) and time.monotonic() < deadline:
        time.sleep(0.05)
    # Deepest first: the pins, then the self-bound pin dirs.
    for m in sorted(set(mounts_under(runroot)), key=lambda p: -len(p)):
        sh("umount", "-l", m, check=False)
    for port in net.bridge_ports():
        sh("ip", "link", "del", port, check=False)
    for d in cgroups.dirs():
        for child in sorted((c for c in d.rglob("*") if c.is_dir()),
                            key=lambda p: -len(p.parts)):
            try:
                child.rmdir()
            except OSError:
                pass
    ipam = net.ipam_dir / net.name
    if ipam.is_dir():
        shutil.rmtree(ipam, ignore_errors=True)


def _own_network():
    """A test network (bridge, subnet, IPAM dir), removed after use."""
    workdir = h.new_workdir()
    net = PodNetwork(workdir)
    try:
        yield net
    finally:
        net.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def pod_net():
    """A test network of the module's own."""
    yield from _own_network()


@pytest.fixture
def other_net():
    """A second network of the test's own, for config-change tests."""
    yield from _own_network()


@pytest.fixture(scope="module")
def pod_cgroups():
    cg = CgroupParent()
    try:
        yield cg
    finally:
        cg.cleanup()


@pytest.fixture
def pod_env(pod_net, pod_cgroups):
    """A started daemon on a fresh root, using the module's network."""
    workdir = h.new_workdir()
    env = PodEnv(workdir, pod_net, pod_cgroups)
    try:
        env.start()
        yield env
    finally:
        try:
            env.cleanup()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def pod_env_factory(pod_net, pod_cgroups):
    """PodEnvs made by the test (conflist of its choice, not started)."""
    def build(workdir, conflist=None, net=None, name="pods"):
        return PodEnv(workdir, net or pod_net, pod_cgroups, conflist=conflist, name=name)

    yield from h.env_factory(build)
