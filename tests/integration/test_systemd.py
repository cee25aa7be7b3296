"""systemd integration without systemd: sd_notify messages captured on a
NOTIFY_SOCKET the test creates (READY=1 once serving, WATCHDOG=1 when
WATCHDOG_USEC is set, RELOADING=1 on SIGHUP, STOPPING=1), socket
activation (LISTEN_FDS), and the units CRI-O ships."""

import os
import signal
import socket
import subprocess
import time

import crio_harness as h


class NotifySocket:
    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []

    def wait(self, text, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in m for m in self.messages):
                return
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                pass
        raise AssertionError(f"expected {text!r} on NOTIFY_SOCKET, saw {self.messages}")

    def close(self):
        self.sock.close()


def test_notify_ready_watchdog_reloading_stopping(crio_factory, tmp_path):
    notify = NotifySocket(tmp_path / "notify.sock")
    try:
        d = crio_factory.daemon(env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"})
        d.start()
        notify.wait("READY=1")
        # Pings every half WatchdogSec: several within a second.
        start = len([m for m in notify.messages if "WATCHDOG=1" in m])
        notify.wait("WATCHDOG=1")
        time.sleep(1.0)
        notify.wait("WATCHDOG=1")
        while True:
            try:
                notify.messages.append(notify.sock.recv(4096).decode())
            except socket.timeout:
                break
        pings = len([m for m in notify.messages if "WATCHDOG=1" in m]) - start
        assert pings >= 3, f"expected a ping every 200 ms, saw {pings} in over a second"
        d.send_signal(signal.SIGHUP)
        notify.wait("RELOADING=1")
        d.stop()
        notify.wait("STOPPING=1")
    finally:
        notify.close()


def _drain(notify):
    while True:
        try:
            notify.messages.append(notify.sock.recv(4096).decode())
        except socket.timeout:
            return


def _pings(notify):
    return len([m for m in notify.messages if "WATCHDOG=1" in m])


def test_watchdog_pings_come_from_the_reconciler_and_stop_when_it_is_wedged(crio_factory,
                                                                             tmp_path):
    """Every worker stuck in a step that makes no progress (the hang hook):
    the main thread still takes signals, but the pings stop."""
    import concurrent.futures

    import grpc
    import pods_harness as p

    notify = NotifySocket(tmp_path / "notify.sock")
    try:
        d = crio_factory.daemon(env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000",
                                     "CRIO_FAIL_AT": "pod.pin_namespaces:hang"})
        d.start()
        notify.wait("READY=1")
        time.sleep(1.0)
        _drain(notify)
        assert _pings(notify) >= 3, f"expected pings every 200 ms, saw {notify.messages}"

        # Eight workers (the daemon's default), eight pods: each worker
        # takes one and hangs in its first step.
        def run(i):
            try:
                p.run_pod(d.client, p.pod_config(f"wedge{i}"), timeout=2)
            except grpc.RpcError:
                pass
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(run, range(8)))
        deadline = time.monotonic() + 10
        while d.log().count("hangs on purpose") < 8 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert d.log().count("hangs on purpose") == 8, d.log()[-3000:]
        time.sleep(0.5)
        _drain(notify)
        before = _pings(notify)
        time.sleep(1.5)
        _drain(notify)
        assert _pings(notify) == before, \
            f"expected no ping with every worker wedged, saw {_pings(notify) - before} in 1.5 s"
        # The main thread is alive: SIGHUP is still answered.
        d.send_signal(signal.SIGHUP)
        notify.wait("RELOADING=1")
        d.stop()
        notify.wait("STOPPING=1")
    finally:
        notify.close()


def test_socket_activation_serves_grpc_and_http_on_the_passed_socket(tmp_path):
    path = tmp_path / "activated.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(16)
    fd = listener.fileno()
    # As systemd does: the socket as fd 3 (inheritable: a Python socket is
    # close-on-exec, and dup2 onto itself would not clear that), LISTEN_PID
    # the daemon's own pid; close_fds=False, or fd 3 would be closed after
    # this runs.
    def as_systemd():
        if fd != 3:
            os.dup2(fd, 3)
        os.set_inheritable(3, True)
        os.environ["LISTEN_FDS"] = "1"
        os.environ["LISTEN_PID"] = str(os.getpid())

    log = open(tmp_path / "crio.log", "wb")
    proc = subprocess.Popen([str(h.CRIO_BIN), "-c", "", "-d", "",
                             "--listen", str(path), "--root", str(tmp_path / "root"),
                             "--runroot", str(tmp_path / "run"),
                             "--cni-config-dir", str(tmp_path / "net.d")],
                            close_fds=False, preexec_fn=as_systemd, stdout=log, stderr=log)
    listener.close()
    try:
        deadline = time.monotonic() + 20
        version = None
        while time.monotonic() < deadline and version is None:
            client = h.CriClient(path)
            try:
                version = client.version(timeout=1.0)
            except Exception:  # noqa: BLE001 (not serving yet)
                time.sleep(0.05)
            finally:
                client.close()
        assert version is not None and version.runtime_name == "crio", \
            (tmp_path / "crio.log").read_text()
        from test_status_endpoint import http_get
        code, body = http_get(path, "/info")
        assert code == 200 and "storage_root" in body
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        text = (tmp_path / "crio.log").read_text()
        assert "binding instead" not in text, text
        assert path.exists(), "the socket is systemd's: it must outlive the daemon"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


def test_units_are_crio_o_s():
    unit = (h.REPO / "contrib" / "systemd" / "crio.service").read_text()
    for line in ["Type=notify", "ExecReload=/bin/kill -s HUP $MAINPID", "WatchdogSec=",
                 "Restart=on-failure", "EnvironmentFile=-/etc/sysconfig/crio"]:
        assert line in unit, f"expected {line!r} in crio.service"
    wipe = (h.REPO / "contrib" / "systemd" / "crio-wipe.service").read_text()
    assert "Type=oneshot" in wipe and "Before=crio.service" in wipe and " wipe" in wipe
