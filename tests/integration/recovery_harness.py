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
    dir; returns the CompletedProcess (text)."""
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
    dirs = [d for d in p.CGROUP_ROOT.iterdir()
            if (d / pod_cgroup(env, pod_id).lstrip("/")).is_dir()]
    if dirs:
        found["cgroup"] = [str(d) for d in dirs]
    pod_dir = Path(env.runroot) / "pods" / pod_id
    if pod_dir.exists():
        found["dir"] = str(pod_dir)
    return found


def data_file(root):
    return Path(root) / "db" / "data.mdb"
