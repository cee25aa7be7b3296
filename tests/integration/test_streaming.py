"""Exec, Attach and PortForward through the daemon's streaming server, with
the test's own SPDY/3.1 and WebSocket client (streaming_client.py), on
real runc and conmon: output, stdin, exit codes, terminals and resize,
attach to a running container, port forwarding into a pod, single-use
tokens and their expiry, bad input, a client that vanishes (nothing of the
exec left, the daemon's fds and processes as before), an exec into a
container that is stopped."""

import json
import os
import socket
import struct
import subprocess
import threading
import time

import grpc
import pytest

import containers_harness as ch
import crio_harness as h
import pods_harness as p
import streaming_client as sc
from containers_harness import ctr_env, ctr_env_factory, image_source  # noqa: F401 (fixtures)
from pods_harness import pod_cgroups, pod_net  # noqa: F401 (fixtures)

API = h.api()
SLEEPER = "trap 'exit 0' TERM; while :; do sleep 0.1; done"
ECHO_PORT = 8080


def running(env, name="app", script=SLEEPER, **kw):
    pod_id, pod_cfg = env.run_pod(f"{name}-pod")
    cid = ch.run_container(env, pod_id, pod_cfg, ch.shell(name, env.image, script, **kw))
    return pod_id, cid


def exec_url(client, cid, cmd, tty=False, stdin=False, stdout=True, stderr=True):
    req = client.request("Exec", container_id=cid, cmd=cmd, tty=tty, stdin=stdin,
                         stdout=stdout, stderr=stderr)
    return client.call("Exec", req).url


def attach_url(client, cid, tty=False, stdin=True, stdout=True, stderr=True):
    req = client.request("Attach", container_id=cid, tty=tty, stdin=stdin, stdout=stdout,
                         stderr=stderr)
    return client.call("Attach", req).url


def port_forward_url(client, pod_id, ports=()):
    req = client.request("PortForward", pod_sandbox_id=pod_id, port=list(ports))
    return client.call("PortForward", req).url


def daemon_fds(env):
    return sorted(os.listdir(f"/proc/{env.daemon.pid}/fd"))


def daemon_children(env):
    """pids whose parent is the daemon (exec helpers, runtimes)."""
    kids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == env.daemon.pid:
            kids.append(int(pid))
    return sorted(kids)


def ps_in(env, cid):
    r = env.client.call("ExecSync", env.client.request(
        "ExecSync", container_id=cid, cmd=["/bin/ps", "-o", "args"], timeout=10), timeout=30)
    return r.stdout.decode()


def wait_until(predicate, timeout=10, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


# ---- exec --------------------------------------------------------------------------------

def test_exec_over_spdy_gives_stdout_stderr_and_the_exit_code_in_every_protocol(ctr_env):
    env = ctr_env
    _, cid = running(env)
    cmd = ["/bin/sh", "-c", "echo out; echo err >&2; exit 3"]
    r = sc.exec_spdy(exec_url(env.client, cid, cmd))
    assert (r.stdout, r.stderr, r.protocol) == (b"out\n", b"err\n", "v4.channel.k8s.io"), r
    st = r.status
    assert st["status"] == "Failure" and st["reason"] == "NonZeroExitCode", st
    assert st["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}], st
    assert r.exit_code == 3
    r = sc.exec_spdy(exec_url(env.client, cid, ["/bin/true"]))
    assert r.error == b'{"metadata":{},"status":"Success"}', r
    # Before v4 the error stream carries text, and nothing on success.
    for proto in ("v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"):
        r = sc.exec_spdy(exec_url(env.client, cid, cmd), protocols=(proto,))
        assert r.protocol == proto and r.stdout == b"out\n", (proto, r)
        assert b"non-zero exit code" in r.error and b"3" in r.error, (proto, r)
        r = sc.exec_spdy(exec_url(env.client, cid, ["/bin/true"]), protocols=(proto,))
        assert r.error == b"", (proto, r)
    # The client's preference order wins among the protocols we speak.
    r = sc.exec_spdy(exec_url(env.client, cid, ["/bin/true"]),
                     protocols=("v9.channel.k8s.io", "v2.channel.k8s.io", "v4.channel.k8s.io"))
    assert r.protocol == "v2.channel.k8s.io", r
    # A command that cannot start is an exit code, with the runtime's message.
    r = sc.exec_spdy(exec_url(env.client, cid, ["/no/such/binary"]))
    assert r.exit_code not in (0, None), r


def test_exec_stdin_is_echoed_and_closed_on_the_clients_half_close(ctr_env):
    env = ctr_env
    _, cid = running(env)
    data = b"".join(b"line %d\n" % i for i in range(20000))
    r = sc.exec_spdy(exec_url(env.client, cid, ["/bin/cat"], stdin=True), stdin=data)
    assert r.stdout == data and r.exit_code == 0, f"{len(r.stdout)} of {len(data)} bytes, {r.error}"
    # wc sees the end of its input: the FIN closed the command's stdin.
    r = sc.exec_spdy(exec_url(env.client, cid, ["/bin/wc", "-c"], stdin=True), stdin=b"12345")
    assert r.stdout.strip() == b"5", r


def test_exec_50_mb_of_output_arrive_whole(ctr_env):
    env = ctr_env
    _, cid = running(env)
    n = 50 * 1024 * 1024
    cmd = ["/bin/sh", "-c", f"/bin/busybox yes 0123456789abcde | head -c {n}"]
    t0 = time.monotonic()
    r = sc.exec_spdy(exec_url(env.client, cid, cmd, stderr=False), stderr=False, timeout=120)
    took = time.monotonic() - t0
    assert len(r.stdout) == n, f"expected {n} bytes, saw {len(r.stdout)}"
    assert r.stdout == (b"0123456789abcde\n" * (n // 16 + 1))[:n], "the bytes differ"
    assert r.exit_code == 0, r
    print(f"50 MB through exec in {took:.2f}s")


def test_exec_with_a_terminal_and_resize(ctr_env):
    env = ctr_env
    _, cid = running(env)
    cmd = ["/bin/sh", "-c", "test -t 0 && echo tty; sleep 1; /bin/busybox stty size; "
           "sleep 2; /bin/busybox stty size"]
    url = exec_url(env.client, cid, cmd, tty=True, stdin=True, stderr=False)

    def later_resize(c, sin, sout, serr, rsz):
        def go():
            time.sleep(2)
            c.send(rsz, json.dumps({"Width": 100, "Height": 30}).encode())
        threading.Thread(target=go, daemon=True).start()

    r = sc.exec_spdy(url, stdin=b"", tty=True, resize=(123, 45), close_stdin=False,
                     on_open=later_resize)
    assert r.stdout.replace(b"\r\n", b"\n") == b"tty\n45 123\n30 100\n", r
    assert r.exit_code == 0, r
    # A terminal's exit code comes back too.
    r = sc.exec_spdy(exec_url(env.client, cid, ["/bin/sh", "-c", "exit 7"], tty=True, stdin=True,
                              stderr=False), stdin=b"", tty=True, close_stdin=False)
    assert r.exit_code == 7, r


def test_exec_over_websocket_channel_protocols(ctr_env):
    env = ctr_env
    _, cid = running(env)
    cmd = ["/bin/sh", "-c", "echo out; echo err >&2; exit 4"]
    for proto in ("v4.channel.k8s.io", "v4.base64.channel.k8s.io", "channel.k8s.io",
                  "base64.channel.k8s.io", "v5.channel.k8s.io"):
        r = sc.exec_ws(exec_url(env.client, cid, cmd), protocols=(proto,))
        assert (r.stdout, r.stderr, r.protocol) == (b"out\n", b"err\n", proto), (proto, r)
        if proto.startswith(("v4", "v5")):
            assert r.exit_code == 4, (proto, r)
        else:
            assert b"non-zero exit code" in r.error, (proto, r)
    # v5's close signal ends the command's stdin.
    r = sc.exec_ws(exec_url(env.client, cid, ["/bin/cat"], stdin=True), stdin=b"via ws\n",
                   protocols=("v5.channel.k8s.io",), close_stdin=True)
    assert r.stdout == b"via ws\n" and r.exit_code == 0, r
    # The session announces itself with an empty message on stdout first.
    c = sc.WsConnection(exec_url(env.client, cid, ["/bin/true"]), ("v4.channel.k8s.io",))
    try:
        assert c.wait_closed(30)
        assert c.messages[0] == (1, b""), c.messages[:3]
        assert c.close_code == 1000, c.close_code
    finally:
        c.shutdown()


def test_exec_into_a_container_being_stopped_ends_with_its_exit(ctr_env):
    env = ctr_env
    _, cid = running(env)
    url = exec_url(env.client, cid, ["/bin/sleep", "1000"])
    result = {}
    t = threading.Thread(target=lambda: result.update(r=sc.exec_spdy(url, timeout=60)))
    t.start()
    wait_until(lambda: "sleep 1000" in ps_in(env, cid), what="the exec to run")
    ch.stop_container(env.client, cid, timeout_s=1)
    t.join(60)
    assert not t.is_alive(), "the exec did not end with its container"
    r = result["r"]
    assert r.exit_code not in (0, None), r
    # A stopped container takes no new exec.
    code, msg = p.rpc_code(exec_url, env.client, cid, ["/bin/true"])
    assert code == grpc.StatusCode.FAILED_PRECONDITION, (code, msg)


# ---- attach ------------------------------------------------------------------------------

def test_attach_to_a_running_container(ctr_env):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("attach-pod")
    cfg = ch.shell("reader", env.image, 'echo ready; while read line; do echo "got $line"; '
                   'echo "err $line" >&2; done')
    cfg.stdin = True
    cid = ch.run_container(env, pod_id, pod_cfg, cfg)
    c = sc.SpdyConnection(attach_url(env.client, cid))
    try:
        err = c.open_stream({"streamType": "error"})
        sin = c.open_stream({"streamType": "stdin"})
        sout = c.open_stream({"streamType": "stdout"})
        serr = c.open_stream({"streamType": "stderr"})
        c.send(sin, b"hello\n")
        assert c.wait_for(sout, lambda d: b"got hello\n" in d), bytes(sout.data)
        assert c.wait_for(serr, lambda d: b"err hello\n" in d), bytes(serr.data)
        # Closing stdin ends the attach (the container keeps its stdin: not
        # stdin_once), with success, and the container runs on.
        c.fin(sin)
        assert c.read_until_fin(err, 30) == b'{"metadata":{},"status":"Success"}'
    finally:
        c.close()
    assert ch.container_status(env.client, cid).status.state == API.CONTAINER_RUNNING
    # A second attach sees what comes next.
    c = sc.SpdyConnection(attach_url(env.client, cid, stderr=False))
    try:
        c.open_stream({"streamType": "error"})
        sin = c.open_stream({"streamType": "stdin"})
        sout = c.open_stream({"streamType": "stdout"})
        c.send(sin, b"again\n")
        assert c.wait_for(sout, lambda d: b"got again\n" in d), bytes(sout.data)
    finally:
        c.close()


def test_attach_ends_when_the_container_exits(ctr_env):
    env = ctr_env
    _, cid = running(env, script="sleep 2; echo bye")
    r = sc.exec_spdy(attach_url(env.client, cid, stdin=False), timeout=30)
    assert b"bye\n" in r.stdout and r.error == b'{"metadata":{},"status":"Success"}', r


# ---- port forwarding -------------------------------------------------------------------------

def echo_server(env, name="echo"):
    return running(env, name=name, script=f"exec /bin/busybox nc -ll -p {ECHO_PORT} -e /bin/cat")


def wait_listening(env, cid, port=ECHO_PORT):
    hexport = f":{port:04X}"
    wait_until(lambda: hexport in env.client.call("ExecSync", env.client.request(
        "ExecSync", container_id=cid, cmd=["/bin/cat", "/proc/net/tcp", "/proc/net/tcp6"],
        timeout=5)).stdout.decode(),
        what=f"port {port} to listen")


def forward_pair(c, port, request_id):
    err = c.open_stream({"streamType": "error", "port": port, "requestID": request_id})
    data = c.open_stream({"streamType": "data", "port": port, "requestID": request_id})
    return err, data


def test_port_forward_over_spdy_many_connections_in_one(ctr_env):
    env = ctr_env
    pod_id, cid = echo_server(env)
    wait_listening(env, cid)
    c = sc.SpdyConnection(port_forward_url(env.client, pod_id), protocols=("portforward.k8s.io",))
    try:
        assert c.protocol == "portforward.k8s.io"
        pairs = [forward_pair(c, ECHO_PORT, str(i)) for i in range(3)]
        for i, (_, data) in enumerate(pairs):
            c.send(data, b"ping %d\n" % i)
        for i, (_, data) in enumerate(pairs):
            assert c.wait_for(data, lambda d, i=i: d == b"ping %d\n" % i), bytes(data.data)
        # A half-close reaches the pod (cat ends), whose close ends both streams.
        err, data = pairs[0]
        c.fin(data)
        assert c.read_until_fin(data, 20) == b"ping 0\n"
        assert c.read_until_fin(err, 20) == b""
        # The other connections live on.
        c.send(pairs[1][1], b"still\n")
        assert c.wait_for(pairs[1][1], lambda d: d.endswith(b"still\n"))
        # Nothing listens there: the error stream says so.
        err, data = forward_pair(c, 9, "x")
        msg = c.read_until_fin(err, 30)
        assert b"error forwarding port 9" in msg, msg
    finally:
        c.close()


def test_port_forward_over_websocket_and_in_the_host_network(ctr_env):
    env = ctr_env
    pod_id, cid = echo_server(env)
    wait_listening(env, cid)
    for proto in ("v4.channel.k8s.io", "v4.base64.channel.k8s.io"):
        c = sc.WsConnection(port_forward_url(env.client, pod_id) + f"?port={ECHO_PORT}", (proto,))
        try:
            le = struct.pack("<H", ECHO_PORT)
            assert c.wait_for(0, lambda d: d == le) and c.wait_for(1, lambda d: d == le)
            c.send(0, b"over ws\n")
            assert c.wait_for(0, lambda d: d == le + b"over ws\n"), c.channel(0)
        finally:
            c.shutdown()
    # A host-network pod forwards on the host: a listener of the test's own.
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(30)
    port = srv.getsockname()[1]
    host_pod, _ = env.run_pod("hostnet", host_network=True)
    c = sc.SpdyConnection(port_forward_url(env.client, host_pod), protocols=("portforward.k8s.io",))
    try:
        _, data = forward_pair(c, port, "0")
        conn, _ = srv.accept()
        conn.sendall(b"from the host\n")
        assert c.wait_for(data, lambda d: d == b"from the host\n"), bytes(data.data)
        conn.close()
    finally:
        c.close()
        srv.close()


# ---- tokens and bad input -------------------------------------------------------------------

def test_tokens_are_single_use_and_expire(ctr_env_factory):
    env = ctr_env_factory(h.new_workdir())
    env.start(env={"CRIO_STREAM_TOKEN_TTL_MS": "1500"})
    env.pull()
    _, cid = running(env)
    url = exec_url(env.client, cid, ["/bin/true"])
    assert sc.exec_spdy(url).exit_code == 0
    with pytest.raises(sc.UpgradeRefused) as info:
        sc.exec_spdy(url)
    assert info.value.status == 404, info.value
    stale = exec_url(env.client, cid, ["/bin/true"])
    time.sleep(2)
    with pytest.raises(sc.UpgradeRefused) as info:
        sc.exec_spdy(stale)
    assert info.value.status == 404, info.value
    assert "unknown, used or expired token" in env.daemon.log()


def test_bad_requests_get_clear_errors_and_do_not_disturb_other_streams(ctr_env):
    env = ctr_env
    _, cid = running(env)
    # A long exec runs throughout; it must come out whole at the end.
    url = exec_url(env.client, cid, ["/bin/sh", "-c", "sleep 3; echo survived"])
    result = {}
    t = threading.Thread(target=lambda: result.update(r=sc.exec_spdy(url, timeout=60)))
    t.start()

    base = url.rsplit("/exec/", 1)[0]
    with pytest.raises(sc.UpgradeRefused) as info:
        sc.exec_spdy(base + "/exec/nosuchtoken")
    assert info.value.status == 404
    with pytest.raises(sc.UpgradeRefused) as info:
        sc.exec_spdy(exec_url(env.client, cid, ["/bin/true"]), protocols=("v9.channel.k8s.io",))
    assert info.value.status == 403 and "v4.channel.k8s.io" in \
        info.value.headers["x-accepted-stream-protocol-versions"], info.value.headers
    u = exec_url(env.client, cid, ["/bin/true"])
    path = "/" + u.split("/", 3)[3]
    status, _, _ = sc.raw_request(u, f"POST {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert status == 400, status
    status, _, _ = sc.raw_request(u, b"NOT HTTP AT ALL\r\n\r\n")
    assert status == 400, status
    status, _, _ = sc.raw_request(u, b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 20000 + b"\r\n\r\n")
    assert status == 431, status

    # Malformed SPDY: a version-2 control frame, an absurd data frame, an
    # unordered stream id: the connection ends with GOAWAY, nothing hangs.
    for bad in (struct.pack(">HHI", 0x8002, 1, 10) + b"\0" * 10,
                struct.pack(">II", 1, 0xffffff),
                None):
        c = sc.SpdyConnection(exec_url(env.client, cid, ["/bin/sleep", "30"]))
        try:
            if bad is None:
                c.open_stream({"streamType": "error"})
                c.next_id = 1  # the same id again
                st = c.open_stream({"streamType": "stdout"}, wait=False)
                with st.cond:
                    assert st.cond.wait_for(lambda: st.reset is not None, 10), "no RST_STREAM"
            else:
                c.send_raw(bad)
                assert c.wait_closed(10), "the server kept a connection that sent garbage"
                assert c.goaway is not None and c.goaway[1] == 1, c.goaway
        finally:
            c.close()
    # Malformed WebSocket: an unmasked frame, an absurd length.
    for bad in (b"\x82\x05hello", b"\x82\xff" + struct.pack(">Q", 1 << 62) + b"abcd"):
        c = sc.WsConnection(exec_url(env.client, cid, ["/bin/sleep", "30"]), ("v4.channel.k8s.io",))
        try:
            c.send_raw(bad)
            assert c.wait_closed(10), "the server kept a connection that sent garbage"
            assert c.close_code == 1002, c.close_code
        finally:
            c.shutdown()
    t.join(60)
    r = result["r"]
    assert r.stdout == b"survived\n" and r.exit_code == 0, r
    # Field checks of the RPCs.
    for kw, fragment in ((dict(cmd=["/bin/true"], tty=True, stderr=True), "tty and stderr"),
                         (dict(cmd=["/bin/true"], stdout=False, stderr=False), "one of stdin"),
                         (dict(cmd=[]), "cmd")):
        code, msg = p.rpc_code(exec_url, env.client, cid, **kw)
        assert code == grpc.StatusCode.INVALID_ARGUMENT and fragment in msg, (kw, code, msg)
    code, msg = p.rpc_code(exec_url, env.client, "nosuchcontainer", ["/bin/true"])
    assert code == grpc.StatusCode.NOT_FOUND, (code, msg)
    code, msg = p.rpc_code(port_forward_url, env.client, "nosuchpod")
    assert code == grpc.StatusCode.NOT_FOUND, (code, msg)


def test_a_client_that_vanishes_leaves_nothing_behind(ctr_env):
    env = ctr_env
    _, cid = running(env)
    sc.exec_spdy(exec_url(env.client, cid, ["/bin/true"]))  # warm up
    time.sleep(1.5)
    fds, kids = daemon_fds(env), daemon_children(env)
    for tty in (False, True):
        url = exec_url(env.client, cid, ["/bin/sleep", "1001"], tty=tty, stdin=tty,
                       stderr=not tty)
        c = sc.SpdyConnection(url)
        c.open_stream({"streamType": "error"})
        if tty:
            c.open_stream({"streamType": "stdin"})
        c.open_stream({"streamType": "stdout"})
        if tty:
            c.open_stream({"streamType": "resize"})
        else:
            c.open_stream({"streamType": "stderr"})
        wait_until(lambda: "sleep 1001" in ps_in(env, cid), what="the exec to run")
        # Gone without a word: a reset connection.
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        wait_until(lambda: "sleep 1001" not in ps_in(env, cid), what="the exec to be killed")
    # A port-forward and an attach client vanish too.
    pod_id, ecid = echo_server(env, "echo2")
    wait_listening(env, ecid)
    fds, kids = daemon_fds(env), daemon_children(env)
    c = sc.SpdyConnection(port_forward_url(env.client, pod_id), protocols=("portforward.k8s.io",))
    _, data = forward_pair(c, ECHO_PORT, "0")
    c.send(data, b"x\n")
    assert c.wait_for(data, lambda d: d == b"x\n")
    c.close()
    c = sc.SpdyConnection(attach_url(env.client, cid, stdin=False))
    c.open_stream({"streamType": "error"})
    c.open_stream({"streamType": "stdout"})
    c.open_stream({"streamType": "stderr"})
    c.close()
    wait_until(lambda: daemon_fds(env) == fds and daemon_children(env) == kids, timeout=15,
               what=f"fds {fds} and children {kids} again (saw {daemon_fds(env)}, "
                    f"{daemon_children(env)})")


def test_an_idle_stream_times_out(ctr_env_factory):
    env = ctr_env_factory(h.new_workdir(), crio_conf_extra='[crio.api]\nstream_idle_timeout = "2s"\n')
    env.start()
    env.pull()
    _, cid = running(env)
    c = sc.SpdyConnection(exec_url(env.client, cid, ["/bin/sleep", "1002"], stderr=False))
    try:
        c.open_stream({"streamType": "error"})
        c.open_stream({"streamType": "stdout"})
        t0 = time.monotonic()
        assert c.wait_closed(20), "an idle connection stayed open"
        assert 1.5 < time.monotonic() - t0 < 10
    finally:
        c.close()
    wait_until(lambda: "sleep 1002" not in ps_in(env, cid), what="the idle exec to be killed")
    assert "idle for 2000 ms" in env.daemon.log()


def test_tls_when_a_certificate_and_key_are_configured(ctr_env_factory, tmp_path):
    cert, key = tmp_path / "stream.crt", tmp_path / "stream.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    env = ctr_env_factory(h.new_workdir(), crio_conf_extra=(
        f'[crio.api]\nstream_enable_tls = true\nstream_tls_cert = "{cert}"\n'
        f'stream_tls_key = "{key}"\n'))
    env.start()
    env.pull()
    _, cid = running(env)
    url = exec_url(env.client, cid, ["/bin/sh", "-c", "echo secret; exit 2"])
    assert url.startswith("https://127.0.0.1:"), url
    r = sc.exec_spdy(url)
    assert r.stdout == b"secret\n" and r.exit_code == 2, r
    # Plain HTTP on the TLS port gets nowhere, and the server carries on.
    status = None
    try:
        status, _, _ = sc.raw_request(url.replace("https://", "http://"),
                                      b"GET / HTTP/1.1\r\n\r\n", timeout=5)
    except (ConnectionError, OSError):
        pass
    assert status is None, status
    r = sc.exec_ws(exec_url(env.client, cid, ["/bin/echo", "ws"]))
    assert r.stdout == b"ws\n", r
