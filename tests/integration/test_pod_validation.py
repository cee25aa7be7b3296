"""RunPodSandbox checks every field before anything is persisted: a bad
request gets INVALID_ARGUMENT with a message naming the field, and leaves no
record, no name, no log entry and nothing on the host."""

import grpc
import pytest

import pods_harness as p
from pods_harness import pod_cgroups, pod_env, pod_net  # noqa: F401 (fixtures)


def _cfg(env, **kw):
    return env.config("bad", **kw)


def _no_config(env):
    return p.api().RunPodSandboxRequest()


def _req(edit=None, handler="", **kw):
    """A request built from a valid config, then edited."""
    def make(env):
        cfg = _cfg(env, **kw)
        if edit:
            edit(cfg)
        return p.api().RunPodSandboxRequest(config=cfg, runtime_handler=handler)
    return make


def _clear(field):
    def edit(cfg):
        if field == "metadata":
            cfg.ClearField("metadata")
        else:
            setattr(cfg.metadata, field, "")
    return edit


def _userns_pod(cfg):
    mod = p.api()
    cfg.linux.security_context.namespace_options.userns_options.CopyFrom(
        mod.UserNamespace(mode=mod.POD))


def _port(container_port=80, host_port=8080, host_ip=""):
    return [p.api().PortMapping(container_port=container_port, host_port=host_port,
                                host_ip=host_ip)]


# (case id, request maker, substrings the message must hold)
CASES = [
    ("no-config", _no_config, ["config is required"]),
    ("no-metadata", _req(_clear("metadata")), ["config.metadata"]),
    ("no-name", _req(_clear("name")), ["config.metadata.name"]),
    ("no-namespace", _req(_clear("namespace")), ["config.metadata.namespace"]),
    ("no-uid", _req(_clear("uid")), ["config.metadata.uid"]),
    ("bad-hostname", _req(hostname="bad host"), ["config.hostname"]),
    ("bad-dns-server", _req(dns={"servers": ["not-an-ip"]}),
     ["config.dns_config", "servers", "not-an-ip"]),
    ("four-dns-servers", _req(dns={"servers": ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]}),
     ["config.dns_config", "servers"]),
    ("container-port-0", _req(port_mappings=_port(container_port=0)),
     ["config.port_mappings[0].container_port"]),
    ("container-port-70000", _req(port_mappings=_port(container_port=70000)),
     ["config.port_mappings[0].container_port"]),
    ("host-port-70000", _req(port_mappings=_port(host_port=70000)),
     ["config.port_mappings[0].host_port"]),
    ("bad-host-ip", _req(port_mappings=_port(host_ip="1.2.3.999")),
     ["config.port_mappings[0].host_ip", "1.2.3.999"]),
    ("relative-log-directory", _req(log_directory="var/log/pods"),
     ["config.log_directory", "var/log/pods"]),
    ("relative-cgroup-parent", _req(cgroup_parent="relative/parent"),
     ["config.linux.cgroup_parent", "relative/parent"]),
    ("unknown-runtime-handler", _req(handler="no-such-runtime"),
     ["runtime_handler", "no-such-runtime"]),
    ("unsafe-sysctl", _req(sysctls={"kernel.panic": "1"}),
     ["config.linux.sysctls", "kernel.panic"]),
    ("ipc-sysctl-with-host-ipc", _req(sysctls={"kernel.shmmax": "1000000"}, host_ipc=True),
     ["config.linux.sysctls", "kernel.shmmax"]),
    ("net-sysctl-with-host-network",
     _req(sysctls={"net.ipv4.ip_unprivileged_port_start": "0"}, host_network=True),
     ["config.linux.sysctls", "net.ipv4.ip_unprivileged_port_start"]),
    ("userns-pod-mode", _req(_userns_pod),
     ["config.linux.security_context.namespace_options.userns_options"]),
]


@pytest.mark.parametrize("make, needles", [(m, n) for _i, m, n in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_field_is_invalid_argument_and_persists_nothing(pod_env, make, needles):
    env = pod_env
    req = make(env)
    with pytest.raises(grpc.RpcError) as ei:
        env.client.call("RunPodSandbox", req, timeout=30)
    code, msg = ei.value.code(), ei.value.details() or ""
    assert code == grpc.StatusCode.INVALID_ARGUMENT, \
        f"expected INVALID_ARGUMENT, saw {code}: {msg}"
    missing = [n for n in needles if n not in msg]
    assert not missing, f"expected the message to name {missing}, saw: {msg}"

    assert p.list_pods(env.client) == [], "expected List empty after a rejected request"
    assert p.db_pods(env.root) == [], f"expected no pod records, saw {p.db_pods(env.root)}"
    created = [e for e in p.db_log(env.root) if e["type"] != "NOTE"]
    assert created == [], f"expected no log entries but daemon notes, saw {created}"
    assert env.leaks() == [], f"expected nothing on the host, saw {env.leaks()}"


def test_valid_request_after_rejections_still_works(pod_env):
    """The rejected names were never reserved: the same metadata runs."""
    env = pod_env
    bad = _req(hostname="bad host")(env)
    code, msg = p.rpc_code(env.client.call, "RunPodSandbox", bad)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, f"expected INVALID_ARGUMENT, saw {code}: {msg}"
    pod_id = p.run_pod(env.client, _cfg(env))
    assert p.pod_status(env.client, pod_id).status.state == p.api().SANDBOX_READY, \
        "expected the valid request with the same metadata to make a READY pod"
