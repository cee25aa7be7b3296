"""Helpers for the image service tests (tests/integration/test_image_*.py):
images made here, pushed fast over the distribution API, a daemon pointed at
the tests' own registries only (a temp registries.conf, a temp certs.d), CRI
image calls, and looks at the layer store and the registry's access log.

Everything talks to registries on 127.0.0.1 that registry_harness starts;
nothing else is contacted (the registries.conf written here lists only them
and blocks docker.io, so a short name can never leave the machine).
"""

import hashlib
import json
import re
import threading
import time
import urllib.request
from pathlib import Path

import crio_harness as h
import registry_harness as rh

OCI_MANIFEST = rh.OCI_MANIFEST
OCI_INDEX = rh.OCI_INDEX
OCI_CONFIG = rh.OCI_CONFIG
OCI_LAYER_GZIP = rh.OCI_LAYER_GZIP
PULL_TIMEOUT = 120.0


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def chain_ids(diff_ids):
    """OCI chain ids of a layer stack, bottom first."""
    out = []
    for d in diff_ids:
        out.append(d if not out else sha256(f"{out[-1]} {d}".encode()))
    return out


class TestImage:
    """An OCI image (manifest, config, gzip layers) built in memory."""

    __test__ = False

    def __init__(self, layers, *, user=None, arch="amd64", extra_config=None):
        """layers: [(gzip bytes, diff_id)] as registry_harness._layer makes,
        or (blob, diff_id, media type) for other compressions."""
        media_types = [layer[2] if len(layer) > 2 else OCI_LAYER_GZIP for layer in layers]
        layers = [(layer[0], layer[1]) for layer in layers]
        config = {"architecture": arch, "os": "linux",
                  "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
                  "rootfs": {"type": "layers",
                             "diff_ids": [diff for _, diff in layers]}}
        if user is not None:
            config["config"]["User"] = user
        if extra_config:
            config.update(extra_config)
        self.config = json.dumps(config, sort_keys=True).encode()
        self.layers = [gz for gz, _ in layers]
        self.diff_ids = [diff for _, diff in layers]
        self.manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(self.config),
                       "size": len(self.config)},
            "layers": [{"mediaType": mt, "digest": sha256(gz), "size": len(gz)}
                       for gz, mt in zip(self.layers, media_types)],
        }, sort_keys=True).encode()
        self.digest = sha256(self.manifest)
        self.id = sha256(self.config).split(":", 1)[1]
        self.layer_digests = [sha256(gz) for gz in self.layers]
        self.chain_ids = chain_ids(self.diff_ids)

    def blobs(self):
        out = {sha256(self.config): self.config}
        for gz in self.layers:
            out[sha256(gz)] = gz
        return out


_BUSYBOX_LAYER = None


def busybox_layer():
    """The shared bottom layer: busybox-static as /bin/busybox and /bin/sh."""
    global _BUSYBOX_LAYER
    if _BUSYBOX_LAYER is None:
        _BUSYBOX_LAYER = rh._layer({"bin/busybox": Path(rh.BUSYBOX).read_bytes(),
                                    "bin/sh": ("link", "busybox")})
    return _BUSYBOX_LAYER


def marker_layer(marker):
    return rh._layer({"etc/crio-test-image": marker.encode() + b"\n"})


def make_image(marker, *, user=None, with_busybox=True, arch="amd64"):
    """busybox (shared by every such image) + a small layer naming marker."""
    layers = [busybox_layer()] if with_busybox else []
    layers.append(marker_layer(marker))
    return TestImage(layers, user=user, arch=arch)


def make_index(entries):
    """An OCI index of [(TestImage, platform dict)]: (bytes, digest)."""
    data = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                       "manifests": [{"mediaType": OCI_MANIFEST, "digest": img.digest,
                                      "size": len(img.manifest), "platform": platform}
                                     for img, platform in entries]},
                      sort_keys=True).encode()
    return data, sha256(data)


# ---- pushing over the distribution API ------------------------------------------

class Pusher:
    """Pushes blobs and manifests to a plain-HTTP registry without auth (a
    monolithic upload per blob): hundreds of images in seconds, where skopeo
    takes a second each."""

    def __init__(self, host):
        self.base = f"http://{host}"
        self.opener = urllib.request.build_opener()

    def _req(self, method, url, data=None, headers=None):
        req = urllib.request.Request(url if url.startswith("http") else self.base + url,
                                     data=data, method=method, headers=headers or {})
        try:
            with self.opener.open(req, timeout=30) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def blob(self, repo, data):
        digest = sha256(data)
        status, _, _ = self._req("HEAD", f"/v2/{repo}/blobs/{digest}")
        if status == 200:
            return digest
        status, headers, body = self._req("POST", f"/v2/{repo}/blobs/uploads/")
        assert status == 202, f"upload start: {status} {body!r}"
        location = headers["Location"]
        sep = "&" if "?" in location else "?"
        status, _, body = self._req("PUT", f"{location}{sep}digest={digest}", data,
                                    {"Content-Type": "application/octet-stream"})
        assert status == 201, f"blob {digest}: {status} {body!r}"
        return digest

    def manifest(self, repo, ref, data, media_type=OCI_MANIFEST):
        status, _, body = self._req("PUT", f"/v2/{repo}/manifests/{ref}", data,
                                    {"Content-Type": media_type})
        assert status == 201, f"manifest {repo}:{ref}: {status} {body!r}"
        return sha256(data)

    def image(self, repo, tag, img):
        for data in img.blobs().values():
            self.blob(repo, data)
        return self.manifest(repo, tag, img.manifest)

    def index(self, repo, tag, entries):
        for img, _ in entries:
            self.image(repo, img.digest, img)
        data, digest = make_index(entries)
        self.manifest(repo, tag, data, OCI_INDEX)
        return digest


# ---- registries -------------------------------------------------------------------

def start_registry(directory, *, access_log=True, **kw):
    """A docker-registry with its access log on (to count blob GETs)."""
    reg = rh.Registry(directory, **kw)
    if access_log:
        config = json.loads(reg.config.read_text())
        config["log"]["accesslog"] = {"disabled": False}
        config["log"]["level"] = "info"
        reg.config.write_text(json.dumps(config, indent=1))
    return reg.start()


_GET_RE = re.compile(r'"GET (/v2/\S+) HTTP/[0-9.]+" (\d+)')


def blob_gets(reg, digest):
    """Successful GETs of a blob in the registry's access log (docker-registry
    may write a line a moment after the response, hence the short settle)."""
    time.sleep(0.3)
    n = 0
    for path, status in _GET_RE.findall(reg.log()):
        if path.endswith(f"/blobs/{digest}") and status in ("200", "307"):
            n += 1
    return n


def registries_conf(path, *, insecure=(), secure=(), blocked=(), search=()):
    """A registries.conf naming only the tests' registries; docker.io is
    blocked so that nothing can reach the internet."""
    lines = ["unqualified-search-registries = [%s]" % ", ".join(f'"{s}"' for s in search)]
    for host in insecure:
        lines += ["[[registry]]", f'location = "{host}"', "insecure = true"]
    for host in secure:
        lines += ["[[registry]]", f'location = "{host}"']
    for host in list(blocked) + ["docker.io"]:
        lines += ["[[registry]]", f'location = "{host}"', "blocked = true"]
    Path(path).write_text("\n".join(lines) + "\n")
    return Path(path)


# ---- the daemon -------------------------------------------------------------------

def image_daemon(factory, conf, *, certs_dir=None, pinned=(), pause_image=None, env=None,
                 root=None, name=None, extra=()):
    """A daemon (not started) using conf as registries.conf and certs_dir
    (a temp dir by default: never the host's /etc/containers/certs.d)."""
    d = factory.daemon(cni="empty", env=env, root=root, name=name)
    certs = Path(certs_dir) if certs_dir else d.workdir / f"{d.name}-certs.d"
    certs.mkdir(parents=True, exist_ok=True)
    crio_conf = d.workdir / f"{d.name}-crio.conf"
    text = f'[crio.image]\ncerts_dir = "{certs}"\n'
    if pinned:
        text += "pinned_images = [%s]\n" % ", ".join(f'"{p}"' for p in pinned)
    if pause_image:
        text += f'pause_image = "{pause_image}"\n'
    crio_conf.write_text(text)
    d.extra_args = ["--config", str(crio_conf), "--registries-conf", str(conf), *extra]
    return d


def spec(image):
    return h.api().ImageSpec(image=image)


def auth(**kw):
    return h.api().AuthConfig(**kw)


def pull(client, image, *, auth_config=None, timeout=PULL_TIMEOUT):
    req = client.request("PullImage", image=spec(image))
    if auth_config is not None:
        req.auth.CopyFrom(auth_config)
    return client.call("PullImage", req, timeout=timeout).image_ref


def status(client, image, verbose=False):
    return client.call("ImageStatus", client.request("ImageStatus", image=spec(image),
                                                     verbose=verbose))


def list_images(client, image=None):
    req = client.request("ListImages")
    if image is not None:
        req.filter.image.image = image
    return list(client.call("ListImages", req).images)


def remove(client, image, timeout=60.0):
    return client.call("RemoveImage", client.request("RemoveImage", image=spec(image)),
                       timeout=timeout)


def fs_info(client):
    return client.call("ImageFsInfo")


def layer_dirs(daemon):
    """Published layers (chain id hex) and leftovers (tmp-*) of the store."""
    d = Path(daemon.root) / "layers"
    if not d.is_dir():
        return set(), set()
    names = {p.name for p in d.iterdir()}
    return ({n for n in names if re.fullmatch(r"[0-9a-f]{64}", n)},
            {n for n in names if n.startswith("tmp-")})


def hexes(digests):
    return {d.split(":", 1)[1] for d in digests}


def run_parallel(fns):
    """Runs callables on threads; returns [(result, exception)] in order."""
    out = [None] * len(fns)

    def run(i, fn):
        try:
            out[i] = (fn(), None)
        except Exception as e:  # noqa: BLE001 — reported to the caller
            out[i] = (None, e)

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out
