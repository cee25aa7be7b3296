#!/usr/bin/python3
"""Bench: the streaming server (Exec, PortForward) beside its floors,
measured in the same run on the same machine.  Prints figures; never passes
or fails.

    /usr/bin/python3 tests/bench/bench_streaming.py --build build    (make bench)

(a) Exec round trip of `true`: the Exec call, the SPDY upgrade, the streams,
    the command through runc, the exit status back (median and p95 over N),
    beside the floor: ExecSync of the same command (the same runtime path,
    no streaming server).
(b) 100 MB through exec stdout (`head -c` of /dev/zero), MB/s, beside the
    floor: `runc exec` of the same command run by this script, its stdout
    read from a pipe.
(c) Port-forward throughput: 100 MB sent by a server in the pod (busybox nc
    running `head -c`) through one forwarded connection, MB/s, beside the
    floor: the same server read directly over TCP.

The pod is in the host's network namespace: the figures are the streaming
server's, not a bridge's, and the bench touches no network configuration
of the host (no bridge, no sysctl).

Client side: tests/integration/streaming_client.py (Python; the client's own
cost is in every figure, floors included where it reads the bytes).
Everything started here (registry, daemon, pods, network, cgroups, temp
dirs) is stopped and removed on exit, also on failure or Ctrl-C.
"""

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=str(REPO / "build"))
    ap.add_argument("--execs", type=int, default=50, help="exec round trips (default 50)")
    ap.add_argument("--mb", type=int, default=100, help="MB per throughput run (default 100)")
    return ap.parse_args()


args = parse_args()
import os  # noqa: E402

os.environ.setdefault("CRIO_TEST_BINARY_DIR", str(Path(args.build).resolve()))

import containers_harness as ch  # noqa: E402
import crio_harness as h  # noqa: E402
import pods_harness as p  # noqa: E402
import streaming_client as sc  # noqa: E402

SLEEPER = "trap 'exit 0' TERM; while :; do sleep 1; done"
SEND_PORT = 18000 + os.getpid() % 1000


def pct(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def exec_url(client, cid, cmd, stderr=True):
    return client.call("Exec", client.request("Exec", container_id=cid, cmd=cmd, stdout=True,
                                              stderr=stderr)).url


def read_all_tcp(host, port, expect):
    with socket.create_connection((host, port), timeout=60) as s:
        got = 0
        t0 = time.monotonic()
        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            got += len(b)
        return got, time.monotonic() - t0


def main():
    if not h.CRIO_BIN.exists():
        sys.exit(f"bench: {h.CRIO_BIN} not built (make build)")
    work = Path(h.new_workdir())
    net = p.PodNetwork(work)
    cgroups = p.CgroupParent()
    source = None
    env = None
    size = args.mb * 1024 * 1024
    try:
        source = ch.ImageSource()
        env = ch.ContainerEnv(work, net, cgroups, source, name="bench")
        env.daemon.log_level = "info"
        env.start()
        env.pull()
        pod_id, pod_cfg = env.run_pod("bench-pod", host_network=True)
        cid = ch.run_container(env, pod_id, pod_cfg, ch.shell("app", env.image, SLEEPER))
        # The port-forward source: nc runs a script of its own per connection.
        src = ch.run_container(env, pod_id, pod_cfg, ch.shell(
            "src", env.image, f"exec /bin/busybox nc -ll -p {SEND_PORT} -e /send"))
        env.client.call("ExecSync", env.client.request("ExecSync", container_id=src, cmd=[
            "/bin/sh", "-c", f"printf '#!/bin/sh\\nexec head -c {size} /dev/zero\\n' > /send; "
            "chmod +x /send"], timeout=10))

        # (a) exec round trips, turn about with the floor.
        stream_ms, sync_ms = [], []
        for i in range(args.execs + 5):
            t0 = time.monotonic()
            r = sc.exec_spdy(exec_url(env.client, cid, ["/bin/true"]))
            t1 = time.monotonic()
            env.client.call("ExecSync", env.client.request("ExecSync", container_id=cid,
                                                          cmd=["/bin/true"], timeout=10))
            t2 = time.monotonic()
            assert r.exit_code == 0, r
            if i >= 5:  # warm-up
                stream_ms.append((t1 - t0) * 1000)
                sync_ms.append((t2 - t1) * 1000)
        sm, fm = statistics.median(stream_ms), statistics.median(sync_ms)
        print(f"exec round trip of `true` (N={args.execs}): streaming median {sm:.1f} ms "
              f"(p95 {pct(stream_ms, 0.95):.1f}), floor ExecSync median {fm:.1f} ms "
              f"(p95 {pct(sync_ms, 0.95):.1f}): {sm / fm:.2f}x the floor")

        # (b) exec stdout throughput.
        cmd = ["/bin/head", "-c", str(size), "/dev/zero"]
        t0 = time.monotonic()
        r = sc.exec_spdy(exec_url(env.client, cid, cmd, stderr=False), stderr=False, timeout=300)
        took = time.monotonic() - t0
        assert len(r.stdout) == size and r.exit_code == 0, (len(r.stdout), r.error)
        runc = shutil.which("runc") or "/usr/sbin/runc"
        t0 = time.monotonic()
        out = subprocess.run([runc, "--root", str(env.runtime_root), "exec", cid, *cmd],
                             stdout=subprocess.PIPE, check=True).stdout
        floor = time.monotonic() - t0
        assert len(out) == size
        rate, frate = args.mb / took, args.mb / floor
        print(f"{args.mb} MB through exec stdout: streaming {rate:.0f} MB/s, floor runc exec "
              f"to a pipe {frate:.0f} MB/s: {rate / frate:.2f} of the floor")

        # (c) port-forward throughput.
        for _ in range(100):  # nc listening
            try:
                socket.create_connection(("127.0.0.1", SEND_PORT), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(0.5)
        got, floor = read_all_tcp("127.0.0.1", SEND_PORT, size)
        assert got == size, got
        url = env.client.call("PortForward", env.client.request(
            "PortForward", pod_sandbox_id=pod_id)).url
        c = sc.SpdyConnection(url, protocols=("portforward.k8s.io",))
        try:
            t0 = time.monotonic()
            c.open_stream({"streamType": "error", "port": SEND_PORT, "requestID": "0"})
            data = c.open_stream({"streamType": "data", "port": SEND_PORT, "requestID": "0"})
            body = c.read_until_fin(data, 300)
            took = time.monotonic() - t0
        finally:
            c.close()
        assert len(body) == size, len(body)
        rate, frate = args.mb / took, args.mb / floor
        print(f"{args.mb} MB through port-forward: streaming {rate:.0f} MB/s, floor direct TCP "
              f"to the server {frate:.0f} MB/s: {rate / frate:.2f} of the floor")
    finally:
        if env is not None:
            try:
                env.cleanup()
            except Exception as e:  # noqa: BLE001 (cleanup must go on)
                print(f"bench: cleanup: {e}", file=sys.stderr)
        if source is not None:
            source.close()
        net.cleanup()
        cgroups.cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
