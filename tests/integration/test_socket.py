"""The CRI socket's permissions, and refusing a database from the future."""

import os
import shutil
import stat
import subprocess

import pytest

import crio_harness as h


def test_socket_is_a_socket_with_mode_0660(crio):
    st = os.stat(crio.socket)
    assert stat.S_ISSOCK(st.st_mode), f"expected {crio.socket} to be a socket, mode {st.st_mode:o}"
    mode = stat.S_IMODE(st.st_mode)
    assert mode == 0o660, f"expected socket mode 0660, saw {mode:04o}"


def _set_meta(db_dir, key, value):
    # mdb_load -T: plain text "key\nvalue\n" pairs; existing keys are
    # overwritten (no -n/-N).
    subprocess.run(["mdb_load", "-T", "-s", "meta", str(db_dir)],
                   input=f"{key}\n{value}\n".encode(), check=True, timeout=10)


def _get_meta(db_dir, key):
    out = subprocess.run(["mdb_dump", "-p", "-s", "meta", str(db_dir)],
                         capture_output=True, text=True, check=True, timeout=10).stdout
    lines = out.splitlines()
    start = lines.index("HEADER=END") + 1
    body = [line[1:] for line in lines[start:] if line.startswith(" ")]
    pairs = dict(zip(body[0::2], body[1::2]))
    return pairs.get(key)


@pytest.mark.skipif(not (shutil.which("mdb_load") and shutil.which("mdb_dump")),
                    reason="lmdb-utils (mdb_load, mdb_dump) not installed")
def test_daemon_refuses_a_database_with_newer_schema(crio_factory):
    d = crio_factory.start()
    d.stop_cleanly()
    db = d.root / "db"
    assert _get_meta(db, "schema_version") == "1", \
        f"expected the daemon to write schema_version 1, saw {_get_meta(db, 'schema_version')!r}"
    _set_meta(db, "schema_version", "2")
    assert _get_meta(db, "schema_version") == "2", "test setup: schema_version not bumped"

    rc, out = h.run_daemon_to_exit(d.argv)
    assert rc != 0, f"expected a non-zero exit on a schema 2 database, saw {rc}; output:\n{out}"
    assert "schema version 2" in out and "newer" in out, \
        f"expected a message that schema version 2 is newer than supported, saw:\n{out}"
    assert not d.socket.exists(), f"expected no socket when refusing to start, {d.socket} exists"
    assert _get_meta(db, "schema_version") == "2", \
        "expected the refused database to be left as it was"

    p = h.inspect(d.root, "meta", check=False)
    assert p.returncode == 1 and "schema version 2" in p.stderr, (
        f"expected crio-db-inspect to refuse it too (exit 1, naming the version), "
        f"saw {p.returncode}: {p.stderr!r}")
