"""Who can reach the daemon.  The CRI socket is as CRI-O leaves it: owned
by root:root with mode 0660 (CRI-O chmods its socket to 0o660 after listen
and never chowns it), so root and members of the socket's group may connect
and nobody else may.  The daemon listens on no network address except
loopback (CRI-O's streaming and metrics defaults are 127.0.0.1): any inet
socket it listens on is checked to be bound to 127.0.0.1 or ::1."""

import os
import socket
import stat
import subprocess
import sys

CONNECT = ("import socket, sys\n"
           "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
           "try:\n"
           "    s.connect(sys.argv[1])\n"
           "except PermissionError:\n"
           "    sys.exit(13)\n"
           "sys.exit(0)\n")
NOBODY = 65534


def connect_as(path, uid, gid):
    """Exit status of a connect(2) to path by a process with that uid and
    gid and no supplementary groups: 0 connected, 13 EACCES."""
    return subprocess.run([sys.executable, "-c", CONNECT, str(path)], user=uid, group=gid,
                          extra_groups=[], capture_output=True, timeout=20).returncode


def test_socket_is_root_owned_mode_0660(crio):
    st = os.stat(crio.socket)
    assert stat.S_ISSOCK(st.st_mode)
    assert (st.st_uid, st.st_gid) == (0, 0), \
        f"expected the socket owned by root:root, saw {st.st_uid}:{st.st_gid}"
    assert stat.S_IMODE(st.st_mode) == 0o660, f"expected 0660, saw {stat.S_IMODE(st.st_mode):04o}"


def test_only_root_and_the_socket_group_can_connect(crio):
    # The socket's directory must let others reach the socket at all, or
    # the check below would prove nothing (only the test's own dirs change).
    # A member of group root is checked against a directory's group bits,
    # the others against its other bits: both must allow search.
    for parent in [crio.socket.parent, *crio.socket.parent.parents]:
        mode = stat.S_IMODE(os.stat(parent).st_mode)
        if mode & 0o011 != 0o011:
            assert crio.workdir in [parent, *parent.parents], \
                f"{parent} is not searchable by group and others and not the test's own"
            os.chmod(parent, mode | 0o011)
    assert connect_as(crio.socket, NOBODY, NOBODY) == 13, \
        "expected a user outside the socket's group to get EACCES"
    assert connect_as(crio.socket, NOBODY, 0) == 0, \
        "expected a member of the socket's group (root) to connect"
    assert connect_as(crio.socket, 0, 0) == 0, "expected root to connect"
    assert crio.client.version(timeout=5).runtime_name


def listening_inet_sockets(pid):
    """(address, port) of every listening TCP socket the process holds."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        try:
            lines = open(f"/proc/{pid}/net/{table}").read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            local, state, inode = cols[1], cols[3], cols[9]
            if state != "0A" or inode not in inodes:  # 0A: LISTEN
                continue
            addr_hex, port_hex = local.split(":")
            raw = bytes.fromhex(addr_hex)
            if family == socket.AF_INET:
                addr = socket.inet_ntop(family, raw[::-1])
            else:
                addr = socket.inet_ntop(family, b"".join(raw[i:i + 4][::-1]
                                                          for i in range(0, 16, 4)))
            found.append((addr, int(port_hex, 16)))
    return found


def test_network_listeners_are_loopback_only(crio):
    listeners = listening_inet_sockets(crio.pid)
    outside = [(a, p) for a, p in listeners if a not in ("127.0.0.1", "::1")]
    assert not outside, f"expected the daemon to listen on loopback only, saw {outside}"


def free_loopback_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_metrics_listen_on_loopback_by_default(crio_factory):
    """CRI-O's metrics_host default, 127.0.0.1: enabling metrics with only
    a port opens nothing beyond loopback."""
    port = free_loopback_port()
    d = crio_factory.start(extra_args=["--enable-metrics", "--metrics-port", str(port)])
    listeners = listening_inet_sockets(d.pid)
    assert ("127.0.0.1", port) in listeners, \
        f"expected the metrics endpoint on 127.0.0.1:{port}, saw {listeners}"
    outside = [(a, p) for a, p in listeners if a not in ("127.0.0.1", "::1")]
    assert not outside, f"expected loopback listeners only, saw {outside}"
