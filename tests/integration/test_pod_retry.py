"""The kubelet retries a RunPodSandbox it lost the answer of with the very
same request: it must get the same pod, never a second one; a different
request for the same name is refused; a removed pod's name is free."""

import threading

import grpc

import crio_harness as h
import pods_harness as p
from pods_harness import pod_cgroups, pod_env, pod_net  # noqa: F401 (fixtures)


def records(env):
    return [r["id"] for r in p.db_pods(env.root)]


def test_the_same_request_twice_gets_the_same_pod(pod_env):
    env = pod_env
    cfg = env.config("retry", labels={"a": "1", "b": "2"})
    first = p.run_pod(env.client, cfg)
    second = p.run_pod(env.client, cfg)
    assert second == first, f"expected the retry to return {first}, saw {second}"
    assert records(env) == [first], f"expected one record, saw {records(env)}"
    assert len(env.net.bridge_ports()) == 1, \
        f"expected one veth (one CNI ADD), saw {env.net.bridge_ports()}"


def test_the_same_request_with_labels_in_another_order_is_a_retry(pod_env):
    env = pod_env
    mod = p.api()
    cfg = env.config("order", labels={"a": "1", "b": "2", "c": "3"})
    first = p.run_pod(env.client, cfg)
    # The same map, built in another order (Go serialises maps in random order).
    again = mod.PodSandboxConfig()
    again.CopyFrom(cfg)
    again.labels.clear()
    for k in ("c", "a", "b"):
        again.labels[k] = cfg.labels[k]
    assert p.run_pod(env.client, again) == first, "expected a reordered label map to be the same request"


def test_concurrent_identical_requests_make_one_pod(pod_env):
    env = pod_env
    cfg = env.config("racer", labels={"x": "y"})
    results, errors = [], []
    barrier = threading.Barrier(2)

    def run():
        client = h.CriClient(env.daemon.socket)
        try:
            barrier.wait()
            results.append(p.run_pod(client, cfg))
        except grpc.RpcError as e:
            errors.append(f"{e.code()}: {e.details()}")
        finally:
            client.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [], f"expected both concurrent calls to succeed, saw errors {errors}"
    assert len(results) == 2 and results[0] == results[1], \
        f"expected both calls to return the same id, saw {results}"
    assert records(env) == [results[0]], f"expected one record, saw {records(env)}"
    assert len(env.net.bridge_ports()) == 1, f"expected one veth, saw {env.net.bridge_ports()}"


def test_a_different_request_for_the_same_name_is_already_exists(pod_env):
    env = pod_env
    first = p.run_pod(env.client, env.config("taken", labels={"v": "1"}))
    other = env.config("taken", labels={"v": "2"})
    code, msg = p.rpc_code(p.run_pod, env.client, other)
    assert code == grpc.StatusCode.ALREADY_EXISTS, f"expected ALREADY_EXISTS, saw {code}: {msg}"
    assert first in msg, f"expected the message to name the pod holding the name ({first}), saw: {msg}"
    assert records(env) == [first], f"expected only the first record, saw {records(env)}"


def test_a_stopped_pods_name_is_still_taken(pod_env):
    env = pod_env
    cfg = env.config("stopped")
    first = p.run_pod(env.client, cfg)
    p.stop_pod(env.client, first)
    code, msg = p.rpc_code(p.run_pod, env.client, cfg)
    assert code == grpc.StatusCode.ALREADY_EXISTS, \
        f"expected ALREADY_EXISTS for the name of a stopped pod, saw {code}: {msg}"


def test_after_remove_the_name_can_be_used_again(pod_env):
    env = pod_env
    cfg = env.config("reuse")
    first = p.run_pod(env.client, cfg)
    p.stop_pod(env.client, first)
    p.remove_pod(env.client, first)
    second = p.run_pod(env.client, cfg)
    assert second != first, "expected a new pod (new id) after the old one was removed"
    assert records(env) == [second], f"expected only the new record, saw {records(env)}"
    assert p.pod_status(env.client, second).status.state == p.api().SANDBOX_READY, \
        "expected the new pod READY"
