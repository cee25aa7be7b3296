#!/usr/bin/python3
"""Bench: the node figures of issue 12, each beside its peer (Debian's
containerd with its CRI plugin, driven by the same Python CRI client) and
its floor, from one run on one machine.  Prints figures; never passes or
fails.

    /usr/bin/python3 tests/bench/bench_node.py --build build      (make bench)

(a) Memory: the daemon's RSS and PSS (/proc/PID/smaps_rollup) and thread
    count, idle (image pulled, no pod) and with N running pods (default 50:
    a pod and one busybox `sleep` container each); containerd's beside it
    (its shims are separate processes and are shown apart).
(b) ExecSync of `true` into one running container of (a): median and p95,
    beside the floor, `runc exec <id> true` on the very same container
    (the daemon's own runc root), and containerd's ExecSync into one of its
    containers.  The three take turns call by call.
(c) Throughput: 8 concurrent lifecycles (RunPodSandbox, CreateContainer,
    StartContainer, StopContainer, StopPodSandbox, RemovePodSandbox) on an
    empty node, pods per second, ours and containerd's.
(d) Scale: RunPodSandbox, CreateContainer and ListPodSandbox /
    ListContainers (all, and filtered to one pod) with 0, 100 and 250 pods
    on the node (each with one running container), ours only.

Everything made here (the registry, both daemons, containerd's root, state
and shims, pods, containers, their bridges, subnets, IPAM dirs and cgroup
parents, temp dirs) is removed on exit, also on failure or Ctrl-C.
containerd runs on its own socket, root and state under /tmp with a CNI
config of the bench's own (private bridge and /24), and is stopped at the
end; no host config is read or written.
"""

import argparse
import datetime
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=str(REPO / "build"),
                    help="CMake build dir holding daemon/crio (default: build)")
    ap.add_argument("--pods", type=int, default=50,
                    help="running pods for (a) and (b) (default 50)")
    ap.add_argument("--execs", type=int, default=40,
                    help="ExecSync calls per target in (b) (default 40)")
    ap.add_argument("--lifecycles", type=int, default=32,
                    help="lifecycles in (c), spread over 8 threads (default 32)")
    ap.add_argument("--scale", default="0,100,250",
                    help="pod counts of (d) (default 0,100,250)")
    ap.add_argument("--probes", type=int, default=8,
                    help="RunPodSandbox / CreateContainer probes per scale level (default 8)")
    ap.add_argument("--list-calls", type=int, default=200,
                    help="List calls per scale level (default 200)")
    ap.add_argument("--no-containerd", action="store_true",
                    help="skip the containerd peer")
    ap.add_argument("--libs", type=int, default=0, metavar="N",
                    help="also print the N mappings of crio with the most RSS, idle and "
                         "with the pods (/proc/PID/smaps, summed per file)")
    ap.add_argument("--parts", default="memory,exec,throughput,scale",
                    help="which of (a) memory, (b) exec, (c) throughput, (d) scale to run, "
                         "comma-separated (default: all; (b) brings the pods of (a))")
    return ap.parse_args()


args = parse_args()
build = Path(args.build)
if not build.is_absolute():
    build = (Path.cwd() / build).resolve()
os.environ["CRIO_TEST_BINARY_DIR"] = str(build)
os.environ.setdefault("CRIO_TEST_SOURCE_DIR", str(REPO))
sys.path.insert(0, str(REPO / "tests" / "integration"))

import grpc  # noqa: E402

import containers_harness as ch  # noqa: E402
import crio_harness as h  # noqa: E402
import images_harness as ih  # noqa: E402
import pods_harness as p  # noqa: E402

CLOCK = time.perf_counter_ns
THREADS = 8


def median_p95_ms(samples_ns):
    s = sorted(x / 1e6 for x in samples_ns)
    if not s:
        return float("nan"), float("nan")
    return statistics.median(s), s[min(len(s) - 1, int(len(s) * 0.95))]


def memory(pid):
    """RSS, PSS (KiB) and thread count of one process."""
    out = {"rss": 0, "pss": 0, "threads": 0}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key == "Rss":
                out["rss"] = int(rest.split()[0])
            elif key == "Pss":
                out["pss"] = int(rest.split()[0])
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                out["threads"] = int(line.split()[1])
    return out


def memory_by_file(pid):
    """{mapped file (or [heap], [anon], ...): [rss, pss]} in KiB, from
    /proc/PID/smaps: where the RSS of smaps_rollup lives."""
    out = {}
    name = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            fields = line.split()
            if not fields[0].endswith(":") or "-" in fields[0]:
                # a mapping's header: "start-end perms offset dev inode [path]"
                name = fields[5] if len(fields) > 5 else "[anon]"
                name = os.path.basename(name) if name.startswith("/") else name
                out.setdefault(name, [0, 0])
            elif fields[0] == "Rss:":
                out[name][0] += int(fields[1])
            elif fields[0] == "Pss:":
                out[name][1] += int(fields[1])
    return out


def processes_naming(needle, exe_name=None):
    """pids whose command line contains needle (and whose argv[0] is
    exe_name, if given)."""
    found = []
    needle = needle.encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if exe_name and (not argv or Path(argv[0].decode(errors="replace")).name != exe_name):
            continue
        if any(needle in a for a in argv):
            found.append(int(proc.name))
    return found


# ---- the two runtimes behind one interface ---------------------------------------------

class Runtime:
    """A CRI endpoint with the pod network and cgroup parent it uses."""

    name = "?"

    def __init__(self, client, net, cgroups, image, log_dir):
        self.client = client
        self.net = net
        self.cgroups = cgroups
        self.image = image
        self.log_dir = Path(log_dir)
        self.serial = 0
        self.lock = threading.Lock()
        self.pods = {}  # pod id -> [container ids]

    def next_name(self, prefix):
        with self.lock:
            self.serial += 1
            return f"{prefix}-{self.serial}"

    def pod_config(self, name):
        return p.pod_config(name, uid=f"uid-{name}", namespace="bench",
                            cgroup_parent=self.cgroups.path,
                            log_directory=str(self.log_dir / name))

    def run_pod(self, name):
        cfg = self.pod_config(name)
        pod_id = p.run_pod(self.client, cfg, timeout=120)
        with self.lock:
            self.pods[pod_id] = []
        return pod_id, cfg

    def create(self, pod_id, cfg, name="sleeper"):
        ccfg = ch.container_config(name, self.image, command=["/bin/sleep", "2147483647"])
        cid = ch.create_container(self.client, pod_id, ccfg, cfg, timeout=120)
        with self.lock:
            self.pods[pod_id].append(cid)
        return cid

    def start(self, cid):
        ch.start_container(self.client, cid, timeout=120)

    def stop_container(self, cid):
        ch.stop_container(self.client, cid, timeout_s=0, timeout=120)

    def remove_pod(self, pod_id):
        p.stop_pod(self.client, pod_id, timeout=120)
        p.remove_pod(self.client, pod_id, timeout=120)
        with self.lock:
            self.pods.pop(pod_id, None)

    def lifecycle(self):
        name = self.next_name("life")
        pod_id, cfg = self.run_pod(name)
        cid = self.create(pod_id, cfg)
        self.start(cid)
        self.stop_container(cid)
        self.remove_pod(pod_id)

    def exec_sync(self, cid):
        req = self.client.request("ExecSync", container_id=cid, cmd=["true"], timeout=10)
        resp = self.client.call("ExecSync", req, timeout=30)
        if resp.exit_code != 0:
            raise RuntimeError(f"{self.name}: ExecSync true exited {resp.exit_code}: "
                               f"{resp.stderr!r}")

    def remove_all(self):
        # Containers first, killed at once: busybox sleep as pid 1 ignores
        # SIGTERM, so a graceful stop would wait out its full timeout.
        for pod_id, cids in list(self.pods.items()):
            try:
                for cid in cids:
                    self.stop_container(cid)
                self.remove_pod(pod_id)
            except grpc.RpcError as e:
                print(f"bench: cleanup: {self.name} pod {pod_id}: {e.code()} {e.details()}",
                      file=sys.stderr)


class Ours(Runtime):
    name = "crio"

    def __init__(self, workdir, source, net, cgroups):
        self.env = ch.ContainerEnv(workdir, net, cgroups, source, name="crio")
        self.env.daemon.log_level = "info"
        self.env.start()
        self.env.pull()
        super().__init__(self.env.client, net, cgroups, source.ref, self.env.log_dir)

    @property
    def pid(self):
        return self.env.daemon.pid

    def children(self):
        return []

    def runc_exec_argv(self, cid):
        return ["runc", "--root", str(self.env.runtime_root), "exec", cid, "true"]

    def close(self):
        try:
            self.remove_all()
        finally:
            self.env.cleanup()


CONTAINERD_TOML = """version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
                    "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{socket}"

[ttrpc]
  address = "{socket}.ttrpc"

[debug]
  level = "{log_level}"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{root}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  sandbox_image = "{pause}"
  disable_apparmor = true
  # No CAP_SYS_RESOURCE here: a sandbox's -998 would fail in runc init.
  restrict_oom_score_adj = true

[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = false
  Root = "{runc_root}"

[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "{cni_bin}"
  conf_dir = "{cni_conf}"
  max_conf_num = 1

[plugins."io.containerd.grpc.v1.cri".registry.mirrors."{registry}"]
  endpoint = ["http://{registry}"]
"""


class Containerd(Runtime):
    """Debian's containerd on a socket, root and state of the bench's own."""

    name = "containerd"

    def __init__(self, workdir, source, pause_ref, net, cgroups):
        self.workdir = Path(workdir)
        self.root = self.workdir / "root"
        self.state = self.workdir / "state"
        self.socket = self.workdir / "containerd.sock"
        self.runc_root = self.workdir / "runc"
        cni_conf = self.workdir / "net.d"
        cni_conf.mkdir(parents=True)
        h.write_conflist(cni_conf, net.conflist)
        self.config = self.workdir / "config.toml"
        self.config.write_text(CONTAINERD_TOML.format(
            root=self.root, state=self.state, socket=self.socket, pause=pause_ref,
            runc_root=self.runc_root, cni_bin=h.CNI_PLUGIN_DIR, cni_conf=cni_conf,
            registry=source.registry.host,
            log_level=os.environ.get("BENCH_CONTAINERD_LOG_LEVEL", "warn")))
        self.log_path = self.workdir / "containerd.log"
        # The shims keep their sockets under /run/containerd/s whatever the
        # config says; removed afterwards if the bench made that dir.
        self.run_dir_existed = Path("/run/containerd").exists()
        logf = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(["containerd", "--config", str(self.config)],
                                         stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
        finally:
            logf.close()
        client = self._wait_ready()
        log_dir = self.workdir / "logs"
        log_dir.mkdir()
        super().__init__(client, net, cgroups, source.ref, log_dir)
        ih.pull(client, source.ref, timeout=120)
        ih.pull(client, pause_ref, timeout=120)

    def _wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"containerd exited {self.proc.returncode}: "
                                   f"{self.log_path.read_text(errors='replace')[-3000:]}")
            if self.socket.exists():
                probe = h.CriClient(self.socket)
                try:
                    probe.version(timeout=1.0)
                    return h.CriClient(self.socket)
                except grpc.RpcError as e:
                    last = e
                finally:
                    probe.close()
            time.sleep(0.05)
        raise RuntimeError(f"containerd did not answer Version in {timeout}s ({last}): "
                           f"{self.log_path.read_text(errors='replace')[-3000:]}")

    @property
    def pid(self):
        return self.proc.pid

    def children(self):
        return processes_naming(str(self.socket), "containerd-shim-runc-v2")

    def close(self):
        if os.environ.get("BENCH_KEEP_CONTAINERD_LOG"):
            shutil.copy(self.log_path, os.environ["BENCH_KEEP_CONTAINERD_LOG"])
        try:
            self.remove_all()
        finally:
            self.client.close()
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            # What a failed run may leave: shims of this socket, runc
            # containers under this root, mounts under root and state.
            for pid in self.children():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if self.runc_root.is_dir():
                for d in self.runc_root.rglob("state.json"):
                    subprocess.run(["runc", "--root", str(d.parents[1]), "delete", "--force",
                                    d.parent.name], capture_output=True, check=False)
            for base in (self.state, self.root):
                for m in sorted(set(p.mounts_under(base)), key=lambda x: -len(x)):
                    p.sh("umount", "-l", m, check=False)
            if not self.run_dir_existed:
                shutil.rmtree("/run/containerd", ignore_errors=True)


# ---- the measurements --------------------------------------------------------------------

def fill(rt, n):
    """Brings rt to n pods, each with one running container; returns
    [(pod id, container id)] of the pods it made."""
    made = []
    while len(rt.pods) < n:
        pod_id, cfg = rt.run_pod(rt.next_name("fill"))
        cid = rt.create(pod_id, cfg)
        rt.start(cid)
        made.append((pod_id, cid))
    return made


def throughput(rt, total):
    """total lifecycles on THREADS threads; pods per second."""
    per_thread = [total // THREADS + (1 if i < total % THREADS else 0) for i in range(THREADS)]
    errors = []

    def worker(n):
        try:
            for _ in range(n):
                rt.lifecycle()
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in per_thread]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - t0
    if errors:
        raise errors[0]
    return total / took, took


def _meta_seq(root):
    for line in h.inspect(root, "meta", json_output=False).stdout.splitlines():
        key, _, value = line.partition(" ")
        if key == "log_seq":
            return int(value.strip() or 0)
    return 0


def rfc3339_ns(text):
    """"2026-12-04T17:53:22.952464518Z" -> ns since the epoch."""
    if not text:
        return 0
    whole, _, frac = text.rstrip("Z").partition(".")
    secs = datetime.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    return int(secs) * 1000000000 + int((frac + "000000000")[:9])


def step_profile(root, since):
    """Per transition name, the time each took after the object's previous
    log entry (the step, plus any wait for a worker or for the writer),
    over the log entries after seq `since`: {name: [ms]}."""
    entries = h.inspect(root, "log", "--since", str(since)).json
    last, out = {}, {}
    for e in entries:
        obj, t = e.get("object_id"), rfc3339_ns(e.get("time"))
        if not obj:
            continue
        name = e.get("transition") or e.get("type", "?")
        if obj in last and e.get("type") in ("TRANSITION", "DELETE"):
            out.setdefault(name, []).append((t - last[obj]) / 1e6)
        last[obj] = t
    return out


def exec_figures(targets, calls):
    """targets: [(label, fn)], taking turns call by call; ns samples."""
    for _, fn in targets:
        for _ in range(3):
            fn()
    samples = {label: [] for label, _ in targets}
    for i in range(calls):
        order = targets if i % 2 == 0 else list(reversed(targets))
        for label, fn in order:
            t0 = CLOCK()
            fn()
            samples[label].append(CLOCK() - t0)
    return samples


def raw_stub(channel, method):
    return channel.unary_unary(f"/runtime.v1.RuntimeService/{method}",
                               request_serializer=lambda b: b,
                               response_deserializer=lambda b: b)


def scale_probe(rt, probes, list_calls, focus_pod):
    """Medians (ms) of RunPodSandbox, CreateContainer (each on a pod made
    and removed for it) and of the List calls."""
    api = h.api()
    run_ns, create_ns = [], []
    for _ in range(probes):
        name = rt.next_name("probe")
        cfg = rt.pod_config(name)
        t0 = CLOCK()
        pod_id, _ = rt.run_pod(name)
        run_ns.append(CLOCK() - t0)
        t0 = CLOCK()
        rt.create(pod_id, cfg)
        create_ns.append(CLOCK() - t0)
        rt.remove_pod(pod_id)
    ch_ = rt.client.channel
    lists = {"ListPodSandbox": (raw_stub(ch_, "ListPodSandbox"),
                                api.ListPodSandboxRequest().SerializeToString()),
             "ListContainers": (raw_stub(ch_, "ListContainers"),
                                api.ListContainersRequest().SerializeToString())}
    if focus_pod is not None:
        lists["ListPodSandbox, one id"] = (
            raw_stub(ch_, "ListPodSandbox"),
            api.ListPodSandboxRequest(filter=api.PodSandboxFilter(id=focus_pod))
            .SerializeToString())
        lists["ListContainers, one pod"] = (
            raw_stub(ch_, "ListContainers"),
            api.ListContainersRequest(filter=api.ContainerFilter(pod_sandbox_id=focus_pod))
            .SerializeToString())
    out = {"RunPodSandbox": median_p95_ms(run_ns)[0],
           "CreateContainer": median_p95_ms(create_ns)[0]}
    for label, (stub, req) in lists.items():
        for _ in range(20):
            stub(req, timeout=10)
        s = []
        for _ in range(list_calls):
            t0 = CLOCK()
            stub(req, timeout=10)
            s.append(CLOCK() - t0)
        out[label] = median_p95_ms(s)[0]
    return out


def fmt_mem(m):
    return f"{m['rss'] / 1024:7.1f} {m['pss'] / 1024:7.1f} {m['threads']:4d}"


def main():
    if not h.CRIO_BIN.exists():
        sys.exit(f"bench: {h.CRIO_BIN} not built (make build)")
    use_containerd = not args.no_containerd and shutil.which("containerd") is not None
    if not args.no_containerd and not use_containerd:
        print("bench_node: containerd is not installed (apt-get install containerd); "
              "its column is left empty", file=sys.stderr)
    parts = {x.strip() for x in args.parts.split(",") if x.strip()}
    levels = [int(x) for x in args.scale.split(",") if x.strip()] if "scale" in parts else []
    tmp = Path(tempfile.mkdtemp(prefix="crio-bnode-", dir="/tmp"))
    source = ours = ctrd = None
    nets, cgroups = [], []
    results = {}
    try:
        source = ch.ImageSource()
        # containerd's sandbox image: busybox sleeping (its own pause is
        # not reachable offline).
        pause_img = ih.TestImage(
            [ih.busybox_layer()],
            extra_config={"config": {"Entrypoint": ["/bin/busybox", "sleep", "2147483647"],
                                     "Env": ["PATH=/bin"]}})
        ih.Pusher(source.registry.host).image("bench/pause", "1", pause_img)
        pause_ref = f"{source.registry.host}/bench/pause:1"

        net_ours, cg_ours = p.PodNetwork(tmp / "net-crio"), p.CgroupParent()
        nets.append(net_ours)
        cgroups.append(cg_ours)
        ours = Ours(tmp / "crio", source, net_ours, cg_ours)
        if use_containerd:
            net_c, cg_c = p.PodNetwork(tmp / "net-ctrd"), p.CgroupParent()
            nets.append(net_c)
            cgroups.append(cg_c)
            ctrd = Containerd(tmp / "containerd", source, pause_ref, net_c, cg_c)
        rts = [r for r in (ours, ctrd) if r is not None]

        # Quiet for 4 s: crio trims its heap 1 s after the last call and
        # unloads the pull path's libraries 3 s after the last pull.
        time.sleep(4)
        results["idle"] = {r.name: memory(r.pid) for r in rts}
        if args.libs:
            results["files_idle"] = memory_by_file(ours.pid)

        # (c) on an empty node, each runtime alone; for ours, the steps'
        # times from the state log, one lifecycle at a time and 8 at once.
        for r in rts if "throughput" in parts else ():
            r.lifecycle()  # warm-up
            if r is ours:
                seq0 = _meta_seq(ours.env.root)
                for _ in range(4):
                    ours.lifecycle()
                seq1 = _meta_seq(ours.env.root)
            results.setdefault("throughput", {})[r.name] = throughput(r, args.lifecycles)
            if r is ours:
                results["profile"] = (step_profile(ours.env.root, seq0),
                                      step_profile(ours.env.root, seq1))

        # (d) level 0 before anything runs.
        scale = {}
        if 0 in levels:
            scale[0] = scale_probe(ours, args.probes, args.list_calls, None)

        # (a) N running pods on each.
        running = {}
        for r in rts if parts & {"memory", "exec"} else ():
            running[r.name] = fill(r, args.pods)
        time.sleep(2)
        results["loaded"] = {r.name: memory(r.pid) for r in rts}
        if args.libs:
            results["files_loaded"] = memory_by_file(ours.pid)
        if ctrd is not None and running:
            shims = ctrd.children()
            results["shims"] = (len(shims), sum(memory(s)["rss"] for s in shims),
                                sum(memory(s)["pss"] for s in shims))

        # (b) ExecSync into the first container of each.
        cid = running["crio"][0][1] if "exec" in parts else None
        targets = [("crio ExecSync", lambda: ours.exec_sync(cid)),
                   ("floor: runc exec", lambda: subprocess.run(ours.runc_exec_argv(cid),
                                                               check=True))]
        if ctrd is not None:
            ccid = running["containerd"][0][1]
            targets.append(("containerd ExecSync", lambda: ctrd.exec_sync(ccid)))
        if cid is not None:
            results["exec"] = exec_figures(targets, args.execs)

        if ctrd is not None:
            ctrd.close()
            ctrd = None

        # (d) the other levels, ours only.
        for level in levels:
            if level == 0:
                continue
            fill(ours, level)
            scale[level] = scale_probe(ours, args.probes, args.list_calls,
                                       next(iter(ours.pods)))
        results["scale"] = scale
    finally:
        for r in (ctrd, ours):
            if r is not None:
                try:
                    r.close()
                except Exception as e:  # keep cleaning up
                    print(f"bench: cleanup: {r.name}: {e}", file=sys.stderr)
        if source is not None:
            source.close()
        for n in nets:
            n.cleanup()
        for c in cgroups:
            c.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)

    names = [n for n in ("crio", "containerd") if n in results["idle"]]
    print(f"crio node bench — {args.pods} running pods (pod + one busybox sleep container "
          f"each), runc, cgroupfs, {os.cpu_count()} CPUs; peer: containerd "
          f"{'(not run)' if 'containerd' not in names else ''}")
    print()
    if results.get("loaded") and "memory" in parts:
        print(f"(a) memory                        {'RSS MiB':>7} {'PSS MiB':>7} {'thr':>4}")
        for n in names:
            print(f"    {n + ', idle':<29} {fmt_mem(results['idle'][n])}")
            print(f"    {n + f', {args.pods} pods':<29} {fmt_mem(results['loaded'][n])}")
        if "shims" in results:
            k, rss, pss = results["shims"]
            print(f"    containerd's {k} shims (apart)  {rss / 1024:7.1f} {pss / 1024:7.1f}")
        print("    goal: crio RSS <= 20 MiB and PSS <= 15 MiB with the pods")
        if args.libs:
            idle, loaded = results["files_idle"], results["files_loaded"]
            print(f"    crio by mapped file, KiB          {'RSS idle':>8} {'PSS idle':>8} "
                  f"{'RSS pods':>8} {'PSS pods':>8}")
            for f in sorted(set(idle) | set(loaded),
                            key=lambda k: -max(idle.get(k, [0])[0],
                                               loaded.get(k, [0])[0]))[:args.libs]:
                a, b = idle.get(f, [0, 0]), loaded.get(f, [0, 0])
                print(f"      {f[:32]:<32} {a[0]:8d} {a[1]:8d} {b[0]:8d} {b[1]:8d}")
        print()
    if "exec" in results:
        ex = {k: median_p95_ms(v) for k, v in results["exec"].items()}
        floor = ex["floor: runc exec"][0]
        print(f"(b) ExecSync `true`, {args.execs} calls each, ms   {'median':>7} {'p95':>7} "
              f"{'/floor':>7}")
        for label, (med, p95) in ex.items():
            print(f"    {label:<37} {med:7.2f} {p95:7.2f} {med / floor:6.2f}x")
        print("    goal: crio <= 1.2x the floor and below containerd")
        print()
    if "throughput" in results:
        print(f"(c) {args.lifecycles} lifecycles on {THREADS} threads (run pod, create, start, "
              "stop, stop pod, remove pod)")
        for n in names:
            rate, took = results["throughput"][n]
            print(f"    {n:<12} {rate:6.2f} pods/s  ({took:.1f} s)")
        if "containerd" in names:
            ratio = results["throughput"]["crio"][0] / results["throughput"]["containerd"][0]
            print(f"    crio / containerd {ratio:.2f}x")
        one, eight = results["profile"]
        print("    where crio's time goes: each step from the object's previous log entry, "
              "median ms")
        print(f"      {'step':<34} {'1 at once':>9} {'8 at once':>9}")
        rows = sorted(eight, key=lambda k: -statistics.median(eight[k]))
        for k in rows[:12]:
            a = statistics.median(one[k]) if k in one else float("nan")
            print(f"      {k:<34} {a:9.1f} {statistics.median(eight[k]):9.1f}")
        print()
    if results.get("scale"):
        levels_done = sorted(results["scale"])
        print("(d) scale, crio, median ms        " +
              " ".join(f"{str(lv) + ' pods':>9}" for lv in levels_done))
        keys = []
        for lv in levels_done:
            for k in results["scale"][lv]:
                if k not in keys:
                    keys.append(k)
        for k in keys:
            print(f"    {k:<29} " + " ".join(
                f"{results['scale'][lv].get(k, float('nan')):9.3f}" for lv in levels_done))
        print("    (each pod on the node has one running container; the filtered lists "
              "should not grow)")


if __name__ == "__main__":
    with h.HostSysctlsRestored():
        main()
