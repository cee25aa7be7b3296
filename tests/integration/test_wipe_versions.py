"""crio wipe decides what to wipe as CRI-O's does, from its version files:
the daemon writes version_file (in the run dir, a tmpfs: gone after a
reboot) and version_file_persist (when set) at start, as CRI-O's JSON
string; `crio wipe` wipes containers and pods when version_file is
missing or names another major.minor, and images too when
version_file_persist does as well; only the persistent one stale wipes
nothing; --force wipes both.  What is wiped is still the state log's
replay (test_wipe.py)."""

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import crio_harness as h  # noqa: E402
import images_harness as ih  # noqa: E402
import registry_harness as rh  # noqa: E402


@pytest.fixture(scope="module")
def registry():
    work = rh.Workdir(prefix="crio-wipe-versions-")
    reg = ih.start_registry(work.sub("registry"), access_log=False)
    try:
        ih.Pusher(reg.host).image("team/app", "v1", ih.make_image("wipe versions"))
        yield reg
    finally:
        reg.stop()
        work.close()


@pytest.fixture
def env(crio_factory, registry, tmp_path):
    """A daemon that pulled one image, then was stopped."""
    conf = ih.registries_conf(tmp_path / "registries.conf", insecure=[registry.host])
    persist = tmp_path / "lib" / "version"
    d = ih.image_daemon(crio_factory, conf, extra=["--version-file-persist", str(persist)])
    d.start()
    image = ih.pull(d.client, f"{registry.host}/team/app:v1")
    d.stop_cleanly()
    d.persist = persist
    d.version = Path(d.runroot) / "version"
    d.image = image
    return d


def wipe(d, *args):
    argv = [str(h.CRIO_BIN), *d.extra_args, "--root", str(d.root), "--runroot", str(d.runroot),
            "--version-file-persist", str(d.persist), "wipe", *args]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, f"crio wipe {args}: {res.returncode} {res.stderr}"
    return res.stdout


def images_after(d):
    d.start()
    try:
        return [i.id for i in ih.list_images(d.client)]
    finally:
        d.stop_cleanly()


def test_the_daemon_writes_both_version_files_as_cri_o_does(env):
    import json
    ours = json.loads(subprocess.run([str(h.CRIO_BIN), "version", "-j"], capture_output=True,
                                     text=True, check=True).stdout)["version"]
    for f in (env.version, env.persist):
        assert json.loads(f.read_text()) == ours, f"{f}: {f.read_text()!r}, expected {ours!r}"


def test_versions_unchanged_wipes_nothing(env):
    out = wipe(env)
    assert "no wipe needed" in out, out
    assert images_after(env) == [env.image]


def test_reboot_wipes_containers_but_keeps_images(env):
    env.version.unlink()
    out = wipe(env, "--dry-run")
    assert "wiping containers and pods" in out and "wiping images" not in out, out
    assert not any(line.startswith("image/") for line in out.splitlines()), out
    out = wipe(env)
    assert images_after(env) == [env.image]


def test_only_the_persistent_file_stale_wipes_nothing(env):
    env.persist.unlink()
    out = wipe(env)
    assert "images are wiped only with containers" in out and "no wipe needed" in out, out
    assert images_after(env) == [env.image]


@pytest.mark.parametrize("how", ["removed", "other version", "--force"])
def test_upgrade_or_force_wipes_images_too(env, how):
    if how == "removed":
        env.version.unlink()
        env.persist.unlink()
    elif how == "other version":
        env.version.write_text('"0.0.9"')
        env.persist.write_text('"0.0.9+abcdef"')
    out = wipe(env, *([how] if how == "--force" else []))
    if how == "other version":
        assert "says 0.0, this is" in out, out
    assert "wiping images" in out or "--force" in out, out
    assert f"image/{env.image}" in out or "image record(s)" in out, out
    assert images_after(env) == []
    published, leftovers = ih.layer_dirs(env)
    assert published == set() and leftovers == set(), \
        f"expected the wiped image's layers gone, saw {published} {leftovers}"
