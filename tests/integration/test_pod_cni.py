"""The pod's CNI attachment: a failing plugin fails RunPodSandbox with the
plugin's own words and the rollback DEL releases what the chain had made;
DEL uses the config ADD used, whatever the config dir holds by then; older
spec versions work; capability arguments (port mappings) reach the plugins
that declare them, on ADD and on DEL; Status follows the config dir."""

import copy
import ipaddress
import json
import random

import grpc
import pytest

import crio_harness as h
import pods_harness as p
from pods_harness import pod_cgroups, pod_env, pod_env_factory, other_net, pod_net  # noqa: F401 (fixtures)


def with_plugins(net, *plugins, version=None):
    conf = copy.deepcopy(net.conflist)
    conf["plugins"] += list(plugins)
    if version:
        conf["cniVersion"] = version
    return conf


@pytest.fixture
def iptables_snapshot():
    """Chains that exist before the test; new ones are removed after it."""
    before = p.iptables_chains()
    try:
        yield before
    finally:
        p.iptables_remove_new_chains(before)


def assert_rolled_back(env, msg_hint=""):
    assert env.leaks() == [], f"expected the rollback to leave nothing{msg_hint}, saw {env.leaks()}"
    assert p.db_pods(env.root) == [], f"expected no pod record after the rollback, saw {p.db_pods(env.root)}"


def test_a_failing_second_plugin_fails_the_run_and_the_rollback_releases_everything(pod_env_factory,
                                                                                   pod_net):
    bad = with_plugins(pod_net, {"type": "tuning", "sysctl": {"net.ipv4.conf.eth0.no_such_knob": "1"}})
    env = pod_env_factory(conflist=bad)
    env.start()
    cfg = env.config("tuned")
    code, msg = p.rpc_code(p.run_pod, env.client, cfg)
    assert code != grpc.StatusCode.OK, "expected RunPodSandbox to fail when the tuning plugin fails"
    for needle in ("tuning", "no_such_knob"):
        assert needle in msg, f"expected the error to carry the plugin's message ({needle}), saw: {msg}"
    assert "(null)" not in msg, f"expected no '(null)' in the error, saw: {msg}"
    assert_rolled_back(env)

    # The bridge plugin had run: the log shows the rollback DEL released it.
    log = p.db_log(env.root, "--kind", "pod")
    names = [(e["type"], e["transition"]) for e in log]
    assert ("STEP_FAILED", "pod.cni_add") in names, f"expected a failed pod.cni_add in the log, saw {names}"
    assert ("TRANSITION", "pod.rollback_cni_del") in names, \
        f"expected pod.rollback_cni_del in the log, saw {names}"

    # The name is free again: with a working config the same request runs.
    env.write_conflist(pod_net.conflist)
    pod_id = p.run_pod(env.client, cfg)
    assert p.pod_status(env.client, pod_id).status.state == p.api().SANDBOX_READY, \
        "expected the same request to make a READY pod once the network works"


def test_a_missing_plugin_fails_the_run_naming_it(pod_env_factory, pod_net):
    env = pod_env_factory(conflist=with_plugins(pod_net, {"type": "no-such-plugin"}))
    env.start()
    code, msg = p.rpc_code(p.run_pod, env.client, env.config("missing"))
    assert code != grpc.StatusCode.OK, "expected RunPodSandbox to fail with a missing plugin"
    assert "no-such-plugin" in msg, f"expected the error to name the missing plugin, saw: {msg}"
    assert_rolled_back(env)


def test_del_after_restart_uses_the_stored_config_not_the_current_file(pod_env_factory, pod_net,
                                                                       other_net):
    env = pod_env_factory()
    env.start()
    pod_id = p.run_pod(env.client, env.config("moved"))
    ip = p.pod_status(env.client, pod_id).status.network.ip
    assert pod_net.reserved_ips() == [ip] and len(pod_net.bridge_ports()) == 1, \
        "expected the pod attached to the first network"

    env.daemon.stop_cleanly()
    env.write_conflist(other_net.conflist)  # another name, bridge and subnet
    env.start()
    p.stop_pod(env.client, pod_id)
    assert pod_net.bridge_ports() == [], \
        f"expected the original veth released by DEL with the stored config, saw {pod_net.bridge_ports()}"
    assert pod_net.reserved_ips() == [], \
        f"expected the original IP released, saw {pod_net.reserved_ips()}"
    assert other_net.reserved_ips() == [], \
        f"expected nothing done on the new network by the DEL, saw {other_net.reserved_ips()}"

    # New pods use the new file.
    new_id = p.run_pod(env.client, env.config("fresh"))
    new_ip = p.pod_status(env.client, new_id).status.network.ip
    assert ipaddress.ip_address(new_ip) in ipaddress.ip_network(other_net.subnet), \
        f"expected a new pod's IP in the new subnet {other_net.subnet}, saw {new_ip}"
    p.remove_pod(env.client, new_id)
    p.remove_pod(env.client, pod_id)
    assert env.leaks() == [], f"expected nothing left on the first network, saw {env.leaks()}"
    assert other_net.reserved_ips() == [] and other_net.bridge_ports() == [], \
        "expected nothing left on the second network"


def test_a_0_4_0_conflist_works(pod_env_factory, pod_net):
    conf = copy.deepcopy(pod_net.conflist)
    conf["cniVersion"] = "0.4.0"
    env = pod_env_factory(conflist=conf)
    env.start()
    pod_id = p.run_pod(env.client, env.config("old-spec"))
    st = p.pod_status(env.client, pod_id, verbose=True)
    ip = st.status.network.ip
    assert ipaddress.ip_address(ip) in ipaddress.ip_network(pod_net.subnet), \
        f"expected an IP in {pod_net.subnet} from a 0.4.0 network, saw {ip!r}"
    result = json.loads(st.info["info"])["cniResult"]
    assert result.get("cniVersion") == "0.4.0", \
        f"expected the stored result in the network's version 0.4.0, saw {result.get('cniVersion')}"
    p.stop_pod(env.client, pod_id)
    p.remove_pod(env.client, pod_id)
    assert env.leaks() == [], f"expected a 0.4.0 DEL to release everything, saw {env.leaks()}"


def _nat_rules():
    return p.sh("iptables-save", "-t", "nat").stdout.splitlines()


def test_port_mappings_reach_portmap_on_add_and_del(pod_env_factory, pod_net, iptables_snapshot):
    conf = with_plugins(pod_net, {"type": "portmap", "capabilities": {"portMappings": True}})
    env = pod_env_factory(conflist=conf)
    env.start()
    host_port = random.randint(30000, 60000)
    mod = p.api()
    cfg = env.config("ports", port_mappings=[
        mod.PortMapping(protocol=mod.TCP, container_port=80, host_port=host_port),
        mod.PortMapping(protocol=mod.TCP, container_port=9090)])  # no host port: no rule
    pod_id = p.run_pod(env.client, cfg)
    ip = p.pod_status(env.client, pod_id).status.network.ip

    dnat = [r for r in p.iptables_rules("nat", "CNI-HOSTPORT-DNAT") if pod_id in r]
    assert len(dnat) == 1, f"expected one CNI-HOSTPORT-DNAT rule for pod {pod_id}, saw {dnat}"
    assert f"--dports {host_port}" in dnat[0], f"expected the rule for host port {host_port}, saw {dnat[0]}"
    target = dnat[0].split(" -j ")[-1].strip()
    to_pod = [r for r in p.iptables_rules("nat", target) if f"--to-destination {ip}:80" in r]
    assert to_pod, f"expected {target} to DNAT to {ip}:80, saw {p.iptables_rules('nat', target)}"
    assert not any("9090" in r for r in _nat_rules()), "expected no rule for a port without a host port"

    p.stop_pod(env.client, pod_id)
    left = [r for r in _nat_rules() if pod_id in r or f"{ip}:" in r]
    assert left == [], f"expected DEL (with the port mappings) to remove the pod's NAT rules, saw {left}"
    p.remove_pod(env.client, pod_id)
    assert env.leaks() == [], f"expected nothing left, saw {env.leaks()}"


def _network_ready(client):
    return h.condition(client.status(), "NetworkReady")


def test_network_ready_follows_the_config_dir_and_gates_runs(pod_env_factory, pod_net):
    env = pod_env_factory()
    env.start()
    cond = _network_ready(env.client)
    assert cond.status is True, f"expected NetworkReady true with the test network, saw {cond}"

    for f in env.cni_dir.iterdir():
        f.unlink()
    cond = _network_ready(env.client)
    assert cond.status is False and cond.reason, \
        f"expected NetworkReady false with a reason when no network is configured, saw {cond}"
    code, msg = p.rpc_code(p.run_pod, env.client, env.config("nonet"))
    assert code != grpc.StatusCode.OK, "expected RunPodSandbox to fail without a network"
    assert_rolled_back(env, " of a run without a network")

    env.write_conflist(pod_net.conflist)
    assert _network_ready(env.client).status is True, "expected NetworkReady true again"
    pod_id = p.run_pod(env.client, env.config("nonet"))
    assert p.pod_status(env.client, pod_id).status.network.ip, "expected the pod to get an IP now"
