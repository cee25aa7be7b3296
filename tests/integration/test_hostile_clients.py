"""Clients that misbehave on the CRI socket: malformed HTTP/2 and gRPC
frames, a request over the receive limit, thousands of calls at once, and
event streams whose readers never read.  Whatever they do, the daemon keeps
answering a well-behaved client, its threads and memory stay bounded, and
nothing hangs."""

import os
import random
import socket
import struct
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

import crio_harness as h

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# HTTP/2 frame types and flags (RFC 9113).
DATA, HEADERS, SETTINGS, WINDOW_UPDATE, GOAWAY = 0x0, 0x1, 0x4, 0x8, 0x7
END_STREAM, END_HEADERS = 0x1, 0x4
MAX_MESSAGE = 16 * 1024 * 1024  # cri/server.c MAX_MESSAGE_BYTES
MAX_STREAMS = 64                # cri/server.c MAX_STREAMS


def frame(ftype, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream & 0x7FFFFFFF) + payload


def hpack_literal(name, value):
    """A header as HPACK's literal-without-indexing, new name, no Huffman
    (enough for short ASCII names and values)."""
    name, value = name.encode(), value.encode()
    assert len(name) < 127 and len(value) < 127
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


def grpc_headers(path):
    return b"".join(hpack_literal(n, v) for n, v in [
        (":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "localhost"),
        ("content-type", "application/grpc"), ("te", "trailers")])


def daemon_stats(d):
    status = open(f"/proc/{d.pid}/status").read()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {"threads": int(fields["Threads"]), "rss_kib": int(fields["VmRSS"].split()[0]),
            "fds": len(os.listdir(f"/proc/{d.pid}/fd"))}


def open_raw(sock_path, data):
    """A connection that has sent `data` and is left open."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(str(sock_path))
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the daemon closed it already
    return s


def drain(s, read_for):
    """What came back within read_for seconds, and whether the daemon
    closed the connection."""
    got, closed = b"", False
    deadline = time.monotonic() + read_for
    s.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        got += chunk
    return got, closed


def send_raw(sock_path, data, read_for=2.0):
    s = open_raw(sock_path, data)
    try:
        return drain(s, read_for)
    finally:
        s.close()


def goaway_or_closed(got, closed):
    """The daemon either closed the connection or sent a GOAWAY frame."""
    if closed:
        return True
    i = 0
    while i + 9 <= len(got):
        length = int.from_bytes(got[i:i + 3], "big")
        if got[i + 3] == GOAWAY:
            return True
        i += 9 + length
    return False


MALFORMED = {
    "http1-request": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad-preface": b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + b"\0" * 64,
    "settings-bad-length": PREFACE + frame(SETTINGS, 0, 0, b"\0" * 5),
    "data-on-stream-0": PREFACE + frame(SETTINGS, 0, 0, b"") + frame(DATA, 0, 0, b"x"),
    "window-update-zero": PREFACE + frame(SETTINGS, 0, 0, b"") +
    frame(WINDOW_UPDATE, 0, 0, b"\0\0\0\0"),
    "headers-garbage-hpack": PREFACE + frame(SETTINGS, 0, 0, b"") +
    frame(HEADERS, END_HEADERS, 1, b"\xff\xff\xff\xff\xff\xff\xff\xff\x7f"),
    "frame-over-max-size": PREFACE + frame(SETTINGS, 0, 0, b"") +
    struct.pack(">I", 1 << 23)[1:] + bytes([DATA, 0]) + struct.pack(">I", 1) + b"\0" * 1024,
    "even-stream-id": PREFACE + frame(SETTINGS, 0, 0, b"") +
    frame(HEADERS, END_HEADERS | END_STREAM, 2, grpc_headers("/runtime.v1.RuntimeService/Version")),
    "random-after-preface": PREFACE + random.Random(14).randbytes(64 * 1024),
}


# Those the daemon must end at once (gRPC answers with GOAWAY or closes);
# the others break the protocol in ways gRPC may also meet by waiting for
# the rest of a frame, or by resetting one stream, until the connection's
# own timeouts end it.
MUST_CLOSE = {"http1-request", "bad-preface", "settings-bad-length", "frame-over-max-size",
              "headers-garbage-hpack"}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_frames_never_stop_other_clients(crio, name):
    """While the bad connection is still open, another client is served."""
    bad = open_raw(crio.socket, MALFORMED[name])
    try:
        assert crio.client.version(timeout=5).runtime_name, \
            f"{name}: Version failed while the bad connection was open"
        got, closed = drain(bad, 2.0)
        if name in MUST_CLOSE:
            assert goaway_or_closed(got, closed), \
                f"{name}: expected the daemon to close the connection or send GOAWAY, " \
                f"got {got[:64]!r}"
    finally:
        bad.close()
    assert crio.client.version(timeout=5).runtime_name, f"{name}: Version failed afterwards"


def test_bad_grpc_framing_fails_that_call_only(crio):
    """Well-formed HTTP/2 carrying a bad gRPC message frame: shorter than
    its length prefix, or flagged compressed without an encoding.  The call
    is answered (a status, or the stream or connection reset) without
    hanging, and the daemon keeps answering."""
    path = "/runtime.v1.RuntimeService/Version"
    bodies = {
        "short-message": b"\0" + struct.pack(">I", 1000) + b"abc",
        "compressed-flag": b"\1" + struct.pack(">I", 3) + b"abc",
    }
    for name, body in bodies.items():
        data = (PREFACE + frame(SETTINGS, 0, 0, b"") +
                frame(HEADERS, END_HEADERS, 1, grpc_headers(path)) +
                frame(DATA, END_STREAM, 1, body))
        t0 = time.monotonic()
        got, closed = send_raw(crio.socket, data, read_for=3.0)
        assert got or closed, f"{name}: expected an answer or a closed connection, got nothing"
        assert time.monotonic() - t0 < 10
        assert crio.client.version(timeout=5).runtime_name, f"{name}: Version failed afterwards"


@pytest.mark.parametrize("payload", [b"\xff\xff\xff\xff", b"\x80\x00\x01", b"\x0a\xff"],
                         ids=["garbage", "field-number-zero", "truncated-string"])
def test_undecodable_requests_are_invalid_argument(crio, payload):
    with pytest.raises(grpc.RpcError) as e:
        crio.client.raw("/runtime.v1.RuntimeService/RunPodSandbox", payload, timeout=5)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, \
        f"expected INVALID_ARGUMENT for {payload!r}, saw {e.value.code()}: {e.value.details()}"
    assert crio.client.version(timeout=5).runtime_name


def test_oversized_request_is_refused_and_memory_stays_bounded(crio_factory):
    d = crio_factory.start()
    before = daemon_stats(d)
    mod = h.api()
    channel = grpc.insecure_channel(f"unix://{d.socket}",
                                    options=[("grpc.max_send_message_length", -1)])
    try:
        stub = channel.unary_unary("/runtime.v1.RuntimeService/RunPodSandbox",
                                   request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=lambda b: b)
        big = mod.RunPodSandboxRequest(config=mod.PodSandboxConfig(
            metadata=mod.PodSandboxMetadata(name="big", uid="u", namespace="n"),
            annotations={"a": "x" * (MAX_MESSAGE + 1024)}))
        for _ in range(5):
            with pytest.raises(grpc.RpcError) as e:
                stub(big, timeout=30)
            assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, \
                f"expected RESOURCE_EXHAUSTED for a {MAX_MESSAGE + 1024}-byte request, saw " \
                f"{e.value.code()}: {e.value.details()}"
    finally:
        channel.close()
    assert d.client.version(timeout=5).runtime_name
    after = daemon_stats(d)
    # Five refused 16 MiB requests: gRPC reads each before refusing it, but
    # keeps none of them.  Under ASan (make asan sets ASAN_OPTIONS) freed
    # memory waits in its quarantine (256 MiB) before it is reused.
    limit_kib = 64 * 1024 + (256 * 1024 if "ASAN_OPTIONS" in os.environ else 0)
    assert after["rss_kib"] - before["rss_kib"] < limit_kib, \
        f"expected RSS to stay within {limit_kib} KiB of {before['rss_kib']} KiB, " \
        f"saw {after['rss_kib']}"


def test_thousands_of_concurrent_calls_all_answer(crio_factory):
    d = crio_factory.start()
    before = daemon_stats(d)
    clients = [h.CriClient(d.socket) for _ in range(8)]
    try:
        def one(i):
            return clients[i % len(clients)].version(timeout=120).runtime_name

        with ThreadPoolExecutor(max_workers=200) as pool:
            names = list(pool.map(one, range(3000)))
        assert len(names) == 3000 and all(names), "expected every Version call to answer"
        peak = daemon_stats(d)
    finally:
        for c in clients:
            c.close()
    # Handler threads are bounded (256) whatever the load.
    assert peak["threads"] <= before["threads"] + 260, \
        f"expected at most 260 more threads than {before['threads']}, saw {peak['threads']}"
    assert d.client.version(timeout=5).runtime_name


def test_event_streams_that_never_read_do_not_starve_other_calls(crio_factory):
    """Twice as many GetContainerEvents streams as the daemon takes: the
    ones past its limit are refused with RESOURCE_EXHAUSTED, and unary calls
    keep being served while every admitted stream waits on its reader."""
    d = crio_factory.start()
    channels = [grpc.insecure_channel(f"unix://{d.socket}") for _ in range(4)]
    mod = h.api()
    calls = []
    try:
        for i in range(2 * MAX_STREAMS):
            stub = channels[i % len(channels)].unary_stream(
                "/runtime.v1.RuntimeService/GetContainerEvents",
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=lambda b: b)
            calls.append(stub(mod.GetEventsRequest(), timeout=120))
        # The refused ones end at once; the admitted ones stay open.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and sum(c.done() for c in calls) < MAX_STREAMS:
            time.sleep(0.1)
        time.sleep(0.5)
        codes = [c.code() for c in calls if c.done()]
        refused = sum(code == grpc.StatusCode.RESOURCE_EXHAUSTED for code in codes)
        assert refused == MAX_STREAMS and len(codes) == MAX_STREAMS, \
            f"expected {MAX_STREAMS} of {2 * MAX_STREAMS} streams refused and the rest open, " \
            f"saw these ended: {codes}"
        t0 = time.monotonic()
        for _ in range(20):
            assert d.client.version(timeout=5).runtime_name
            d.client.call("ListPodSandbox", timeout=5)
        took = time.monotonic() - t0
        assert took < 20, f"expected 40 unary calls beside the streams within 20 s, took {took:.1f}"
    finally:
        for call in calls:
            call.cancel()
        for ch in channels:
            ch.close()
    # The streams notice their clients went away within their wake bound,
    # and a new stream is admitted again (it stays open until its deadline).
    stub = d.client._stub("GetContainerEvents")
    deadline = time.monotonic() + 10
    while True:
        try:
            list(stub(mod.GetEventsRequest(), timeout=1))
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                break
            assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, f"{e.code()}: {e.details()}"
        assert time.monotonic() < deadline, \
            "expected a new event stream to be admitted once the others were cancelled"
        time.sleep(0.2)
