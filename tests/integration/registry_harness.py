"""Registries for the image tests, on 127.0.0.1 only.

- `Registry`: Debian's docker-registry (distribution 2.8) on a free port with
  a temporary storage dir: plain HTTP, TLS with a test CA (optionally
  requiring client certificates), htpasswd Basic auth, or bearer tokens from
  `TokenServer`.
- `TokenServer`: a small distribution token server (RS256 JWTs carrying the
  signing certificate in x5c, which the registry checks against its
  rootcertbundle), answering GET with Basic credentials and the OAuth2
  refresh-token POST; it records every request.
- `TestCA`: a CA, server and client certificates made with openssl.
- `build_image` / `write_oci_layout`: OCI images made here from
  busybox-static, written as OCI layouts and pushed with skopeo.
- `FakeRegistry`: a Python registry for what a real one will not do on
  demand: redirect blobs to another origin, stall a transfer.

Everything lives in a temp dir that `close()` removes; every process started
here is stopped by its own object (never by name).
"""

import base64
import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BUSYBOX = "/bin/busybox"
REGISTRY_BIN = "docker-registry"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dead_port():
    """A port nothing listens on (connections are refused)."""
    return free_port()


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _run(argv, **kw):
    kw.setdefault("text", True)
    p = subprocess.run(argv, capture_output=True, **kw)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} failed ({p.returncode}):\n"
                           f"{p.stdout}\n{p.stderr}")
    return p


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# ---- certificates ------------------------------------------------------------

class TestCA:
    """A CA plus certificates it signs (EC P-256: quick to make)."""

    __test__ = False  # not a pytest class

    def __init__(self, directory):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cert = self.dir / "ca.crt"
        self.key = self.dir / "ca.key"
        _run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
              "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", self.key,
              "-out", self.cert, "-days", "2", "-subj", "/CN=crio test CA",
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign"])

    def issue(self, name, *, server=True):
        """(cert, key) for 127.0.0.1/localhost (server) or a client."""
        key, csr, cert = (self.dir / f"{name}.key", self.dir / f"{name}.csr",
                          self.dir / f"{name}.crt")
        ext = self.dir / f"{name}.ext"
        ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                       "extendedKeyUsage=serverAuth\n" if server else
                       "extendedKeyUsage=clientAuth\n")
        _run(["openssl", "req", "-newkey", "ec", "-pkeyopt",
              "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out",
              csr, "-subj", f"/CN={'127.0.0.1' if server else name}"])
        _run(["openssl", "x509", "-req", "-in", csr, "-CA", self.cert,
              "-CAkey", self.key, "-CAcreateserial", "-out", cert, "-days",
              "2", "-extfile", ext])
        return cert, key

    def certs_d(self, root, host, *, client=None):
        """Writes root/HOST/ca.crt (and client.cert/.key); returns root."""
        d = Path(root) / host
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.cert, d / "ca.crt")
        if client:
            shutil.copy(client[0], d / "client.cert")
            shutil.copy(client[1], d / "client.key")
        return Path(root)


# ---- the token server -----------------------------------------------------------

class TokenServer:
    """The distribution token protocol: GET realm?service=&scope= with Basic
    credentials (or none), and POST grant_type=refresh_token."""

    def __init__(self, directory, *, users=None, refresh_tokens=None,
                 service="crio-test-registry", issuer="crio-test-issuer",
                 allow_anonymous=False, expires_in=300):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.users = dict(users or {})
        self.refresh_tokens = dict(refresh_tokens or {})  # token -> user
        self.service, self.issuer = service, issuer
        self.allow_anonymous = allow_anonymous
        self.expires_in = expires_in
        self.requests = []  # (method, path, query dict, Authorization, form)
        self.key = self.dir / "token.key"
        self.cert = self.dir / "token.crt"
        _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
              "-keyout", self.key, "-out", self.cert, "-days", "2", "-subj",
              "/CN=crio test token issuer"])
        der = _run(["openssl", "x509", "-in", self.cert, "-outform", "DER"],
                   text=False).stdout
        self._x5c = base64.b64encode(der).decode()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server._handle(self, "GET")

            def do_POST(self):
                server._handle(self, "POST")

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        self.realm = f"http://127.0.0.1:{self.port}/token"
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        daemon=True)
        self._thread.start()

    def sign(self, subject, scopes):
        """A JWT granting the actions of scopes ("repository:x:pull,push")."""
        access = []
        for scope in scopes:
            for one in scope.split(" "):
                parts = one.split(":")
                if len(parts) >= 3 and parts[0] == "repository":
                    access.append({"type": "repository",
                                   "name": ":".join(parts[1:-1]),
                                   "actions": parts[-1].split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        claims = {"iss": self.issuer, "sub": subject, "aud": self.service,
                  "exp": now + self.expires_in, "nbf": now - 10, "iat": now,
                  "jti": os.urandom(8).hex(), "access": access}
        signing_input = (_b64url(json.dumps(header).encode()) + "." +
                         _b64url(json.dumps(claims).encode()))
        sig = _run(["openssl", "dgst", "-sha256", "-sign", self.key],
                   input=signing_input.encode(), text=False).stdout
        return signing_input + "." + _b64url(sig)

    def _reply(self, h, status, body):
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _handle(self, h, method):
        url = urllib.parse.urlsplit(h.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        auth = h.headers.get("Authorization")
        form = {}
        if method == "POST":
            length = int(h.headers.get("Content-Length") or 0)
            form = dict(urllib.parse.parse_qsl(h.rfile.read(length).decode()))
        with self._lock:
            self.requests.append((method, url.path, query, auth, form))
        if url.path != "/token":
            return self._reply(h, 404, {"error": "not found"})
        if method == "POST":
            if form.get("grant_type") != "refresh_token":
                return self._reply(h, 400, {"error": "unsupported_grant_type"})
            user = self.refresh_tokens.get(form.get("refresh_token"))
            if not user:
                return self._reply(h, 401, {"error": "invalid_grant"})
            token = self.sign(user, [form.get("scope", "")])
            return self._reply(h, 200, {"access_token": token,
                                        "expires_in": self.expires_in})
        user = None
        if auth and auth.startswith("Basic "):
            name, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            if self.users.get(name) != password:
                return self._reply(h, 401, {"details": "wrong credentials"})
            user = name
        elif not self.allow_anonymous:
            return self._reply(h, 401, {"details": "credentials required"})
        scopes = [v for k, v in urllib.parse.parse_qsl(url.query) if k == "scope"]
        token = self.sign(user or "anonymous", scopes)
        self._reply(h, 200, {"token": token, "expires_in": self.expires_in,
                             "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                        time.gmtime())})

    def token_requests(self):
        with self._lock:
            return list(self.requests)

    def close(self):
        self._httpd.shutdown()
        self._httpd.server_close()


# ---- docker-registry ---------------------------------------------------------------

class Registry:
    """docker-registry serving a temp dir on 127.0.0.1:<free port>."""

    def __init__(self, directory, *, tls=None, client_ca=None, htpasswd=None,
                 token=None):
        """tls: (cert, key); client_ca: a CA cert clients must present a
        certificate of; htpasswd: {user: password}; token: a TokenServer."""
        self.dir = Path(directory)
        self.storage = self.dir / "storage"
        self.storage.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.tls = tls
        self.creds = None
        config = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(self.storage)},
                        "delete": {"enabled": True}},
            "http": {"addr": self.host, "secret": "crio-test"},
        }
        if tls:
            config["http"]["tls"] = {"certificate": str(tls[0]),
                                     "key": str(tls[1])}
            if client_ca:
                config["http"]["tls"]["clientcas"] = [str(client_ca)]
        if htpasswd:
            path = self.dir / "htpasswd"
            path.write_text("")
            for user, password in htpasswd.items():
                _run(["htpasswd", "-B", "-b", path, user, password])
            config["auth"] = {"htpasswd": {"realm": "crio-test",
                                           "path": str(path)}}
            self.creds = next(iter(htpasswd.items()))
        if token:
            config["auth"] = {"token": {"realm": token.realm,
                                        "service": token.service,
                                        "issuer": token.issuer,
                                        "rootcertbundle": str(token.cert)}}
            if token.users:
                self.creds = next(iter(token.users.items()))
        # JSON is YAML: no YAML writer needed.
        self.config = self.dir / "config.yml"
        self.config.write_text(json.dumps(config, indent=1))
        self.log_path = self.dir / "registry.log"
        self.proc = None

    def start(self, timeout=15.0):
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", str(self.config)],
                                     stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited {self.proc.returncode}:"
                                   f"\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"docker-registry not listening on {self.host}:\n"
                           f"{self.log()}")

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def blob_path(self, digest):
        """Where the filesystem driver keeps a blob's bytes."""
        algo, hexd = digest.split(":")
        return (self.storage / "docker/registry/v2/blobs" / algo / hexd[:2] /
                hexd / "data")

    def push(self, layout, ref, repo_tag, *, all_images=False, fmt=None,
             cert_dir=None):
        """skopeo copy oci:LAYOUT:REF docker://HOST/REPO_TAG (cert_dir: a
        client certificate for a registry that wants one)."""
        empty_conf = self.dir / "skopeo-registries.conf"
        if not empty_conf.exists():
            empty_conf.write_text("")
        argv = ["skopeo", "--insecure-policy", "--registries-conf",
                str(empty_conf), "copy", "--dest-tls-verify=false",
                "--retry-times", "0"]
        if self.creds:
            argv += ["--dest-creds", f"{self.creds[0]}:{self.creds[1]}"]
        if cert_dir:
            argv += ["--dest-cert-dir", str(cert_dir)]
        if all_images:
            argv.append("--all")
        if fmt:
            argv += ["--format", fmt]
        else:
            argv.append("--preserve-digests")
        argv += [f"oci:{layout}:{ref}", f"docker://{self.host}/{repo_tag}"]
        env = dict(os.environ, HOME=str(self.dir), XDG_RUNTIME_DIR=str(self.dir))
        _run(argv, env=env, timeout=120)


# ---- images ------------------------------------------------------------------

def _layer(files):
    """(gzip bytes, diff_id) of a tar with files: {path: bytes | ('link',
    target)}; deterministic, so digests repeat."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        dirs = sorted({str(Path(p).parent) for p in files} - {"."})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
            t.addfile(info)
        for path, content in sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.mtime = 0
            if isinstance(content, tuple):
                info.type, info.linkname = tarfile.SYMTYPE, content[1]
                t.addfile(info)
            else:
                info.size, info.mode = len(content), 0o755
                t.addfile(info, io.BytesIO(content))
    data = raw.getvalue()
    return gzip.compress(data, mtime=0), sha256(data)


class Image:
    """An image's blobs by digest, and its manifest."""

    def __init__(self, manifest, blobs, config_digest, layer_digests, arch):
        self.manifest = manifest  # bytes
        self.digest = sha256(manifest)
        self.blobs = blobs  # digest -> bytes
        self.config_digest = config_digest
        self.layer_digests = layer_digests
        self.arch = arch


def build_image(marker, *, arch="amd64", variant=None, with_busybox=True,
                annotations=None):
    """An OCI image: a busybox-static layer (/bin/busybox, /bin/sh) and a
    small layer naming marker (so every image differs)."""
    layers = []
    if with_busybox:
        layers.append(_layer({"bin/busybox": Path(BUSYBOX).read_bytes(),
                              "bin/sh": ("link", "busybox")}))
    layers.append(_layer({"etc/crio-test-image": marker.encode() + b"\n"}))
    config = {"architecture": arch, "os": "linux",
              "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
              "rootfs": {"type": "layers",
                         "diff_ids": [diff for _, diff in layers]}}
    if variant:
        config["variant"] = variant
    config_bytes = json.dumps(config, sort_keys=True).encode()
    blobs = {sha256(config_bytes): config_bytes}
    for gz, _ in layers:
        blobs[sha256(gz)] = gz
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG,
                           "digest": sha256(config_bytes),
                           "size": len(config_bytes)},
                "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": sha256(gz),
                            "size": len(gz)} for gz, _ in layers]}
    if annotations:
        manifest["annotations"] = annotations
    manifest_bytes = json.dumps(manifest, sort_keys=True).encode()
    return Image(manifest_bytes, blobs, sha256(config_bytes),
                 [sha256(gz) for gz, _ in layers], arch)


def write_oci_layout(directory, tagged):
    """An OCI layout holding tagged: {tag: Image | [(Image, platform)]} (a
    list makes an index).  Returns {tag: digest of what the tag names}."""
    d = Path(directory)
    (d / "blobs/sha256").mkdir(parents=True, exist_ok=True)
    (d / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')

    def put(data):
        digest = sha256(data)
        (d / "blobs/sha256" / digest.split(":")[1]).write_bytes(data)
        return digest

    entries, digests = [], {}
    for tag, what in tagged.items():
        images = what if isinstance(what, list) else [(what, None)]
        for image, _ in images:
            for blob in image.blobs.values():
                put(blob)
            put(image.manifest)
        if isinstance(what, list):
            index = {"schemaVersion": 2, "mediaType": OCI_INDEX,
                     "manifests": [{"mediaType": OCI_MANIFEST,
                                    "digest": image.digest,
                                    "size": len(image.manifest),
                                    "platform": platform}
                                   for image, platform in what]}
            data = json.dumps(index, sort_keys=True).encode()
            entry = {"mediaType": OCI_INDEX, "digest": put(data),
                     "size": len(data)}
        else:
            entry = {"mediaType": OCI_MANIFEST, "digest": what.digest,
                     "size": len(what.manifest)}
        entry["annotations"] = {"org.opencontainers.image.ref.name": tag}
        entries.append(entry)
        digests[tag] = entry["digest"]
    (d / "index.json").write_text(json.dumps(
        {"schemaVersion": 2, "manifests": entries}))
    return digests


# ---- a registry in Python ----------------------------------------------------------

class FakeRegistry:
    """Serves one image with Basic auth, answering blob GETs with a 307 to a
    storage server on another port (another origin), which records the
    headers it gets.  Blobs listed in `stall` send one byte, then nothing
    until close()."""

    def __init__(self, image, *, repo="app", user="alice", password="secret"):
        self.image, self.repo = image, repo
        self.basic = "Basic " + base64.b64encode(
            f"{user}:{password}".encode()).decode()
        self.storage_requests = []  # (path, headers dict)
        self.registry_requests = []
        self.stall = set()
        # (Content-Type, body) to answer manifest GETs with instead.
        self.manifest_reply = None
        self._release = threading.Event()
        fake = self

        class RegistryHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                fake.registry_requests.append((self.path, dict(self.headers)))
                fake._registry(self)

        class StorageHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                fake.storage_requests.append((self.path, dict(self.headers)))
                fake._storage(self)

        self._servers = [ThreadingHTTPServer(("127.0.0.1", 0), RegistryHandler),
                         ThreadingHTTPServer(("127.0.0.1", 0), StorageHandler)]
        for s in self._servers:
            s.daemon_threads = True
            threading.Thread(target=s.serve_forever, daemon=True).start()
        self.host = f"127.0.0.1:{self._servers[0].server_address[1]}"
        self.storage_port = self._servers[1].server_address[1]

    def _send(self, h, status, body=b"", headers=()):
        h.send_response(status)
        for k, v in headers:
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _registry(self, h):
        if h.headers.get("Authorization") != self.basic:
            return self._send(h, 401, b'{"errors":[{"code":"UNAUTHORIZED",'
                              b'"message":"authentication required"}]}',
                              [("WWW-Authenticate", 'Basic realm="fake"')])
        path = h.path
        if path == "/v2/":
            return self._send(h, 200, b"{}")
        prefix = f"/v2/{self.repo}/"
        if path.startswith(prefix + "manifests/"):
            if self.manifest_reply:
                return self._send(h, 200, self.manifest_reply[1],
                                  [("Content-Type", self.manifest_reply[0])])
            return self._send(h, 200, self.image.manifest,
                              [("Content-Type", OCI_MANIFEST),
                               ("Docker-Content-Digest", self.image.digest)])
        if path.startswith(prefix + "blobs/"):
            digest = path[len(prefix + "blobs/"):]
            if digest not in self.image.blobs:
                return self._send(h, 404)
            location = f"http://127.0.0.1:{self.storage_port}/storage/{digest}"
            return self._send(h, 307, b"", [("Location", location)])
        self._send(h, 404)

    def _storage(self, h):
        digest = h.path.rsplit("/", 1)[-1]
        blob = self.image.blobs.get(digest)
        if blob is None:
            return self._send(h, 404)
        if digest not in self.stall:
            return self._send(h, 200, blob)
        h.send_response(200)
        h.send_header("Content-Length", str(len(blob)))
        h.end_headers()
        h.wfile.write(blob[:1])
        h.wfile.flush()
        self._release.wait(30)

    def close(self):
        self._release.set()
        for s in self._servers:
            s.shutdown()
            s.server_close()


class Workdir:
    """A temp dir removed by close()."""

    def __init__(self, prefix="crio-registry-test-"):
        self.path = Path(tempfile.mkdtemp(prefix=prefix))

    def sub(self, name):
        p = self.path / name
        p.mkdir(parents=True, exist_ok=True)
        return p

    def close(self):
        shutil.rmtree(self.path, ignore_errors=True)
