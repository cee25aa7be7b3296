"""Helpers for the wipe, recovery and database-check tests: running
`crio wipe` against a PodEnv's directories, reading its plan, and
damaging a database on purpose."""

import re
import subprocess
from pathlib import Path

import crio_harness as h
import pods_harness as p


def crio_wipe(env, *args, timeout=120):
    """Runs `crio wipe ARGS` with the PodEnv's root, runroot and plugin
    dir, as crio-wipe.service does after a reboot: the version file in
    the run dir is gone (else CRI-O's version check finds nothing to do);
    returns the CompletedProcess (text)."""
    (Path(env.runroot) / "version").unlink(missing_ok=True)
    argv = [str(h.CRIO_BIN), "wipe", "--root", str(env.root), "--runroot", str(env.runroot),
            "--cni-plugin-dir", h.CNI_PLUGIN_DIR, "--cgroup-manager", "cgroupfs", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


PLAN_LINE = re.compile(r"^(pod|container|image|object)/(\S+) (\S+) (.+)$")


def plan(out):
    """The plan lines of a dry run: [(kind, object id, type, resource id)],
    notes (lines starting with '#') and annotated lines left out."""
    rows = []
    for line in out.splitlines():
        if line.startswith("#") or line.endswith(")"):
            continue
        m = PLAN_LINE.match(line)
        assert m, f"expected a plan line 'kind/id type resource', saw {line!r}"
        rows.append(m.groups())
    return rows


def plan_of(rows, pod_id):
    """{type: [resource ids]} of one object."""
    out = {}
    for _kind, obj, typ, res in rows:
        if obj == pod_id:
            out.setdefault(typ, []).append(res)
    return out


def done_lines(out, verb):
    """Lines of a wipe that start with `verb` ("released", "failed", ...)."""
    return [line for line in out.splitlines() if line.startswith(verb + " ")]


def log_count(root):
    return int(h.inspect(root, "stats").json["log"]["entries"])


def pod_cgroup(env, pod_id):
    return f"{env.cgroups.path}/crio-{pod_id}"


def host_resources(env, pod_id):
    """What exists on the host for one pod: pins, cgroup dirs, pod dir."""
    found = {}
    for t in ("net", "ipc", "uts", "pid"):
        pin = Path(env.runroot) / f"{t}ns" / pod_id
        if str(pin) in p.mounts_under(env.runroot):
            found[f"{t}ns"] = str(pin)
    rel = pod_cgroup(env, pod_id).lstrip("/")
    dirs = [d / rel for d in p.CGROUP_ROOT.iterdir() if (d / rel).is_dir()]
    if dirs:
        found["cgroup"] = [str(d) for d in dirs]
    pod_dir = Path(env.runroot) / "pods" / pod_id
    if pod_dir.exists():
        found["dir"] = str(pod_dir)
    return found


def data_file(root):
    return Path(root) / "db" / "data.mdb"


# ---- planting inconsistencies (daemon stopped) ----------------------------------

_records = None


def records_pb2():
    """store/records.proto compiled for Python (into a temp dir)."""
    global _records
    if _records is None:
        import atexit
        import importlib
        import shutil
        import sys
        import tempfile
        out = tempfile.mkdtemp(prefix="crio-test-records-")
        atexit.register(shutil.rmtree, out, True)
        proto = h.REPO / "store" / "records.proto"
        subprocess.run(["protoc", f"--python_out={out}", "-I", str(proto.parent), str(proto)],
                       check=True)
        sys.path.insert(0, out)
        try:
            _records = importlib.import_module("records_pb2")
        finally:
            sys.path.remove(out)
    return _records


def _mdb_escape(data):
    out = []
    for b in data:
        if b == 0x5C:
            out.append("\\\\")
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append(f"\\{b:02x}")
    return "".join(out)


def mdb_put(root, db_name, pairs):
    """Writes raw key/value pairs (bytes) into one named database with
    lmdb-utils' mdb_load, bypassing the store: how a test plants what the
    daemon would never write."""
    lines = ["VERSION=3", "format=print", "type=btree", "HEADER=END"]
    for key, value in pairs:
        lines += [" " + _mdb_escape(key), " " + _mdb_escape(value)]
    lines.append("DATA=END")
    subprocess.run(["mdb_load", "-s", db_name, str(Path(root) / "db")],
                   input="\n".join(lines) + "\n", text=True, check=True, capture_output=True)


def plant_log_entry(root, **fields):
    """Appends a LogEntry with the next seq (log and log_objects), without
    touching the record it names.  Returns the seq."""
    seq = int(h.inspect(root, "meta").json["meta"]["log_seq"]) + 1
    entry = records_pb2().LogEntry(seq=seq, time=1, **fields)
    key = seq.to_bytes(8, "big")
    mdb_put(root, "log", [(key, entry.SerializeToString())])
    if fields.get("object_id"):
        mdb_put(root, "log_objects", [(fields["object_id"].encode() + b"\0" + key, b"")])
    mdb_put(root, "meta", [(b"log_seq", str(seq).encode())])
    return seq


def without_pod_mounts(env, pod_id, planned):
    """`planned` ({type: [ids]} of one pod) without its "mount" entries,
    after checking each is a mount inside the pod's own dir (its /dev/shm
    tmpfs, when the pod steps make one)."""
    planned = dict(planned)
    pod_dir = Path(env.runroot) / "pods" / pod_id
    for m in planned.pop("mount", []):
        assert Path(m).parent == pod_dir, f"expected a pod mount inside {pod_dir}, saw {m}"
    return planned
