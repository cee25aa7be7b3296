#!/usr/bin/python3
"""Bench: ListContainerStats and ListPodSandboxStats with 50 and with 250
running pods (one running container each, every pod in a cgroup parent of
its own as the kubelet's pod<uid>, on a bridge network of the bench's own).
Prints figures; never passes or fails.

    /usr/bin/python3 tests/bench/bench_stats.py --build build     (make bench)

Calls are sequential on one channel, timed as raw bytes (no Python
decoding), each RPC's calls in a block of their own; the reply is checked
once to hold one entry per pod (container).  The goals (issue 12): under 2
ms with 50 pods, under 10 ms with 250.

The floor (stats_floor.c, built now with gcc): the cgroup files a call
must read for CPU and memory (and, for a pod, its limit and process
count), each opened once and read with pread, without the daemon; the pod
network counters are not in it.  What the daemon adds to that is parsing,
the store, the messages and the RPC.

--compare BUILD runs the very same scenario, in the same run, against the
daemon of another build (for instance one from before a change), and
prints the two side by side.

Everything made here (pods, containers, the registry, the bridge, the IPAM
dir, the cgroup parents, the daemons and their temp dirs) is removed on
exit, also on failure or Ctrl-C.
"""

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=str(REPO / "build"),
                    help="CMake build dir holding daemon/crio (default: build)")
    ap.add_argument("--compare", default=None,
                    help="another build dir whose daemon runs the same scenario")
    ap.add_argument("--pods", default="50,250",
                    help="pod counts to measure at, ascending (default 50,250)")
    ap.add_argument("--calls", type=int, default=40,
                    help="calls of each RPC per pod count (default 40)")
    ap.add_argument("--profile", default=None, metavar="DIR",
                    help="record each measurement with `perf record -g` into "
                         "DIR/perf-<daemon>-<pods>-<rpc>.data")
    return ap.parse_args()


args = parse_args()


def absolute(path):
    path = Path(path)
    return path if path.is_absolute() else (Path.cwd() / path).resolve()


build = absolute(args.build)
os.environ["CRIO_TEST_BINARY_DIR"] = str(build)
os.environ.setdefault("CRIO_TEST_SOURCE_DIR", str(REPO))
sys.path.insert(0, str(REPO / "tests" / "integration"))

import grpc  # noqa: E402

import containers_harness as ch  # noqa: E402
import crio_harness as h  # noqa: E402
import pods_harness as p  # noqa: E402

GOALS_MS = {50: 2.0, 250: 10.0}
# A light sleeper: one process per container, as a pod's idle container is
# (a shell loop would fork a sleep every second in each of 250 containers).
SLEEPER = ["/bin/sleep", "2147483647"]
CLOCK = time.perf_counter_ns


def percentile(sorted_values, q):
    n = len(sorted_values)
    rank = max(1, min(n, int(-(-q * n // 1))))
    return sorted_values[rank - 1]


def summary_ms(samples_ns):
    s = sorted(x / 1e6 for x in samples_ns)
    return {"median": statistics.median(s), "p95": percentile(s, 0.95), "n": len(s)}


def raw_stub(channel, method):
    return channel.unary_unary(f"/runtime.v1.RuntimeService/{method}",
                               request_serializer=lambda b: b,
                               response_deserializer=lambda b: b)


V2 = not Path("/sys/fs/cgroup/memory").is_dir() and Path("/sys/fs/cgroup/cgroup.controllers").exists()


def cgroup_files(path, pod):
    """The files the sampler reads of one cgroup per call."""
    if V2:
        names = ["cpu.stat", "memory.current", "memory.stat"]
        names += ["memory.max", "pids.current"] if pod else []
        return [f"/sys/fs/cgroup{path}/{n}" for n in names]
    files = [f"/sys/fs/cgroup/cpuacct{path}/cpuacct.usage",
             f"/sys/fs/cgroup/memory{path}/memory.usage_in_bytes",
             f"/sys/fs/cgroup/memory{path}/memory.stat"]
    if pod:
        files += [f"/sys/fs/cgroup/memory{path}/memory.limit_in_bytes",
                  f"/sys/fs/cgroup/pids{path}/pids.current"]
    return files


def floor_ms(binary, files, rounds):
    out = subprocess.run([str(binary), str(rounds)], input="\n".join(files), text=True,
                         capture_output=True, check=True).stdout.split()
    return float(out[1]) / 1e3


def cpu_ns(pid):
    """CPU time of every thread of `pid` so far (schedstat: ns on a CPU)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that ended meanwhile
    return total


class Node:
    """One daemon (of `crio_bin`'s build) with its pods and containers."""

    def __init__(self, label, crio_bin, source, net, cgroups):
        self.label = label
        self.workdir = h.new_workdir()
        self.env = ch.ContainerEnv(self.workdir, net, cgroups, source, name=label)
        self.env.daemon.log_level = "info"
        self.crio_bin = crio_bin
        self.n = 0
        self.container_cgroups = []  # cgroupfs paths, as the runtime made them
        self.pod_cgroups = []

    def start(self):
        saved = h.CRIO_BIN
        h.CRIO_BIN = self.crio_bin
        try:
            self.env.start()
        finally:
            h.CRIO_BIN = saved
        self.env.pull()

    def grow(self, count):
        while self.n < count:
            name = f"s{self.n}"
            cfg = self.env.pod_config(name, uid=f"uid-{self.label}-{self.n}",
                                      cgroup_parent=f"{self.env.cgroups.path}/pod{self.label}{self.n}")
            pod_id = p.run_pod(self.env.client, cfg)
            cid = ch.run_container(self.env, pod_id, cfg,
                                   ch.container_config("idle", self.env.image, command=SLEEPER))
            self.container_cgroups.append(ch.info(self.env.client, cid)["cgroupsPath"])
            self.pod_cgroups.append(cfg.linux.cgroup_parent)
            self.n += 1

    def floors(self, binary, calls):
        ctr = [f for c in self.container_cgroups for f in cgroup_files(c, False)]
        pod = ctr + [f for c in self.pod_cgroups for f in cgroup_files(c, True)]
        return {"ListContainerStats": floor_ms(binary, ctr, calls),
                "ListPodSandboxStats": floor_ms(binary, pod, calls)}

    def measure(self, calls, profile_dir=None):
        api = h.api()
        channel = grpc.insecure_channel(f"unix://{self.env.daemon.socket}")
        try:
            rpcs = {
                "ListContainerStats": (raw_stub(channel, "ListContainerStats"),
                                       api.ListContainerStatsRequest().SerializeToString(),
                                       api.ListContainerStatsResponse),
                "ListPodSandboxStats": (raw_stub(channel, "ListPodSandboxStats"),
                                        api.ListPodSandboxStatsRequest().SerializeToString(),
                                        api.ListPodSandboxStatsResponse),
            }
            for name, (stub, req, resp) in rpcs.items():
                seen = len(resp.FromString(stub(req, timeout=30)).stats)
                if seen != self.n:
                    raise RuntimeError(f"{self.label}: {name}: expected {self.n} entries, saw {seen}")
                for _ in range(3):  # warm-up
                    stub(req, timeout=30)
            # Each RPC's calls in a block of their own, so the daemon's CPU
            # time over the block is that RPC's: on a shared machine the
            # wall time also holds the waits for a CPU.
            pid = self.env.daemon.pid
            out = {}
            for name, (stub, req, _resp) in rpcs.items():
                perf = None
                if profile_dir:
                    perf = subprocess.Popen(
                        ["perf", "record", "-q", "--call-graph", "dwarf,16384", "-F", "1000", "-p", str(pid), "-o",
                         f"{profile_dir}/perf-{self.label}-{self.n}-{name}.data"],
                        stdout=subprocess.DEVNULL)
                    time.sleep(0.5)  # perf attaches
                samples = []
                cpu0 = cpu_ns(pid)
                for _ in range(calls):
                    t0 = CLOCK()
                    stub(req, timeout=30)
                    samples.append(CLOCK() - t0)
                out[name] = summary_ms(samples)
                out[name]["cpu"] = (cpu_ns(pid) - cpu0) / calls / 1e6
                if perf is not None:
                    perf.send_signal(signal.SIGINT)
                    perf.wait()
            return out
        finally:
            channel.close()

    def close(self):
        try:
            self.env.cleanup()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)


def main():
    counts = [int(x) for x in args.pods.split(",")]
    targets = [("ours", build / "daemon" / "crio")]
    if args.compare:
        targets.append(("compare", absolute(args.compare) / "daemon" / "crio"))
    for _label, binary in targets:
        if not binary.exists():
            sys.exit(f"bench: {binary} not built")
    tmp = h.new_workdir()
    floor_bin = Path(tmp) / "stats_floor"
    subprocess.run(["gcc", "-O2", "-o", str(floor_bin), str(HERE / "stats_floor.c")], check=True)
    source = ch.ImageSource()
    net = p.PodNetwork(tmp)
    cgroups = p.CgroupParent()
    results = {}
    nodes = []
    t_start = time.monotonic()
    try:
        # One daemon at a time: both would share the /24 and the CPUs.
        for label, binary in targets:
            node = Node(label, binary, source, net, cgroups)
            nodes.append(node)
            node.start()
            for count in counts:
                node.grow(count)
                # The floor right after each daemon's calls, on its own pods:
                # on a shared machine the two daemons' turns see different
                # loads, and each ratio is to the floor of its own turn.
                results[(label, count)] = node.measure(args.calls, args.profile)
                results[(label, "floor", count)] = node.floors(floor_bin, args.calls)
            node.close()
            nodes.remove(node)
    finally:
        for node in nodes:
            try:
                node.close()
            except Exception as e:  # keep cleaning up
                print(f"bench: cleanup of {node.label}: {e}", file=sys.stderr)
        net.cleanup()
        cgroups.cleanup()
        source.close()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"crio stats bench — running pods with one running container each, cgroupfs, "
          f"{os.cpu_count()} CPUs, {args.calls} calls of each RPC per point; "
          f"{time.monotonic() - t_start:.0f} s")
    print(f"  daemon: {build}" + (f"; compare: {absolute(args.compare)}" if args.compare else ""))
    print("  (the writable layer is walked at most every 10 s per container; CPU and memory "
          "are read on every call;")
    print("   floor: the same cgroup files read with pread by stats_floor.c, no daemon, no "
          "netlink)")
    print()
    header = f"  {'ms: wall median / p95, daemon CPU':34}"
    for label, _ in targets:
        header += f" {label:>27} {'floor':>6} {'/floor':>6}"
    print(header + "   goal")
    for count in counts:
        for rpc in ("ListContainerStats", "ListPodSandboxStats"):
            line = f"  {rpc + f' with {count} pods':34}"
            for label, _ in targets:
                r = results[(label, count)][rpc]
                floor = results[(label, "floor", count)][rpc]
                line += (f" {r['median']:7.2f} / {r['p95']:7.2f}, {r['cpu']:6.2f}"
                         f" {floor:6.2f} {r['median'] / floor:5.1f}x")
            goal = GOALS_MS.get(count)
            if goal is not None:
                ours = results[("ours", count)][rpc]["median"]
                line += f"   < {goal:g} ms: {'met' if ours < goal else 'not met'}"
            print(line)


if __name__ == "__main__":
    main()
