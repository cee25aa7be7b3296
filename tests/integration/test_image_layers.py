"""Layers through PullImage, end to end: zstd and uncompressed layers, OCI
whiteouts and opaque directories become overlayfs ones in the layer store,
hard links stay links, and a hostile layer (an entry climbing out with
"..", a hard link to a path outside) fails the pull with a clear error,
publishes nothing and writes nothing outside the store."""

import gzip
import io
import os
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import grpc
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import images_harness as ih  # noqa: E402
import registry_harness as rh  # noqa: E402

OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"


def tar_bytes(entries):
    """entries: [(name, kind, payload)]; kind file/dir/hardlink/symlink."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, payload in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 0
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                t.addfile(info)
            elif kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, payload
                t.addfile(info)
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, payload
                t.addfile(info)
            else:
                info.size, info.mode = len(payload), 0o644
                t.addfile(info, io.BytesIO(payload))
    return raw.getvalue()


def gzip_layer(entries):
    data = tar_bytes(entries)
    return gzip.compress(data, mtime=0), ih.sha256(data), ih.OCI_LAYER_GZIP


def zstd_layer(entries):
    data = tar_bytes(entries)
    blob = subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True,
                          check=True).stdout
    return blob, ih.sha256(data), OCI_LAYER_ZSTD


def plain_layer(entries):
    data = tar_bytes(entries)
    return data, ih.sha256(data), OCI_LAYER_TAR


@pytest.fixture(scope="module")
def work():
    w = rh.Workdir(prefix="crio-image-layers-")
    yield w
    w.close()


@pytest.fixture(scope="module")
def images(work):
    base = [("etc", "dir", None), ("etc/a", "file", b"a\n"), ("etc/b", "file", b"b\n"),
            ("opt", "dir", None), ("opt/old", "file", b"old\n"),
            ("data", "file", b"shared bytes\n"), ("data-link", "hardlink", "data")]
    over = [("etc", "dir", None), ("etc/.wh.a", "file", b""),
            ("opt", "dir", None), ("opt/.wh..wh..opq", "file", b""),
            ("opt/new", "file", b"new\n")]
    target = work.path / "escape-target"
    return {
        "mixed": ih.TestImage([zstd_layer(base), plain_layer(over)]),
        "gzip": ih.TestImage([gzip_layer(base), gzip_layer(over)]),
        "dotdot": ih.TestImage([gzip_layer([("../../../escaped-by-dotdot", "file", b"x")])]),
        "hardlink_dotdot": ih.TestImage([gzip_layer([("link", "hardlink",
                                                       "../../../../etc/passwd")])]),
        # An absolute target resolves inside the layer (as in a chroot):
        # there is nothing there to link to.
        "hardlink_abs": ih.TestImage([gzip_layer([("link", "hardlink", str(target))])]),
    }


@pytest.fixture(scope="module")
def registry(work, images):
    reg = ih.start_registry(work.sub("registry"), access_log=False)
    try:
        p = ih.Pusher(reg.host)
        for name, img in images.items():
            p.image(f"layers/{name}", "1", img)
        yield reg
    finally:
        reg.stop()


@pytest.fixture
def env(crio_factory, registry, work, request):
    conf = ih.registries_conf(work.path / f"registries-{request.node.name}.conf",
                              insecure=[registry.host])
    d = ih.image_daemon(crio_factory, conf).start()
    return d, d.client, registry.host


def diff_dir(d, chain_id):
    return Path(d.root) / "layers" / chain_id.split(":", 1)[1] / "diff"


@pytest.mark.parametrize("name", ["mixed", "gzip"])
def test_layers_unpack_with_overlay_whiteouts_and_hard_links(env, images, name):
    d, c, host = env
    img = images[name]
    assert ih.pull(c, f"{host}/layers/{name}:1") == img.id
    bottom, top = diff_dir(d, img.chain_ids[0]), diff_dir(d, img.chain_ids[1])
    assert (bottom / "etc/a").read_bytes() == b"a\n"
    assert os.stat(bottom / "data").st_ino == os.stat(bottom / "data-link").st_ino, \
        "a hard link in the layer stays a hard link"
    wh = os.lstat(top / "etc/a")
    assert stat.S_ISCHR(wh.st_mode) and wh.st_rdev == 0, \
        "the .wh.a whiteout becomes an overlayfs 0/0 character device"
    assert not (top / "etc/.wh.a").exists()
    opq = os.getxattr(top / "opt", "trusted.overlay.opaque")
    assert opq == b"y", "the opaque marker becomes trusted.overlay.opaque=y"
    assert (top / "opt/new").read_bytes() == b"new\n"
    assert not (top / "opt/.wh..wh..opq").exists()


@pytest.mark.parametrize("name, code", [
    ("dotdot", grpc.StatusCode.INVALID_ARGUMENT),
    ("hardlink_dotdot", grpc.StatusCode.INVALID_ARGUMENT),
    ("hardlink_abs", grpc.StatusCode.NOT_FOUND)])
def test_hostile_layer_fails_the_pull_and_leaves_nothing(env, images, work, name, code):
    d, c, host = env
    with pytest.raises(grpc.RpcError) as e:
        ih.pull(c, f"{host}/layers/{name}:1")
    assert e.value.code() == code, e.value.details()
    assert "layer entry" in e.value.details(), e.value.details()
    assert ih.layer_dirs(d) == (set(), set()), "nothing published, no tmp-* left"
    assert ih.list_images(c) == []
    assert not (work.path / "escape-target").exists()
    for p in (Path(d.root), Path(d.root).parent, Path("/")):
        assert not (p / "escaped-by-dotdot").exists()
