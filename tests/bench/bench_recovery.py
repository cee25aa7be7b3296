#!/usr/bin/python3
"""Bench: crash recovery.  Prints figures; never passes or fails.

    /usr/bin/python3 tests/bench/bench_recovery.py --build build     (make bench)

(a) The whole-system crash matrix (tests/integration/test_system_crash_matrix.py):
    its size (every transition of the pod, container and image tables,
    before and after its side effect) and how many cells pass, from a run
    of it (--no-matrix: the size only, from docs/state-diagrams.md).
(b) Start-up recovery with 100 and 500 container records (and a fifth as
    many pods), written through the store API by crio-synthetic-records in
    states that leave the reconciler nothing to do (containers EXITED, pods
    STOPPED): the recovery time the daemon logs ("recovery: ... in X ms",
    everything between opening the database and serving the socket that
    recovery does) and the wall time from exec to the first answered
    Version call, medians of --rounds starts.  Beside it, for information,
    the same number of RUNNING container records (pods READY) after a
    reboot (new boot id): the time the daemon logs for recording every
    container exited and stopping every pod before it serves.
(c) `crio wipe` of 100 pods: pods run through the CRI on a test-owned
    bridge network and cgroup parent (the run dir on tmpfs, as on a node),
    the daemon killed with SIGKILL, then `crio wipe` timed from exec to
    exit; afterwards nothing may be left (pins, veths, IPAM reservations,
    cgroups, pod dirs), which is checked and reported.

Everything made here (daemons, pods, the bridge, the IPAM dir, the cgroup
parent, temp dirs) is removed on exit, also on failure or Ctrl-C.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=str(REPO / "build"),
                    help="CMake build dir holding daemon/crio (default: build)")
    ap.add_argument("--rounds", type=int, default=5,
                    help="daemon starts per record count in (b) (default 5)")
    ap.add_argument("--wipe-pods", type=int, default=100,
                    help="pods wiped in (c) (default 100)")
    ap.add_argument("--no-matrix", action="store_true",
                    help="(a): report the matrix size without running it")
    return ap.parse_args()


args = parse_args()
build = Path(args.build)
if not build.is_absolute():
    build = (Path.cwd() / build).resolve()
os.environ["CRIO_TEST_BINARY_DIR"] = str(build)
os.environ.setdefault("CRIO_TEST_SOURCE_DIR", str(REPO))
sys.path.insert(0, str(REPO / "tests" / "integration"))

import crio_harness as h  # noqa: E402
import pods_harness as p  # noqa: E402

SYNTHETIC = build / "tests" / "crio-synthetic-records"
MATRIX = REPO / "tests" / "integration" / "test_system_crash_matrix.py"
RECOVERY_LINE = re.compile(r"recovery: \d+ pod\(s\), (\d+) container\(s\), \d+ image\(s\) "
                           r"in ([0-9.]+) ms")
REBOOT_LINE = re.compile(r"after the reboot: (\d+) container\(s\) recorded exited.* "
                         r"(\d+) of (\d+) pod\(s\) stopped.* in ([0-9.]+) ms")


def median(values):
    return statistics.median(values) if values else float("nan")


# ---- (a) the crash matrix ------------------------------------------------------------------

def matrix_size():
    kinds = ("pod.", "container.", "image.")
    rows = 0
    for line in (REPO / "docs" / "state-diagrams.md").read_text().splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) >= 5 and cells[0].startswith(kinds) and cells[3] in ("step", "event"):
            rows += 1
    return rows, 2 * rows


def run_matrix():
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(MATRIX)], capture_output=True, text=True, cwd=REPO)
    took = time.monotonic() - t0
    m = re.search(r"(\d+)/(\d+) cells passed \((\d+) in the matrix", out.stdout)
    if m is None:
        tail = "\n".join(out.stdout.splitlines()[-15:])
        print(f"bench: the matrix printed no summary; its output ended with:\n{tail}",
              file=sys.stderr)
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), took


# ---- (b) start-up with many records ----------------------------------------------------------

def start_with_records(tmp, n_containers, running):
    """One daemon start on fresh synthetic records; returns (logged
    recovery ms, wall ms to the first Version, logged reboot ms or None)."""
    work = Path(tempfile.mkdtemp(prefix="rec-", dir=tmp))
    d = h.Daemon(work, name="crio", cni="empty", log_level="info",
                 extra_args=["--cgroup-manager", "cgroupfs"])
    try:
        d.root.mkdir(parents=True, exist_ok=True)
        boot = work / "boot_id"
        boot.write_text("boot-now\n")
        subprocess.run([str(SYNTHETIC), "--root", str(d.root), "--runroot", str(d.runroot),
                        "--pods", str(max(1, n_containers // 5)),
                        "--containers", str(n_containers),
                        "--boot-id", "boot-before" if running else "boot-now",
                        *(["--running"] if running else [])],
                       check=True, capture_output=True)
        d.env = {"CRIO_BOOT_ID_PATH": str(boot)}
        t0 = time.monotonic()
        d.start()
        wall_ms = (time.monotonic() - t0) * 1e3
        log = d.log()
        m = RECOVERY_LINE.search(log)
        recovery_ms = float(m.group(2)) if m else float("nan")
        r = REBOOT_LINE.search(log)
        reboot_ms = float(r.group(4)) if r else None
        if running and (r is None or r.group(1) != str(n_containers)):
            print(f"bench: warning: the reboot did not record {n_containers} exits: "
                  f"{r and r.group(0)}", file=sys.stderr)
        d.stop()
        return recovery_ms, wall_ms, reboot_ms
    finally:
        d.kill()
        shutil.rmtree(work, ignore_errors=True)


# ---- (c) crio wipe of many pods ------------------------------------------------------------------

def wipe_bench(tmp, n_pods):
    net = p.PodNetwork(tmp)
    cgroups = p.CgroupParent()
    run_tmp = Path(tempfile.mkdtemp(prefix="crio-brec-run-", dir="/dev/shm"))
    d = h.Daemon(tmp, name="wipe", cni=net.conflist, log_level="info",
                 runroot=run_tmp / "run", extra_args=["--cgroup-manager", "cgroupfs"])
    try:
        d.start()
        ids = []
        for i in range(n_pods):
            cfg = p.pod_config(f"wipe-{i}", cgroup_parent=cgroups.path)
            ids.append(p.run_pod(d.client, cfg))
        reserved = len(net.reserved_ips())
        d.kill()  # as a crash: nothing released
        argv = [str(h.CRIO_BIN), "wipe", "--force", "--root", str(d.root), "--runroot", str(d.runroot),
                "--cni-plugin-dir", h.CNI_PLUGIN_DIR, "--cgroup-manager", "cgroupfs"]
        t0 = time.monotonic()
        out = subprocess.run(argv, capture_output=True, text=True)
        took = time.monotonic() - t0
        released = sum(1 for line in out.stdout.splitlines() if line.startswith("released "))
        left = p.leaks(d, net, cgroups)
        return {"pods": len(ids), "reserved_before": reserved, "seconds": took,
                "exit": out.returncode, "released": released, "left": left}
    finally:
        d.kill()
        p.host_cleanup(d.runroot, net, cgroups)
        for m in sorted(p.mounts_under(d.runroot), key=len, reverse=True):
            p.sh("umount", "-l", m, check=False)
        net.cleanup()
        cgroups.cleanup()
        shutil.rmtree(run_tmp, ignore_errors=True)


def main():
    for binary in (h.CRIO_BIN, SYNTHETIC):
        if not binary.exists():
            sys.exit(f"bench: {binary} not built (make build)")
    tmp = Path(tempfile.mkdtemp(prefix="crio-brec-", dir="/tmp"))
    try:
        rows, cells = matrix_size()
        matrix = None if args.no_matrix else run_matrix()

        startup = {}
        for n in (100, 500):
            runs = [start_with_records(tmp, n, running=False) for _ in range(args.rounds)]
            reboots = [start_with_records(tmp, n, running=True) for _ in range(args.rounds)]
            startup[n] = {"recovery_ms": median([r[0] for r in runs]),
                          "wall_ms": median([r[1] for r in runs]),
                          "reboot_ms": median([r[2] for r in reboots if r[2] is not None]),
                          "reboot_wall_ms": median([r[1] for r in reboots])}
        wipe = wipe_bench(tmp, args.wipe_pods)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print("crash recovery")
    print(f"  (a) system crash matrix: {cells} cells ({rows} transitions x before/after)", end="")
    if matrix is None:
        print(" — not run" if args.no_matrix else " — run failed, see above")
    else:
        passed, ran, _size, took = matrix
        print(f"; {passed}/{ran} passed in {took:.0f} s")
    print(f"  (b) start-up recovery, medians of {args.rounds} starts "
          "(containers EXITED, pods STOPPED; a fifth as many pods):")
    for n, s in startup.items():
        print(f"      {n:>4} container records: recovery {s['recovery_ms']:.2f} ms logged, "
              f"{s['wall_ms']:.0f} ms from exec to the first Version")
    print("      after a reboot (containers RUNNING, pods READY, new boot id): "
          "exits recorded and pods stopped before serving:")
    for n, s in startup.items():
        print(f"      {n:>4} container records: {s['reboot_ms']:.1f} ms logged, "
              f"{s['reboot_wall_ms']:.0f} ms from exec to the first Version")
    print(f"  (c) crio wipe of {wipe['pods']} pods after kill -9 "
          f"({wipe['reserved_before']} IPs reserved): {wipe['seconds'] * 1e3:.0f} ms, "
          f"exit {wipe['exit']}, {wipe['released']} resources released, "
          f"{'nothing left' if not wipe['left'] else 'LEFT: ' + '; '.join(wipe['left'])}")


if __name__ == "__main__":
    with h.HostSysctlsRestored():
        main()
