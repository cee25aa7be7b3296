#!/usr/bin/python3
"""Bench: pod start per runtime handler.  Prints figures; never passes or fails.

    /usr/bin/python3 tests/bench/bench_runtime_handlers.py --build build    (make bench)

For each handler (runc; runsc when Debian's gVisor package is installed,
configured as docs/configuration.md shows: ptrace platform), N times
(default 20): RunPodSandbox + CreateContainer + StartContainer of one
busybox container, timed together from the first call to the last answer,
on a bridge network and cgroup parent of the bench's own.  Each pod is
stopped and removed (untimed) before the next.  Median and p95 per
handler, and runsc's median over runc's.

For gVisor the pod start includes booting the sandbox (the infra container:
runsc create + start, a gofer and the sentry) and the container joining it;
for runc, pinning namespaces and the container's create + start.

Everything made here (pods, daemon, registry, bridge, cgroup parent, temp
dirs) is removed on exit, also on failure."""

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=str(REPO / "build"),
                    help="CMake build dir holding daemon/crio (default: build)")
    ap.add_argument("--pods", type=int, default=20, help="pod starts per handler (default 20)")
    return ap.parse_args()


args = parse_args()
build = Path(args.build)
if not build.is_absolute():
    build = (Path.cwd() / build).resolve()
os.environ["CRIO_TEST_BINARY_DIR"] = str(build)
os.environ.setdefault("CRIO_TEST_SOURCE_DIR", str(REPO))
sys.path.insert(0, str(REPO / "tests" / "integration"))

import containers_harness as ch  # noqa: E402
import crio_harness as h  # noqa: E402
import pods_harness as p  # noqa: E402

CLOCK = time.perf_counter_ns
SLEEPER = "trap 'exit 0' TERM; while :; do sleep 1; done"


def percentile(sorted_values, q):
    n = len(sorted_values)
    rank = max(1, min(n, int(-(-q * n // 1))))
    return sorted_values[rank - 1]


def runsc_table(path):
    return (f'[crio.runtime.runtimes.runsc]\nruntime_path = "{path}"\nruntime_type = "oci"\n'
            f'runtime_args = ["--platform=ptrace", "--network=host", "--oci-seccomp"]\n')


def time_pod_starts(env, handler, n):
    samples = []
    for i in range(n):
        cfg = env.pod_config(f"{handler}-{i}")
        ctr = ch.shell("c", env.image, SLEEPER)
        t0 = CLOCK()
        pod_id = p.run_pod(env.client, cfg, runtime_handler=handler)
        cid = ch.create_container(env.client, pod_id, ctr, cfg)
        ch.start_container(env.client, cid)
        samples.append(CLOCK() - t0)
        p.stop_pod(env.client, pod_id)
        p.remove_pod(env.client, pod_id)
    return samples


def main():
    runsc = shutil.which("runsc")
    handlers = ["runc"] + (["runsc"] if runsc else [])
    work = h.new_workdir()
    net = p.PodNetwork(work)
    cgroups = p.CgroupParent()
    source = env = None
    results = {}
    with h.HostSysctlsRestored():
        try:
            source = ch.ImageSource()
            env = ch.ContainerEnv(work, net, cgroups, source, name="bench",
                                  crio_conf_extra=runsc_table(runsc) if runsc else "")
            env.start()
            env.pull()
            for handler in handlers:
                # One untimed start first: the image's layers, the runtime's
                # binary and page cache are warm for every timed one.
                time_pod_starts(env, handler, 1)
                results[handler] = sorted(time_pod_starts(env, handler, args.pods))
        finally:
            if env is not None:
                env.cleanup()
            net.cleanup()
            cgroups.cleanup()
            if source is not None:
                source.close()
            shutil.rmtree(work, ignore_errors=True)

    print(f"pod start (RunPodSandbox + CreateContainer + StartContainer), {args.pods} pods "
          f"per handler, sequential:")
    for handler, s in results.items():
        print(f"  {handler:6s} median {statistics.median(s) / 1e6:8.1f} ms   "
              f"p95 {percentile(s, 0.95) / 1e6:8.1f} ms")
    if "runsc" in results:
        ratio = statistics.median(results["runsc"]) / statistics.median(results["runc"])
        print(f"  runsc/runc median: {ratio:.2f}x")
    else:
        print("  runsc: not installed (apt-get install runsc), not measured")


if __name__ == "__main__":
    main()
