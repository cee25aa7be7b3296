"""Status: RuntimeReady and NetworkReady conditions, handlers, verbose info."""

import json
import os

import pytest

import crio_harness as h


def _ready(cond):
    return (f"{cond.type}: status={cond.status} reason={cond.reason!r} "
            f"message={cond.message!r}")


# ---- with real runc + conmon and a valid bridge conflist (shared daemon) ----

def test_runtime_ready_with_real_runc_and_conmon(client):
    cond = h.condition(client.status(), "RuntimeReady")
    assert cond.status is True, f"expected RuntimeReady true, saw {_ready(cond)}"
    assert cond.reason == "", f"expected no reason when ready, saw {cond.reason!r}"


def test_network_ready_with_valid_bridge_conflist(client):
    cond = h.condition(client.status(), "NetworkReady")
    assert cond.status is True, f"expected NetworkReady true, saw {_ready(cond)}"


def test_status_lists_default_handler_and_configured_runtimes(client):
    resp = client.status()
    names = [r.name for r in resp.runtime_handlers]
    assert "" in names, f"expected the default handler '' in {names}"
    for runtime in ("runc", "crun"):
        if any(os.access(os.path.join(d, runtime), os.X_OK)
               for d in os.environ.get("PATH", "").split(":") if d):
            assert runtime in names, \
                f"expected {runtime} (on PATH) among runtime handlers, saw {names}"
    assert len(names) == len(set(names)), f"expected no duplicates, saw {names}"


def test_status_without_verbose_has_no_info(client):
    resp = client.status(verbose=False)
    assert dict(resp.info) == {}, f"expected no info without verbose, saw {dict(resp.info)}"


def test_status_verbose_info_is_json_of_the_config(client, crio):
    resp = client.status(verbose=True)
    assert "config" in resp.info, f"expected info['config'], saw keys {list(resp.info)}"
    try:
        config = json.loads(resp.info["config"])
    except ValueError as e:
        pytest.fail(f"expected info['config'] to be JSON, saw {resp.info['config']!r}: {e}")
    assert isinstance(config, dict), f"expected a JSON object, saw {config!r}"
    text = json.dumps(config)
    for expected in (str(crio.root), str(crio.runroot), str(crio.cni_config_dir)):
        assert expected in text, f"expected {expected} in the verbose config, saw {text}"


# ---- runtime not ready ----------------------------------------------------

def test_runtime_not_ready_when_conmon_is_not_executable(crio_factory, workdir):
    conmon = workdir / "conmon"
    conmon.write_text("#!/bin/sh\nexit 0\n")
    conmon.chmod(0o644)
    d = crio_factory.start(extra_args=["--conmon", str(conmon)])
    cond = h.condition(d.client.status(), "RuntimeReady")
    assert cond.status is False, f"expected RuntimeReady false, saw {_ready(cond)}"
    assert cond.reason, f"expected a reason, saw {_ready(cond)}"
    assert str(conmon) in cond.message, \
        f"expected the message to name {conmon}, saw {cond.message!r}"


def test_runtime_not_ready_when_default_runtime_is_unknown(crio_factory):
    d = crio_factory.start(extra_args=["--default-runtime", "no-such-runtime"])
    cond = h.condition(d.client.status(), "RuntimeReady")
    assert cond.status is False, f"expected RuntimeReady false, saw {_ready(cond)}"
    assert cond.reason, f"expected a reason, saw {_ready(cond)}"
    assert "no-such-runtime" in cond.message, \
        f"expected the message to name the handler, saw {cond.message!r}"
    # The network does not depend on the runtime.
    net = h.condition(d.client.status(), "NetworkReady")
    assert net.status is True, f"expected NetworkReady still true, saw {_ready(net)}"


# ---- network not ready ----------------------------------------------------

def test_network_not_ready_when_cni_config_dir_is_empty(crio_factory):
    d = crio_factory.start(cni="empty")
    cond = h.condition(d.client.status(), "NetworkReady")
    assert cond.status is False, f"expected NetworkReady false, saw {_ready(cond)}"
    assert cond.reason == "NetworkPluginNotReady", \
        f"expected reason NetworkPluginNotReady, saw {_ready(cond)}"
    assert cond.message, f"expected a message, saw {_ready(cond)}"
    rt = h.condition(d.client.status(), "RuntimeReady")
    assert rt.status is True, f"expected RuntimeReady still true, saw {_ready(rt)}"


def test_network_not_ready_when_conflist_names_a_missing_plugin(crio_factory):
    d = crio_factory.start(cni=h.bridge_conflist(plugin_type="no-such-cni-plugin"))
    cond = h.condition(d.client.status(), "NetworkReady")
    assert cond.status is False, f"expected NetworkReady false, saw {_ready(cond)}"
    assert cond.reason == "NetworkPluginNotReady", \
        f"expected reason NetworkPluginNotReady, saw {_ready(cond)}"
    assert "no-such-cni-plugin" in cond.message, \
        f"expected the message to name the missing plugin, saw {cond.message!r}"


def test_network_becomes_ready_when_a_conflist_appears(crio_factory):
    # Status reads the config dir on every call: the kubelet polls it until
    # the network is installed (e.g. by a CNI DaemonSet).
    d = crio_factory.start(cni="empty")
    before = h.condition(d.client.status(), "NetworkReady")
    assert before.status is False, f"expected NetworkReady false first, saw {_ready(before)}"
    h.write_conflist(d.cni_config_dir, h.bridge_conflist())
    after = h.condition(d.client.status(), "NetworkReady")
    assert after.status is True, \
        f"expected NetworkReady true once a conflist exists, saw {_ready(after)}"
