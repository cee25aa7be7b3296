"""One daemon per socket and per state dir."""

import os

import crio_harness as h


def test_second_daemon_on_same_socket_is_refused_and_first_keeps_serving(crio_factory):
    first = crio_factory.start()
    inode = os.stat(first.socket).st_ino
    second = crio_factory.daemon(socket_path=first.socket)  # its own root
    rc, out = h.run_daemon_to_exit(second.argv)
    assert rc != 0, f"expected the second daemon to exit non-zero, saw {rc}; output:\n{out}"
    assert "another crio" in out, f"expected 'another crio' in its message, saw:\n{out}"
    assert first.running(), f"expected the first daemon to keep running, it exited {first.returncode}"
    assert os.path.exists(first.socket) and os.stat(first.socket).st_ino == inode, \
        "expected the first daemon's socket file to be left in place"
    # The existing channel, and a new connection to the socket file, work.
    first.client.version()
    fresh = h.CriClient(first.socket)
    try:
        resp = fresh.version()
    finally:
        fresh.close()
    assert resp.runtime_name == "crio", f"expected a new client to be served, saw {resp}"


def test_second_daemon_on_same_root_is_refused(crio_factory):
    first = crio_factory.start()
    second = crio_factory.daemon(root=first.root)  # its own socket
    rc, out = h.run_daemon_to_exit(second.argv)
    assert rc != 0, f"expected the second daemon to exit non-zero, saw {rc}; output:\n{out}"
    assert "another crio" in out, f"expected 'another crio' in its message, saw:\n{out}"
    assert not second.socket.exists(), \
        f"expected the refused daemon to leave no socket, {second.socket} exists"
    resp = first.client.version()
    assert resp.runtime_name == "crio", f"expected the first daemon to keep serving, saw {resp}"


def test_socket_is_free_again_after_the_first_daemon_stops(crio_factory):
    first = crio_factory.start()
    first.stop_cleanly()
    second = crio_factory.start(socket_path=first.socket)
    resp = second.client.version()
    assert resp.runtime_name == "crio", f"expected the socket to be reusable, saw {resp}"
