#!/usr/bin/python3
"""Bench: the image service beside its floor, measured in the same run on
the same machine.  Prints figures; never passes or fails.

    /usr/bin/python3 tests/bench/bench_images.py --build build     (make bench)

(a) Cold pull of a ~100 MB (compressed) five-layer image from Debian's
    docker-registry on 127.0.0.1 (plain HTTP): PullImage on a daemon with an
    empty layer store, from the call to the response (download, verify,
    decompress, unpack, publish durably).  Beside it the floor a user could
    script: `skopeo copy docker://... oci:DIR` then `umoci unpack` of the
    same image into a bundle (download + unpack).  Rounds alternate the two,
    each from scratch; medians are compared against the goal of 0.8x.
(b) Warm ImageStatus by tag: median and p95 of sequential calls.
(c) ListImages with 200 images present (200 small distinct images, one tag
    each): median and p95 of sequential calls.

The layers mix incompressible data, text and many small files, so both
decompression and file creation count.  Everything started here (registry,
daemons, temp dirs) is stopped and removed on exit, also on failure.
"""

import argparse
import gzip
import io
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=str(REPO / "build"),
                    help="CMake build dir holding daemon/crio (default: build)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="cold pulls timed, each beside one floor run (default 3)")
    ap.add_argument("--layer-mb", type=int, default=16,
                    help="size knob of each of the 5 layers in MB; a gzip layer comes out "
                         "about 1.2x this (default 16: ~100 MB compressed in all)")
    ap.add_argument("--images", type=int, default=200,
                    help="images present for the ListImages figure (default 200)")
    ap.add_argument("--calls", type=int, default=500,
                    help="sequential ImageStatus / ListImages calls (default 500)")
    return ap.parse_args()


args = parse_args()
build = Path(args.build)
if not build.is_absolute():
    build = (Path.cwd() / build).resolve()
os.environ["CRIO_TEST_BINARY_DIR"] = str(build)
os.environ.setdefault("CRIO_TEST_SOURCE_DIR", str(REPO))
sys.path.insert(0, str(REPO / "tests" / "integration"))

import crio_harness as h  # noqa: E402
import images_harness as ih  # noqa: E402
import registry_harness as rh  # noqa: E402


def make_layer(index, mb):
    """A gzip layer of about mb MB: 3/4 random bytes (incompressible), the
    rest text and 400 small files; deterministic per index."""
    rng = random.Random(index)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        def add(path, data, mode=0o644):
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), mode, 0
            t.addfile(info, io.BytesIO(data))

        def add_dir(path):
            info = tarfile.TarInfo(path)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
            t.addfile(info)

        top = f"layer{index}"
        add_dir(top)
        add(f"{top}/blob.bin", rng.randbytes(mb * 1024 * 1024 * 3 // 4))
        words = [f"word{i}" for i in range(5000)]
        text = " ".join(rng.choice(words) for _ in range(mb * 1024 * 1024 // 8)).encode()
        add(f"{top}/words.txt", text)
        for d in range(20):
            add_dir(f"{top}/d{d}")
            for f in range(20):
                add(f"{top}/d{d}/f{f}.txt", rng.randbytes(rng.randint(100, 8000)))
    data = raw.getvalue()
    return gzip.compress(data, compresslevel=1, mtime=0), ih.sha256(data)


def median_p95(samples):
    s = sorted(samples)
    return statistics.median(s), s[min(len(s) - 1, int(len(s) * 0.95))]


class Factory:
    """What images_harness.image_daemon needs of the pytest fixture."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.daemons = []

    def daemon(self, **kw):
        d = h.Daemon(self.workdir, log_level="info", **kw)
        self.daemons.append(d)
        return d

    def stop_all(self):
        for d in self.daemons:
            if d.running():
                d.stop()


def time_floor(host, ref, scratch):
    """skopeo copy to an OCI layout + umoci unpack; seconds."""
    layout, bundle = scratch / "oci", scratch / "bundle"
    shutil.rmtree(layout, ignore_errors=True)
    shutil.rmtree(bundle, ignore_errors=True)
    empty_conf = scratch / "skopeo-registries.conf"
    empty_conf.write_text("")
    env = dict(os.environ, HOME=str(scratch), XDG_RUNTIME_DIR=str(scratch))
    t0 = time.perf_counter()
    subprocess.run(["skopeo", "--insecure-policy", "--registries-conf", str(empty_conf), "copy",
                    "--src-tls-verify=false", "--retry-times", "0", f"docker://{host}/{ref}",
                    f"oci:{layout}:latest"], check=True, capture_output=True, env=env)
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:latest", str(bundle)], check=True,
                   capture_output=True, env=env)
    took = time.perf_counter() - t0
    shutil.rmtree(layout, ignore_errors=True)
    shutil.rmtree(bundle, ignore_errors=True)
    return took


def time_fetch_floor(host, repo, image):
    """Every layer blob fetched over HTTP and gunzipped to nowhere, all at
    once; seconds."""
    t0 = time.perf_counter()
    procs = [subprocess.Popen(["sh", "-c", f"curl -sf http://{host}/v2/{repo}/blobs/{d} "
                               "| gzip -dc > /dev/null"])
             for d in image.layer_digests]
    codes = [pr.wait() for pr in procs]
    took = time.perf_counter() - t0
    if any(codes):
        raise RuntimeError(f"fetch floor: exit codes {codes}")
    return took


def time_cold_pull(factory, conf, image):
    d = ih.image_daemon(factory, conf).start()
    try:
        t0 = time.perf_counter()
        ih.pull(d.client, image, timeout=600)
        took = time.perf_counter() - t0
    finally:
        d.stop()
    shutil.rmtree(d.root, ignore_errors=True)
    return took


def sequential_calls(fn, n, warmup=50):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e6)
    return median_p95(samples)


def main():
    for tool in ("skopeo", "umoci", rh.REGISTRY_BIN):
        if shutil.which(tool) is None:
            sys.exit(f"bench_images: {tool} is not installed")
    work = Path(tempfile.mkdtemp(prefix="crio-bench-images-"))
    factory = Factory(work)
    reg = None
    try:
        reg = ih.start_registry(work / "registry", access_log=False)
        pusher = ih.Pusher(reg.host)
        t0 = time.perf_counter()
        layers = [make_layer(i, args.layer_mb) for i in range(5)]
        big = ih.TestImage(layers)
        pusher.image("bench/big", "latest", big)
        size_mb = sum(len(gz) for gz, _ in layers) / 1e6
        print(f"bench_images: built and pushed a {size_mb:.0f} MB five-layer image "
              f"in {time.perf_counter() - t0:.1f}s")
        conf = ih.registries_conf(work / "registries.conf", insecure=[reg.host])
        scratch = work / "floor"
        scratch.mkdir()

        ours, floor, fetch = [], [], []
        for r in range(args.rounds):
            fetch.append(time_fetch_floor(reg.host, "bench/big", big))
            # Alternate who goes first, so a passing disturbance falls on both.
            if r % 2 == 0:
                ours.append(time_cold_pull(factory, conf, f"{reg.host}/bench/big:latest"))
                floor.append(time_floor(reg.host, "bench/big:latest", scratch))
            else:
                floor.append(time_floor(reg.host, "bench/big:latest", scratch))
                ours.append(time_cold_pull(factory, conf, f"{reg.host}/bench/big:latest"))
        m_ours, m_floor = statistics.median(ours), statistics.median(floor)
        print(f"(a) cold pull, {size_mb:.0f} MB in 5 layers, {args.rounds} rounds:")
        print(f"    crio PullImage          median {m_ours:6.2f} s  "
              f"({', '.join(f'{x:.2f}' for x in ours)})")
        print(f"    skopeo copy + umoci     median {m_floor:6.2f} s  "
              f"({', '.join(f'{x:.2f}' for x in floor)})")
        m_fetch = statistics.median(fetch)
        print(f"    floor: fetch + gunzip   median {m_fetch:6.2f} s  "
              f"({', '.join(f'{x:.2f}' for x in fetch)})  (5 layers in parallel, no daemon)")
        print(f"    ratio to skopeo + umoci {m_ours / m_floor:.2f}x (goal <= 0.80x)")
        print(f"    ratio to the fetch floor {m_ours / m_fetch:.2f}x (goal <= 1.20x)")

        d = ih.image_daemon(factory, conf).start()
        c = d.client
        small = ih.make_image("bench status")
        pusher.image("bench/small", "1", small)
        ih.pull(c, f"{reg.host}/bench/small:1")
        req = c.request("ImageStatus", image=ih.spec(f"{reg.host}/bench/small:1"))
        med, p95 = sequential_calls(lambda: c.call("ImageStatus", req), args.calls)
        print(f"(b) ImageStatus by tag, warm, {args.calls} calls: median {med:.0f} us, "
              f"p95 {p95:.0f} us")

        t0 = time.perf_counter()
        for i in range(args.images - 1):
            img = ih.make_image(f"bench list {i}", with_busybox=False)
            pusher.image("bench/many", f"t{i}", img)
        pushed = time.perf_counter() - t0
        t0 = time.perf_counter()
        results = ih.run_parallel(
            [lambda i=i: [ih.pull(c, f"{reg.host}/bench/many:t{j}")
                          for j in range(i, args.images - 1, 8)] for i in range(8)])
        assert all(e is None for _, e in results), [e for _, e in results if e]
        pulled = time.perf_counter() - t0
        n = len(ih.list_images(c))
        assert n == args.images, f"expected {args.images} images, listed {n}"
        raw = c.channel.unary_unary("/runtime.v1.ImageService/ListImages",
                                    request_serializer=lambda b: b,
                                    response_deserializer=lambda b: b)
        med, p95 = sequential_calls(lambda: raw(b"", timeout=10), args.calls)
        print(f"(c) ListImages with {n} images ({args.calls} calls, raw bytes): median "
              f"{med:.0f} us, p95 {p95:.0f} us  [setup: pushed in {pushed:.1f}s, "
              f"pulled in {pulled:.1f}s = {pulled / (n - 1) * 1e3:.0f} ms per small image "
              f"with 8 pulls at once]")
    finally:
        factory.stop_all()
        for dd in factory.daemons:
            dd.kill()
        if reg:
            reg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
