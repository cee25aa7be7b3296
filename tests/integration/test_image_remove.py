"""RemoveImage: by tag, digest reference, id and unique id prefix; every
name goes with the image; idempotent; layers collected once no image uses
them and kept while another does; the state log tells the story."""

import subprocess
import sys
from pathlib import Path

import grpc
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import crio_harness as h  # noqa: E402
import images_harness as ih  # noqa: E402
import registry_harness as rh  # noqa: E402


@pytest.fixture(scope="module")
def work():
    w = rh.Workdir(prefix="crio-image-remove-")
    yield w
    w.close()


@pytest.fixture(scope="module")
def images():
    # Two small images whose ids share their first hex digits, for the
    # ambiguous-prefix test (a few tries find them).
    seen = {}
    twins = None
    for i in range(200):
        img = ih.make_image(f"twin {i}", with_busybox=False)
        if img.id[:2] in seen:
            twins = (seen[img.id[:2]], img)
            break
        seen[img.id[:2]] = img
    return {"a": ih.make_image("remove a"), "b": ih.make_image("remove b"),
            "solo": ih.make_image("solo", with_busybox=False), "twins": twins}


@pytest.fixture(scope="module")
def registry(work, images):
    reg = ih.start_registry(work.sub("registry"), access_log=False)
    try:
        p = ih.Pusher(reg.host)
        p.image("rm/a", "1", images["a"])
        p.image("rm/a", "also", images["a"])
        p.image("rm/b", "1", images["b"])
        p.image("rm/solo", "1", images["solo"])
        p.image("rm/twin", "1", images["twins"][0])
        p.image("rm/twin", "2", images["twins"][1])
        yield reg
    finally:
        reg.stop()


@pytest.fixture
def env(crio_factory, registry, work, request):
    conf = ih.registries_conf(work.path / f"registries-{request.node.name}.conf",
                              insecure=[registry.host])
    d = ih.image_daemon(crio_factory, conf).start()
    return d, d.client, registry.host


def gone(c, image_id):
    return not ih.status(c, image_id).HasField("image") and \
        image_id not in {i.id for i in ih.list_images(c)}


@pytest.mark.parametrize("how", ["tag", "digest", "id", "sha256_id", "prefix"])
def test_remove_by_any_reference_removes_image_names_and_layers(env, images, how):
    d, c, host = env
    a = images["a"]
    ih.pull(c, f"{host}/rm/a:1")
    ih.pull(c, f"{host}/rm/a:also")
    img = ih.status(c, a.id).image
    assert set(img.repo_tags) == {f"{host}/rm/a:1", f"{host}/rm/a:also"}
    text = {"tag": f"{host}/rm/a:also", "digest": f"{host}/rm/a@{a.digest}", "id": a.id,
            "sha256_id": "sha256:" + a.id, "prefix": a.id[:10]}[how]
    ih.remove(c, text)
    assert gone(c, a.id)
    for name in (f"{host}/rm/a:1", f"{host}/rm/a:also", f"{host}/rm/a@{a.digest}"):
        assert not ih.status(c, name).HasField("image"), f"{name} must be gone with the image"
    assert ih.layer_dirs(d) == (set(), set()), "every layer collected, no leftovers"


def test_remove_is_idempotent_and_unknown_is_fine(env, images):
    d, c, host = env
    ih.pull(c, f"{host}/rm/solo:1")
    ih.remove(c, f"{host}/rm/solo:1")
    ih.remove(c, f"{host}/rm/solo:1")
    ih.remove(c, images["solo"].id)
    ih.remove(c, f"{host}/never/pulled:1")
    assert ih.list_images(c) == []


def test_layers_shared_with_another_image_stay(env, images):
    d, c, host = env
    a, b = images["a"], images["b"]
    ih.pull(c, f"{host}/rm/a:1")
    ih.pull(c, f"{host}/rm/b:1")
    assert a.chain_ids[0] == b.chain_ids[0], "both images share the busybox layer"
    published, _ = ih.layer_dirs(d)
    assert published == ih.hexes(a.chain_ids) | ih.hexes(b.chain_ids)
    ih.remove(c, f"{host}/rm/a:1")
    published, leftovers = ih.layer_dirs(d)
    assert published == ih.hexes(b.chain_ids), "a's own layer goes, the shared one stays"
    assert not leftovers
    # b still works: pull again is instant and its status is intact.
    assert ih.status(c, f"{host}/rm/b:1").image.id == b.id
    ih.remove(c, b.id)
    assert ih.layer_dirs(d) == (set(), set())


def test_pull_after_remove_fetches_again(env, images):
    d, c, host = env
    a = images["a"]
    ih.pull(c, f"{host}/rm/a:1")
    ih.remove(c, a.id)
    assert ih.pull(c, f"{host}/rm/a:1") == a.id
    published, _ = ih.layer_dirs(d)
    assert published == ih.hexes(a.chain_ids)


def test_ambiguous_prefix_and_empty_reference_are_invalid(env, images):
    d, c, host = env
    with pytest.raises(grpc.RpcError) as e:
        ih.remove(c, "")
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "image.image" in e.value.details()
    t1, t2 = images["twins"]
    ih.pull(c, f"{host}/rm/twin:1")
    ih.pull(c, f"{host}/rm/twin:2")
    with pytest.raises(grpc.RpcError) as e:
        ih.remove(c, t1.id[:2])
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "ambiguous" in e.value.details()
    assert len(ih.list_images(c)) == 2, "an ambiguous removal removes nothing"


def test_log_shows_the_image_lifecycle(env, images):
    d, c, host = env
    a = images["a"]
    ih.pull(c, f"{host}/rm/a:1")
    ih.remove(c, f"{host}/rm/a:1")
    out = subprocess.run([str(h.INSPECT_BIN), "--root", str(d.root), "log"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    text = "\n".join(line for line in out.stdout.splitlines() if a.id[:12] in line)
    order = ["image.fetch_layers", "image.commit", "image.release_layers", "image.delete_record"]
    positions = [text.find(t) for t in order]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), \
        f"expected {order} in order in the log, saw:\n{text}"
