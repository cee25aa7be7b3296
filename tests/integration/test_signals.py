"""SIGHUP reloads what can change without a restart — the log level, the
default runtime for new pods, the pinned images and pause image, the
registries configuration, the CNI network new pods join — and logs what
changed (CRI-O's "set config KEY to VALUE"); SIGUSR1 dumps the
reconciler's backlog and the database's statistics to the log."""

import copy
import json
import ipaddress
import signal
import sys
import time
from pathlib import Path

import grpc
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import images_harness as ih  # noqa: E402
import pods_harness as p  # noqa: E402
import registry_harness as rh  # noqa: E402
from pods_harness import pod_cgroups, pod_env, other_net, pod_net  # noqa: E402,F401 (fixtures)


def wait_log(d, text, timeout=10, after=0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in d.log()[after:]:
            return True
        time.sleep(0.05)
    raise AssertionError(f"expected {text!r} in the log, saw:\n{d.log()[after:][-3000:]}")


def reload(d):
    """SIGHUP, then wait for the end of that reload; returns the log
    written meanwhile."""
    start = len(d.log())
    d.send_signal(signal.SIGHUP)
    wait_log(d, "SIGHUP: configuration reload completed", after=start)
    return d.log()[start:]


def test_sighup_reloads_log_level_and_default_runtime(crio_factory, tmp_path):
    conf = tmp_path / "crio.conf"
    conf.write_text('[crio.runtime]\nlog_level = "info"\ndefault_runtime = "runc"\n')
    d = crio_factory.daemon(extra_args=["--config", str(conf), "--config-dir", ""],
                            log_level=None)
    d.start()
    conf.write_text('[crio.runtime]\nlog_level = "debug"\ndefault_runtime = "crun"\n'
                    '[crio.api]\nstream_port = "12345"\n')
    text = reload(d)
    assert 'SIGHUP: set config log_level to "debug"' in text, text
    assert 'SIGHUP: set config default_runtime to "crun"' in text, text
    assert "crio.api.stream_port changed to" in text and "restart crio to apply it" in text, text
    config = json.loads(d.client.status(verbose=True).info["config"])
    assert config["defaultRuntime"] == "crun", \
        f"expected Status to report the new default runtime, saw {config}"

    # Lowering the level is still logged (at info, as CRI-O does).
    conf.write_text('[crio.runtime]\nlog_level = "warn"\ndefault_runtime = "crun"\n'
                    '[crio.api]\nstream_port = "12345"\n')
    start = len(d.log())
    d.send_signal(signal.SIGHUP)
    wait_log(d, 'SIGHUP: set config log_level to "warning"', after=start)

    # A bad file is refused and changes nothing.
    conf.write_text('[crio.runtime]\nlog_level = "loud"\n')
    d.send_signal(signal.SIGHUP)
    wait_log(d, "SIGHUP: unable to reload configuration")
    assert d.client.version().runtime_name == "crio"


def test_sighup_an_edited_file_wins_over_the_start_flags(crio_factory, tmp_path):
    """CRI-O's reload reads only the files: crio started with --log-level
    debug whose crio.conf now says "warn" runs at warning after a SIGHUP
    (CRI-O's own reload tests rely on it: their daemon runs with -l debug).
    A reloadable setting no file sets keeps its flag's value."""
    conf = tmp_path / "crio.conf"
    conf.write_text('[crio.runtime]\nlog_level = "info"\n')
    d = crio_factory.daemon(extra_args=["--config", str(conf), "--config-dir", "",
                                        "--default-runtime", "runc"], log_level="debug")
    d.start()
    text = reload(d)
    assert 'SIGHUP: set config log_level to "info"' in text, text
    assert "default_runtime" not in text and "restart crio" not in text, text
    conf.write_text('[crio.runtime]\nlog_level = "warn"\n')
    start = len(d.log())
    d.send_signal(signal.SIGHUP)
    wait_log(d, 'SIGHUP: set config log_level to "warning"', after=start)


def test_sigusr1_dumps_queue_and_database_statistics(crio):
    crio.send_signal(signal.SIGUSR1)
    wait_log(crio, "SIGUSR1: database:")
    assert "reconciler backlog" in crio.log()


# ---- images: pinned set and registries.conf --------------------------------------

@pytest.fixture(scope="module")
def registry():
    work = rh.Workdir(prefix="crio-reload-")
    reg = ih.start_registry(work.sub("registry"), access_log=False)
    try:
        pusher = ih.Pusher(reg.host)
        pusher.image("team/app", "v1", ih.make_image("reload app"))
        pusher.image("team/other", "v1", ih.make_image("reload other"))
        yield reg
    finally:
        reg.stop()
        work.close()


def test_sighup_applies_pinned_images_pause_image_and_registries_conf(crio_factory, registry,
                                                                      tmp_path):
    host = registry.host
    conf = ih.registries_conf(tmp_path / "registries.conf", insecure=[host])
    d = ih.image_daemon(crio_factory, conf)
    dropins = tmp_path / "crio.conf.d"
    dropins.mkdir()
    d.extra_args += ["--config-dir", str(dropins)]
    d.start()
    c = d.client
    app = ih.pull(c, f"{host}/team/app:v1")
    other = ih.pull(c, f"{host}/team/other:v1")
    assert not ih.status(c, app).image.pinned and not ih.status(c, other).image.pinned
    assert not ih.status(c, "team/app:v1").HasField("image"), \
        "no unqualified-search-registries yet: the short name must not resolve"

    # A drop-in pins team/app by glob and makes team/other the pause image.
    (dropins / "10-pins.conf").write_text(
        f'[crio.image]\npinned_images = ["{host}/team/app:*"]\n'
        f'pause_image = "{host}/team/other:v1"\n')
    # registries.conf gains a search registry.
    ih.registries_conf(conf, insecure=[host], search=[host])
    text = reload(d)
    assert f'SIGHUP: set config pinned_images to ["{host}/team/app:*"]' in text, text
    assert f'SIGHUP: set config pause_image to "{host}/team/other:v1"' in text, text
    assert f"SIGHUP: applied new registries configuration from {conf}" in text, text
    assert ih.status(c, app).image.pinned, "expected the glob pinned_images to pin team/app"
    assert ih.status(c, other).image.pinned, "expected the new pause image to be pinned"
    listed = {i.id: i.pinned for i in ih.list_images(c)}
    assert listed == {app: True, other: True}, f"ListImages: {listed}"
    found = ih.status(c, "team/app:v1")
    assert found.HasField("image") and found.image.id == app, \
        f"expected the short name to resolve through the new search registry, saw {found}"

    # CRI-O: an empty list unpins; an empty entry pins nothing.
    (dropins / "10-pins.conf").write_text('[crio.image]\npinned_images = [""]\n')
    text = reload(d)
    assert 'SIGHUP: set config pause_image to "registry.k8s.io/pause:3.10"' in text, text
    listed = {i.id: i.pinned for i in ih.list_images(c)}
    assert listed == {app: False, other: False}, f"ListImages: {listed}"

    # A registries.conf that does not parse keeps the old one in effect.
    conf.write_text("unqualified-search-registries = [\n")
    text = reload(d)
    assert "registries configuration" in text and "the previous one stays" in text, text
    assert ih.status(c, "team/app:v1").image.id == app

    # Nothing changed: no "set config" line.
    ih.registries_conf(conf, insecure=[host], search=[host])
    reload(d)
    text = reload(d)
    assert "set config" not in text and "applied new registries" not in text, text


# ---- CNI: new pods join the new network, running pods keep theirs -----------------


def test_sighup_rereads_the_cni_config_dir(pod_env, pod_net, other_net):
    env = pod_env
    old_id = p.run_pod(env.client, env.config("before"))
    old_ip = p.pod_status(env.client, old_id).status.network.ip
    assert ipaddress.ip_address(old_ip) in ipaddress.ip_network(pod_net.subnet)

    env.write_conflist(copy.deepcopy(other_net.conflist))
    text = reload(env.daemon)
    assert f'SIGHUP: CNI network for new pods is now "{other_net.name}"' in text, text
    assert "running pods keep theirs" in text

    new_id = p.run_pod(env.client, env.config("after"))
    new_ip = p.pod_status(env.client, new_id).status.network.ip
    assert ipaddress.ip_address(new_ip) in ipaddress.ip_network(other_net.subnet), \
        f"expected the new pod in {other_net.subnet}, saw {new_ip}"
    assert p.pod_status(env.client, old_id).status.network.ip == old_ip, \
        "expected the running pod to keep its address"
    assert pod_net.reserved_ips() == [old_ip] and len(other_net.reserved_ips()) == 1

    # The running pod's DEL goes to the network it joined.
    p.stop_pod(env.client, old_id)
    p.remove_pod(env.client, old_id)
    assert pod_net.reserved_ips() == [] and pod_net.bridge_ports() == [], \
        "expected the old pod's address and veth released on its own network"
    p.remove_pod(env.client, new_id)
    assert other_net.reserved_ips() == [] and other_net.bridge_ports() == []

    # An empty dir: new pods have no network, and the log says so.
    for f in env.cni_dir.glob("*"):
        f.unlink()
    text = reload(env.daemon)
    assert "SIGHUP: no CNI network for new pods now" in text, text
    with pytest.raises(grpc.RpcError):
        p.run_pod(env.client, env.config("none"), timeout=20)
