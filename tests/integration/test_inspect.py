"""crio-db-inspect reads the database while the daemon runs."""

import json
import queue
import signal
import subprocess
import threading
import time

import crio_harness as h


def _boot_id():
    with open("/proc/sys/kernel/random/boot_id") as f:
        return f.read().strip()


def _is_note(entry):
    return entry.get("type") in ("NOTE", 6)


def test_meta_shows_schema_version_1_and_boot_id(crio):
    doc = h.inspect(crio.root, "meta").json
    meta = doc["meta"]
    assert str(meta.get("schema_version")) == "1", \
        f"expected schema_version 1, saw {meta.get('schema_version')!r}"
    assert meta.get("boot_id") == _boot_id(), \
        f"expected boot_id {_boot_id()!r}, saw {meta.get('boot_id')!r}"


def test_meta_table_names_the_schema_version(crio):
    out = h.inspect(crio.root, "meta", json_output=False).stdout
    rows = [line.split() for line in out.splitlines()]
    assert ["schema_version", "1"] in [r[:2] for r in rows], \
        f"expected a 'schema_version 1' row, saw:\n{out}"


def test_log_has_first_start_note(crio):
    entries = h.inspect(crio.root, "log").json
    assert isinstance(entries, list), f"expected a JSON list, saw {entries!r}"
    notes = [e for e in entries if _is_note(e) and
             e.get("message", "").startswith("first start on boot")]
    assert len(notes) == 1, (f"expected one 'first start on boot' NOTE, saw "
                             f"{len(notes)} among {entries}")
    assert _boot_id() in notes[0]["message"], \
        f"expected the note to name boot {_boot_id()}, saw {notes[0]['message']!r}"


def test_pods_containers_images_are_empty_lists(crio):
    for what in ("pods", "containers", "images"):
        out = h.inspect(crio.root, what).json
        assert out == [], f"expected `{what} --json` to be [], saw {out!r}"


def test_log_follow_prints_new_entry_then_exits_0_on_sigint(crio):
    argv = [str(h.INSPECT_BIN), "--root", str(crio.root), "--json", "log", "--follow"]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = queue.Queue()

    def reader():
        for line in p.stdout:
            lines.put(line)
        lines.put(None)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    seen = []

    def wait_for(text, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                return False
            seen.append(line)
            if text in line:
                return True
        return False

    try:
        assert wait_for("first start on boot", 10), \
            f"expected --follow to print the existing log first, saw {seen}"
        crio.client.update_runtime_config("10.77.0.0/24")
        assert wait_for("pod CIDR set to 10.77.0.0/24", 10), (
            f"expected --follow to print the new 'pod CIDR set to 10.77.0.0/24' "
            f"entry within 10s, saw {seen}")
        entry = json.loads(seen[-1])
        assert _is_note(entry), f"expected a NOTE entry, saw {entry}"
        p.send_signal(signal.SIGINT)
        rc = p.wait(timeout=5)
        assert rc == 0, f"expected exit 0 on SIGINT, saw {rc}; stderr: {p.stderr.read()}"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()


def test_missing_root_exits_1_with_one_line_message(workdir):
    root = workdir / "no-such-root"
    for what in ("meta", "pods", "log"):
        p = h.inspect(root, what, check=False)
        assert p.returncode == 1, \
            f"expected `{what}` on a missing root to exit 1, saw {p.returncode}"
        msg = p.stderr.strip()
        assert msg and "\n" not in msg, f"expected a one-line message, saw {p.stderr!r}"
        assert str(root) in msg, f"expected the message to name {root}, saw {msg!r}"
        assert p.stdout == "", f"expected nothing on stdout, saw {p.stdout!r}"


def test_unknown_command_is_a_usage_error(crio):
    p = h.inspect(crio.root, "no-such-command", check=False)
    assert p.returncode == 2, f"expected exit 2 for an unknown command, saw {p.returncode}"
    assert "no-such-command" in p.stderr, \
        f"expected the message to name the command, saw {p.stderr!r}"
