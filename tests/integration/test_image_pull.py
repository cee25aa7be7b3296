"""PullImage, ImageStatus, ListImages and ImageFsInfo against Debian's
docker-registry on 127.0.0.1 (plain HTTP, marked insecure in a temp
registries.conf): references by tag, digest and short name, multi-arch
indexes, the fields the kubelet reads, one download for repeated and
concurrent pulls, tags moving between images, pinned images."""

import json
import platform
import sys
from pathlib import Path

import grpc
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import images_harness as ih  # noqa: E402
import registry_harness as rh  # noqa: E402

HOST_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


@pytest.fixture(scope="module")
def work():
    w = rh.Workdir(prefix="crio-image-pull-")
    yield w
    w.close()


@pytest.fixture(scope="module")
def images():
    return {
        "app": ih.make_image("app v1", user="1000:1000"),
        "app2": ih.make_image("app v2", user="nobody"),
        "plain": ih.make_image("plain"),
        "other_arch": ih.make_image("other arch", arch="s390x", with_busybox=False),
        "this_arch": ih.make_image("this arch", arch=HOST_ARCH),
    }


@pytest.fixture(scope="module")
def registry(work, images):
    reg = ih.start_registry(work.sub("registry"))
    try:
        p = ih.Pusher(reg.host)
        p.image("team/app", "v1", images["app"])
        p.image("team/app", "v2", images["app2"])
        p.image("plain", "latest", images["plain"])
        reg.multi_digest = p.index("team/multi", "latest", [
            (images["other_arch"], {"os": "linux", "architecture": "s390x"}),
            (images["this_arch"], {"os": "linux", "architecture": HOST_ARCH})])
        yield reg
    finally:
        reg.stop()


@pytest.fixture
def env(crio_factory, registry, work, request):
    conf = ih.registries_conf(work.path / f"registries-{request.node.name}.conf",
                              insecure=[registry.host], search=[registry.host])
    d = ih.image_daemon(crio_factory, conf, pinned=[f"{registry.host}/team/app:v*"],
                        pause_image=f"{registry.host}/plain:latest").start()
    return d, d.client, registry


def test_pull_by_tag_reports_the_config_digest_and_the_image_is_listed(env, images):
    d, c, reg = env
    app = images["app"]
    ref = ih.pull(c, f"{reg.host}/team/app:v1")
    assert ref == app.id, f"expected image_ref = config digest hex {app.id}, saw {ref}"
    listed = ih.list_images(c)
    assert [i.id for i in listed] == [app.id]
    img = listed[0]
    assert list(img.repo_tags) == [f"{reg.host}/team/app:v1"]
    assert list(img.repo_digests) == [f"{reg.host}/team/app@{app.digest}"]
    assert img.spec.image == app.id
    published, leftovers = ih.layer_dirs(d)
    assert published == ih.hexes(app.chain_ids) and not leftovers


def test_status_fields_uid_username_size_and_verbose_info(env, images):
    d, c, reg = env
    ih.pull(c, f"{reg.host}/team/app:v1")
    ih.pull(c, f"{reg.host}/team/app:v2")
    s1 = ih.status(c, f"{reg.host}/team/app:v1").image
    assert s1.id == images["app"].id
    assert s1.HasField("uid") and s1.uid.value == 1000 and s1.username == "", \
        f"User 1000:1000 must give uid 1000 and no username, saw {s1}"
    assert s1.size > 1_000_000, f"size is the unpacked layers (busybox ~2 MB), saw {s1.size}"
    s2 = ih.status(c, f"{reg.host}/team/app:v2").image
    assert not s2.HasField("uid") and s2.username == "nobody"
    plain = ih.pull(c, f"{reg.host}/plain")
    s3 = ih.status(c, plain).image
    assert not s3.HasField("uid") and s3.username == "", "no User: neither field"

    verbose = ih.status(c, f"{reg.host}/team/app:v1", verbose=True)
    info = json.loads(verbose.info["info"])
    assert info["layers"] == images["app"].chain_ids
    assert info["reference"] == f"{reg.host}/team/app:v1"
    assert info["imageSpec"]["config"]["User"] == "1000:1000"
    assert info["manifestDigest"] == images["app"].digest


def test_status_finds_by_tag_digest_id_sha256_id_prefix_and_short_name(env, images):
    d, c, reg = env
    app = images["app"]
    ih.pull(c, f"{reg.host}/team/app:v1")
    for text in (f"{reg.host}/team/app:v1", f"{reg.host}/team/app@{app.digest}",
                 app.id, "sha256:" + app.id, app.id[:12], "team/app:v1",
                 f"{reg.host}/team/app:v1@{app.digest}"):
        got = ih.status(c, text)
        assert got.HasField("image") and got.image.id == app.id, \
            f"ImageStatus({text!r}) should find {app.id}, saw {got}"
    for text in ("team/app:v2", f"{reg.host}/nothing:here", "abcdef0123", "sha256:" + "0" * 64):
        got = ih.status(c, text)
        assert not got.HasField("image"), f"ImageStatus({text!r}) must be unset, saw {got}"


def test_pull_by_digest_and_by_short_name(env, images):
    d, c, reg = env
    app2 = images["app2"]
    ref = ih.pull(c, f"{reg.host}/team/app@{app2.digest}")
    assert ref == app2.id
    img = ih.status(c, ref).image
    assert list(img.repo_tags) == [], "a digest pull names no tag"
    assert list(img.repo_digests) == [f"{reg.host}/team/app@{app2.digest}"]
    # A short name goes through unqualified-search-registries.
    ref = ih.pull(c, "plain")
    assert ref == images["plain"].id
    assert list(ih.status(c, "plain").image.repo_tags) == [f"{reg.host}/plain:latest"]


def test_multi_arch_index_pulls_this_hosts_image(env, images, registry):
    d, c, reg = env
    ref = ih.pull(c, f"{reg.host}/team/multi:latest")
    assert ref == images["this_arch"].id, "the index entry of this host's architecture"
    img = ih.status(c, ref).image
    assert set(img.repo_digests) == {f"{reg.host}/team/multi@{images['this_arch'].digest}",
                                     f"{reg.host}/team/multi@{registry.multi_digest}"}
    assert ih.status(c, f"{reg.host}/team/multi@{registry.multi_digest}").image.id == ref


def test_pulling_again_downloads_nothing(env, images):
    d, c, reg = env
    app = images["app"]
    before = [ih.blob_gets(reg, dg) for dg in app.layer_digests]
    ih.pull(c, f"{reg.host}/team/app:v1")
    ih.pull(c, f"{reg.host}/team/app:v1")
    after = [ih.blob_gets(reg, dg) for dg in app.layer_digests]
    assert [a - b for a, b in zip(after, before)] == [1, 1], \
        f"each layer fetched once for two pulls, saw {before} -> {after}"


def test_concurrent_pulls_of_one_image_share_one_download(env, images):
    d, c, reg = env
    img = images["app2"]
    before = [ih.blob_gets(reg, dg) for dg in img.layer_digests]
    results = ih.run_parallel([lambda: ih.pull(c, f"{reg.host}/team/app:v2")] * 6)
    assert all(e is None for _, e in results), [e for _, e in results if e]
    assert {r for r, _ in results} == {img.id}
    after = [ih.blob_gets(reg, dg) for dg in img.layer_digests]
    assert [a - b for a, b in zip(after, before)] == [1, 1], \
        f"six concurrent pulls, each layer downloaded once: {before} -> {after}"
    published, leftovers = ih.layer_dirs(d)
    assert published == ih.hexes(img.chain_ids) and not leftovers


def test_a_tag_moves_to_the_newer_image_and_the_old_stays_listed(env, images, registry):
    d, c, reg = env
    p = ih.Pusher(reg.host)
    p.image("team/moving", "stable", images["app"])
    old = ih.pull(c, f"{reg.host}/team/moving:stable")
    p.image("team/moving", "stable", images["app2"])
    new = ih.pull(c, f"{reg.host}/team/moving:stable")
    assert old == images["app"].id and new == images["app2"].id
    assert list(ih.status(c, old).image.repo_tags) == [], "the tag left the old image"
    assert list(ih.status(c, new).image.repo_tags) == [f"{reg.host}/team/moving:stable"]
    assert {i.id for i in ih.list_images(c)} == {old, new}, \
        "an image without tags stays listed, as in CRI-O"
    assert f"image name {reg.host}/team/moving:stable moved from image {old} to {new}" in d.log()


def test_list_filter_and_pull_in_flight_not_listed(env, images):
    d, c, reg = env
    ih.pull(c, f"{reg.host}/team/app:v1")
    ih.pull(c, f"{reg.host}/team/app:v2")
    assert len(ih.list_images(c)) == 2
    only = ih.list_images(c, f"{reg.host}/team/app:v2")
    assert [i.id for i in only] == [images["app2"].id]
    assert ih.list_images(c, f"{reg.host}/team/app:nope") == []


def test_pinned_images_pause_image_and_globs(env, images):
    d, c, reg = env
    ih.pull(c, f"{reg.host}/team/app:v1")
    plain = ih.pull(c, f"{reg.host}/plain:latest")
    by_digest = ih.pull(c, f"{reg.host}/team/multi:latest")
    assert ih.status(c, f"{reg.host}/team/app:v1").image.pinned, "matches team/app:v*"
    assert ih.status(c, plain).image.pinned, "the pause image is pinned"
    assert not ih.status(c, by_digest).image.pinned


def test_image_fs_info_moves_with_pulls_and_removals(env, images):
    d, c, reg = env
    empty = ih.fs_info(c)
    assert len(empty.image_filesystems) == 1
    fs = empty.image_filesystems[0]
    assert fs.fs_id.mountpoint == str(Path(d.root) / "layers")
    assert fs.timestamp > 0
    ih.pull(c, f"{reg.host}/team/app:v1")
    full = ih.fs_info(c).image_filesystems[0]
    assert full.used_bytes.value > fs.used_bytes.value + 1_000_000, (fs, full)
    assert full.inodes_used.value > fs.inodes_used.value
    ih.remove(c, f"{reg.host}/team/app:v1")
    after = ih.fs_info(c).image_filesystems[0]
    assert after.used_bytes.value == fs.used_bytes.value, (fs, after)


def test_bad_and_unknown_references(env):
    d, c, reg = env
    with pytest.raises(grpc.RpcError) as e:
        ih.pull(c, "")
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "image.image" in e.value.details()
    with pytest.raises(grpc.RpcError) as e:
        ih.pull(c, "UPPER/Case::bad")
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, e.value.details()
    assert "image.image" in e.value.details()
    req = c.request("PullImage", image=ih.spec(f"{reg.host}/team/app:v1"))
    req.image.runtime_handler = "no-such-handler"
    with pytest.raises(grpc.RpcError) as e:
        c.call("PullImage", req, timeout=30)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "image.runtime_handler" in e.value.details()
    with pytest.raises(grpc.RpcError) as e:
        ih.pull(c, f"{reg.host}/team/app:missing")
    assert e.value.code() == grpc.StatusCode.NOT_FOUND, e.value.details()
    with pytest.raises(grpc.RpcError) as e:
        ih.status(c, "")
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert ih.list_images(c) == []
    assert ih.layer_dirs(d) == (set(), set())
