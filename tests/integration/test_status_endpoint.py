"""CRI-O's HTTP status endpoint on the CRI socket itself (what cAdvisor's
CRI-O plugin and `crio status` read): GET /info, /config and
/containers/{id} over HTTP/1.1 on the same unix socket that serves gRPC,
while gRPC calls run on it; and `crio status` as the client."""

import json
import socket
import subprocess
import threading
import tomllib

import containers_harness as ch
import crio_harness as h
from containers_harness import ctr_env, image_source  # noqa: F401 (fixtures)
from pods_harness import pod_cgroups, pod_net  # noqa: F401 (fixtures)


def http_get(sock_path, path, timeout=10):
    """(status code, body) of one GET over the unix socket."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(str(sock_path))
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: crio\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    code = int(head.split(b" ")[1])
    return code, body.decode()


def test_info_names_storage_root_and_drivers(crio):
    code, body = http_get(crio.socket, "/info")
    assert code == 200, f"expected 200 for /info, saw {code}: {body}"
    info = json.loads(body)
    assert info["storage_root"] == str(crio.root), info
    assert info["storage_driver"] == "overlay"
    assert info["cgroup_driver"] in ("cgroupfs", "systemd")
    assert info["default_id_mappings"]["uids"][0]["size"] == 4294967295


def test_config_is_the_effective_toml(crio):
    code, body = http_get(crio.socket, "/config")
    assert code == 200
    conf = tomllib.loads(body)
    assert conf["crio"]["root"] == str(crio.root)
    assert conf["crio"]["api"]["listen"] == str(crio.socket)


def test_unknown_container_and_path_answer_404(crio):
    assert http_get(crio.socket, "/containers/0123456789abcdef")[0] == 404
    assert http_get(crio.socket, "/nothing-here")[0] == 404


def test_http_and_grpc_share_the_socket_concurrently(crio, client):
    errors = []
    stop = threading.Event()

    def grpc_loop():
        n = 0
        while not stop.is_set() or n < 50:
            try:
                assert client.version().runtime_name == "crio"
            except Exception as e:  # noqa: BLE001 (collected and reported)
                errors.append(f"gRPC: {e!r}")
                return
            n += 1

    threads = [threading.Thread(target=grpc_loop) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for _ in range(60):
            code, body = http_get(crio.socket, "/info")
            if code != 200 or "storage_root" not in body:
                errors.append(f"HTTP: {code} {body[:100]}")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert errors == [], errors[:5]
    # A fresh gRPC channel after all of it still works.
    fresh = h.CriClient(crio.socket)
    try:
        assert fresh.version().runtime_api_version == "v1"
    finally:
        fresh.close()


def test_crio_status_is_the_client(crio):
    out = subprocess.run([str(h.CRIO_BIN), "-c", "", "-d", "", "status", "--socket",
                          str(crio.socket), "info"], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    # CRI-O's client prints text, not the JSON.
    assert f"storage graph root: {crio.root}\n" in out.stdout, out.stdout
    assert "storage driver: overlay" in out.stdout and "cgroup driver: " in out.stdout
    out = subprocess.run([str(h.CRIO_BIN), "-c", "", "-d", "", "--listen", str(crio.socket),
                          "status", "config"], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0 and "[crio.api]" in out.stdout, out.stderr
    out = subprocess.run([str(h.CRIO_BIN), "-c", "", "-d", "", "status", "-s",
                          str(crio.socket), "containers", "--id", "feedbeef"],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 1 and "404" in out.stderr, out.stderr
    out = subprocess.run([str(h.CRIO_BIN), "status"], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0 and "info|config|containers" in out.stdout, out.stderr


def test_container_info_as_cadvisor_reads_it(ctr_env):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("web")
    cfg = ch.shell("app", env.image, "exec sleep 1000", labels={"tier": "front"},
                   annotations={"note": "x"})
    cid = ch.create_container(env.client, pod_id, cfg, pod_cfg)
    ch.start_container(env.client, cid)
    st = ch.container_status(env.client, cid).status
    code, body = http_get(env.daemon.socket, f"/containers/{cid}")
    assert code == 200, f"expected 200, saw {code}: {body}"
    info = json.loads(body)
    assert info["name"], info
    assert info["pid"] == ch.info(env.client, cid)["pid"] and info["pid"] > 0, info
    assert info["sandbox"] == pod_id
    assert info["labels"] == {"tier": "front"} and info["annotations"] == {"note": "x"}
    assert info["log_path"] == st.log_path
    assert info["image"] and info["root"], info
    assert info["ip_addresses"] and info["host_network"] is False, info
    # The pod's id answers as CRI-O's infra container does.
    code, body = http_get(env.daemon.socket, f"/containers/{pod_id}")
    assert code == 200, body
    pod = json.loads(body)
    assert pod["sandbox"] == pod_id and pod["pid"] > 0 and pod["ip_addresses"], pod
    out = subprocess.run([str(h.CRIO_BIN), "-c", "", "-d", "", "status", "-s",
                          str(env.daemon.socket), "containers", "-i", cid],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0 and f"sandbox: {pod_id}\n" in out.stdout, out.stderr
    assert f"pid: {info['pid']}\n" in out.stdout and "  tier: front\n" in out.stdout
    ch.stop_container(env.client, cid, timeout_s=0)
