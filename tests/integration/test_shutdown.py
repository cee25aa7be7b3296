"""SIGTERM/SIGINT: in-flight calls finish or fail cleanly, the socket is
removed, and the daemon exits 0 within the grace period."""

import signal
import threading
import time

import grpc

import crio_harness as h

CLEAN_ERRORS = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED}


class Load:
    """Threads calling Version/Status/RuntimeConfig in a loop, each on its
    own channel, recording every outcome."""

    def __init__(self, socket_path, threads=8):
        self.socket_path = socket_path
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.clean_errors = 0
        self.bad = []
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(threads)]

    def _run(self, i):
        client = h.CriClient(self.socket_path)
        n = 0
        try:
            while not self.stop.is_set():
                n += 1
                t0 = time.monotonic()
                try:
                    kind = n % 3
                    if kind == 0:
                        client.version(timeout=h.SHUTDOWN_GRACE_S + 5)
                    elif kind == 1:
                        client.status(verbose=True, timeout=h.SHUTDOWN_GRACE_S + 5)
                    else:
                        client.runtime_config(timeout=h.SHUTDOWN_GRACE_S + 5)
                    with self.lock:
                        self.ok += 1
                except grpc.RpcError as e:
                    with self.lock:
                        if e.code() in CLEAN_ERRORS:
                            self.clean_errors += 1
                        else:
                            self.bad.append(f"thread {i} call {n}: {e.code()} "
                                            f"after {time.monotonic() - t0:.2f}s: "
                                            f"{e.details()}")
                    if e.code() in CLEAN_ERRORS:
                        time.sleep(0.01)
        finally:
            client.close()

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self, timeout=10.0):
        self.stop.set()
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return [t.name for t in self.threads if t.is_alive()]


def _assert_clean_stop(d, sig):
    rc, took, killed = d.stop(sig=sig)
    assert not killed, (f"expected exit within the {h.SHUTDOWN_GRACE_S:.0f}s grace "
                        f"period after {sig.name}, still running after {took:.1f}s")
    assert rc == 0, f"expected exit status 0 after {sig.name}, saw {rc}"
    assert took <= h.SHUTDOWN_GRACE_S + 1, \
        f"expected exit within the {h.SHUTDOWN_GRACE_S:.0f}s grace period, took {took:.1f}s"
    assert not d.socket.exists(), f"expected {d.socket} removed at exit, it still exists"
    return took


def test_sigterm_with_calls_in_flight_exits_0_and_every_call_ends_cleanly(crio_factory):
    d = crio_factory.start()
    load = Load(d.socket)
    load.start()
    time.sleep(0.5)
    with load.lock:
        before = load.ok
    assert before > 0, f"expected calls to succeed under load before SIGTERM, saw {before}"
    _assert_clean_stop(d, signal.SIGTERM)
    time.sleep(0.3)  # calls made after the exit must fail cleanly too
    hung = load.finish(timeout=h.SHUTDOWN_GRACE_S + 10)
    assert not hung, f"expected every call to end, threads still in a call: {hung}"
    assert not load.bad, (f"expected calls to succeed or fail with UNAVAILABLE/"
                          f"CANCELLED, {len(load.bad)} did not: {load.bad[:5]}")
    assert load.clean_errors > 0, \
        "expected calls after the shutdown to fail with UNAVAILABLE, saw none fail"


def test_sigint_exits_0_and_removes_socket(crio_factory):
    d = crio_factory.start()
    d.client.version()
    _assert_clean_stop(d, signal.SIGINT)


def test_idle_daemon_stops_promptly(crio_factory):
    d = crio_factory.start()
    d.client.version()
    took = _assert_clean_stop(d, signal.SIGTERM)
    assert took < 3.0, f"expected an idle daemon to stop within 3s, took {took:.1f}s"


def test_sighup_does_not_stop_the_daemon(crio_factory):
    d = crio_factory.start()
    d.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    assert d.running(), f"expected the daemon to survive SIGHUP, it exited {d.proc.poll()}"
    resp = d.client.version()
    assert resp.runtime_api_version == "v1", f"expected Version after SIGHUP, saw {resp}"


def test_state_is_reusable_after_clean_stop(crio_factory):
    first = crio_factory.start()
    first.stop_cleanly()
    second = crio_factory.start(root=first.root, socket_path=first.socket)
    resp = second.client.version()
    assert resp.runtime_api_version == "v1", \
        f"expected a restart on the same root and socket to serve, saw {resp}"


def test_open_event_stream_does_not_hold_up_sigterm(crio_factory):
    """A GetContainerEvents stream lasts as long as its client; at SIGTERM it
    ends at once instead of holding the daemon for the grace period."""
    d = crio_factory.start()
    client = d.client
    ended = threading.Event()

    def follow():
        try:
            for _ in client._stub("GetContainerEvents")(client.request("GetContainerEvents"),
                                                         timeout=60):
                pass
        except grpc.RpcError:
            pass
        finally:
            ended.set()

    t = threading.Thread(target=follow, daemon=True)
    t.start()
    time.sleep(0.5)
    took = d.stop_cleanly()
    assert took < 3.0, f"expected exit within 3s with an event stream open, took {took:.1f}s"
    assert ended.wait(5), "expected the event stream to end when the daemon stopped"
