"""Many concurrent calls are all served."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import crio_harness as h

CALLS = 200
THREADS = 50


def _one_call(client, i):
    kind = ("Version", "Status", "RuntimeConfig")[i % 3]
    if kind == "Version":
        ok = client.version(timeout=30).runtime_api_version == "v1"
    elif kind == "Status":
        ok = len(client.status(timeout=30).status.conditions) == 2
    else:
        ok = client.runtime_config(timeout=30).HasField("linux")
    return kind, ok


def test_200_concurrent_mixed_calls_all_succeed(client):
    start = threading.Barrier(THREADS)

    def task(i):
        if i < THREADS:
            start.wait(timeout=30)  # the first wave leaves together
        try:
            return _one_call(client, i)
        except Exception as e:  # grpc.RpcError and anything else
            return ("error", f"call {i}: {e!r}")

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = list(pool.map(task, range(CALLS)))
    failures = [r for r in results if r[1] is not True]
    assert not failures, (f"expected all {CALLS} concurrent calls to succeed, "
                          f"{len(failures)} failed; first: {failures[:5]}")


def test_200_concurrent_calls_on_separate_channels_all_succeed(crio):
    clients = [h.CriClient(crio.socket) for _ in range(20)]
    try:
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            results = list(pool.map(
                lambda i: _safe(clients[i % len(clients)], i), range(CALLS)))
    finally:
        for c in clients:
            c.close()
    failures = [r for r in results if r[1] is not True]
    assert not failures, (f"expected all {CALLS} calls over 20 channels to "
                          f"succeed, {len(failures)} failed; first: {failures[:5]}")


def _safe(client, i):
    try:
        return _one_call(client, i)
    except Exception as e:
        return ("error", f"call {i}: {e!r}")


def _open_fds(pid):
    import os
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_connection_churn_leaks_no_file_descriptors(crio):
    # Warm up: gRPC opens its own fds (epoll, wakeup pipes) lazily.
    for _ in range(5):
        c = h.CriClient(crio.socket)
        c.version()
        c.close()
    before = _open_fds(crio.pid)
    for _ in range(200):
        c = h.CriClient(crio.socket)
        c.version()
        c.close()
    # Closed connections are reaped asynchronously; give them a moment.
    deadline = time.monotonic() + 5
    while True:
        after = _open_fds(crio.pid)
        if after <= before + 5 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert after <= before + 5, (f"expected the daemon's open fds to stay near "
                                 f"{before} after 200 connect/call/close cycles, saw {after}")
