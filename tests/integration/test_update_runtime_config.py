"""UpdateRuntimeConfig: the pod CIDR, validated and persisted."""

import grpc
import pytest

import crio_harness as h

FIELD = "runtime_config.network_config.pod_cidr"


def _meta(root):
    return h.inspect(root, "meta").json["meta"]


def test_valid_ipv4_cidr_is_accepted_and_recorded(crio_factory):
    d = crio_factory.start()
    d.client.update_runtime_config("10.1.0.0/24")
    meta = _meta(d.root)
    assert meta.get("pod_cidr") == "10.1.0.0/24", \
        f"expected meta pod_cidr '10.1.0.0/24', saw {meta.get('pod_cidr')!r}"


def test_valid_ipv6_cidr_is_accepted(crio_factory):
    d = crio_factory.start()
    d.client.update_runtime_config("fd00:10:1::/64")
    meta = _meta(d.root)
    assert meta.get("pod_cidr") == "fd00:10:1::/64", \
        f"expected meta pod_cidr 'fd00:10:1::/64', saw {meta.get('pod_cidr')!r}"


def test_pod_cidr_persists_across_restart(crio_factory):
    first = crio_factory.start()
    first.client.update_runtime_config("10.1.0.0/24")
    first.stop_cleanly()
    second = crio_factory.start(root=first.root, socket_path=first.socket)
    second.client.version()
    meta = _meta(second.root)
    assert meta.get("pod_cidr") == "10.1.0.0/24", (
        f"expected pod_cidr '10.1.0.0/24' to survive a restart, saw "
        f"{meta.get('pod_cidr')!r}")


def test_pod_cidr_change_writes_one_log_note(crio_factory):
    d = crio_factory.start()
    d.client.update_runtime_config("10.1.0.0/24")
    d.client.update_runtime_config("10.1.0.0/24")  # unchanged: no new note
    notes = [e for e in h.inspect(d.root, "log").json
             if "pod CIDR set to 10.1.0.0/24" in e.get("message", "")]
    assert len(notes) == 1, (f"expected one 'pod CIDR set to 10.1.0.0/24' "
                             f"note, saw {len(notes)}: {notes}")


@pytest.mark.parametrize("bad", ["10.1.0.0", "10.1.0.0/33", "not-a-cidr",
                                 "10.1.0.256/24", "/24", "10.1.0.0/", "fd00::/129",
                                 "10.1.0.0/24x", "10.1.0.0/+24", "10.1.0.0/ 24",
                                 " 10.1.0.0/24"])
def test_bad_cidr_is_invalid_argument_naming_the_field(crio, bad):
    # One daemon for every bad value: a rejected value changes nothing.
    d = crio
    d.client.update_runtime_config("10.9.0.0/16")
    with pytest.raises(grpc.RpcError) as info:
        d.client.update_runtime_config(bad)
    err = info.value
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, \
        f"expected INVALID_ARGUMENT for {bad!r}, saw {err.code()}: {err.details()}"
    assert FIELD in (err.details() or ""), \
        f"expected the details to name {FIELD}, saw {err.details()!r}"
    meta = _meta(d.root)
    assert meta.get("pod_cidr") == "10.9.0.0/16", \
        f"expected a rejected CIDR to change nothing, saw pod_cidr {meta.get('pod_cidr')!r}"


def test_empty_cidr_is_accepted_and_changes_nothing(crio_factory):
    d = crio_factory.start()
    d.client.update_runtime_config("10.1.0.0/24")
    seq_before = h.inspect(d.root, "meta").json["log"]["last_seq"]
    d.client.update_runtime_config("")
    d.client.call("UpdateRuntimeConfig")  # no runtime_config at all
    after = h.inspect(d.root, "meta").json
    assert after["meta"].get("pod_cidr") == "10.1.0.0/24", \
        f"expected pod_cidr to stay '10.1.0.0/24', saw {after['meta'].get('pod_cidr')!r}"
    assert after["log"]["last_seq"] == seq_before, (
        f"expected no new log entry for an empty CIDR, log seq went "
        f"{seq_before} -> {after['log']['last_seq']}")
