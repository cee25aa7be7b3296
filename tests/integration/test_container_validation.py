"""Bad CreateContainer requests change nothing: INVALID_ARGUMENT,
NOT_FOUND or FAILED_PRECONDITION with a message naming the field, and no
record, name, directory or log entry left; a retried CreateContainer gets
the same container; a name in use by another config is ALREADY_EXISTS;
RemoveImage of an image a container uses is FAILED_PRECONDITION."""

import grpc
import pytest

import containers_harness as ch
import crio_harness as h
import images_harness as ih
import pods_harness as p
from containers_harness import ctr_env, image_source  # noqa: F401 (fixtures)
from pods_harness import pod_cgroups, pod_net  # noqa: F401 (fixtures)

API = h.api()


def bad_configs(image):
    cfg = ch.shell("ok", image, "true")
    no_name = ch.shell("", image, "true")
    no_image = ch.shell("x", "", "true")
    abs_log = ch.shell("x", image, "true", log_path="/var/log/x.log")
    climbing_log = ch.shell("x", image, "true", log_path="../../x.log")
    rel_mount = ch.shell("x", image, "true",
                         mounts=[API.Mount(container_path="data", host_path="/tmp")])
    rel_host = ch.shell("x", image, "true",
                        mounts=[API.Mount(container_path="/data", host_path="tmp")])
    return cfg, [
        ("config.metadata.name", no_name, grpc.StatusCode.INVALID_ARGUMENT),
        ("config.image.image", no_image, grpc.StatusCode.INVALID_ARGUMENT),
        ("config.log_path", abs_log, grpc.StatusCode.INVALID_ARGUMENT),
        ("config.log_path", climbing_log, grpc.StatusCode.INVALID_ARGUMENT),
        ("config.mounts[0].container_path", rel_mount, grpc.StatusCode.INVALID_ARGUMENT),
        ("config.mounts[0].host_path", rel_host, grpc.StatusCode.INVALID_ARGUMENT),
        ("config.image.image", ch.shell("x", "127.0.0.1:1/none:v1", "true"),
         grpc.StatusCode.NOT_FOUND),
    ]


def test_bad_requests_name_the_field_and_persist_nothing(ctr_env):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("pod")
    log_before = len(p.db_log(env.root))
    _ok, cases = bad_configs(env.image)
    for field, cfg, want in cases:
        code, msg = p.rpc_code(ch.create_container, env.client, pod_id, cfg, pod_cfg)
        assert code == want and field in msg, f"{field}: expected {want} naming it, saw {code}: {msg}"
    code, msg = p.rpc_code(ch.create_container, env.client, "", ch.shell("x", env.image, "true"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "pod_sandbox_id" in msg, f"saw {code}: {msg}"
    code, msg = p.rpc_code(ch.create_container, env.client, "f" * 64,
                           ch.shell("x", env.image, "true"))
    assert code == grpc.StatusCode.NOT_FOUND, f"expected NOT_FOUND for an unknown pod, saw {code}"
    assert ch.db_containers(env.root) == []
    assert len(p.db_log(env.root)) == log_before, "expected no log entry for a bad request"
    assert env.container_dirs() == []
    for rpc in ("StartContainer", "ContainerStatus"):
        code, _ = p.rpc_code(env.client.call, rpc, env.client.request(rpc, container_id="f" * 64))
        assert code == grpc.StatusCode.NOT_FOUND, f"{rpc} of an unknown id: saw {code}"
        code, _ = p.rpc_code(env.client.call, rpc, env.client.request(rpc, container_id=""))
        assert code == grpc.StatusCode.INVALID_ARGUMENT, f"{rpc} without an id: saw {code}"


def test_spec_errors_found_at_create_are_invalid_argument_and_roll_back(ctr_env):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("pod")
    cfg = ch.shell("x", env.image, "true")
    cfg.linux.security_context.run_as_username = "no-such-user"
    code, msg = p.rpc_code(ch.create_container, env.client, pod_id, cfg, pod_cfg)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "no-such-user" in msg, f"saw {code}: {msg}"
    assert ch.db_containers(env.root) == [] and env.container_dirs() == []
    assert env.mounts() == [m for m in env.mounts() if "/containers/" not in m]
    # The name is free again.
    cid = ch.create_container(env.client, pod_id, ch.shell("x", env.image, "true"), pod_cfg)
    assert ch.container_status(env.client, cid).status.state == API.CONTAINER_CREATED


def test_a_retried_create_gets_the_same_container_and_a_clash_is_already_exists(ctr_env):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("pod")
    cfg = ch.shell("x", env.image, "true", labels={"a": "1", "b": "2"})
    first = ch.create_container(env.client, pod_id, cfg, pod_cfg)
    again = ch.create_container(env.client, pod_id, cfg, pod_cfg)
    assert again == first, "expected the retry to attach to the container it made"
    other = ch.shell("x", env.image, "false")
    code, msg = p.rpc_code(ch.create_container, env.client, pod_id, other, pod_cfg)
    assert code == grpc.StatusCode.ALREADY_EXISTS, f"saw {code}: {msg}"
    # A new attempt number is a new name.
    cfg.metadata.attempt = 1
    assert ch.create_container(env.client, pod_id, cfg, pod_cfg) != first


def test_remove_image_in_use_is_a_failed_precondition(ctr_env):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("pod")
    cid = ch.create_container(env.client, pod_id, ch.shell("x", env.image, "true"), pod_cfg)
    code, msg = p.rpc_code(ih.remove, env.client, env.image)
    assert code == grpc.StatusCode.FAILED_PRECONDITION and cid in msg, f"saw {code}: {msg}"
    ch.remove_container(env.client, cid)
    ih.remove(env.client, env.image)
    code, msg = p.rpc_code(ch.create_container, env.client, pod_id,
                           ch.shell("y", env.image, "true"), pod_cfg)
    assert code == grpc.StatusCode.NOT_FOUND and "pull it first" in msg, f"saw {code}: {msg}"
