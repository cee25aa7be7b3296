"""Containers on real runc and conmon: create and start a busybox container
in a ready pod, its log in the CRI format, ContainerStatus and
ListContainers fields; exits on their own (Completed, Error, termination
message, FallbackToLogsOnError); StopContainer with a timeout; removal
leaves no mount, bundle, runtime state, conmon or cgroup."""

import time
from pathlib import Path

import grpc
import pytest

import containers_harness as ch
import crio_harness as h
import pods_harness as p
from containers_harness import ctr_env, image_source  # noqa: F401 (fixtures)
from pods_harness import pod_cgroups, pod_net  # noqa: F401 (fixtures)

API = h.api()


def test_a_started_container_runs_logs_and_reports_its_status(ctr_env):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("web")
    cfg = ch.shell("app", env.image, "echo hello; exec sleep 1000",
                   labels={"tier": "front"}, annotations={"note": "x"})
    cid = ch.create_container(env.client, pod_id, cfg, pod_cfg)
    st = ch.container_status(env.client, cid).status
    assert st.state == API.CONTAINER_CREATED, f"expected CREATED after create, saw {st.state}"
    ch.start_container(env.client, cid)
    st = ch.container_status(env.client, cid).status
    assert st.state == API.CONTAINER_RUNNING, f"expected RUNNING after start, saw {st}"
    assert st.metadata.name == "app" and st.image.image == env.image
    assert st.image_id == env.source.image.id
    assert st.started_at >= st.created_at > 0
    assert dict(st.labels) == {"tier": "front"} and dict(st.annotations) == {"note": "x"}
    log = Path(st.log_path)
    assert log == env.log_dir / "web" / "app.log", f"expected the log under the pod's dir, saw {log}"
    lines = ch.wait_for(lambda: ch.log_lines(log), what=f"a line in {log}")
    assert lines[0] == ("stdout", "F", "hello"), f"expected a CRI-format stdout line, saw {lines}"
    info = ch.info(env.client, cid)
    assert info["pid"] > 0 and info["sandboxID"] == pod_id
    assert info["runtimeSpec"]["process"]["args"] == ["/bin/sh", "-c", "echo hello; exec sleep 1000"]
    listed = ch.list_containers(env.client)
    assert [c.id for c in listed] == [cid]
    assert listed[0].pod_sandbox_id == pod_id and listed[0].state == API.CONTAINER_RUNNING
    assert [c.id for c in ch.list_containers(env.client, pod_sandbox_id=pod_id[:12])] == [cid]
    assert ch.list_containers(env.client, state=API.CONTAINER_EXITED) == []
    assert [c.id for c in ch.list_containers(env.client, label_selector={"tier": "front"})] == [cid]

    ch.stop_container(env.client, cid, timeout_s=0)
    st = ch.container_status(env.client, cid).status
    assert st.state == API.CONTAINER_EXITED and st.exit_code == 137, f"saw {st}"
    ch.remove_container(env.client, cid)
    code, _ = p.rpc_code(ch.container_status, env.client, cid)
    assert code == grpc.StatusCode.NOT_FOUND
    p.remove_pod(env.client, pod_id)
    assert env.leaks() == [], f"expected nothing left, saw {env.leaks()}"
