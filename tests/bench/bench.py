#!/usr/bin/python3
"""Bench: the daemon's CRI call latency and idle memory, each beside a floor
measured in the same run on the same machine.

    /usr/bin/python3 tests/bench/bench.py --build build      (make bench)

(a) Latency of Version over N sequential calls from one client channel
    (median, p95, p99 in µs), beside two floors driven by the very same
    client code (same channel type, same (de)serializers, same method path):
      - C-core floor: grpc_floor.c, a gRPC C-core server that answers every
        call with the same canned VersionResponse bytes, on one thread, no
        decoding, no handler.  It is the fairer floor: same gRPC library
        and language as the daemon, so the difference is what the daemon
        itself adds (dispatch, decode, handler threads, encode).
      - Python floor: a grpc.server with a generic handler on a unix socket
        in this same process.  Shown because it was asked for; it shares
        the GIL with the client, so it is usually *slower* than the daemon
        and only bounds the client's own cost from above.
    The targets take turns in rounds (crio, C floor, Python floor, then
    the reverse order, ...), so a passing disturbance of the machine falls
    on all of them alike.
(b) VmRSS of the daemon after start and after the N calls, beside the
    C-core floor's (a program that links only libgrpc, calls grpc_init and
    serves a unix socket), measured at the same two points.

Everything started here (daemon, floor server, temp dirs) is stopped and
removed on exit, also on failure or Ctrl-C.
"""

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent import futures
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=str(REPO / "build"),
                    help="CMake build dir holding daemon/crio (default: build)")
    ap.add_argument("--calls", type=int, default=2000,
                    help="sequential calls per measurement (default 2000)")
    ap.add_argument("--warmup", type=int, default=200,
                    help="calls before each measurement, not counted (default 200)")
    ap.add_argument("--rounds", type=int, default=8,
                    help="slices the calls are measured in, targets taking turns "
                         "(default 8)")
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

VERSION_PATH = "/runtime.v1.RuntimeService/Version"


def vm_rss_kib(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "Threads"):
                fields[key] = int(rest.split()[0])
    return fields


def percentile(sorted_values, q):
    # Nearest rank: the smallest value with at least q of the sample at or
    # below it.
    n = len(sorted_values)
    rank = max(1, min(n, int(-(-q * n // 1))))
    return sorted_values[rank - 1]


class LatencyProbe:
    """Sequential Version calls on one channel, timed one by one."""

    def __init__(self, socket_path, warmup):
        api = h.api()
        self.channel = grpc.insecure_channel(f"unix://{socket_path}")
        self.stub = self.channel.unary_unary(
            VERSION_PATH, request_serializer=api.VersionRequest.SerializeToString,
            response_deserializer=api.VersionResponse.FromString)
        self.request = api.VersionRequest(version="v1")
        self.samples = []
        for _ in range(warmup):
            self.stub(self.request, timeout=10)

    def run(self, calls):
        clock = time.perf_counter_ns
        stub, request, samples = self.stub, self.request, self.samples
        for _ in range(calls):
            t0 = clock()
            resp = stub(request, timeout=10)
            samples.append((clock() - t0) / 1000.0)
        if resp.runtime_api_version != "v1":
            raise RuntimeError(f"unexpected Version response: {resp}")

    def close(self):
        self.channel.close()

    def summary(self):
        s = sorted(self.samples)
        return {"median": statistics.median(s), "p95": percentile(s, 0.95),
                "p99": percentile(s, 0.99), "n": len(s)}


def measure_interleaved(probes, calls, rounds):
    """`calls` per probe, in `rounds` slices taken in turn, so that a
    passing disturbance of the machine falls on every target alike."""
    per_round = [calls // rounds + (1 if i < calls % rounds else 0)
                 for i in range(rounds)]
    for i, n in enumerate(per_round):
        order = probes if i % 2 == 0 else list(reversed(probes))
        for probe in order:
            probe.run(n)
    return [p.summary() for p in probes]


def canned_version_response():
    api = h.api()
    return api.VersionResponse(version="0.1.0", runtime_name="crio",
                               runtime_version="0.1.0",
                               runtime_api_version="v1").SerializeToString()


class PythonFloor:
    """A grpc.server in this process answering every method with canned
    bytes."""

    def __init__(self, socket_path, payload):
        class Handler(grpc.GenericRpcHandler):
            def service(self, details):
                return grpc.unary_unary_rpc_method_handler(lambda req, ctx: payload)

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.server.add_generic_rpc_handlers((Handler(),))
        if self.server.add_insecure_port(f"unix:{socket_path}") == 0:
            raise RuntimeError(f"cannot listen on {socket_path}")
        self.server.start()

    def stop(self):
        self.server.stop(grace=None).wait(5)


class CFloor:
    """grpc_floor.c, built now against pkg-config grpc, run as a child."""

    def __init__(self, tmp, socket_path, payload):
        self.binary = tmp / "grpc_floor"
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "grpc"],
                               capture_output=True, text=True, check=True).stdout.split()
        subprocess.run(["gcc", "-O2", "-o", str(self.binary), str(HERE / "grpc_floor.c"),
                        *flags], check=True)
        self.proc = subprocess.Popen([str(self.binary), str(socket_path), payload.hex()],
                                     stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        line = self.proc.stdout.readline()
        if line.strip() != b"ready":
            raise RuntimeError(f"grpc_floor did not start (said {line!r})")
        self.pid = self.proc.pid

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


def settle():
    # Let a just-started server finish its lazy start-up work (gRPC spawns
    # its executor threads on first use) before its RSS is read.
    time.sleep(0.5)


def main():
    if not h.CRIO_BIN.exists():
        sys.exit(f"bench: {h.CRIO_BIN} not built (make build)")
    tmp = Path(tempfile.mkdtemp(prefix="crio-bench-", dir="/tmp"))
    daemon = None
    bare = None
    cfloor = None
    pyfloor = None
    try:
        payload = canned_version_response()

        # The daemon, as the integration fixture starts it (log level info:
        # the bench measures serving, not debug logging).
        daemon = h.Daemon(tmp, name="crio", log_level="info")
        daemon.start()
        daemon.client.close()
        daemon.client = None
        # The same daemon with gRPC binding the socket itself, without the
        # HTTP/1.1 status endpoint's listener in front (what sharing costs).
        bare = h.Daemon(tmp, name="crio-grpc-only", log_level="info",
                        env={"CRIO_STATUS_ENDPOINT": "0"})
        bare.start()
        bare.client.close()
        bare.client = None
        cfloor = CFloor(tmp, tmp / "floor.sock", payload)
        pyfloor = PythonFloor(tmp / "pyfloor.sock", payload)
        settle()
        crio_rss_start = vm_rss_kib(daemon.pid)
        floor_rss_start = vm_rss_kib(cfloor.pid)

        probes = [LatencyProbe(daemon.socket, args.warmup),
                  LatencyProbe(tmp / "floor.sock", args.warmup),
                  LatencyProbe(tmp / "pyfloor.sock", args.warmup),
                  LatencyProbe(bare.socket, args.warmup)]
        try:
            crio_lat, floor_lat, py_lat, bare_lat = measure_interleaved(
                probes, args.calls, max(1, args.rounds))
        finally:
            for p in probes:
                p.close()
        connect_lat = {}
        for name, sock in (("crio", daemon.socket), ("crio-grpc-only", bare.socket)):
            samples = []
            for _ in range(100):
                t0 = time.perf_counter_ns()
                probe = LatencyProbe(sock, 1)
                samples.append((time.perf_counter_ns() - t0) / 1000.0)
                probe.close()
            samples.sort()
            connect_lat[name] = statistics.median(samples)
        bare.stop()
        crio_rss_after = vm_rss_kib(daemon.pid)
        floor_rss_after = vm_rss_kib(cfloor.pid)

        rc, took, killed = daemon.stop()
        if killed or rc != 0:
            print(f"bench: warning: the daemon exited {rc} after SIGTERM"
                  f"{' (SIGKILLed)' if killed else ''}; its log:\n{daemon.log()}",
                  file=sys.stderr)
    finally:
        for stopper in (pyfloor, cfloor):
            if stopper is not None:
                try:
                    stopper.stop()
                except Exception as e:  # keep cleaning up
                    print(f"bench: cleanup: {e}", file=sys.stderr)
        if daemon is not None:
            daemon.kill()
        if bare is not None:
            bare.kill()
        shutil.rmtree(tmp, ignore_errors=True)

    n = args.calls
    print(f"crio bench — {n} sequential Version calls per target on one channel "
          f"over a unix socket ({args.warmup} warm-up calls first; targets take "
          f"turns in {args.rounds} rounds), {os.cpu_count()} CPUs")
    print()
    print(f"(a) latency per call, µs        {'median':>9} {'p95':>9} {'p99':>9}")
    rows = [("crio", crio_lat),
            ("crio, no HTTP listener", bare_lat),
            ("floor: C-core canned reply", floor_lat),
            ("floor: Python server in-proc", py_lat)]
    for name, lat in rows:
        print(f"    {name:<28} {lat['median']:9.1f} {lat['p95']:9.1f} {lat['p99']:9.1f}")
    print(f"    crio minus C-core floor      {crio_lat['median'] - floor_lat['median']:9.1f} "
          f"{crio_lat['p95'] - floor_lat['p95']:9.1f} {crio_lat['p99'] - floor_lat['p99']:9.1f}")
    print(f"    crio minus no-HTTP crio      {crio_lat['median'] - bare_lat['median']:9.1f} "
          f"{crio_lat['p95'] - bare_lat['p95']:9.1f} {crio_lat['p99'] - bare_lat['p99']:9.1f}"
          f"   (ratio of medians {crio_lat['median'] / bare_lat['median']:.3f})")
    print(f"    new channel + first Version, median of 100: crio {connect_lat['crio']:.1f} µs, "
          f"no-HTTP crio {connect_lat['crio-grpc-only']:.1f} µs (the first-bytes peek)")
    print()
    print(f"(b) memory, VmRSS KiB           {'idle':>9} {'after ' + str(n):>11}"
          f"   (anon/file after)")
    for name, start, after in (("crio", crio_rss_start, crio_rss_after),
                               ("floor: grpc_init + server", floor_rss_start,
                                floor_rss_after)):
        print(f"    {name:<28} {start['VmRSS']:9d} {after['VmRSS']:11d}"
              f"   ({after.get('RssAnon', 0)}/{after.get('RssFile', 0)}, "
              f"{after.get('Threads', 0)} threads)")
    print(f"    crio minus floor             {crio_rss_start['VmRSS'] - floor_rss_start['VmRSS']:9d} "
          f"{crio_rss_after['VmRSS'] - floor_rss_after['VmRSS']:11d}")
    print()
    print("Floors: the C-core floor is tests/bench/grpc_floor.c (libgrpc only, one "
          "completion-queue thread, every call answered with canned VersionResponse "
          "bytes); the Python floor runs in the client's process and shares its GIL.")


if __name__ == "__main__":
    main()
