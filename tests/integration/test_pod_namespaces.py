"""What a pod's namespaces and files hold: the hostname in its UTS
namespace, sysctls in its own network and IPC namespaces (never the
host's), resolv.conf/hostname/hosts in its run dir, host namespaces when
asked for, and the pause process that keeps a shared PID namespace."""

import os
import socket
import time
from pathlib import Path

import pods_harness as p
from pods_harness import pod_cgroups, pod_env, pod_env_factory, pod_net  # noqa: F401 (fixtures)


def pin(env, ns, pod_id):
    return env.runroot / f"{ns}ns" / pod_id


def run_dir(env, pod_id):
    return Path(env.runroot) / "pods" / pod_id


def read_sysctl(key, ns_flag=None, ns_path=None):
    path = "/proc/sys/" + key.replace(".", "/")
    if ns_flag is None:
        return Path(path).read_text().strip()
    return p.nsenter(ns_flag, ns_path, "cat", path).strip()


def test_hostname_is_set_in_the_pods_uts_namespace(pod_env):
    env = pod_env
    pod_id = p.run_pod(env.client, env.config("uts", hostname="web-0.example"))
    seen = p.nsenter("--uts", pin(env, "uts", pod_id), "hostname").strip()
    assert seen == "web-0.example", f"expected hostname web-0.example in the pod UTS ns, saw {seen!r}"
    assert socket.gethostname() != "web-0.example", "expected the host's hostname unchanged"


def test_a_hostname_outside_rfc_1123_is_set_as_cri_o_sets_it(pod_env):
    """CRI-O checks no hostname syntax (its test configs use "crictl_host"):
    what sethostname takes is set, and written to the pod's files."""
    env = pod_env
    pod_id = p.run_pod(env.client, env.config("underscore", hostname="crictl_host"))
    seen = p.nsenter("--uts", pin(env, "uts", pod_id), "hostname").strip()
    assert seen == "crictl_host", f"expected hostname crictl_host in the pod UTS ns, saw {seen!r}"
    assert (run_dir(env, pod_id) / "hostname").read_text().strip() == "crictl_host"


def test_sysctls_apply_inside_the_pods_namespaces_only(pod_env):
    env = pod_env
    net_key = "net.ipv4.ip_unprivileged_port_start"
    ipc_key = "kernel.shmmni"
    host_net = read_sysctl(net_key)
    host_ipc = read_sysctl(ipc_key)
    want_net = "1000" if host_net != "1000" else "1001"
    want_ipc = "2048" if host_ipc != "2048" else "2049"
    pod_id = p.run_pod(env.client, env.config("sysctl", sysctls={net_key: want_net,
                                                                   ipc_key: want_ipc}))
    seen_net = read_sysctl(net_key, "--net", pin(env, "net", pod_id))
    assert seen_net == want_net, f"expected {net_key}={want_net} in the pod netns, saw {seen_net}"
    seen_ipc = read_sysctl(ipc_key, "--ipc", pin(env, "ipc", pod_id))
    assert seen_ipc == want_ipc, f"expected {ipc_key}={want_ipc} in the pod ipc ns, saw {seen_ipc}"
    assert read_sysctl(net_key) == host_net, \
        f"expected the host's {net_key} unchanged ({host_net}), saw {read_sysctl(net_key)}"
    assert read_sysctl(ipc_key) == host_ipc, \
        f"expected the host's {ipc_key} unchanged ({host_ipc}), saw {read_sysctl(ipc_key)}"


def test_default_sysctls_apply_to_every_pod_and_the_pods_own_win(pod_env_factory):
    """CRI-O's default_sysctls: set in every pod before its own (which win);
    one the pod may not set (not namespaced, or its namespace is the host's)
    is skipped with a warning and the pod still runs."""
    env = pod_env_factory()
    env.daemon.extra_args += ["--default-sysctls",
                              "net.ipv4.ip_forward=1,kernel.shmmni=2050,vm.swappiness=7"]
    env.start()
    host_swappiness = read_sysctl("vm.swappiness")
    pod_id = p.run_pod(env.client, env.config("defaults", sysctls={"kernel.shmmni": "2051"}))
    assert read_sysctl("net.ipv4.ip_forward", "--net", pin(env, "net", pod_id)) == "1"
    assert read_sysctl("kernel.shmmni", "--ipc", pin(env, "ipc", pod_id)) == "2051", \
        "expected the pod's own kernel.shmmni to win over the default"
    assert read_sysctl("vm.swappiness") == host_swappiness, "a host sysctl was changed"
    assert "skipping default sysctl vm.swappiness=7" in env.daemon.log()
    host_pod = p.run_pod(env.client, env.config("hostnet", host_network=True))
    assert p.pod_status(env.client, host_pod).status.state == p.api().SANDBOX_READY
    assert "skipping default sysctl net.ipv4.ip_forward=1" in env.daemon.log(), \
        "expected the net.* default skipped for a host-network pod"


def test_resolv_conf_hostname_and_hosts_files(pod_env):
    env = pod_env
    dns = {"servers": ["10.96.0.10", "fd00::10"],
           "searches": ["default.svc.cluster.local", "svc.cluster.local"],
           "options": ["ndots:5", "edns0"]}
    pod_id = p.run_pod(env.client, env.config("files", hostname="files-host", dns=dns))
    ip = p.pod_status(env.client, pod_id).status.network.ip
    d = run_dir(env, pod_id)
    resolv = (d / "resolv.conf").read_text().splitlines()
    assert "search default.svc.cluster.local svc.cluster.local" in resolv, \
        f"expected the search line in resolv.conf, saw {resolv}"
    assert [x for x in resolv if x.startswith("nameserver")] == \
        ["nameserver 10.96.0.10", "nameserver fd00::10"], f"expected both nameservers in order, saw {resolv}"
    assert "options ndots:5 edns0" in resolv, f"expected the options line, saw {resolv}"
    hostname = (d / "hostname").read_text()
    assert hostname == "files-host\n", f"expected the hostname file to hold 'files-host\\n', saw {hostname!r}"
    hosts = (d / "hosts").read_text().splitlines()
    assert "127.0.0.1\tlocalhost" in hosts, f"expected a localhost line in hosts, saw {hosts}"
    assert f"{ip}\tfiles-host" in hosts, f"expected '{ip}<TAB>files-host' in hosts, saw {hosts}"


def test_no_dns_config_copies_the_hosts_resolv_conf(pod_env):
    env = pod_env
    pod_id = p.run_pod(env.client, env.config("hostdns"))
    seen = (run_dir(env, pod_id) / "resolv.conf").read_text()
    host = Path("/etc/resolv.conf").read_text()
    assert seen == host, f"expected a copy of the host's resolv.conf, saw {seen!r} (host: {host!r})"


def test_host_network_pod_has_no_netns_no_ip_and_no_cni(pod_env):
    env = pod_env
    mod = p.api()
    pod_id = p.run_pod(env.client, env.config("hostnet", host_network=True))
    st = p.pod_status(env.client, pod_id).status
    assert st.state == mod.SANDBOX_READY, f"expected READY, saw {mod.PodSandboxState.Name(st.state)}"
    assert st.network.ip == "", f"expected no pod IP for a host-network pod, saw {st.network.ip!r}"
    assert st.linux.namespaces.options.network == mod.NODE, "expected network=NODE in Status"
    assert not pin(env, "net", pod_id).exists(), f"expected no netns pin, saw {pin(env, 'net', pod_id)}"
    assert not pin(env, "uts", pod_id).exists(), "expected no UTS pin (host network keeps the host's name)"
    assert pin(env, "ipc", pod_id).exists(), "expected the pod's own IPC namespace pinned"
    assert env.net.bridge_ports() == [], f"expected no CNI ADD (no bridge port), saw {env.net.bridge_ports()}"
    assert env.net.reserved_ips() == [], f"expected no IPAM reservation, saw {env.net.reserved_ips()}"
    assert not (run_dir(env, pod_id) / "cni-config.json").exists(), "expected no CNI config stashed"
    hostname = (run_dir(env, pod_id) / "hostname").read_text().strip()
    assert hostname == socket.gethostname(), \
        f"expected the host's name in the hostname file, saw {hostname!r}"
    p.stop_pod(env.client, pod_id)
    p.remove_pod(env.client, pod_id)
    assert env.leaks() == [], f"expected nothing left, saw {env.leaks()}"


def test_host_ipc_pod_has_no_ipc_pin(pod_env):
    env = pod_env
    pod_id = p.run_pod(env.client, env.config("hostipc", host_ipc=True))
    assert not pin(env, "ipc", pod_id).exists(), "expected no IPC pin for a host-IPC pod"
    assert pin(env, "net", pod_id).exists() and pin(env, "uts", pod_id).exists(), \
        "expected the pod's own net and UTS namespaces pinned"
    assert p.pod_status(env.client, pod_id).status.linux.namespaces.options.ipc == p.api().NODE, \
        "expected ipc=NODE in Status"


def test_shared_pid_pod_runs_pause_as_init_of_the_pinned_pid_namespace(pod_env):
    env = pod_env
    pod_id = p.run_pod(env.client, env.config("sharedpid", shared_pid=True))
    pidns = pin(env, "pid", pod_id)
    assert str(pidns) in p.mounts_under(env.runroot), f"expected a PID namespace pin at {pidns}"
    pause = p.pause_processes(env.cgroups)
    assert len(pause) == 1, f"expected one crio-pause process in the pod cgroup, saw {pause}"
    pid = pause[0]
    assert os.stat(f"/proc/{pid}/ns/pid").st_ino == os.stat(pidns).st_ino, \
        "expected pause to live in the pinned PID namespace"
    assert os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(pin(env, "net", pod_id)).st_ino, \
        "expected pause to live in the pod's network namespace"
    nspid = [ln for ln in Path(f"/proc/{pid}/status").read_text().splitlines()
             if ln.startswith("NSpid:")][0].split()
    assert nspid[-1] == "1", f"expected pause to be PID 1 of its namespace, saw NSpid {nspid[1:]}"
    assert p.pod_status(env.client, pod_id).status.linux.namespaces.options.pid == p.api().POD, \
        "expected pid=POD in Status"

    p.stop_pod(env.client, pod_id)
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert p.pause_processes(env.cgroups) == [], "expected pause gone after stop"
    assert not pidns.exists(), "expected the PID namespace pin gone after stop"
    p.remove_pod(env.client, pod_id)
    assert env.leaks() == [], f"expected nothing left, saw {env.leaks()}"
