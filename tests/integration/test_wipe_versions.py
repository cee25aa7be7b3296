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


def test_an_empty_version_file_means_none_as_in_cri_o(env):
    """`version_file = ""` is CRI-O's "no version file": the daemon writes
    none (not <runroot>/version), so crio wipe never sees a reboot and
    wipes nothing without --force (CRI-O's ShouldCrioWipe("") is false);
    `clean_shutdown_file = ""` likewise writes no clean shutdown file."""
    conf = Path(env.extra_args[env.extra_args.index("--config") + 1])
    conf.write_text('[crio]\nversion_file = ""\nclean_shutdown_file = ""\n' + conf.read_text())
    env.version.unlink()
    clean = Path(env.root) / "clean.shutdown"
    clean.unlink(missing_ok=True)
    env.start()
    env.stop_cleanly()
    assert not env.version.exists(), "version_file = \"\" still wrote <runroot>/version"
    assert not clean.exists(), "clean_shutdown_file = \"\" still wrote <root>/clean.shutdown"
    printed = subprocess.run([str(h.CRIO_BIN), "--config", str(conf), "config"],
                             capture_output=True, text=True, check=True).stdout
    assert 'version_file = ""' in printed and 'clean_shutdown_file = ""' in printed, printed
    out = wipe(env)
    assert "no wipe needed" in out, out
    assert images_after(env) == [env.image]


def test_a_stop_that_was_not_clean_wipes_images_with_containers(env):
    """CRI-O's shutdownWasUnclean: the daemon writes <clean_shutdown_file>.supported
    at start and the clean shutdown file at a clean stop; a reboot (version
    file gone) after a stop that left no clean shutdown file wipes images
    too, since the image store may be half written."""
    clean = Path(env.root) / "clean.shutdown"
    assert clean.exists() and Path(f"{clean}.supported").exists()
    env.version.unlink()
    clean.unlink()
    out = wipe(env)
    assert "the last stop was not clean" in out and "wiping containers and pods" in out, out
    assert images_after(env) == []


def test_without_the_supported_file_a_missing_clean_file_keeps_images(env):
    """No "<file>.supported" (a daemon that never wrote the clean shutdown
    file): its absence says nothing, as in CRI-O."""
    clean = Path(env.root) / "clean.shutdown"
    Path(f"{clean}.supported").unlink()
    env.version.unlink()
    clean.unlink()
    out = wipe(env)
    assert "not clean" not in out and "wiping images" not in out, out
    assert images_after(env) == [env.image]
