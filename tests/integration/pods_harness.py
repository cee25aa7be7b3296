"""Helpers for the pod sandbox tests: a test-owned CNI network (its own
bridge, subnet and host-local IPAM dir, never the host's /etc/cni/net.d or
/var/lib/cni), pod configs, and the leak checks that prove a pod left
nothing behind: pinned-namespace mounts, veths on the bridge, IPAM
reservations, cgroups."""

import json
import os
import secrets
import subprocess
from pathlib import Path

from crio_harness import api

CGROUP_ROOT = Path("/sys/fs/cgroup")


def sh(*argv, check=True):
    return subprocess.run(argv, capture_output=True, text=True, check=check)


class PodNetwork:
    """A bridge network of the test's own: bridge crt<hex>, a /24 in
    10.251.0.0/16, host-local reservations under workdir."""

    def __init__(self, workdir, *, extra_plugins=(), cni_version="1.0.0", ip_masq=False):
        tag = secrets.token_hex(3)
        self.bridge = f"crt{tag}"
        self.name = f"crio-test-{tag}"
        self.subnet_octet = int(tag[:2], 16) % 250 + 1
        self.subnet = f"10.251.{self.subnet_octet}.0/24"
        self.gateway = f"10.251.{self.subnet_octet}.1"
        self.ipam_dir = Path(workdir) / f"ipam-{tag}"
        self.ipam_dir.mkdir(parents=True)
        self.conflist = {
            "cniVersion": cni_version,
            "name": self.name,
            "plugins": [{
                "type": "bridge",
                "bridge": self.bridge,
                "isGateway": True,
                "ipMasq": ip_masq,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(self.ipam_dir),
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "ranges": [[{"subnet": self.subnet, "gateway": self.gateway}]],
                },
            }, *extra_plugins],
        }

    def reserved_ips(self):
        """IPs host-local still holds for this network."""
        d = self.ipam_dir / self.name
        if not d.is_dir():
            return []
        return sorted(p.name for p in d.iterdir()
                      if p.name not in ("lock",) and not p.name.startswith("last_reserved_ip"))

    def bridge_ports(self):
        """Interfaces still enslaved to the bridge (the pods' host-side veths)."""
        p = sh("ip", "-j", "link", "show", "master", self.bridge, check=False)
        if p.returncode != 0 or not p.stdout.strip():
            return []
        return [link["ifname"] for link in json.loads(p.stdout)]

    def cleanup(self):
        sh("ip", "link", "del", self.bridge, check=False)


class CgroupParent:
    """A cgroup parent of the test's own, removed afterwards in every
    hierarchy (cgroupfs driver)."""

    def __init__(self):
        self.path = f"/crio-test-{secrets.token_hex(4)}"

    def dirs(self):
        found = []
        for hierarchy in CGROUP_ROOT.iterdir():
            d = hierarchy / self.path.lstrip("/")
            if d.is_dir():
                found.append(d)
        return found

    def pod_cgroups(self):
        """Child cgroups (pods) still present under the parent."""
        left = []
        for d in self.dirs():
            left += [str(c) for c in d.iterdir() if c.is_dir()]
        return left

    def cleanup(self):
        for d in self.dirs():
            for child in sorted(d.rglob("*"), key=lambda p: -len(p.parts)):
                if child.is_dir():
                    try:
                        child.rmdir()
                    except OSError:
                        pass
            try:
                d.rmdir()
            except OSError:
                pass


def pod_config(name, *, uid=None, namespace="default", attempt=0, hostname=None,
               labels=None, annotations=None, cgroup_parent=None, dns=None,
               port_mappings=(), sysctls=None, host_network=False, host_ipc=False,
               shared_pid=False, log_directory=None):
    mod = api()
    ns = mod.NamespaceOption(
        network=mod.NODE if host_network else mod.POD,
        ipc=mod.NODE if host_ipc else mod.POD,
        pid=mod.POD if shared_pid else mod.CONTAINER)
    linux = mod.LinuxPodSandboxConfig(
        cgroup_parent=cgroup_parent or "",
        security_context=mod.LinuxSandboxSecurityContext(namespace_options=ns),
        sysctls=sysctls or {})
    cfg = mod.PodSandboxConfig(
        metadata=mod.PodSandboxMetadata(name=name, uid=uid or f"uid-{name}",
                                        namespace=namespace, attempt=attempt),
        hostname=hostname if hostname is not None else name,
        log_directory=log_directory or "",
        labels=labels or {},
        annotations=annotations or {},
        linux=linux,
        port_mappings=list(port_mappings))
    if dns:
        cfg.dns_config.CopyFrom(mod.DNSConfig(**dns))
    return cfg


def run_pod(client, config, runtime_handler="", timeout=60):
    req = client.request("RunPodSandbox", config=config, runtime_handler=runtime_handler)
    return client.call("RunPodSandbox", req, timeout=timeout).pod_sandbox_id


def pod_status(client, pod_id, verbose=False):
    return client.call("PodSandboxStatus",
                       client.request("PodSandboxStatus", pod_sandbox_id=pod_id, verbose=verbose))


def stop_pod(client, pod_id, timeout=60):
    return client.call("StopPodSandbox",
                       client.request("StopPodSandbox", pod_sandbox_id=pod_id), timeout=timeout)


def remove_pod(client, pod_id, timeout=60):
    return client.call("RemovePodSandbox",
                       client.request("RemovePodSandbox", pod_sandbox_id=pod_id), timeout=timeout)


def list_pods(client, **filter_fields):
    mod = api()
    req = client.request("ListPodSandbox")
    if filter_fields:
        state = filter_fields.pop("state", None)
        f = mod.PodSandboxFilter(**filter_fields)
        if state is not None:
            f.state.CopyFrom(mod.PodSandboxStateValue(state=state))
        req.filter.CopyFrom(f)
    return list(client.call("ListPodSandbox", req).items)


def mounts_under(path):
    """Mount points below `path` (from /proc/self/mountinfo)."""
    prefix = str(path).rstrip("/") + "/"
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mount_point = line.split()[4]
            if mount_point.startswith(prefix) or mount_point == str(path):
                found.append(mount_point)
    return found


def pinned_namespaces(runroot):
    """Pinned namespace files (mount points) under <runroot>/*ns/."""
    return [m for m in mounts_under(runroot)
            if Path(m).parent.name.endswith("ns") and Path(m).name not in ("",)
            and not Path(m).name.endswith("ns")]


def leaks(daemon, net, cgroups):
    """Everything a removed pod could have left behind; [] when clean."""
    found = []
    pins = pinned_namespaces(daemon.runroot)
    if pins:
        found.append(f"pinned namespaces: {pins}")
    ports = net.bridge_ports()
    if ports:
        found.append(f"veths on {net.bridge}: {ports}")
    ips = net.reserved_ips()
    if ips:
        found.append(f"host-local reservations: {ips}")
    cg = cgroups.pod_cgroups()
    if cg:
        found.append(f"pod cgroups: {cg}")
    pods_dir = Path(daemon.runroot) / "pods"
    if pods_dir.is_dir() and any(pods_dir.iterdir()):
        found.append(f"pod run dirs: {[p.name for p in pods_dir.iterdir()]}")
    return found


def nsenter(ns_flag, path, *argv):
    return sh("nsenter", f"{ns_flag}={path}", *argv).stdout
