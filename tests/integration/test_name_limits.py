"""Names and paths at the limits the kernel and the file system set.

Every name or value of a request that reaches a kernel interface or a file
system limit is accepted, shortened the way CRI-O shortens it, or refused
with INVALID_ARGUMENT naming its field before anything is persisted; it
never fails deep inside a step.  The kubelet and critest send what these
tests send: pods without a hostname, metadata names of up to 253
characters (DNS subdomains), labels with long values.

- hostname: sethostname takes at most 64 bytes.  An empty hostname gives
  the pod the first 12 characters of its id (CRI-O's rule); a host-network
  pod keeps the host's name; a longer one is refused.
- pod and container names of 253 characters in every metadata field: the
  names index keys of LMDB hold at most 511 bytes, a pod's full name
  k8s_<name>_<namespace>_<uid>_<attempt> then has 776.
- paths: PATH_MAX per path and NAME_MAX per component for log directories,
  log paths, mount and device paths and cgroup parents.
- CNI_ARGS carry the pod's name and namespace as K=V;K=V: ';' and '=' in a
  metadata field are refused.
"""

import grpc
import pytest

import containers_harness as ch
import crio_harness as h
import pods_harness as p
from containers_harness import ctr_env, image_source  # noqa: F401 (fixtures)
from pods_harness import pod_cgroups, pod_env, pod_net  # noqa: F401 (fixtures)

API = h.api()
SLEEPER = "trap 'exit 0' TERM; while :; do sleep 0.1; done"


def long_name(tag, n=253):
    """A valid DNS-subdomain-like name of exactly n characters."""
    return (tag + "-" + "x" * n)[:n - 1] + "z"


def exec_out(client, cid, cmd):
    req = client.request("ExecSync", container_id=cid, cmd=cmd, timeout=0)
    r = client.call("ExecSync", req, timeout=60)
    assert r.exit_code == 0, f"expected {cmd} to exit 0, saw {r}"
    return r.stdout.decode().strip()


def test_pod_without_hostname_gets_the_id_prefix_and_long_names_run(ctr_env):
    """critest's pods: no hostname, names of up to 253 characters."""
    env = ctr_env
    name, ns, uid = long_name("pod"), long_name("ns"), long_name("uid")
    cfg = env.pod_config(name, namespace=ns, uid=uid, hostname="",
                         labels={"app": "a" * 63, "long-value": "v" * 4096})
    pod_id = p.run_pod(env.client, cfg)
    st = p.pod_status(env.client, pod_id).status
    assert st.state == API.SANDBOX_READY, f"expected a READY pod, saw {st.state}"
    assert (st.metadata.name, st.metadata.namespace, st.metadata.uid) == (name, ns, uid), \
        "expected the metadata back whole"
    assert st.labels["long-value"] == "v" * 4096, "expected the long label value back whole"

    ctr_name = long_name("ctr")
    # The kubelet's log path: <container name>/<restart count>.log.
    cid = ch.run_container(env, pod_id, cfg, ch.shell(ctr_name, env.image, SLEEPER,
                                                       log_path=f"{ctr_name}/0.log"))
    assert exec_out(env.client, cid, ["hostname"]) == pod_id[:12], \
        "expected the pod's hostname to be the first 12 characters of its id"
    assert exec_out(env.client, cid, ["cat", "/etc/hostname"]) == pod_id[:12]
    assert exec_out(env.client, cid, ["/bin/sh", "-c", "echo $HOSTNAME"]) == pod_id[:12]
    listed = ch.list_containers(env.client, id=cid)
    assert [c.metadata.name for c in listed] == [ctr_name], f"saw {listed}"

    # The long names are reserved: the same metadata with another config is
    # refused, and the names are free again once removed.
    other = env.pod_config(name, namespace=ns, uid=uid, hostname="other")
    code, msg = p.rpc_code(env.client.call, "RunPodSandbox",
                           env.client.request("RunPodSandbox", config=other))
    assert code == grpc.StatusCode.ALREADY_EXISTS, f"expected ALREADY_EXISTS, saw {code}: {msg}"
    ch.stop_container(env.client, cid)
    ch.remove_container(env.client, cid)
    p.stop_pod(env.client, pod_id)
    p.remove_pod(env.client, pod_id)
    again = p.run_pod(env.client, other)
    assert p.pod_status(env.client, again).status.state == API.SANDBOX_READY


def test_long_names_that_differ_only_at_the_end_are_two_pods(pod_env):
    env = pod_env
    a, b = long_name("same") + "", long_name("same")[:-1] + "y"
    ns, uid = long_name("ns"), long_name("uid")
    id_a = p.run_pod(env.client, env.config(a, namespace=ns, uid=uid, hostname=""))
    id_b = p.run_pod(env.client, env.config(b, namespace=ns, uid=uid, hostname=""))
    assert id_a != id_b
    names = sorted(s.metadata.name for s in p.list_pods(env.client))
    assert names == sorted([a, b]), f"expected both pods listed whole, saw {names}"


def test_host_network_pod_without_hostname_keeps_the_hosts_name(ctr_env):
    import socket
    env = ctr_env
    cfg = env.pod_config(long_name("hostnet"), uid="u1", hostname="", host_network=True)
    pod_id = p.run_pod(env.client, cfg)
    cid = ch.run_container(env, pod_id, cfg, ch.shell("app", env.image, SLEEPER))
    assert exec_out(env.client, cid, ["hostname"]) == socket.gethostname()


def _pod_req(env, name="bad", edit=None, **kw):
    cfg = env.config(name, **kw)
    if edit:
        edit(cfg)
    return env.client.request("RunPodSandbox", config=cfg)


def _set_meta(field, value):
    def edit(cfg):
        setattr(cfg.metadata, field, value)
    return edit


POD_CASES = [
    ("hostname-65", dict(hostname="h" * 65), ["config.hostname"]),
    ("name-254", dict(edit=_set_meta("name", "n" * 254)), ["config.metadata.name", "253"]),
    ("namespace-254", dict(edit=_set_meta("namespace", "n" * 254)),
     ["config.metadata.namespace"]),
    ("uid-254", dict(edit=_set_meta("uid", "u" * 254)), ["config.metadata.uid"]),
    ("name-semicolon", dict(edit=_set_meta("name", "a;IgnoreUnknown=1")),
     ["config.metadata.name"]),
    ("namespace-equals", dict(edit=_set_meta("namespace", "a=b")), ["config.metadata.namespace"]),
    ("log-directory-component", dict(log_directory="/var/log/" + "d" * 256),
     ["config.log_directory", "component"]),
    ("log-directory-path-max", dict(log_directory="/" + "/".join(["d" * 200] * 20)),
     ["config.log_directory"]),
    ("cgroup-parent-component", dict(cgroup_parent="/" + "c" * 256),
     ["config.linux.cgroup_parent", "component"]),
]


@pytest.mark.parametrize("kw, needles", [(k, n) for _i, k, n in POD_CASES],
                         ids=[c[0] for c in POD_CASES])
def test_pod_value_past_a_limit_is_refused_naming_the_field(pod_env, kw, needles):
    env = pod_env
    code, msg = p.rpc_code(env.client.call, "RunPodSandbox", _pod_req(env, **kw))
    assert code == grpc.StatusCode.INVALID_ARGUMENT, f"expected INVALID_ARGUMENT, saw {code}: {msg}"
    missing = [n for n in needles if n not in msg]
    assert not missing, f"expected the message to name {missing}, saw: {msg}"
    assert p.db_pods(env.root) == [], "expected nothing persisted"
    assert env.leaks() == [], f"expected nothing on the host, saw {env.leaks()}"


def _mount(container_path):
    return API.Mount(container_path=container_path, host_path="/tmp")


CTR_CASES = [
    ("name-254", dict(name="n" * 254), ["config.metadata.name"]),
    ("log-path-component", dict(log_path="l" * 256 + ".log"), ["config.log_path", "component"]),
    ("log-path-past-path-max", dict(log_path="/".join(["l" * 200] * 21)), ["config.log_path"]),
    ("mount-component", dict(mounts=[_mount("/" + "m" * 256)]),
     ["config.mounts[0].container_path"]),
]


@pytest.mark.parametrize("kw, needles", [(k, n) for _i, k, n in CTR_CASES],
                         ids=[c[0] for c in CTR_CASES])
def test_container_value_past_a_limit_is_refused_naming_the_field(ctr_env, kw, needles):
    env = ctr_env
    pod_id, cfg = env.run_pod("limits")
    name = kw.pop("name", "app")
    config = ch.shell(name, env.image, SLEEPER, **kw)
    code, msg = p.rpc_code(ch.create_container, env.client, pod_id, config, cfg)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, f"expected INVALID_ARGUMENT, saw {code}: {msg}"
    missing = [n for n in needles if n not in msg]
    assert not missing, f"expected the message to name {missing}, saw: {msg}"
    assert ch.list_containers(env.client) == [], "expected no container"
