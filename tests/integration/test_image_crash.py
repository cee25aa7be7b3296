"""What a failed or interrupted pull leaves: a blob whose digest does not
match, a layer whose diff_id does not match, a stalled transfer (pull
progress timeout), and kill -9 at every image transition (CRIO_CRASH_AT) and
in the middle of a layer — after which a restart and a new pull must
succeed, no tmp-* dir may remain, and the records must match the disk."""

import json
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import crio_harness as h  # noqa: E402
import images_harness as ih  # noqa: E402
import registry_harness as rh  # noqa: E402


@pytest.fixture(scope="module")
def work():
    w = rh.Workdir(prefix="crio-image-crash-")
    yield w
    w.close()


@pytest.fixture(scope="module")
def images():
    good = ih.make_image("crash good")
    bad_gz, _ = ih.marker_layer("diff id lies")
    lying = ih.TestImage([ih.busybox_layer(), (bad_gz, "sha256:" + "ab" * 32)])
    return {"good": good, "corrupt": ih.make_image("crash corrupt"), "lying": lying}


@pytest.fixture(scope="module")
def registry(work, images):
    reg = ih.start_registry(work.sub("registry"), access_log=False)
    try:
        p = ih.Pusher(reg.host)
        p.image("crash/good", "1", images["good"])
        p.image("crash/corrupt", "1", images["corrupt"])
        p.image("crash/lying", "1", images["lying"])
        # Same size, other bytes: only the digest can tell.
        path = reg.blob_path(images["corrupt"].layer_digests[-1])
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
        yield reg
    finally:
        reg.stop()


@pytest.fixture
def conf(work, registry, request):
    return ih.registries_conf(work.path / f"registries-{request.node.name}.conf",
                              insecure=[registry.host])


def inspect_images(d):
    out = subprocess.run([str(h.INSPECT_BIN), "--root", str(d.root), "--json", "images"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if out.stdout.strip() else []


def assert_records_match_disk(d):
    """Every layer a record lists is published; every published layer is
    listed by a record; nothing half-made."""
    records = inspect_images(d)
    published, leftovers = ih.layer_dirs(d)
    assert not leftovers, f"tmp-* left in the layer store: {leftovers}"
    listed = set()
    for rec in records:
        layers = ih.hexes(rec["image"]["layers"])
        listed |= layers
        if rec["state"] == 3:  # READY
            assert layers <= published, f"READY image {rec['id']} misses {layers - published}"
    assert published <= listed, f"layers no record references: {published - listed}"


def wait_for(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_blob_digest_mismatch_fails_publishes_nothing_and_rolls_back(crio_factory, conf,
                                                                     registry, images):
    d = ih.image_daemon(crio_factory, conf).start()
    with pytest.raises(grpc.RpcError) as e:
        ih.pull(d.client, f"{registry.host}/crash/corrupt:1")
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, e.value.details()
    assert "digest" in e.value.details() and "mismatch" in e.value.details(), e.value.details()
    assert not ih.status(d.client, f"{registry.host}/crash/corrupt:1").HasField("image")
    assert inspect_images(d) == [], "the record was rolled back and deleted"
    assert ih.layer_dirs(d) == (set(), set()), "no layer of the failed pull stays"
    assert "image.rollback_partial_fetch" in d.log()


def test_diff_id_mismatch_fails_and_rolls_back(crio_factory, conf, registry):
    d = ih.image_daemon(crio_factory, conf).start()
    with pytest.raises(grpc.RpcError) as e:
        ih.pull(d.client, f"{registry.host}/crash/lying:1")
    assert "diff_id" in e.value.details(), e.value.details()
    assert inspect_images(d) == []
    assert ih.layer_dirs(d) == (set(), set())


def test_a_failed_pull_keeps_layers_another_image_uses(crio_factory, conf, registry, images):
    d = ih.image_daemon(crio_factory, conf).start()
    ih.pull(d.client, f"{registry.host}/crash/good:1")
    with pytest.raises(grpc.RpcError):
        ih.pull(d.client, f"{registry.host}/crash/corrupt:1")
    published, leftovers = ih.layer_dirs(d)
    assert published == ih.hexes(images["good"].chain_ids) and not leftovers
    assert_records_match_disk(d)


PULL_CRASH_POINTS = ["image.fetch_layers:before", "image.fetch_layers:after",
                     "image.commit:before", "image.commit:after"]


@pytest.mark.parametrize("point", PULL_CRASH_POINTS)
def test_kill_during_pull_then_restart_and_pull_again(crio_factory, conf, registry, images,
                                                      point):
    good = images["good"]
    d = ih.image_daemon(crio_factory, conf, env={"CRIO_CRASH_AT": point}).start()
    d.expect_clean_exit = False
    with pytest.raises(grpc.RpcError) as e:
        ih.pull(d.client, f"{registry.host}/crash/good:1")
    assert e.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED,
                              grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL), e.value
    assert d.wait_exit(10) == 137, f"expected the crash point to exit 137:\n{d.log()}"
    assert f"crash point {point}" in d.log()

    again = ih.image_daemon(crio_factory, conf, root=d.root, name=d.name + "-again").start()
    c = again.client
    # Recovery resumes the interrupted pull (by digest, no credentials
    # needed here): the image becomes READY on its own, without tags.
    wait_for(lambda: ih.status(c, good.id).HasField("image"), what="the resumed pull")
    assert ih.pull(c, f"{registry.host}/crash/good:1") == good.id
    img = ih.status(c, f"{registry.host}/crash/good:1").image
    assert list(img.repo_tags) == [f"{registry.host}/crash/good:1"]
    assert_records_match_disk(again)
    ih.remove(c, good.id)
    assert ih.layer_dirs(again) == (set(), set())
    assert inspect_images(again) == []


REMOVE_CRASH_POINTS = ["image.release_layers:before", "image.release_layers:after",
                       "image.delete_record:before", "image.delete_record:after"]


@pytest.mark.parametrize("point", REMOVE_CRASH_POINTS)
def test_kill_during_remove_then_restart_finishes_the_removal(crio_factory, conf, registry,
                                                              images, point):
    good = images["good"]
    d = ih.image_daemon(crio_factory, conf, env={"CRIO_CRASH_AT": point}).start()
    d.expect_clean_exit = False
    ih.pull(d.client, f"{registry.host}/crash/good:1")
    with pytest.raises(grpc.RpcError):
        ih.remove(d.client, f"{registry.host}/crash/good:1")
    assert d.wait_exit(10) == 137, d.log()

    again = ih.image_daemon(crio_factory, conf, root=d.root, name=d.name + "-again").start()
    wait_for(lambda: inspect_images(again) == [], what="the resumed removal")
    wait_for(lambda: ih.layer_dirs(again) == (set(), set()), what="the layers to go")
    assert not ih.status(again.client, good.id).HasField("image")
    assert ih.pull(again.client, f"{registry.host}/crash/good:1") == good.id
    assert_records_match_disk(again)


def test_kill_mid_layer_leaves_tmp_that_restart_removes_and_a_pull_without_credentials_rolls_back(
        crio_factory, work, images):
    """The in-flight pull's credentials are never stored: after a restart the
    resumed fetch goes without them, the registry refuses, the record rolls
    back.  The half-written layer dir is removed at start-up."""
    fake = rh.FakeRegistry(rh.build_image("stalling"), repo="stall/app")
    try:
        big = fake.image.layer_digests[0]
        fake.stall.add(big)
        conf = ih.registries_conf(work.path / "stall.conf", insecure=[fake.host])
        d = ih.image_daemon(crio_factory, conf).start()
        d.expect_clean_exit = False
        client = d.client
        results = []

        def pull():
            try:
                ih.pull(client, f"{fake.host}/stall/app:1",
                        auth_config=ih.auth(username="alice", password="secret"), timeout=30)
            except grpc.RpcError as e:
                results.append(e)

        import threading
        t = threading.Thread(target=pull)
        t.start()
        wait_for(lambda: ih.layer_dirs(d)[1], what="an unpack in flight (tmp-*)")
        d.kill()
        t.join(35)
        _, leftovers = ih.layer_dirs(d)
        assert leftovers, "the killed unpack left its tmp dir (the restart must remove it)"

        again = ih.image_daemon(crio_factory, conf, root=d.root, name=d.name + "-again").start()
        wait_for(lambda: inspect_images(again) == [], what="the resumed pull to roll back")
        assert ih.layer_dirs(again) == (set(), set())
        assert "resuming the pull" in again.log() and "without credentials" in again.log()
    finally:
        fake.close()


def test_a_stalled_transfer_fails_after_the_pull_progress_timeout(crio_factory, work):
    fake = rh.FakeRegistry(rh.build_image("stall timeout"), repo="stall/app")
    try:
        fake.stall.add(fake.image.layer_digests[0])
        conf = ih.registries_conf(work.path / "stall2.conf", insecure=[fake.host])
        d = ih.image_daemon(crio_factory, conf, extra=["--pull-progress-timeout", "2s"]).start()
        t0 = time.monotonic()
        with pytest.raises(grpc.RpcError) as e:
            ih.pull(d.client, f"{fake.host}/stall/app:1",
                    auth_config=ih.auth(username="alice", password="secret"), timeout=60)
        took = time.monotonic() - t0
        assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e.value.details()
        assert took < 20, f"the 2 s progress timeout should end the pull, took {took:.1f}s"
        assert inspect_images(d) == [] and ih.layer_dirs(d) == (set(), set())
    finally:
        fake.close()
