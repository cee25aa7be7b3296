"""A small client of the daemon's streaming server for the tests: SPDY/3.1
and WebSocket, written from the protocols (moby/spdystream's framing, the
kubelet's remotecommand and portforward subprotocols, RFC 6455), with
python3's zlib for SPDY's header compression.

SpdyConnection:  upgrade, open streams with headers, send/FIN/reset, read
                 a stream's bytes until the server's FIN.
WsConnection:    upgrade, channel messages (binary or base64), close.
exec_spdy / exec_ws: run one remote command and return what came back.
"""

import base64
import hashlib
import json
import os
import socket
import ssl
import struct
import threading
import zlib
from urllib.parse import urlparse

# The zlib dictionary of SPDY/3 header blocks (the SPDY/3 draft, 2.6.10.1).
SPDY_DICTIONARY = (
    b"\x00\x00\x00\x07\x6f\x70\x74\x69\x6f\x6e\x73\x00\x00\x00\x04\x68"
    b"\x65\x61\x64\x00\x00\x00\x04\x70\x6f\x73\x74\x00\x00\x00\x03\x70"
    b"\x75\x74\x00\x00\x00\x06\x64\x65\x6c\x65\x74\x65\x00\x00\x00\x05"
    b"\x74\x72\x61\x63\x65\x00\x00\x00\x06\x61\x63\x63\x65\x70\x74\x00"
    b"\x00\x00\x0e\x61\x63\x63\x65\x70\x74\x2d\x63\x68\x61\x72\x73\x65"
    b"\x74\x00\x00\x00\x0f\x61\x63\x63\x65\x70\x74\x2d\x65\x6e\x63\x6f"
    b"\x64\x69\x6e\x67\x00\x00\x00\x0f\x61\x63\x63\x65\x70\x74\x2d\x6c"
    b"\x61\x6e\x67\x75\x61\x67\x65\x00\x00\x00\x0d\x61\x63\x63\x65\x70"
    b"\x74\x2d\x72\x61\x6e\x67\x65\x73\x00\x00\x00\x03\x61\x67\x65\x00"
    b"\x00\x00\x05\x61\x6c\x6c\x6f\x77\x00\x00\x00\x0d\x61\x75\x74\x68"
    b"\x6f\x72\x69\x7a\x61\x74\x69\x6f\x6e\x00\x00\x00\x0d\x63\x61\x63"
    b"\x68\x65\x2d\x63\x6f\x6e\x74\x72\x6f\x6c\x00\x00\x00\x0a\x63\x6f"
    b"\x6e\x6e\x65\x63\x74\x69\x6f\x6e\x00\x00\x00\x0c\x63\x6f\x6e\x74"
    b"\x65\x6e\x74\x2d\x62\x61\x73\x65\x00\x00\x00\x10\x63\x6f\x6e\x74"
    b"\x65\x6e\x74\x2d\x65\x6e\x63\x6f\x64\x69\x6e\x67\x00\x00\x00\x10"
    b"\x63\x6f\x6e\x74\x65\x6e\x74\x2d\x6c\x61\x6e\x67\x75\x61\x67\x65"
    b"\x00\x00\x00\x0e\x63\x6f\x6e\x74\x65\x6e\x74\x2d\x6c\x65\x6e\x67"
    b"\x74\x68\x00\x00\x00\x10\x63\x6f\x6e\x74\x65\x6e\x74\x2d\x6c\x6f"
    b"\x63\x61\x74\x69\x6f\x6e\x00\x00\x00\x0b\x63\x6f\x6e\x74\x65\x6e"
    b"\x74\x2d\x6d\x64\x35\x00\x00\x00\x0d\x63\x6f\x6e\x74\x65\x6e\x74"
    b"\x2d\x72\x61\x6e\x67\x65\x00\x00\x00\x0c\x63\x6f\x6e\x74\x65\x6e"
    b"\x74\x2d\x74\x79\x70\x65\x00\x00\x00\x04\x64\x61\x74\x65\x00\x00"
    b"\x00\x04\x65\x74\x61\x67\x00\x00\x00\x06\x65\x78\x70\x65\x63\x74"
    b"\x00\x00\x00\x07\x65\x78\x70\x69\x72\x65\x73\x00\x00\x00\x04\x66"
    b"\x72\x6f\x6d\x00\x00\x00\x04\x68\x6f\x73\x74\x00\x00\x00\x08\x69"
    b"\x66\x2d\x6d\x61\x74\x63\x68\x00\x00\x00\x11\x69\x66\x2d\x6d\x6f"
    b"\x64\x69\x66\x69\x65\x64\x2d\x73\x69\x6e\x63\x65\x00\x00\x00\x0d"
    b"\x69\x66\x2d\x6e\x6f\x6e\x65\x2d\x6d\x61\x74\x63\x68\x00\x00\x00"
    b"\x08\x69\x66\x2d\x72\x61\x6e\x67\x65\x00\x00\x00\x13\x69\x66\x2d"
    b"\x75\x6e\x6d\x6f\x64\x69\x66\x69\x65\x64\x2d\x73\x69\x6e\x63\x65"
    b"\x00\x00\x00\x0d\x6c\x61\x73\x74\x2d\x6d\x6f\x64\x69\x66\x69\x65"
    b"\x64\x00\x00\x00\x08\x6c\x6f\x63\x61\x74\x69\x6f\x6e\x00\x00\x00"
    b"\x0c\x6d\x61\x78\x2d\x66\x6f\x72\x77\x61\x72\x64\x73\x00\x00\x00"
    b"\x06\x70\x72\x61\x67\x6d\x61\x00\x00\x00\x12\x70\x72\x6f\x78\x79"
    b"\x2d\x61\x75\x74\x68\x65\x6e\x74\x69\x63\x61\x74\x65\x00\x00\x00"
    b"\x13\x70\x72\x6f\x78\x79\x2d\x61\x75\x74\x68\x6f\x72\x69\x7a\x61"
    b"\x74\x69\x6f\x6e\x00\x00\x00\x05\x72\x61\x6e\x67\x65\x00\x00\x00"
    b"\x07\x72\x65\x66\x65\x72\x65\x72\x00\x00\x00\x0b\x72\x65\x74\x72"
    b"\x79\x2d\x61\x66\x74\x65\x72\x00\x00\x00\x06\x73\x65\x72\x76\x65"
    b"\x72\x00\x00\x00\x02\x74\x65\x00\x00\x00\x07\x74\x72\x61\x69\x6c"
    b"\x65\x72\x00\x00\x00\x11\x74\x72\x61\x6e\x73\x66\x65\x72\x2d\x65"
    b"\x6e\x63\x6f\x64\x69\x6e\x67\x00\x00\x00\x07\x75\x70\x67\x72\x61"
    b"\x64\x65\x00\x00\x00\x0a\x75\x73\x65\x72\x2d\x61\x67\x65\x6e\x74"
    b"\x00\x00\x00\x04\x76\x61\x72\x79\x00\x00\x00\x03\x76\x69\x61\x00"
    b"\x00\x00\x07\x77\x61\x72\x6e\x69\x6e\x67\x00\x00\x00\x10\x77\x77"
    b"\x77\x2d\x61\x75\x74\x68\x65\x6e\x74\x69\x63\x61\x74\x65\x00\x00"
    b"\x00\x06\x6d\x65\x74\x68\x6f\x64\x00\x00\x00\x03\x67\x65\x74\x00"
    b"\x00\x00\x06\x73\x74\x61\x74\x75\x73\x00\x00\x00\x06\x32\x30\x30"
    b"\x20\x4f\x4b\x00\x00\x00\x07\x76\x65\x72\x73\x69\x6f\x6e\x00\x00"
    b"\x00\x08\x48\x54\x54\x50\x2f\x31\x2e\x31\x00\x00\x00\x03\x75\x72"
    b"\x6c\x00\x00\x00\x06\x70\x75\x62\x6c\x69\x63\x00\x00\x00\x0a\x73"
    b"\x65\x74\x2d\x63\x6f\x6f\x6b\x69\x65\x00\x00\x00\x0a\x6b\x65\x65"
    b"\x70\x2d\x61\x6c\x69\x76\x65\x00\x00\x00\x06\x6f\x72\x69\x67\x69"
    b"\x6e\x31\x30\x30\x31\x30\x31\x32\x30\x31\x32\x30\x32\x32\x30\x35"
    b"\x32\x30\x36\x33\x30\x30\x33\x30\x32\x33\x30\x33\x33\x30\x34\x33"
    b"\x30\x35\x33\x30\x36\x33\x30\x37\x34\x30\x32\x34\x30\x35\x34\x30"
    b"\x36\x34\x30\x37\x34\x30\x38\x34\x30\x39\x34\x31\x30\x34\x31\x31"
    b"\x34\x31\x32\x34\x31\x33\x34\x31\x34\x34\x31\x35\x34\x31\x36\x34"
    b"\x31\x37\x35\x30\x32\x35\x30\x34\x35\x30\x35\x32\x30\x33\x20\x4e"
    b"\x6f\x6e\x2d\x41\x75\x74\x68\x6f\x72\x69\x74\x61\x74\x69\x76\x65"
    b"\x20\x49\x6e\x66\x6f\x72\x6d\x61\x74\x69\x6f\x6e\x32\x30\x34\x20"
    b"\x4e\x6f\x20\x43\x6f\x6e\x74\x65\x6e\x74\x33\x30\x31\x20\x4d\x6f"
    b"\x76\x65\x64\x20\x50\x65\x72\x6d\x61\x6e\x65\x6e\x74\x6c\x79\x34"
    b"\x30\x30\x20\x42\x61\x64\x20\x52\x65\x71\x75\x65\x73\x74\x34\x30"
    b"\x31\x20\x55\x6e\x61\x75\x74\x68\x6f\x72\x69\x7a\x65\x64\x34\x30"
    b"\x33\x20\x46\x6f\x72\x62\x69\x64\x64\x65\x6e\x34\x30\x34\x20\x4e"
    b"\x6f\x74\x20\x46\x6f\x75\x6e\x64\x35\x30\x30\x20\x49\x6e\x74\x65"
    b"\x72\x6e\x61\x6c\x20\x53\x65\x72\x76\x65\x72\x20\x45\x72\x72\x6f"
    b"\x72\x35\x30\x31\x20\x4e\x6f\x74\x20\x49\x6d\x70\x6c\x65\x6d\x65"
    b"\x6e\x74\x65\x64\x35\x30\x33\x20\x53\x65\x72\x76\x69\x63\x65\x20"
    b"\x55\x6e\x61\x76\x61\x69\x6c\x61\x62\x6c\x65\x4a\x61\x6e\x20\x46"
    b"\x65\x62\x20\x4d\x61\x72\x20\x41\x70\x72\x20\x4d\x61\x79\x20\x4a"
    b"\x75\x6e\x20\x4a\x75\x6c\x20\x41\x75\x67\x20\x53\x65\x70\x74\x20"
    b"\x4f\x63\x74\x20\x4e\x6f\x76\x20\x44\x65\x63\x20\x30\x30\x3a\x30"
    b"\x30\x3a\x30\x30\x20\x4d\x6f\x6e\x2c\x20\x54\x75\x65\x2c\x20\x57"
    b"\x65\x64\x2c\x20\x54\x68\x75\x2c\x20\x46\x72\x69\x2c\x20\x53\x61"
    b"\x74\x2c\x20\x53\x75\x6e\x2c\x20\x47\x4d\x54\x63\x68\x75\x6e\x6b"
    b"\x65\x64\x2c\x74\x65\x78\x74\x2f\x68\x74\x6d\x6c\x2c\x69\x6d\x61"
    b"\x67\x65\x2f\x70\x6e\x67\x2c\x69\x6d\x61\x67\x65\x2f\x6a\x70\x67"
    b"\x2c\x69\x6d\x61\x67\x65\x2f\x67\x69\x66\x2c\x61\x70\x70\x6c\x69"
    b"\x63\x61\x74\x69\x6f\x6e\x2f\x78\x6d\x6c\x2c\x61\x70\x70\x6c\x69"
    b"\x63\x61\x74\x69\x6f\x6e\x2f\x78\x68\x74\x6d\x6c\x2b\x78\x6d\x6c"
    b"\x2c\x74\x65\x78\x74\x2f\x70\x6c\x61\x69\x6e\x2c\x74\x65\x78\x74"
    b"\x2f\x6a\x61\x76\x61\x73\x63\x72\x69\x70\x74\x2c\x70\x75\x62\x6c"
    b"\x69\x63\x70\x72\x69\x76\x61\x74\x65\x6d\x61\x78\x2d\x61\x67\x65"
    b"\x3d\x67\x7a\x69\x70\x2c\x64\x65\x66\x6c\x61\x74\x65\x2c\x73\x64"
    b"\x63\x68\x63\x68\x61\x72\x73\x65\x74\x3d\x75\x74\x66\x2d\x38\x63"
    b"\x68\x61\x72\x73\x65\x74\x3d\x69\x73\x6f\x2d\x38\x38\x35\x39\x2d"
    b"\x31\x2c\x75\x74\x66\x2d\x2c\x2a\x2c\x65\x6e\x71\x3d\x30\x2e")

SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = \
    1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 1


class UpgradeRefused(Exception):
    def __init__(self, status, headers, body):
        super().__init__(f"HTTP {status}: {body!r}")
        self.status = status
        self.headers = headers
        self.body = body


def _connect(url, timeout, tls_context=None):
    u = urlparse(url)
    port = u.port or (443 if u.scheme == "https" else 80)
    sock = socket.create_connection((u.hostname, port), timeout=timeout)
    if u.scheme == "https":
        ctx = tls_context or ssl._create_unverified_context()
        sock = ctx.wrap_socket(sock, server_hostname=u.hostname)
    path = u.path + (f"?{u.query}" if u.query else "")
    return sock, u, path


def _read_head(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"connection closed during the response head: {data!r}")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        headers.setdefault(k.strip().lower(), []).append(v.strip())
    return status, headers, rest


def _refused(sock, status, headers, rest):
    n = int(headers.get("content-length", ["0"])[0])
    body = rest
    sock.settimeout(5)
    while len(body) < n:
        chunk = sock.recv(4096)
        if not chunk:
            break
        body += chunk
    sock.close()
    raise UpgradeRefused(status, headers, body.decode(errors="replace"))


def raw_request(url, request_bytes, timeout=10):
    """Sends bytes as they are; returns (status, headers, body) or raises."""
    u = urlparse(url)
    sock = socket.create_connection((u.hostname, u.port), timeout=timeout)
    try:
        sock.sendall(request_bytes)
        status, headers, rest = _read_head(sock)
        return status, headers, rest
    finally:
        sock.close()


# ---- SPDY --------------------------------------------------------------------------------

class SpdyStream:
    def __init__(self, sid, headers):
        self.id = sid
        self.headers = headers
        self.data = bytearray()
        self.cond = threading.Condition()
        self.replied = False
        self.fin = False       # the server sent FIN
        self.reset = None      # the server's RST_STREAM status


class _UpgradedSocket:
    """What the SPDY and WebSocket clients share: the HTTP/1.1 upgrade on a
    connected socket, the bytes read past it, and closing the socket."""

    def _upgrade(self, url, timeout, tls_context, request_lines):
        """Sends request_lines(url parts, path) as the upgrade request; the
        response headers of a 101 (anything else raises UpgradeRefused)."""
        self.sock, u, path = _connect(url, timeout, tls_context)
        lines = request_lines(u, path)
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        status, headers, rest = _read_head(self.sock)
        if status != 101:
            _refused(self.sock, status, headers, rest)
        self.sock.settimeout(None)
        self.buf = bytearray(rest)
        return headers

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(256 << 10)
            if not chunk:
                raise EOFError
            self.buf += chunk

    def _close_socket(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class SpdyConnection(_UpgradedSocket):
    def __init__(self, url, protocols=("v4.channel.k8s.io",), timeout=30, method="POST",
                 extra_headers=(), tls_context=None):
        def request_lines(u, path):
            return ([f"{method} {path} HTTP/1.1", f"Host: {u.netloc}",
                     "Connection: Upgrade", "Upgrade: SPDY/3.1"]
                    + [f"X-Stream-Protocol-Version: {p}" for p in protocols]
                    + list(extra_headers))
        headers = self._upgrade(url, timeout, tls_context, request_lines)
        self.protocol = headers.get("x-stream-protocol-version", [""])[0]
        self.compress = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 15, 8,
                                         zlib.Z_DEFAULT_STRATEGY, zdict=SPDY_DICTIONARY)
        self.decompress = zlib.decompressobj(zdict=SPDY_DICTIONARY)
        self.streams = {}
        self.next_id = 1
        self.lock = threading.Lock()
        self.cond = threading.Condition()
        self.closed = False
        self.goaway = None
        self.pings = []
        self.reader = threading.Thread(target=self._read_loop, daemon=True)
        self.reader.start()

    # -- sending --
    def _send(self, data):
        with self.lock:
            self.sock.sendall(data)

    def _header_block(self, headers):
        raw = struct.pack(">I", len(headers))
        for k, v in headers.items():
            k, v = k.lower().encode(), str(v).encode()
            raw += struct.pack(">I", len(k)) + k + struct.pack(">I", len(v)) + v
        return self.compress.compress(raw) + self.compress.flush(zlib.Z_SYNC_FLUSH)

    def control(self, ftype, payload, flags=0, version=3):
        return struct.pack(">HHI", 0x8000 | version, ftype, (flags << 24) | len(payload)) + payload

    def open_stream(self, headers, wait=True, timeout=10):
        with self.lock:
            sid = self.next_id
            self.next_id += 2
            st = SpdyStream(sid, headers)
            self.streams[sid] = st
            payload = struct.pack(">IIBB", sid, 0, 0, 0) + self._header_block(headers)
            self.sock.sendall(self.control(SYN_STREAM, payload))
        if wait:
            with st.cond:
                if not st.cond.wait_for(lambda: st.replied or st.reset is not None or self.closed,
                                        timeout):
                    raise TimeoutError(f"no SYN_REPLY for stream {sid}")
        return st

    def send(self, st, data, fin=False, chunk=32 << 10):
        view = memoryview(data)
        if not view:
            self._send(struct.pack(">II", st.id, (FIN_FLAG(fin) << 24)))
            return
        for off in range(0, len(view), chunk):
            part = view[off:off + chunk]
            last = fin and off + chunk >= len(view)
            self._send(struct.pack(">II", st.id, (FIN_FLAG(last) << 24) | len(part)) + part)

    def fin(self, st):
        self._send(struct.pack(">II", st.id, FLAG_FIN << 24))

    def reset(self, st, status=5):
        self._send(self.control(RST_STREAM, struct.pack(">II", st.id, status)))

    def ping(self, pid=1):
        self._send(self.control(PING, struct.pack(">I", pid)))

    def send_raw(self, data):
        self._send(data)

    def close(self):
        self._close_socket()

    # -- receiving --
    def _read_loop(self):
        try:
            while True:
                self._need(8)
                w0, w1 = struct.unpack(">II", self.buf[:8])
                length = w1 & 0xffffff
                flags = w1 >> 24
                self._need(8 + length)
                payload = bytes(self.buf[8:8 + length])
                del self.buf[:8 + length]
                if w0 & 0x80000000:
                    self._control(w0 & 0xffff, flags, payload)
                else:
                    st = self.streams.get(w0 & 0x7fffffff)
                    if st is None:
                        continue
                    with st.cond:
                        st.data += payload
                        if flags & FLAG_FIN:
                            st.fin = True
                        st.cond.notify_all()
        except (EOFError, OSError):
            pass
        finally:
            with self.cond:
                self.closed = True
                self.cond.notify_all()
            for st in list(self.streams.values()):
                with st.cond:
                    st.cond.notify_all()

    def _control(self, ftype, flags, payload):
        if ftype == SYN_REPLY:
            sid = struct.unpack(">I", payload[:4])[0] & 0x7fffffff
            block = self.decompress.decompress(payload[4:])
            assert struct.unpack(">I", block[:4])[0] == 0, f"reply headers {block!r}"
            st = self.streams[sid]
            with st.cond:
                st.replied = True
                if flags & FLAG_FIN:
                    st.fin = True
                st.cond.notify_all()
        elif ftype == RST_STREAM:
            sid, status = struct.unpack(">II", payload)
            st = self.streams.get(sid & 0x7fffffff)
            if st:
                with st.cond:
                    st.reset = status
                    st.cond.notify_all()
        elif ftype == GOAWAY:
            with self.cond:
                self.goaway = struct.unpack(">II", payload)
                self.cond.notify_all()
        elif ftype == PING:
            self.pings.append(struct.unpack(">I", payload)[0])

    def read_until_fin(self, st, timeout=60):
        """A stream's bytes once the server finished it (or the connection ended)."""
        with st.cond:
            if not st.cond.wait_for(lambda: st.fin or st.reset is not None or self.closed,
                                    timeout):
                raise TimeoutError(f"stream {st.id} not finished after {timeout}s; "
                                   f"got {bytes(st.data[:200])!r}")
            return bytes(st.data)

    def wait_for(self, st, predicate, timeout=30):
        with st.cond:
            return st.cond.wait_for(lambda: predicate(bytes(st.data)) or self.closed, timeout)

    def wait_closed(self, timeout=30):
        with self.cond:
            return self.cond.wait_for(lambda: self.closed, timeout)


def FIN_FLAG(fin):
    return FLAG_FIN if fin else 0


# ---- WebSocket ---------------------------------------------------------------------------

class WsConnection(_UpgradedSocket):
    def __init__(self, url, protocols=("v4.channel.k8s.io",), timeout=30, tls_context=None):
        key = base64.b64encode(os.urandom(16)).decode()

        def request_lines(u, path):
            lines = [f"GET {path} HTTP/1.1", f"Host: {u.netloc}", "Connection: Upgrade",
                     "Upgrade: websocket", "Sec-WebSocket-Version: 13",
                     f"Sec-WebSocket-Key: {key}"]
            if protocols:
                lines.append("Sec-WebSocket-Protocol: " + ", ".join(protocols))
            return lines
        headers = self._upgrade(url, timeout, tls_context, request_lines)
        expect = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        assert headers["sec-websocket-accept"][0] == expect, headers
        self.protocol = headers.get("sec-websocket-protocol", [""])[0]
        self.base64 = "base64" in self.protocol
        self.lock = threading.Lock()
        self.cond = threading.Condition()
        self.channels = {}
        self.messages = []
        self.closed = False
        self.close_code = None
        self.reader = threading.Thread(target=self._read_loop, daemon=True)
        self.reader.start()

    def frame(self, opcode, payload, fin=True, mask=True):
        head = bytes([(0x80 if fin else 0) | opcode])
        n = len(payload)
        m = 0x80 if mask else 0
        if n < 126:
            head += bytes([m | n])
        elif n < 65536:
            head += bytes([m | 126]) + struct.pack(">H", n)
        else:
            head += bytes([m | 127]) + struct.pack(">Q", n)
        if not mask:
            return head + payload
        key = os.urandom(4)
        masked = bytes(b ^ key[i & 3] for i, b in enumerate(payload)) if n < 4096 else \
            _mask_fast(payload, key)
        return head + key + masked

    def send_raw(self, data):
        with self.lock:
            self.sock.sendall(data)

    def send(self, channel, data):
        if self.base64:
            payload = bytes([ord("0") + channel]) + base64.b64encode(data)
            self.send_raw(self.frame(1, payload))
        else:
            self.send_raw(self.frame(2, bytes([channel]) + data))

    def close_channel(self, channel):
        """v5.channel.k8s.io: the close signal (channel 255)."""
        self.send_raw(self.frame(2, bytes([255, channel])))

    def close(self, code=1000):
        try:
            self.send_raw(self.frame(8, struct.pack(">H", code)))
        except OSError:
            pass

    def shutdown(self):
        self._close_socket()

    def _read_loop(self):
        try:
            while True:
                self._need(2)
                b0, b1 = self.buf[0], self.buf[1]
                assert not b1 & 0x80, "the server must not mask"
                n, off = b1 & 0x7f, 2
                if n == 126:
                    self._need(4)
                    n, off = struct.unpack(">H", self.buf[2:4])[0], 4
                elif n == 127:
                    self._need(10)
                    n, off = struct.unpack(">Q", self.buf[2:10])[0], 10
                self._need(off + n)
                payload = bytes(self.buf[off:off + n])
                del self.buf[:off + n]
                opcode = b0 & 0x0f
                if opcode == 8:
                    with self.cond:
                        self.close_code = struct.unpack(">H", payload[:2])[0] if payload else None
                    break
                if opcode in (1, 2):
                    if self.base64:
                        ch, data = payload[0] - ord("0"), base64.b64decode(payload[1:])
                    else:
                        ch, data = payload[0], payload[1:]
                    with self.cond:
                        self.messages.append((ch, data))
                        self.channels.setdefault(ch, bytearray()).extend(data)
                        self.cond.notify_all()
        except (EOFError, OSError):
            pass
        finally:
            with self.cond:
                self.closed = True
                self.cond.notify_all()

    def channel(self, ch):
        with self.cond:
            return bytes(self.channels.get(ch, b""))

    def wait_closed(self, timeout=60):
        with self.cond:
            return self.cond.wait_for(lambda: self.closed, timeout)

    def wait_for(self, ch, predicate, timeout=30):
        with self.cond:
            return self.cond.wait_for(
                lambda: predicate(bytes(self.channels.get(ch, b""))) or self.closed, timeout)


def _mask_fast(payload, key):
    n = len(payload)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(k, "little")).to_bytes(n, "little")


# ---- remote commands ---------------------------------------------------------------------

class Result:
    def __init__(self, stdout, stderr, error, protocol):
        self.stdout = stdout
        self.stderr = stderr
        self.error = error          # raw bytes of the error stream
        self.protocol = protocol

    @property
    def status(self):
        return json.loads(self.error) if self.error else None

    @property
    def exit_code(self):
        st = self.status
        if st is None or st.get("status") == "Success":
            return 0
        for cause in st.get("details", {}).get("causes", []):
            if cause.get("reason") == "ExitCode":
                return int(cause["message"])
        return None

    def __repr__(self):
        return (f"Result(stdout={self.stdout[:200]!r}, stderr={self.stderr[:200]!r}, "
                f"error={self.error!r})")


def exec_spdy(url, stdin=None, tty=False, stdout=True, stderr=True, resize=None,
              protocols=("v4.channel.k8s.io",), timeout=60, close_stdin=True, on_open=None):
    """Opens the streams a kubectl exec would, sends stdin (then FIN), reads
    stdout/stderr and the error stream until the server ends them."""
    c = SpdyConnection(url, protocols, timeout=timeout)
    try:
        err = c.open_stream({"streamType": "error"})
        sin = c.open_stream({"streamType": "stdin"}) if stdin is not None else None
        sout = c.open_stream({"streamType": "stdout"}) if stdout else None
        serr = c.open_stream({"streamType": "stderr"}) if stderr and not tty else None
        rsz = c.open_stream({"streamType": "resize"}) if tty and c.protocol not in (
            "v2.channel.k8s.io", "channel.k8s.io") else None
        if rsz is not None and resize:
            c.send(rsz, json.dumps({"Width": resize[0], "Height": resize[1]}).encode())
        if on_open:
            on_open(c, sin, sout, serr, rsz)
        if sin is not None:
            # In a thread of its own, as kubectl copies stdin: the server
            # may hold stdin back while it sends output.
            def feed():
                try:
                    if stdin:
                        c.send(sin, stdin)
                    if close_stdin:
                        c.fin(sin)
                except OSError:
                    pass
            threading.Thread(target=feed, daemon=True).start()
        out = c.read_until_fin(sout, timeout) if sout else b""
        errout = c.read_until_fin(serr, timeout) if serr else b""
        error = c.read_until_fin(err, timeout)
        return Result(out, errout, error, c.protocol)
    finally:
        c.close()


def exec_ws(url, stdin=None, protocols=("v4.channel.k8s.io",), timeout=60, close_stdin=False):
    c = WsConnection(url, protocols, timeout=timeout)
    try:
        if stdin:
            c.send(0, stdin)
        if close_stdin:
            c.close_channel(0)
        assert c.wait_closed(timeout), "the server did not end the session"
        return Result(c.channel(1), c.channel(2), c.channel(3), c.protocol)
    finally:
        c.shutdown()
