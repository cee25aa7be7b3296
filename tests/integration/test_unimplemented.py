"""Every RPC of the proto the daemon does not implement yet answers
UNIMPLEMENTED with its name; unknown methods answer UNIMPLEMENTED too.

The RPCs are enumerated from the descriptor protoc generates from
api/api.proto, so this test follows the proto as it grows."""

import grpc
import pytest

import crio_harness as h

METHODS = h.all_methods()
UNIMPLEMENTED = [m for m in METHODS if m[0] not in h.IMPLEMENTED]


def test_proto_declares_43_rpcs_with_the_4_implemented_ones():
    names = [m[0] for m in METHODS]
    assert len(names) == 43, f"expected 43 RPCs in api/api.proto, saw {len(names)}: {names}"
    missing = h.IMPLEMENTED - set(names)
    assert not missing, f"expected the implemented RPCs in the proto, missing {missing}"
    streaming = sorted(m[0] for m in METHODS if m[2])
    assert len(streaming) == 7, f"expected 7 server-streaming RPCs, saw {streaming}"


@pytest.mark.parametrize("name, path, server_streaming", UNIMPLEMENTED,
                         ids=[m[0] for m in UNIMPLEMENTED])
def test_rpc_answers_unimplemented_naming_the_method(client, name, path,
                                                     server_streaming):
    with pytest.raises(grpc.RpcError) as info:
        if server_streaming:
            client.stream(name, timeout=5)
        else:
            client.call(name, timeout=5)
    err = info.value
    assert err.code() == grpc.StatusCode.UNIMPLEMENTED, \
        f"expected UNIMPLEMENTED from {path}, saw {err.code()}: {err.details()}"
    assert name in (err.details() or ""), \
        f"expected the details to name {name}, saw {err.details()!r}"


@pytest.mark.parametrize("path", [
    "/runtime.v1.RuntimeService/NoSuchMethod",
    "/runtime.v1.NoSuchService/Version",
    "/runtime.v1alpha2.RuntimeService/Version",
    "/grpc.health.v1.Health/Check",
])
def test_unknown_method_path_answers_unimplemented(client, path):
    with pytest.raises(grpc.RpcError) as info:
        client.raw(path, b"", timeout=5)
    err = info.value
    assert err.code() == grpc.StatusCode.UNIMPLEMENTED, \
        f"expected UNIMPLEMENTED for unknown path {path}, saw {err.code()}: {err.details()}"


def test_daemon_still_serves_after_unimplemented_calls(client):
    resp = client.version()
    assert resp.runtime_api_version == "v1", \
        f"expected Version to answer v1 after the unimplemented calls, saw {resp}"
