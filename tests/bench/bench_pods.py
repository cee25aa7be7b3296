#!/usr/bin/python3
"""Bench: pod sandbox lifecycle latency beside its floor, measured in the
same run on the same machine.  Prints figures; never passes or fails.

    /usr/bin/python3 tests/bench/bench_pods.py --build build     (make bench)

(a) RunPodSandbox for N sequential pods (default 50) on a test-owned bridge
    network (its own bridge, /24 and host-local dir; each pod with its own
    cgroup parent, as the kubelet's pod<uid>), median and p95, beside the
    floor: what no runtime can skip for such a pod — a network namespace
    made the way the daemon makes it (unshare(CLONE_NEWNET) in a throwaway
    thread, bind-mounted onto a file) plus the bare CNI ADD of the same
    conflist into it (the bridge plugin exec'd with the CNI_* environment
    and the network configuration on stdin, as the spec says).  Each pod is
    followed by one floor attachment, so a passing disturbance falls on both.
    The ratio is printed against the goal of 1.2x.
(b) ListPodSandbox with 2N pods present (default 100): median and p95 of
    sequential calls, timed as raw bytes (no Python decoding), beside a
    Version call on the same channel (the transport's own cost), against
    the goal of 0.5 ms.  ListPodSandboxStats is shown for information.
(c) StopPodSandbox + RemovePodSandbox per pod, beside the floor's CNI DEL
    and netns removal.

Everything made here (pods, floor namespaces and attachments, the bridge,
the IPAM dir, the cgroup parent, the daemon and its temp dirs) is removed on
exit, also on failure or Ctrl-C.
"""

import argparse
import ctypes
import json
import os
import secrets
import shutil
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
                    help="sequential pods timed in (a); (b) runs with twice as many "
                         "(default 50)")
    ap.add_argument("--list-calls", type=int, default=500,
                    help="sequential ListPodSandbox calls in (b) (default 500)")
    return ap.parse_args()


args = parse_args()
build = Path(args.build)
if not build.is_absolute():
    build = (Path.cwd() / build).resolve()
os.environ["CRIO_TEST_BINARY_DIR"] = str(build)
os.environ.setdefault("CRIO_TEST_SOURCE_DIR", str(REPO))
sys.path.insert(0, str(REPO / "tests" / "integration"))

import grpc  # noqa: E402

import crio_harness as h  # noqa: E402
import pods_harness as p  # noqa: E402

RUN_GOAL_RATIO = 1.2
LIST_GOAL_MS = 0.5
CLOCK = time.perf_counter_ns


def percentile(sorted_values, q):
    n = len(sorted_values)
    rank = max(1, min(n, int(-(-q * n // 1))))
    return sorted_values[rank - 1]


def summary_ms(samples_ns):
    s = sorted(x / 1e6 for x in samples_ns)
    return {"median": statistics.median(s), "p95": percentile(s, 0.95), "n": len(s)}


# ---- the floor: a pinned netns and a bare CNI ADD/DEL --------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                        ctypes.c_ulong, ctypes.c_void_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MNT_DETACH = 2


def _libc_check(rc, what):
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def netns_create(path):
    """A new network namespace pinned on `path`, made as the daemon makes
    one: unshare in a short-lived thread (only that thread changes
    namespace), bind mount of its nsfs file from there."""
    Path(path).touch()
    failure = []

    def pin():
        try:
            _libc_check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
            _libc_check(_libc.mount(b"/proc/thread-self/ns/net", str(path).encode(), None,
                                    MS_BIND, None), f"bind mount on {path}")
        except OSError as e:
            failure.append(e)

    t = threading.Thread(target=pin)
    t.start()
    t.join()
    if failure:
        raise failure[0]


def netns_remove(path):
    _libc_check(_libc.umount2(str(path).encode(), MNT_DETACH), f"umount {path}")
    os.unlink(path)


class CniFloor:
    """The conflist's plugin chain run by hand, as the CNI spec describes
    it: each plugin exec'd from CNI_PATH with CNI_COMMAND, CNI_CONTAINERID,
    CNI_NETNS, CNI_IFNAME, CNI_ARGS and CNI_PATH set, and its configuration
    (with the list's name and cniVersion, and prevResult after the first)
    on stdin."""

    def __init__(self, conflist, plugin_dir=h.CNI_PLUGIN_DIR):
        self.conflist = conflist
        self.plugin_dir = plugin_dir

    def _config(self, plugin, prev):
        cfg = dict(plugin)
        cfg["name"] = self.conflist["name"]
        cfg["cniVersion"] = self.conflist["cniVersion"]
        if prev is not None:
            cfg["prevResult"] = prev
        return json.dumps(cfg).encode()

    def _exec(self, command, plugin, container_id, netns, prev):
        env = {"CNI_COMMAND": command, "CNI_CONTAINERID": container_id,
               "CNI_NETNS": str(netns), "CNI_IFNAME": "eth0", "CNI_PATH": self.plugin_dir,
               "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME={container_id}",
               "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
        r = subprocess.run([os.path.join(self.plugin_dir, plugin["type"])],
                           input=self._config(plugin, prev), env=env,
                           capture_output=True, check=False)
        if r.returncode != 0:
            raise RuntimeError(f"CNI {command} {plugin['type']} exited {r.returncode}: "
                               f"{r.stdout.decode(errors='replace')} "
                               f"{r.stderr.decode(errors='replace')}")
        return json.loads(r.stdout) if r.stdout.strip() else None

    def add(self, container_id, netns):
        result = None
        for plugin in self.conflist["plugins"]:
            result = self._exec("ADD", plugin, container_id, netns, result)
        return result

    def delete(self, container_id, netns, result):
        # DEL runs the chain in reverse with the cached ADD result.
        for plugin in reversed(self.conflist["plugins"]):
            self._exec("DEL", plugin, container_id, netns, result)


class FloorPod:
    def __init__(self, netns_dir, cni, index):
        self.cni = cni
        self.id = f"floor{index}-{secrets.token_hex(4)}"
        self.netns = netns_dir / self.id
        self.result = None
        self.pinned = False

    def create(self):
        """Returns (netns ns, ADD ns)."""
        t0 = CLOCK()
        netns_create(self.netns)
        self.pinned = True
        t1 = CLOCK()
        self.result = self.cni.add(self.id, self.netns)
        return t1 - t0, CLOCK() - t1

    def destroy(self):
        """Returns (DEL ns, netns removal ns)."""
        t0 = CLOCK()
        if self.result is not None:
            self.cni.delete(self.id, self.netns, self.result)
            self.result = None
        t1 = CLOCK()
        if self.pinned:
            netns_remove(self.netns)
            self.pinned = False
        return t1 - t0, CLOCK() - t1


# ---- the daemon side ----------------------------------------------------------------

class Pods:
    def __init__(self, client, cgroups):
        self.client = client
        self.cgroups = cgroups
        self.ids = []
        self.serial = 0

    def run(self):
        """Runs one pod; returns the call's duration in ns."""
        self.serial += 1
        cfg = p.pod_config(f"bench-{self.serial}", namespace="bench",
                           cgroup_parent=f"{self.cgroups.path}/pod{self.serial}",
                           labels={"bench": "pods"})
        req = self.client.request("RunPodSandbox", config=cfg)
        t0 = CLOCK()
        pod_id = self.client.call("RunPodSandbox", req, timeout=60).pod_sandbox_id
        took = CLOCK() - t0
        self.ids.append(pod_id)
        return took

    def stop_remove(self, pod_id):
        stop = self.client.request("StopPodSandbox", pod_sandbox_id=pod_id)
        remove = self.client.request("RemovePodSandbox", pod_sandbox_id=pod_id)
        t0 = CLOCK()
        self.client.call("StopPodSandbox", stop, timeout=60)
        self.client.call("RemovePodSandbox", remove, timeout=60)
        took = CLOCK() - t0
        self.ids.remove(pod_id)
        return took

    def remove_all(self):
        for pod_id in list(self.ids):
            try:
                self.stop_remove(pod_id)
            except grpc.RpcError as e:
                print(f"bench: cleanup: pod {pod_id}: {e.code()} {e.details()}",
                      file=sys.stderr)


def raw_stub(channel, method):
    return channel.unary_unary(f"/runtime.v1.RuntimeService/{method}",
                               request_serializer=lambda b: b,
                               response_deserializer=lambda b: b)


def time_calls(stub, payload, calls):
    samples = []
    for _ in range(calls):
        t0 = CLOCK()
        stub(payload, timeout=10)
        samples.append(CLOCK() - t0)
    return samples


def measure_lists(socket_path, n_pods, calls):
    """ListPodSandbox, Version and ListPodSandboxStats as raw bytes on one
    channel, taking turns in rounds."""
    api = h.api()
    channel = grpc.insecure_channel(f"unix://{socket_path}")
    try:
        list_stub = raw_stub(channel, "ListPodSandbox")
        version_stub = raw_stub(channel, "Version")
        stats_stub = raw_stub(channel, "ListPodSandboxStats")
        list_req = api.ListPodSandboxRequest().SerializeToString()
        version_req = api.VersionRequest(version="v1").SerializeToString()
        stats_req = api.ListPodSandboxStatsRequest().SerializeToString()
        seen = len(api.ListPodSandboxResponse.FromString(list_stub(list_req, timeout=10)).items)
        if seen != n_pods:
            raise RuntimeError(f"expected {n_pods} pods listed, saw {seen}")
        body = len(list_stub(list_req, timeout=10))
        for stub, req in ((list_stub, list_req), (version_stub, version_req)):
            time_calls(stub, req, 50)  # warm-up
        lists, versions, stats = [], [], []
        rounds = 10
        for i in range(rounds):
            lists += time_calls(list_stub, list_req, calls // rounds)
            versions += time_calls(version_stub, version_req, calls // rounds)
            stats += time_calls(stats_stub, stats_req, max(1, calls // rounds // 10))
        return summary_ms(lists), summary_ms(versions), summary_ms(stats), body
    finally:
        channel.close()


# ---- cleanup of what a failed run may leave -------------------------------------------

def leftovers(daemon, net, cgroups):
    """What the daemon left after every pod was removed.  The per-pod
    cgroup parents are the kubelet's (here the bench's) to remove; only the
    sandbox cgroups (crio-<id>) inside them are the daemon's."""
    found = [x for x in p.leaks(daemon, net, cgroups) if not x.startswith("pod cgroups")]
    sandbox = [str(c) for d in cgroups.dirs() for c in d.glob("*/crio-*")]
    if sandbox:
        found.append(f"{len(sandbox)} sandbox cgroups (e.g. {sandbox[0]})")
    return found


def unmount_under(path):
    for mount_point in sorted(p.mounts_under(path), key=len, reverse=True):
        _libc.umount2(mount_point.encode(), MNT_DETACH)


def main():
    if not h.CRIO_BIN.exists():
        sys.exit(f"bench: {h.CRIO_BIN} not built (make build)")
    n = args.pods
    tmp = Path(tempfile.mkdtemp(prefix="crio-bpod-", dir="/tmp"))
    net = p.PodNetwork(tmp)
    cgroups = p.CgroupParent()
    # The run dir on tmpfs, as /run is on a production node (here /run is
    # not a tmpfs; /dev/shm is): pins and pod files cost what they cost there.
    run_tmp = Path(tempfile.mkdtemp(prefix="crio-bpod-run-", dir="/dev/shm"))
    netns_dir = run_tmp / "floor-netns"
    netns_dir.mkdir()
    cni = CniFloor(net.conflist)
    floors = []
    daemon = None
    pods = None
    leaks = []
    try:
        # Log level info: the bench measures the work, not debug logging.
        daemon = h.Daemon(tmp, name="crio", cni=net.conflist, log_level="info",
                          runroot=run_tmp / "run",
                          extra_args=["--cgroup-manager", "cgroupfs"])
        daemon.start()
        pods = Pods(daemon.client, cgroups)

        # Warm-up, not counted: the first exec of each plugin and the first
        # pod pay for cold page cache and the bridge's creation.
        pods.run()
        pods.stop_remove(pods.ids[0])
        warm = FloorPod(netns_dir, cni, "w")
        floors.append(warm)
        warm.create()
        warm.destroy()
        floors.remove(warm)

        t_start = time.monotonic()
        run_ns, floor_netns_ns, floor_add_ns = [], [], []
        for i in range(n):
            run_ns.append(pods.run())
            f = FloorPod(netns_dir, cni, i)
            floors.append(f)
            a, b = f.create()
            floor_netns_ns.append(a)
            floor_add_ns.append(b)
        for _ in range(n):
            pods.run()
        t_created = time.monotonic()

        list_lat, version_lat, stats_lat, list_bytes = measure_lists(
            daemon.socket, len(pods.ids), args.list_calls)

        stop_ns, floor_del_ns, floor_unpin_ns = [], [], []
        for i, pod_id in enumerate(list(pods.ids)):
            stop_ns.append(pods.stop_remove(pod_id))
            if i < len(floors):
                a, b = floors[i].destroy()
                floor_del_ns.append(a)
                floor_unpin_ns.append(b)
        floors = []
        t_end = time.monotonic()

        leaks = leftovers(daemon, net, cgroups)
        rc, _took, killed = daemon.stop()
        if killed or rc != 0:
            print(f"bench: warning: the daemon exited {rc} after SIGTERM"
                  f"{' (SIGKILLed)' if killed else ''}", file=sys.stderr)
    finally:
        if pods is not None and daemon is not None and daemon.running():
            pods.remove_all()
        for f in floors:
            try:
                f.destroy()
            except Exception as e:  # keep cleaning up
                print(f"bench: cleanup: floor {f.id}: {e}", file=sys.stderr)
        if daemon is not None:
            daemon.kill()
            unmount_under(daemon.runroot)
        unmount_under(netns_dir)
        net.cleanup()
        cgroups.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(run_tmp, ignore_errors=True)

    run = summary_ms(run_ns)
    floor_total = summary_ms([a + b for a, b in zip(floor_netns_ns, floor_add_ns)])
    floor_netns = summary_ms(floor_netns_ns)
    floor_add = summary_ms(floor_add_ns)
    stop = summary_ms(stop_ns)
    floor_teardown = summary_ms([a + b for a, b in zip(floor_del_ns, floor_unpin_ns)])
    ratio = run["median"] / floor_total["median"]

    print(f"crio pod bench — {n} sequential pods timed ({2 * n} present for the lists), "
          f"bridge plugin on a test-owned /24, cgroupfs, {os.cpu_count()} CPUs; "
          f"create {t_created - t_start:.1f} s, lists + teardown {t_end - t_created:.1f} s")
    print()
    print(f"(a) create, ms                             {'median':>8} {'p95':>8}")
    print(f"    RunPodSandbox                          {run['median']:8.2f} {run['p95']:8.2f}")
    print(f"    floor: netns + bare CNI ADD            {floor_total['median']:8.2f} "
          f"{floor_total['p95']:8.2f}")
    print(f"      netns (unshare in a thread + bind)   {floor_netns['median']:8.2f} "
          f"{floor_netns['p95']:8.2f}")
    print(f"      CNI ADD (bridge + host-local)        {floor_add['median']:8.2f} "
          f"{floor_add['p95']:8.2f}")
    print(f"    RunPodSandbox median / floor median    {ratio:8.2f}x   "
          f"(goal {RUN_GOAL_RATIO}x: {'met' if ratio <= RUN_GOAL_RATIO else 'not met'})")
    print()
    print(f"(b) lists with {2 * n} pods, ms (raw bytes)     {'median':>8} {'p95':>8}")
    print(f"    ListPodSandbox ({list_bytes} B reply)      {list_lat['median']:8.3f} "
          f"{list_lat['p95']:8.3f}   (goal {LIST_GOAL_MS} ms: "
          f"{'met' if list_lat['median'] <= LIST_GOAL_MS else 'not met'})")
    print(f"    Version on the same channel            {version_lat['median']:8.3f} "
          f"{version_lat['p95']:8.3f}")
    print(f"    ListPodSandboxStats (information)      {stats_lat['median']:8.3f} "
          f"{stats_lat['p95']:8.3f}   ({stats_lat['n']} calls)")
    print()
    print(f"(c) teardown, ms                           {'median':>8} {'p95':>8}")
    print(f"    StopPodSandbox + RemovePodSandbox      {stop['median']:8.2f} {stop['p95']:8.2f}")
    print(f"    floor: bare CNI DEL + netns removal    {floor_teardown['median']:8.2f} "
          f"{floor_teardown['p95']:8.2f}")
    print()
    print("The floor pins only the network namespace and runs only CNI; a pod also "
          "pins IPC and UTS namespaces, writes resolv.conf/hostname/hosts, makes its "
          "cgroup and commits each step to the store.")
    sys.stdout.flush()
    if leaks:
        print(f"bench: warning: after removing every pod the daemon left: {'; '.join(leaks)}",
              file=sys.stderr)


if __name__ == "__main__":
    with h.HostSysctlsRestored():
        main()
