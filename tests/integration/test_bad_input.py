"""Requests that do not decode are INVALID_ARGUMENT and harm nothing."""

import grpc
import pytest

import crio_harness as h

VERSION = "/runtime.v1.RuntimeService/Version"

GARBAGE = {
    "invalid_varint_tag": b"\xff\xff\xff",
    "truncated_length_delimited": b"\x0a\x05ab",
    "unterminated_varint": b"\x08\x80\x80\x80",
    "field_number_zero": b"\x00\x01",
}


@pytest.mark.parametrize("payload", list(GARBAGE.values()), ids=list(GARBAGE))
@pytest.mark.parametrize("path", [
    VERSION,
    "/runtime.v1.RuntimeService/Status",
    "/runtime.v1.RuntimeService/RuntimeConfig",
    "/runtime.v1.RuntimeService/UpdateRuntimeConfig",
])
def test_undecodable_request_is_invalid_argument(client, path, payload):
    with pytest.raises(grpc.RpcError) as info:
        client.raw(path, payload, timeout=5)
    err = info.value
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, \
        f"expected INVALID_ARGUMENT for {payload!r} to {path}, saw {err.code()}: {err.details()}"


def test_daemon_serves_after_garbage(client, crio):
    for _ in range(20):
        with pytest.raises(grpc.RpcError):
            client.raw(VERSION, b"\xff\xff\xff", timeout=5)
    resp = client.version()
    assert resp.runtime_api_version == "v1", \
        f"expected Version to answer v1 after garbage requests, saw {resp}"
    assert crio.running(), f"expected the daemon to keep running, it exited {crio.returncode}"


def test_empty_request_is_a_valid_version_request(client):
    out = client.raw(VERSION, b"", timeout=5)
    resp = h.api().VersionResponse.FromString(out)
    assert resp.runtime_api_version == "v1", \
        f"expected an empty request to get runtime_api_version v1, saw {resp}"


def test_unknown_fields_are_ignored(client):
    # A newer kubelet may send fields we do not know: proto3 skips them.
    payload = h.api().VersionRequest(version="v1").SerializeToString() + \
        b"\xa0\x06\x01"  # field 100, varint 1
    resp = h.api().VersionResponse.FromString(client.raw(VERSION, payload, timeout=5))
    assert resp.runtime_api_version == "v1", \
        f"expected unknown fields to be ignored, saw {resp}"


def test_oversized_request_is_refused_and_daemon_keeps_serving(client, crio):
    payload = h.api().VersionRequest(version="x" * (17 * 1024 * 1024)).SerializeToString()
    with pytest.raises(grpc.RpcError) as info:
        client.raw(VERSION, payload, timeout=20)
    assert info.value.code() != grpc.StatusCode.OK
    resp = client.version()
    assert resp.runtime_api_version == "v1", \
        f"expected Version to answer after an oversized request, saw {resp}"


def test_call_without_a_request_message_is_invalid_argument(client):
    # The client half-closes without sending a message: a bad request.
    stub = client.channel.stream_unary(VERSION, request_serializer=lambda b: b,
                                       response_deserializer=lambda b: b)
    with pytest.raises(grpc.RpcError) as info:
        stub(iter(()), timeout=5)
    err = info.value
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, \
        f"expected INVALID_ARGUMENT for a call with no message, saw {err.code()}: {err.details()}"
    assert client.version().runtime_api_version == "v1", "expected Version to answer afterwards"


def test_expired_deadline_does_not_disturb_the_daemon(client):
    for _ in range(20):
        try:
            client.status(verbose=True, timeout=0.000001)
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, \
                f"expected DEADLINE_EXCEEDED or success, saw {e.code()}: {e.details()}"
    assert client.version().runtime_api_version == "v1", "expected Version to answer afterwards"
