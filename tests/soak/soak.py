#!/usr/bin/python3
"""Churn soak: N pod lifecycles against one daemon, sampling what a node
running for weeks must keep flat.  Prints figures; fails only on a broken
lifecycle or on what the lifecycles left behind at the end.

    /usr/bin/python3 tests/soak/soak.py --build build --lifecycles 1000   (make soak)

One lifecycle, as the kubelet drives a short-lived pod: RunPodSandbox (a
network namespace on a bridge network of the soak's own, a cgroup parent of
its own), PullImage once, CreateContainer + StartContainer (busybox sleeping),
ExecSync (`true`), StopContainer, StopPodSandbox, RemoveContainer,
RemovePodSandbox.

Every --every lifecycles (100) one row of samples:
  fds       the daemon's open file descriptors (/proc/PID/fd)
  threads   its threads (/proc/PID/status Threads)
  rss_kib   its resident set (VmRSS)
  db_kib    data.mdb's size on disk; db_used_kib: pages LMDB uses
  log       state log entries (crio-db-inspect stats: log.entries)
  run       entries under the run dir (files and directories, recursively)
  mounts    mount points under the root and run dirs (the namespace pins'
            directories count: they live as long as the daemon)
The first row is taken after one warm-up lifecycle.  Then the table, and
the growth from the row at --every to the last row.  Everything made here
(pods, containers, the bridge, cgroups, the daemon, the registry and the
temporary dirs) is removed on exit, also on failure or Ctrl-C.
"""

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=str(REPO / "build"),
                    help="CMake build dir holding daemon/crio (default: build)")
    ap.add_argument("--lifecycles", type=int, default=1000,
                    help="pod lifecycles to run (default 1000)")
    ap.add_argument("--every", type=int, default=100,
                    help="sample every this many lifecycles (default 100)")
    ap.add_argument("--daemon-env", action="append", default=[],
                    help="KEY=VALUE for the daemon's environment (repeatable)")
    return ap.parse_args()


args = parse_args()
build = Path(args.build)
if not build.is_absolute():
    build = (Path.cwd() / build).resolve()
os.environ["CRIO_TEST_BINARY_DIR"] = str(build)
os.environ.setdefault("CRIO_TEST_SOURCE_DIR", str(REPO))
sys.path.insert(0, str(REPO / "tests" / "integration"))

import containers_harness as c  # noqa: E402
import crio_harness as h  # noqa: E402
import pods_harness as p  # noqa: E402


def count_entries(path):
    n = 0
    for _root, dirs, files in os.walk(path):
        n += len(dirs) + len(files)
    return n


def sample(env, done):
    pid = env.daemon.pid
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    stats = h.inspect(env.root, "stats").json
    return {
        "lifecycles": done,
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "threads": int(fields["Threads"].strip()),
        "rss_kib": int(fields["VmRSS"].split()[0]),
        "db_kib": stats["file"]["bytes"] // 1024,
        "db_used_kib": stats["file"]["used_bytes"] // 1024,
        "log": stats["log"]["entries"],
        "run": count_entries(env.runroot),
        "mounts": len(p.mounts_under(env.root)) + len(p.mounts_under(env.runroot)),
    }


COLUMNS = ["lifecycles", "fds", "threads", "rss_kib", "db_kib", "db_used_kib", "log", "run",
           "mounts"]


def print_row(row):
    print("  ".join(f"{row[k]:>{max(len(k), 8)}}" for k in COLUMNS), flush=True)


def lifecycle(env, i):
    client = env.client
    pod_id, pod_cfg = env.run_pod(f"soak{i}", uid=f"uid-soak-{i}")
    cfg = c.container_config("app", env.image, command=["/bin/sleep", "3600"])
    cid = c.run_container(env, pod_id, pod_cfg, cfg)
    r = client.call("ExecSync", client.request("ExecSync", container_id=cid, cmd=["/bin/true"],
                                               timeout=10), timeout=30)
    if r.exit_code != 0:
        raise RuntimeError(f"lifecycle {i}: ExecSync exited {r.exit_code}")
    c.stop_container(client, cid, timeout_s=0)
    p.stop_pod(client, pod_id)
    c.remove_container(client, cid)
    p.remove_pod(client, pod_id)


def main():
    workdir = h.new_workdir()
    net = p.PodNetwork(workdir)
    cgroups = p.CgroupParent()
    source = None
    env = None
    rows = []
    failed = False
    try:
        with h.HostSysctlsRestored():
            source = c.ImageSource()
            env = c.ContainerEnv(workdir, net, cgroups, source, name="soak")
            env.daemon.log_level = "info"
            extra = dict(kv.split("=", 1) for kv in args.daemon_env)
            env.start(env=extra or None)
            env.pull()
            t0 = time.monotonic()
            lifecycle(env, 0)
            print(f"soak: {args.lifecycles} lifecycles (pod, container, exec, stop, remove); "
                  f"a row every {args.every}", flush=True)
            print("  ".join(f"{k:>{max(len(k), 8)}}" for k in COLUMNS))
            rows.append(sample(env, 1))
            print_row(rows[-1])
            for i in range(1, args.lifecycles):
                lifecycle(env, i)
                if (i + 1) % args.every == 0:
                    rows.append(sample(env, i + 1))
                    print_row(rows[-1])
            took = time.monotonic() - t0
            print(f"soak: {args.lifecycles} lifecycles in {took:.0f} s "
                  f"({took / args.lifecycles * 1000:.0f} ms each)")
            base = next((r for r in rows if r["lifecycles"] >= args.every), rows[0])
            last = rows[-1]
            print(f"soak: growth from {base['lifecycles']} to {last['lifecycles']} lifecycles: " +
                  ", ".join(f"{k} {last[k] - base[k]:+d}" for k in COLUMNS[1:]))
            leaks = env.leaks()
            if leaks:
                failed = True
                print(f"soak: FAILED: left behind after the last lifecycle: {leaks}")
    finally:
        try:
            if env is not None:
                env.cleanup()
        finally:
            if source is not None:
                source.close()
            net.cleanup()
            cgroups.cleanup()
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
