"""The server-streaming forms of the list RPCs (StreamPodSandboxes,
StreamContainers, StreamImages, StreamPodSandboxStats,
StreamContainerStats) against real pods, containers and images: with every
filter they stream exactly what the List form returns, in the same order;
no message is empty and nothing matching is a stream without messages;
hundreds of objects come in several batches, each within a client's default
receive limit; a client that cancels mid-stream ends the stream (the
handler logs it, the daemon serves on and stops at once)."""

import subprocess
import time

import grpc

import containers_harness as ch
import crio_harness as h
import images_harness as ih
import pods_harness as p
from containers_harness import ctr_env, image_source  # noqa: F401 (fixtures)
from pods_harness import pod_cgroups, pod_net  # noqa: F401 (fixtures)

API = h.api()
IDLE = "trap 'exit 0' TERM; while :; do sleep 0.1; done"
SYNTHETIC = h.BUILD / "tests" / "crio-synthetic-records"
# What a gRPC client accepts by default in one message.
CLIENT_MAX_MESSAGE = 4 * 1024 * 1024

# The repeated field of each stream's response.
FIELD = {"StreamPodSandboxes": "pod_sandboxes", "StreamContainers": "containers",
         "StreamImages": "images", "StreamPodSandboxStats": "pod_sandbox_stats",
         "StreamContainerStats": "container_stats"}


def stream(client, name, filter_msg=None, timeout=30):
    """(items in order, responses) of one stream; asserts no response is
    empty and each is within the client's default message size."""
    req = client.request(name)
    if filter_msg is not None:
        req.filter.CopyFrom(filter_msg)
    responses = client.stream(name, req, timeout=timeout)
    items = []
    for r in responses:
        batch = list(getattr(r, FIELD[name]))
        assert batch, f"{name}: expected every message to carry an entry, saw an empty one"
        assert r.ByteSize() <= CLIENT_MAX_MESSAGE
        items += batch
    return items, responses


def pod_filter(state=None, **kw):
    f = API.PodSandboxFilter(**kw)
    if state is not None:
        f.state.CopyFrom(API.PodSandboxStateValue(state=state))
    return f


def container_filter(state=None, **kw):
    f = API.ContainerFilter(**kw)
    if state is not None:
        f.state.CopyFrom(API.ContainerStateValue(state=state))
    return f


def list_pods(client, f):
    return list(client.call("ListPodSandbox", client.request("ListPodSandbox", filter=f)).items)


def list_containers(client, f):
    req = client.request("ListContainers", filter=f)
    return list(client.call("ListContainers", req).containers)


def test_stream_pod_sandboxes_matches_list_for_every_filter(ctr_env):
    env = ctr_env
    a, _ = env.run_pod("alpha", labels={"tier": "front", "team": "x"})
    b, _ = env.run_pod("beta", labels={"tier": "back"})
    c, _ = env.run_pod("gamma", labels={"tier": "front"})
    p.stop_pod(env.client, c)
    filters = [None, pod_filter(id=a), pod_filter(id=b[:10]),
               pod_filter(state=API.SANDBOX_READY), pod_filter(state=API.SANDBOX_NOTREADY),
               pod_filter(label_selector={"tier": "front"}),
               pod_filter(label_selector={"tier": "front", "team": "x"}),
               pod_filter(state=API.SANDBOX_READY, label_selector={"tier": "front"}),
               pod_filter(label_selector={"tier": "nowhere"}), pod_filter(id="f" * 64)]
    for f in filters:
        listed = list_pods(env.client, f)
        streamed, _ = stream(env.client, "StreamPodSandboxes", f)
        assert streamed == listed, f"filter {f}: expected the list {listed}, streamed {streamed}"
    everything, _ = stream(env.client, "StreamPodSandboxes")
    assert sorted(x.id for x in everything) == sorted([a, b, c])
    ready, _ = stream(env.client, "StreamPodSandboxes", pod_filter(state=API.SANDBOX_READY))
    assert sorted(x.id for x in ready) == sorted([a, b])
    front, _ = stream(env.client, "StreamPodSandboxes",
                      pod_filter(label_selector={"tier": "front"}))
    assert sorted(x.id for x in front) == sorted([a, c])
    # Nothing matching: the stream ends OK without a single message.
    items, responses = stream(env.client, "StreamPodSandboxes",
                              pod_filter(label_selector={"tier": "nowhere"}))
    assert items == [] and responses == [], f"expected no message, saw {responses}"


def test_stream_containers_matches_list_for_every_filter(ctr_env):
    env = ctr_env
    pa, cfg_a = env.run_pod("a")
    pb, cfg_b = env.run_pod("b")
    a1 = ch.run_container(env, pa, cfg_a, ch.shell("a1", env.image, IDLE, labels={"k": "1"}))
    a2 = ch.run_container(env, pa, cfg_a, ch.shell("a2", env.image, IDLE, labels={"k": "2"}))
    b1 = ch.run_container(env, pb, cfg_b, ch.shell("b1", env.image, IDLE, labels={"k": "1"}))
    b2 = ch.create_container(env.client, pb, ch.shell("b2", env.image, IDLE), cfg_b)
    ch.stop_container(env.client, a2, timeout_s=0)
    filters = [None, container_filter(id=a1), container_filter(id=b1[:12]),
               container_filter(pod_sandbox_id=pa), container_filter(pod_sandbox_id=pb[:8]),
               container_filter(state=API.CONTAINER_RUNNING),
               container_filter(state=API.CONTAINER_EXITED),
               container_filter(state=API.CONTAINER_CREATED),
               container_filter(label_selector={"k": "1"}),
               container_filter(pod_sandbox_id=pb, label_selector={"k": "1"}),
               container_filter(label_selector={"k": "3"}), container_filter(id="0" * 64)]
    for f in filters:
        listed = list_containers(env.client, f)
        streamed, _ = stream(env.client, "StreamContainers", f)
        assert streamed == listed, f"filter {f}: expected the list {listed}, streamed {streamed}"
    everything, _ = stream(env.client, "StreamContainers")
    assert sorted(x.id for x in everything) == sorted([a1, a2, b1, b2])
    running, _ = stream(env.client, "StreamContainers",
                        container_filter(state=API.CONTAINER_RUNNING))
    assert sorted(x.id for x in running) == sorted([a1, b1])
    of_b, _ = stream(env.client, "StreamContainers", container_filter(pod_sandbox_id=pb))
    assert sorted(x.id for x in of_b) == sorted([b1, b2])
    _, responses = stream(env.client, "StreamContainers", container_filter(label_selector={"k": "3"}))
    assert responses == []


def test_stream_images_matches_list_for_every_filter(ctr_env):
    env = ctr_env
    other = f"{env.source.registry.host}/ctr/other:v1"
    ih.Pusher(env.source.registry.host).image("ctr/other", "v1", ih.make_image("stream-other"))
    other_id = ih.pull(env.client, other)
    base_id = ih.status(env.client, env.image).image.id
    for image in (None, env.image, other, other_id, f"{env.source.registry.host}/ctr/other:nope"):
        f = API.ImageFilter(image=API.ImageSpec(image=image)) if image is not None else None
        listed = ih.list_images(env.client, image)
        streamed, _ = stream(env.client, "StreamImages", f)
        assert streamed == listed, f"filter {image}: expected {listed}, streamed {streamed}"
    everything, _ = stream(env.client, "StreamImages")
    assert sorted(i.id for i in everything) == sorted([base_id, other_id])
    only, _ = stream(env.client, "StreamImages", API.ImageFilter(image=API.ImageSpec(image=other)))
    assert [i.id for i in only] == [other_id] and other in only[0].repo_tags
    _, responses = stream(env.client, "StreamImages",
                          API.ImageFilter(image=API.ImageSpec(image="nowhere/none:x")))
    assert responses == []


def test_stream_stats_match_list_stats(ctr_env):
    env = ctr_env
    pa, cfg_a = env.run_pod("sa", labels={"app": "a"})
    pb, cfg_b = env.run_pod("sb", labels={"app": "b"})
    a1 = ch.run_container(env, pa, cfg_a, ch.shell("a1", env.image, IDLE, labels={"t": "x"}))
    b1 = ch.run_container(env, pb, cfg_b, ch.shell("b1", env.image, IDLE, labels={"t": "y"}))

    for f in (None, API.PodSandboxStatsFilter(id=pa), API.PodSandboxStatsFilter(id=pb[:9]),
              API.PodSandboxStatsFilter(label_selector={"app": "b"}),
              API.PodSandboxStatsFilter(label_selector={"app": "none"})):
        req = env.client.request("ListPodSandboxStats")
        if f is not None:
            req.filter.CopyFrom(f)
        listed = list(env.client.call("ListPodSandboxStats", req).stats)
        streamed, _ = stream(env.client, "StreamPodSandboxStats", f)
        # The samples differ (taken at another time); what they describe
        # does not.
        assert [s.attributes for s in streamed] == [s.attributes for s in listed], \
            f"filter {f}: expected pods {[s.attributes.id for s in listed]}, " \
            f"streamed {[s.attributes.id for s in streamed]}"
        for s, ls in zip(streamed, listed):
            assert s.linux.cpu.usage_core_nano_seconds.value >= \
                ls.linux.cpu.usage_core_nano_seconds.value > 0
            assert s.linux.memory.working_set_bytes.value > 0
            assert s.linux.network.default_interface.name == "eth0"
            assert [c.attributes.id for c in s.linux.containers] == \
                [c.attributes.id for c in ls.linux.containers]
    by_pod, _ = stream(env.client, "StreamPodSandboxStats")
    assert {s.attributes.id: [c.attributes.id for c in s.linux.containers] for s in by_pod} == \
        {pa: [a1], pb: [b1]}

    for f in (None, API.ContainerStatsFilter(id=a1), API.ContainerStatsFilter(pod_sandbox_id=pb),
              API.ContainerStatsFilter(label_selector={"t": "x"}),
              API.ContainerStatsFilter(label_selector={"t": "z"})):
        req = env.client.request("ListContainerStats")
        if f is not None:
            req.filter.CopyFrom(f)
        listed = list(env.client.call("ListContainerStats", req).stats)
        streamed, _ = stream(env.client, "StreamContainerStats", f)
        assert [s.attributes for s in streamed] == [s.attributes for s in listed], \
            f"filter {f}: expected {[s.attributes.id for s in listed]}, " \
            f"streamed {[s.attributes.id for s in streamed]}"
        for s in streamed:
            assert s.cpu.usage_core_nano_seconds.value > 0 and s.memory.working_set_bytes.value > 0
            assert s.writable_layer.inodes_used.value >= 1
    only, _ = stream(env.client, "StreamContainerStats", API.ContainerStatsFilter(id=b1[:12]))
    assert [s.attributes.id for s in only] == [b1]
    _, responses = stream(env.client, "StreamContainerStats",
                          API.ContainerStatsFilter(label_selector={"t": "z"}))
    assert responses == []


# ---- many objects: batches and cancellation ------------------------------------------------

def many_records_daemon(crio_factory, pods, containers):
    """A daemon over synthetic records (pods STOPPED, containers EXITED:
    nothing on the host, nothing for the reconciler to do)."""
    d = crio_factory.daemon(name="many", cni="empty", extra_args=["--cgroup-manager", "cgroupfs"])
    d.root.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(SYNTHETIC), "--root", str(d.root), "--runroot", str(d.runroot),
                      "--pods", str(pods), "--containers", str(containers)],
                     capture_output=True, check=True)
    d.start()
    return d


def test_hundreds_of_objects_stream_in_batches_as_listed(crio_factory):
    d = many_records_daemon(crio_factory, 300, 900)
    c = d.client
    pods = list_pods(c, None)
    streamed, responses = stream(c, "StreamPodSandboxes")
    assert len(pods) == 300 and streamed == pods
    assert len(responses) >= 3, f"expected 300 pods in several batches, saw {len(responses)}"
    ctrs = list_containers(c, None)
    streamed, responses = stream(c, "StreamContainers")
    assert len(ctrs) == 900 and streamed == ctrs
    assert len(responses) >= 8, f"expected 900 containers in several batches, saw {len(responses)}"
    of_pod, _ = stream(c, "StreamContainers", container_filter(pod_sandbox_id=pods[7].id))
    assert of_pod == list_containers(c, container_filter(pod_sandbox_id=pods[7].id))
    assert len(of_pod) == 3
    # Stats of stopped pods and exited containers: no cgroup, no network,
    # no layer; their attributes still come, one per object.
    stats, _ = stream(c, "StreamContainerStats")
    assert [s.attributes.id for s in stats] == [x.id for x in ctrs]
    pod_stats, _ = stream(c, "StreamPodSandboxStats")
    assert [s.attributes.id for s in pod_stats] == [x.id for x in pods]


def test_a_cancelled_stream_ends_and_the_daemon_serves_on(crio_factory):
    d = many_records_daemon(crio_factory, 100, 3000)
    total = sum(r.ByteSize() for r in stream(d.client, "StreamContainers")[1])
    # A client that does not read keeps a small flow-control window (no
    # BDP probing), so the daemon's sends block well before the end.
    assert total > 256 * 1024, f"expected several windows of containers, saw {total} bytes"
    lazy = grpc.insecure_channel(f"unix://{d.socket}", options=[("grpc.http2.bdp_probe", 0)])
    try:
        path = f"/{API.DESCRIPTOR.services_by_name['RuntimeService'].full_name}/StreamContainers"
        call = lazy.unary_stream(path, request_serializer=API.StreamContainersRequest.SerializeToString,
                                 response_deserializer=API.StreamContainersResponse.FromString)(
            API.StreamContainersRequest(), timeout=60)
        first = next(call)
        assert len(first.containers) >= 1
        time.sleep(0.5)
        call.cancel()
        ch.wait_for(lambda: "StreamContainers: client gone after" in d.log(), timeout=10,
                    what="the stream's handler to see the client gone")
        line = [x for x in d.log().splitlines() if "StreamContainers: client gone after" in x][-1]
        sent, of = line.split("client gone after ")[1].split(" items")[0].split(" of ")
        assert int(sent) < int(of) == 3000, f"expected the stream cut short, saw {line}"
    finally:
        lazy.close()
    # The daemon serves on, and no handler is left to hold its shutdown.
    assert len(list_containers(d.client, None)) == 3000
    took = d.stop_cleanly()
    assert took < 5, f"expected the daemon to stop at once, took {took:.1f}s"
