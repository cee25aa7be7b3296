"""Shared helpers for the integration tests: the CRI messages, a client, and
a real daemon started on temporary directories.

Run under Debian's /usr/bin/python3 (python3-grpcio, python3-protobuf).
The CRI message classes are generated from api/api.proto by protoc into a
temporary directory on first use; nothing generated is committed.  There is
no grpc python plugin here, so calls go through the channel's generic
unary_unary/unary_stream with the message classes as (de)serializers.
"""

import atexit
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc

REPO = Path(os.environ.get("CRIO_TEST_SOURCE_DIR")
            or Path(__file__).resolve().parents[2])
BUILD = Path(os.environ.get("CRIO_TEST_BINARY_DIR") or REPO / "build")
CRIO_BIN = BUILD / "daemon" / "crio"
INSPECT_BIN = BUILD / "tools" / "crio-db-inspect" / "crio-db-inspect"
PROTO = REPO / "api" / "api.proto"
CNI_PLUGIN_DIR = "/usr/lib/cni"

# The daemon's default shutdown grace period (daemon/config.c).
SHUTDOWN_GRACE_S = 10.0
READY_TIMEOUT_S = 20.0

# The RPCs the daemon implements today; every other one must answer
# UNIMPLEMENTED.
IMPLEMENTED = {"Version", "Status", "RuntimeConfig", "UpdateRuntimeConfig",
               "RunPodSandbox", "StopPodSandbox", "RemovePodSandbox",
               "PodSandboxStatus", "ListPodSandbox",
               "PodSandboxStats", "ListPodSandboxStats",
               "CreateContainer", "StartContainer", "StopContainer", "RemoveContainer",
               "ContainerStatus", "ListContainers",
               "ExecSync", "Exec", "Attach", "PortForward",
               "ReopenContainerLog", "UpdateContainerResources",
               "ContainerStats", "ListContainerStats", "GetContainerEvents",
               "PullImage", "ListImages", "ImageStatus", "RemoveImage",
               "ImageFsInfo",
               "StreamPodSandboxes", "StreamContainers", "StreamImages",
               "StreamPodSandboxStats", "StreamContainerStats",
               "UpdatePodSandboxResources",
               "ListMetricDescriptors", "ListPodSandboxMetrics", "StreamPodSandboxMetrics"}


# ---- generated messages ---------------------------------------------------

_api = None


def api():
    """The module protoc generates from api/api.proto (api_pb2)."""
    global _api
    if _api is not None:
        return _api
    out = tempfile.mkdtemp(prefix="crio-test-proto-")
    atexit.register(shutil.rmtree, out, True)
    subprocess.run(["protoc", f"--python_out={out}", "-I", str(PROTO.parent),
                    str(PROTO)], check=True)
    sys.path.insert(0, out)
    try:
        _api = importlib.import_module("api_pb2")
    finally:
        sys.path.remove(out)
    return _api


def _method_table():
    """name -> (path, method descriptor, server_streaming)."""
    from google.protobuf import descriptor_pb2
    mod = api()
    # The streaming flags from the FileDescriptorProto: present in every
    # protobuf version, unlike MethodDescriptor.server_streaming.
    fdp = descriptor_pb2.FileDescriptorProto()
    mod.DESCRIPTOR.CopyToProto(fdp)
    streaming = {(s.name, m.name): m.server_streaming
                 for s in fdp.service for m in s.method}
    table = {}
    for svc in mod.DESCRIPTOR.services_by_name.values():
        for m in svc.methods:
            path = f"/{svc.full_name}/{m.name}"
            table[m.name] = (path, m, streaming[(svc.name, m.name)])
    return table


def all_methods():
    """[(method name, path, server_streaming)] for every RPC in the proto."""
    return [(name, path, stream)
            for name, (path, _m, stream) in sorted(_method_table().items())]


def message_class(descriptor):
    return getattr(api(), descriptor.name)


# ---- client ---------------------------------------------------------------

class CriClient:
    """A CRI client over one channel to the daemon's unix socket."""

    def __init__(self, socket_path):
        self.socket_path = str(socket_path)
        self.channel = grpc.insecure_channel(f"unix://{self.socket_path}")
        self._methods = _method_table()
        self._stubs = {}

    def close(self):
        self.channel.close()

    def _stub(self, name):
        stub = self._stubs.get(name)
        if stub is None:
            path, m, stream = self._methods[name]
            make = self.channel.unary_stream if stream else self.channel.unary_unary
            stub = make(path,
                        request_serializer=message_class(m.input_type).SerializeToString,
                        response_deserializer=message_class(m.output_type).FromString)
            self._stubs[name] = stub
        return stub

    def request(self, name, **fields):
        """An instance of the request message of RPC `name`."""
        _path, m, _stream = self._methods[name]
        return message_class(m.input_type)(**fields)

    def call(self, name, request=None, timeout=10.0):
        """A unary call; returns the response (or raises grpc.RpcError)."""
        if request is None:
            request = self.request(name)
        return self._stub(name)(request, timeout=timeout)

    def stream(self, name, request=None, timeout=10.0):
        """A server-streaming call; returns the list of responses."""
        if request is None:
            request = self.request(name)
        return list(self._stub(name)(request, timeout=timeout))

    def raw(self, path, payload, timeout=10.0):
        """A unary call with the request bytes as given; returns bytes."""
        stub = self.channel.unary_unary(path, request_serializer=lambda b: b,
                                        response_deserializer=lambda b: b)
        return stub(payload, timeout=timeout)

    def version(self, timeout=10.0):
        return self.call("Version", self.request("Version", version="v1"), timeout)

    def status(self, verbose=False, timeout=10.0):
        return self.call("Status", self.request("Status", verbose=verbose), timeout)

    def runtime_config(self, timeout=10.0):
        return self.call("RuntimeConfig", timeout=timeout)

    def update_runtime_config(self, pod_cidr, timeout=10.0):
        mod = api()
        req = mod.UpdateRuntimeConfigRequest(
            runtime_config=mod.RuntimeConfig(
                network_config=mod.NetworkConfig(pod_cidr=pod_cidr)))
        return self.call("UpdateRuntimeConfig", req, timeout)


def condition(status_response, type_):
    """The RuntimeCondition of that type in a StatusResponse."""
    found = [c for c in status_response.status.conditions if c.type == type_]
    assert len(found) == 1, (
        f"expected exactly one {type_} condition, saw "
        f"{[c.type for c in status_response.status.conditions]}")
    return found[0]


# ---- CNI configs ------------------------------------------------------------

def bridge_conflist(plugin_type="bridge", ipam_type="host-local"):
    return {
        "cniVersion": "1.0.0",
        "name": "crio-test",
        "plugins": [{
            "type": plugin_type,
            "bridge": "crio-test0",
            "isGateway": True,
            "ipMasq": True,
            "ipam": {
                "type": ipam_type,
                "routes": [{"dst": "0.0.0.0/0"}],
                "ranges": [[{"subnet": "10.233.0.0/16"}]],
            },
        }],
    }


def write_conflist(config_dir, conflist, name="10-crio-test.conflist"):
    path = Path(config_dir) / name
    path.write_text(json.dumps(conflist, indent=2))
    return path


# ---- daemon -----------------------------------------------------------------

# Every daemon this process started, for the failure report (conftest.py)
# and for the last-resort kill at exit.
DAEMONS = []


class DaemonExited(Exception):
    pass


class Daemon:
    """One crio process on temporary directories under `workdir`.

    The socket, root and runroot default to fresh paths under workdir; pass
    root= or socket= to share them with another daemon (restart tests,
    single-instance tests).  cni="bridge" writes a valid bridge conflist
    into a fresh config dir, cni="empty" leaves it empty, or pass a dict.
    """

    _serial = 0

    def __init__(self, workdir, *, name=None, root=None, runroot=None,
                 socket_path=None, cni="bridge", cni_config_dir=None,
                 extra_args=(), env=None, log_level="debug"):
        Daemon._serial += 1
        self.name = name or f"crio{Daemon._serial}"
        self.workdir = Path(workdir)
        base = self.workdir / self.name
        base.mkdir(parents=True, exist_ok=True)
        self.root = Path(root) if root else base / "root"
        self.runroot = Path(runroot) if runroot else base / "run"
        self.socket = Path(socket_path) if socket_path else base / "crio.sock"
        if cni_config_dir is None:
            cni_config_dir = base / "net.d"
            cni_config_dir.mkdir(exist_ok=True)
            if cni == "bridge":
                write_conflist(cni_config_dir, bridge_conflist())
            elif isinstance(cni, dict):
                write_conflist(cni_config_dir, cni)
        self.cni_config_dir = Path(cni_config_dir)
        self.log_path = base / "crio.log"
        self.extra_args = list(extra_args)
        self.log_level = log_level
        self.env = env
        self.proc = None
        self.returncode = None
        self.client = None
        self.started_at = None
        self.stopped_at = None
        self.final_log = None

    @property
    def argv(self):
        return [str(CRIO_BIN),
                "--listen", str(self.socket),
                "--root", str(self.root),
                "--runroot", str(self.runroot),
                *(["--log-level", self.log_level] if self.log_level else []),
                "--cni-config-dir", str(self.cni_config_dir),
                "--cni-plugin-dir", CNI_PLUGIN_DIR,
                *self.extra_args]

    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        if self.final_log is not None:
            return self.final_log
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def start(self, wait=True):
        """Starts the process; with wait, returns once Version answers."""
        assert self.proc is None or self.proc.poll() is not None, \
            f"{self.name} is already running"
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        self.final_log = None
        self.returncode = None
        self.stopped_at = None
        logf = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=logf, env=env)
        finally:
            logf.close()
        self.started_at = time.monotonic()
        if self not in DAEMONS:
            DAEMONS.append(self)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=READY_TIMEOUT_S):
        """Waits until Version answers on the socket; raises DaemonExited
        (with the log) if the process ends first."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                self.returncode = rc
                raise DaemonExited(
                    f"{self.name} exited with {rc} before serving; log:\n{self.log()}")
            if self.socket.exists():
                # A fresh channel per probe: a channel that failed to
                # connect backs off for a second or more before retrying.
                probe = CriClient(self.socket)
                try:
                    probe.version(timeout=1.0)
                    self.client = CriClient(self.socket)
                    return self.client
                except grpc.RpcError as e:
                    last = e
                finally:
                    probe.close()
            time.sleep(0.02)
        raise TimeoutError(f"{self.name} did not answer Version within {timeout}s "
                           f"(last error: {last}); log:\n{self.log()}")

    def wait_exit(self, timeout):
        """Waits for the process to end on its own; returns the exit code."""
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is not None:
                self._finish()
        return self.returncode

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=SHUTDOWN_GRACE_S + 5):
        """Signals the daemon and waits for it to exit; SIGKILLs it after
        `timeout`.  Returns (exit code, seconds it took, killed)."""
        if self.proc is None:
            return None, 0.0, False
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.proc.poll() is not None:
            self._finish()
            return self.returncode, 0.0, False
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        killed = False
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            killed = True
            self.proc.kill()
            self.proc.wait()
        took = time.monotonic() - t0
        self._finish()
        return self.returncode, took, killed

    def stop_cleanly(self):
        """SIGTERM; asserts exit 0 within the grace period."""
        rc, took, killed = self.stop()
        assert not killed, (f"{self.name}: expected exit within "
                            f"{SHUTDOWN_GRACE_S + 5:.0f}s of SIGTERM, still running: "
                            "SIGKILLed")
        assert rc == 0, f"{self.name}: expected exit status 0 after SIGTERM, saw {rc}"
        return took

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc is not None:
            self._finish()

    def _finish(self):
        self.returncode = self.proc.returncode
        if self.stopped_at is None:
            self.stopped_at = time.monotonic()
        self.final_log = None
        self.final_log = self.log()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def vm_rss_kib(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS line")


def _kill_leftovers():
    for d in DAEMONS:
        try:
            d.kill()
        except Exception:
            pass


atexit.register(_kill_leftovers)


def run_daemon_to_exit(argv, timeout=READY_TIMEOUT_S):
    """Runs a daemon that is expected to refuse to start; returns
    (exit code, stderr+stdout text).  Kills it (and fails) on timeout."""
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"expected the daemon to refuse to start, but it "
                             f"was still running after {timeout}s: {argv}") from e
    return p.returncode, (p.stderr + p.stdout).decode(errors="replace")


# ---- crio-db-inspect --------------------------------------------------------

def inspect(root, *args, json_output=True, check=True, timeout=20):
    """Runs crio-db-inspect; returns the CompletedProcess, with .json set to
    the parsed output when json_output and the exit status is 0."""
    argv = [str(INSPECT_BIN), "--root", str(root)]
    if json_output:
        argv.append("--json")
    argv += list(args)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check:
        assert p.returncode == 0, (f"expected {' '.join(argv)} to exit 0, saw "
                                   f"{p.returncode}; stderr: {p.stderr.strip()}")
    p.json = json.loads(p.stdout) if (json_output and p.returncode == 0) else None
    return p


def new_workdir():
    # Short, under /tmp: a unix socket path must fit in 108 bytes.
    return Path(tempfile.mkdtemp(prefix="crio-it-", dir="/tmp"))


def env_factory(build):
    """A generator for a fixture: yields make(*args, **kw), which makes a
    workdir and build(workdir, *args, **kw); every env made is cleaned up
    (errors ignored) and every workdir removed when the generator closes."""
    made, workdirs = [], []

    def make(*args, **kw):
        workdir = new_workdir()
        workdirs.append(workdir)
        env = build(workdir, *args, **kw)
        made.append(env)
        return env

    try:
        yield make
    finally:
        for env in made:
            try:
                env.cleanup()
            except Exception:
                pass
        for w in workdirs:
            shutil.rmtree(w, ignore_errors=True)



# ---- host sysctls ------------------------------------------------------------

class HostSysctlsRestored:
    """Puts back host sysctls that CNI plugins change as a side effect (the
    bridge plugin with isGateway turns on IPv4 forwarding), for scripts
    outside pytest (benchmarks)."""

    PATHS = ["/proc/sys/net/ipv4/ip_forward"]

    def __enter__(self):
        self.before = {}
        for path in self.PATHS:
            try:
                self.before[path] = Path(path).read_text()
            except OSError:
                pass
        return self

    def __exit__(self, *exc):
        for path, value in self.before.items():
            try:
                if Path(path).read_text() != value:
                    Path(path).write_text(value)
            except OSError:
                pass
        return False
