"""A pod sandbox's whole life through the CRI: RunPodSandbox makes a READY
pod with pinned namespaces, a veth on the bridge and an IP from IPAM;
PodSandboxStatus and ListPodSandbox show what the request asked for;
StopPodSandbox releases the network and namespaces; RemovePodSandbox
deletes the record; every step is idempotent and the state log tells the
story in order."""

import ipaddress
import json
import threading
import time

import grpc

import crio_harness as h
import pods_harness as p
from pods_harness import pod_cgroups, pod_env, pod_net  # noqa: F401 (fixtures)

NS_TYPES = ("net", "ipc", "uts")


def fs_type(path):
    return p.sh("stat", "-f", "-c", "%T", str(path)).stdout.strip()


def assert_pinned(env, pod_id, types=NS_TYPES):
    mounts = p.mounts_under(env.runroot)
    for t in types:
        pin = env.runroot / f"{t}ns" / pod_id
        assert str(pin) in mounts, f"expected {t} namespace pinned (mounted) at {pin}; mounts: {mounts}"
        assert fs_type(pin) == "nsfs", f"expected {pin} to be an nsfs file, saw {fs_type(pin)}"


def run_ready_pod(env, name="lifecycle", **kw):
    cfg = env.config(name, **kw)
    t0 = time.time_ns()
    pod_id = p.run_pod(env.client, cfg)
    t1 = time.time_ns()
    return cfg, pod_id, t0, t1


def test_run_makes_a_ready_pod_with_pinned_namespaces_a_veth_and_an_ip(pod_env):
    env = pod_env
    _cfg, pod_id, _t0, _t1 = run_ready_pod(env)
    st = p.pod_status(env.client, pod_id).status
    mod = p.api()
    assert st.state == mod.SANDBOX_READY, f"expected SANDBOX_READY, saw {mod.PodSandboxState.Name(st.state)}"
    ip = st.network.ip
    assert ip, "expected the READY pod to have an IP, saw none"
    assert ipaddress.ip_address(ip) in ipaddress.ip_network(env.net.subnet), \
        f"expected the pod IP inside the test subnet {env.net.subnet}, saw {ip}"
    assert_pinned(env, pod_id)

    ports = env.net.bridge_ports()
    assert len(ports) == 1, f"expected one veth on {env.net.bridge}, saw {ports}"
    info = json.loads(p.pod_status(env.client, pod_id, verbose=True).info["info"])
    veths = [i["name"] for i in info["cniResult"]["interfaces"] if "sandbox" not in i]
    assert ports[0] in veths, f"expected the bridge port {ports[0]} to be the pod's host veth {veths}"
    assert env.net.reserved_ips() == [ip], \
        f"expected host-local to hold exactly the pod IP {ip}, saw {env.net.reserved_ips()}"

    # The IP really lives in the pinned netns, on eth0.
    addrs = p.nsenter("--net", env.runroot / "netns" / pod_id, "ip", "-j", "addr", "show", "eth0")
    seen = [a["local"] for link in json.loads(addrs) for a in link.get("addr_info", [])]
    assert ip in seen, f"expected {ip} on eth0 inside the pod netns, saw {seen}"


def test_status_and_list_show_what_the_request_asked_for(pod_env):
    env = pod_env
    mod = p.api()
    labels = {"app": "web", "tier": "front"}
    annotations = {"note": "hello", "kubernetes.io/config.seen": "now"}
    cfg, pod_id, t0, t1 = run_ready_pod(env, name="status", uid="uid-status-1",
                                        namespace="ns-a", attempt=2,
                                        labels=labels, annotations=annotations)
    resp = p.pod_status(env.client, pod_id, verbose=True)
    st = resp.status
    assert st.id == pod_id, f"expected id {pod_id}, saw {st.id}"
    md = st.metadata
    assert (md.name, md.uid, md.namespace, md.attempt) == ("status", "uid-status-1", "ns-a", 2), \
        f"expected metadata (status, uid-status-1, ns-a, 2), saw {(md.name, md.uid, md.namespace, md.attempt)}"
    assert dict(st.labels) == labels, f"expected labels {labels}, saw {dict(st.labels)}"
    assert dict(st.annotations) == annotations, \
        f"expected annotations {annotations}, saw {dict(st.annotations)}"
    assert t0 <= st.created_at <= t1, \
        f"expected created_at within the call [{t0}, {t1}], saw {st.created_at}"
    assert st.runtime_handler == "runc", f"expected the default handler runc, saw {st.runtime_handler!r}"
    opts = st.linux.namespaces.options
    assert (opts.network, opts.ipc, opts.pid) == (mod.POD, mod.POD, mod.CONTAINER), \
        f"expected namespace options network=POD ipc=POD pid=CONTAINER, saw {opts}"

    info = json.loads(resp.info["info"])
    assert info["state"] == "READY" and info["goal"] == "READY", \
        f"expected verbose state/goal READY/READY, saw {info['state']}/{info['goal']}"
    assert info["netnsPath"] == str(env.runroot / "netns" / pod_id), \
        f"expected netnsPath under the runroot, saw {info['netnsPath']}"
    assert info["network"] == env.net.name, f"expected network {env.net.name}, saw {info['network']}"
    assert info["cgroupPath"] == f"{env.cgroups.path}/crio-{pod_id}", \
        f"expected cgroupPath {env.cgroups.path}/crio-{pod_id}, saw {info['cgroupPath']}"
    ips = [i["address"].split("/")[0] for i in info["cniResult"]["ips"]]
    assert ips == [st.network.ip], f"expected the CNI result IPs {ips} to be the pod IP {st.network.ip}"
    types = sorted(r["type"] for r in info["resources"])
    # "mount": the pod's /dev/shm tmpfs, shared by its containers.
    assert types == sorted(["dir", "netns", "ipcns", "utsns", "mount", "cgroup", "cni"]), \
        f"expected resources dir, netns, ipcns, utsns, mount, cgroup, cni; saw {types}"

    listed = p.list_pods(env.client)
    assert [x.id for x in listed] == [pod_id], f"expected List to show only {pod_id}, saw {[x.id for x in listed]}"
    x = listed[0]
    assert x.state == mod.SANDBOX_READY and dict(x.labels) == labels and \
        dict(x.annotations) == annotations and x.created_at == st.created_at and \
        x.metadata.name == "status" and x.runtime_handler == "runc", f"expected List item to match Status, saw {x}"
    assert [y.id for y in p.list_pods(env.client, label_selector={"app": "web"})] == [pod_id], \
        "expected the label selector app=web to find the pod"
    assert p.list_pods(env.client, label_selector={"app": "db"}) == [], \
        "expected the label selector app=db to find nothing"
    assert p.list_pods(env.client, state=mod.SANDBOX_NOTREADY) == [], \
        "expected no NOTREADY pods"
    assert [y.id for y in p.list_pods(env.client, id=pod_id[:12])] == [pod_id], \
        "expected an id-prefix filter to find the pod"


def test_stop_releases_network_and_namespaces_and_is_idempotent(pod_env):
    env = pod_env
    mod = p.api()
    _cfg, pod_id, _t0, _t1 = run_ready_pod(env, name="stopper")
    p.stop_pod(env.client, pod_id)
    st = p.pod_status(env.client, pod_id).status
    assert st.state == mod.SANDBOX_NOTREADY, \
        f"expected SANDBOX_NOTREADY after stop, saw {mod.PodSandboxState.Name(st.state)}"
    assert st.network.ip == "", f"expected no IP after stop, saw {st.network.ip!r}"
    pins = p.pinned_namespaces(env.runroot)
    assert pins == [], f"expected no pinned namespaces after stop, saw {pins}"
    assert env.net.bridge_ports() == [], f"expected no veth on the bridge after stop, saw {env.net.bridge_ports()}"
    assert env.net.reserved_ips() == [], f"expected no IPAM reservation after stop, saw {env.net.reserved_ips()}"
    # A stopped pod is still listed, NOTREADY.
    listed = [(x.id, x.state) for x in p.list_pods(env.client)]
    assert listed == [(pod_id, mod.SANDBOX_NOTREADY)], f"expected the stopped pod listed NOTREADY, saw {listed}"

    p.stop_pod(env.client, pod_id)  # again: a success, nothing changes
    st = p.pod_status(env.client, pod_id).status
    assert st.state == mod.SANDBOX_NOTREADY, "expected the pod still NOTREADY after a second stop"


def test_remove_deletes_the_pod_and_is_idempotent(pod_env):
    env = pod_env
    _cfg, pod_id, _t0, _t1 = run_ready_pod(env, name="remover")
    p.stop_pod(env.client, pod_id)
    p.remove_pod(env.client, pod_id)
    assert p.list_pods(env.client) == [], "expected List to be empty after remove"
    code, msg = p.rpc_code(p.pod_status, env.client, pod_id)
    assert code == grpc.StatusCode.NOT_FOUND, f"expected Status of a removed pod NOT_FOUND, saw {code}: {msg}"
    p.remove_pod(env.client, pod_id)  # again: a success
    assert p.db_pods(env.root) == [], f"expected no pod records, saw {p.db_pods(env.root)}"
    assert env.leaks() == [], f"expected nothing left after remove, saw {env.leaks()}"


def test_remove_of_a_ready_pod_stops_it_on_the_way(pod_env):
    env = pod_env
    _cfg, pod_id, _t0, _t1 = run_ready_pod(env, name="direct-remove")
    p.remove_pod(env.client, pod_id)
    assert p.list_pods(env.client) == [], "expected List to be empty after removing a READY pod"
    assert env.leaks() == [], f"expected nothing left after removing a READY pod, saw {env.leaks()}"


def test_stop_and_remove_of_an_unknown_id_succeed(pod_env):
    env = pod_env
    unknown = "f" * 64
    for name, call in (("StopPodSandbox", p.stop_pod), ("RemovePodSandbox", p.remove_pod)):
        code, msg = p.rpc_code(call, env.client, unknown)
        assert code == grpc.StatusCode.OK, f"expected {name} of a never-existing id to succeed, saw {code}: {msg}"
    code, msg = p.rpc_code(p.pod_status, env.client, unknown)
    assert code == grpc.StatusCode.NOT_FOUND, f"expected Status of an unknown id NOT_FOUND, saw {code}: {msg}"


def test_log_shows_the_pods_transitions_in_order(pod_env):
    env = pod_env
    _cfg, pod_id, _t0, _t1 = run_ready_pod(env, name="logged")
    p.stop_pod(env.client, pod_id)
    p.remove_pod(env.client, pod_id)
    seen = p.pod_transitions(env.root, pod_id)
    expected = ["CREATE", "pod.pin_namespaces", "pod.create_cgroup", "pod.cni_add", "pod.mark_ready",
                "pod.stop_containers", "pod.cni_del", "pod.release_namespaces",
                "pod.remove_containers", "pod.remove_cgroup", "pod.delete_record"]
    assert seen == expected, f"expected the log to hold {expected}, saw {seen}"

    # Every resource acquired was released by the end.
    held = {}
    for e in p.db_log(env.root, "--object", pod_id):
        for r in e["acquired"]:
            held[(r["type"], r["id"])] = e["transition"]
        for r in e["released"]:
            held.pop((r["type"], r["id"]), None)
    assert held == {}, f"expected every acquired resource released in the log, still held: {held}"
    assert env.leaks() == [], f"expected nothing left, saw {env.leaks()}"


def test_pods_run_and_removed_concurrently_get_their_own_ips_and_leave_nothing(pod_env):
    env = pod_env
    n = 6
    ids, errors = [None] * n, []

    def run(i):
        client = h.CriClient(env.daemon.socket)
        try:
            ids[i] = p.run_pod(client, env.config(f"many-{i}"))
        except grpc.RpcError as e:
            errors.append(f"{i}: {e.code()}: {e.details()}")
        finally:
            client.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [], f"expected every concurrent RunPodSandbox to succeed, saw {errors}"
    ips = [p.pod_status(env.client, i).status.network.ip for i in ids]
    assert len(set(ips)) == n and all(ips), f"expected {n} distinct pod IPs, saw {ips}"
    assert sorted(env.net.reserved_ips()) == sorted(ips), \
        f"expected IPAM to hold exactly {sorted(ips)}, saw {env.net.reserved_ips()}"
    assert len(env.net.bridge_ports()) == n, f"expected {n} veths, saw {env.net.bridge_ports()}"
    assert len(p.pinned_namespaces(env.runroot)) == 3 * n, \
        f"expected {3 * n} pins, saw {p.pinned_namespaces(env.runroot)}"

    def remove(pod_id):
        client = h.CriClient(env.daemon.socket)
        try:
            p.remove_pod(client, pod_id)
        except grpc.RpcError as e:
            errors.append(f"{pod_id[:12]}: {e.code()}: {e.details()}")
        finally:
            client.close()

    threads = [threading.Thread(target=remove, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [], f"expected every concurrent RemovePodSandbox to succeed, saw {errors}"
    assert p.list_pods(env.client) == [], "expected List empty"
    assert env.leaks() == [], f"expected nothing left, saw {env.leaks()}"
