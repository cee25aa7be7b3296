"""The registry client (images/) against real registries on 127.0.0.1.

Drives crio-image-fetch (tests/unit/images_fetch_tool.c), which pulls an
image's manifest, config and layers into a directory with the client, until
the CRI image handlers exist.  Registries: Debian's docker-registry over
plain HTTP, TLS (test CA in a temp certs.d, and client certificates),
htpasswd Basic auth and bearer tokens (registry_harness.TokenServer); a
Python registry for blob redirects to another origin and stalled transfers.
"""

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import registry_harness as rh  # noqa: E402

BUILD = Path(os.environ.get("CRIO_TEST_BINARY_DIR")
             or Path(__file__).resolve().parents[2] / "build")
FETCH = BUILD / "tests" / "crio-image-fetch"


# ---- fixtures ------------------------------------------------------------------

@pytest.fixture(scope="module")
def work():
    if not FETCH.exists():
        pytest.fail(f"not built: {FETCH}", pytrace=False)
    w = rh.Workdir()
    yield w
    w.close()


@pytest.fixture()
def tmp(work):
    """A per-test dir inside the module's, removed after the test."""
    w = rh.Workdir(prefix="crio-registry-case-")
    yield w.path
    w.close()


@pytest.fixture(scope="module")
def images(work):
    img = rh.build_image("plain")
    amd64 = rh.build_image("multi amd64")
    arm64 = rh.build_image("multi arm64", arch="arm64", variant="v8",
                           with_busybox=False)
    tamper = rh.build_image("tamper", annotations={"note": "aaaa"})
    layout = work.sub("layout")
    digests = rh.write_oci_layout(layout, {
        "latest": img,
        "multi": [(arm64, {"os": "linux", "architecture": "arm64",
                           "variant": "v8"}),
                  (amd64, {"os": "linux", "architecture": "amd64"})],
        "tamper": tamper,
    })
    return {"layout": layout, "img": img, "amd64": amd64, "arm64": arm64,
            "tamper": tamper, "multi_index": digests["multi"]}


def _registry(work, name, **kw):
    return rh.Registry(work.sub(name), **kw).start()


@pytest.fixture(scope="module")
def plain(work, images):
    r = _registry(work, "plain")
    try:
        r.push(images["layout"], "latest", "busybox:latest")
        r.push(images["layout"], "latest", "team/app:1.0", fmt="v2s2")
        r.push(images["layout"], "multi", "multi:latest", all_images=True)
        yield r
    finally:
        r.stop()


@pytest.fixture(scope="module")
def tampered(work, images):
    """A registry whose stored bytes were changed after the push."""
    r = _registry(work, "tampered")
    try:
        r.push(images["layout"], "latest", "layer:latest")
        r.push(images["layout"], "tamper", "manifest:latest")
        small_layer = images["img"].layer_digests[-1]
        path = r.blob_path(small_layer)
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF  # same size, other bytes
        path.write_bytes(bytes(data))
        path = r.blob_path(images["tamper"].digest)
        path.write_bytes(path.read_bytes().replace(b'"aaaa"', b'"bbbb"'))
        yield r
    finally:
        r.stop()


@pytest.fixture(scope="module")
def ca(work):
    return rh.TestCA(work.sub("ca"))


@pytest.fixture(scope="module")
def tls(work, images, ca):
    r = _registry(work, "tls", tls=ca.issue("server"))
    try:
        r.push(images["layout"], "latest", "busybox:latest")
        yield r
    finally:
        r.stop()


@pytest.fixture(scope="module")
def mtls(work, images, ca):
    client = ca.issue("client", server=False)
    r = _registry(work, "mtls", tls=ca.issue("server2"), client_ca=ca.cert)
    try:
        push_certs = work.sub("mtls-push-certs")
        import shutil
        shutil.copy(client[0], push_certs / "client.cert")
        shutil.copy(client[1], push_certs / "client.key")
        r.push(images["layout"], "latest", "busybox:latest",
               cert_dir=push_certs)
        r.client = client
        yield r
    finally:
        r.stop()


@pytest.fixture(scope="module")
def basic(work, images):
    r = _registry(work, "basic", htpasswd={"alice": "s3cret:x"})
    try:
        r.push(images["layout"], "latest", "busybox:latest")
        yield r
    finally:
        r.stop()


@pytest.fixture(scope="module")
def token_server(work):
    ts = rh.TokenServer(work.sub("token"), users={"bob": "hunter2"},
                        refresh_tokens={"refresh-abc": "bob"})
    yield ts
    ts.close()


@pytest.fixture(scope="module")
def bearer(work, images, token_server):
    r = _registry(work, "bearer", token=token_server)
    try:
        r.push(images["layout"], "latest", "busybox:latest")
        yield r
    finally:
        r.stop()


# ---- helpers -------------------------------------------------------------------------

class Fetch:
    def __init__(self, proc, outdir):
        self.rc = proc.returncode
        self.stderr = proc.stderr
        self.outdir = outdir
        self.result = None
        if self.rc == 0:
            self.result = json.loads((outdir / "result.json").read_text())

    def error(self):
        """(ERRNAME, message) of a failure."""
        assert self.rc == 1, f"expected failure, got rc {self.rc}: {self.stderr}"
        line = self.stderr.strip().splitlines()[-1]
        assert line.startswith("error: "), self.stderr
        name, _, message = line[len("error: "):].partition(": ")
        return name, message


def fetch(tmp, image, *args, conf=None, certs=None, timeout=60):
    """Runs crio-image-fetch; conf: registries.conf text."""
    argv = [str(FETCH)]
    if conf is not None:
        path = tmp / "registries.conf"
        path.write_text(conf)
        argv += ["--registries-conf", str(path)]
    argv += ["--certs-dir", str(certs or tmp / "no-certs.d")]
    outdir = tmp / f"out-{time.monotonic_ns()}"
    argv += list(args) + [image, str(outdir)]
    proc = subprocess.run(argv, capture_output=True, text=True,
                          timeout=timeout)
    return Fetch(proc, outdir)


def insecure(*hosts, search=None):
    text = ""
    if search is not None:
        text += "unqualified-search-registries = [%s]\n" % ", ".join(
            f'"{h}"' for h in search)
    for h in hosts:
        text += f'[[registry]]\nlocation = "{h}"\ninsecure = true\n'
    return text


def sha256_file(path):
    return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()


def assert_pulled(f, image):
    """What is on disk is image, byte for byte, and nothing half-written."""
    assert f.rc == 0, f.stderr
    r = f.result
    assert r["manifest_digest"] == image.digest
    assert sha256_file(f.outdir / "manifest.json") == image.digest
    assert r["config_digest"] == image.config_digest
    assert sha256_file(f.outdir / "config.json") == image.config_digest
    assert [l["digest"] for l in r["layers"]] == image.layer_digests
    for layer in r["layers"]:
        assert layer["bytes"] == layer["size"]
        path = f.outdir / "blobs/sha256" / layer["digest"].split(":")[1]
        assert sha256_file(path) == layer["digest"]
    assert not list(f.outdir.glob("blobs/*/*.partial"))


# ---- plain HTTP, registries.conf ------------------------------------------------------------

def test_pull_over_plain_http_from_insecure_registry(tmp, plain, images):
    f = fetch(tmp, f"{plain.host}/busybox:latest", conf=insecure(plain.host))
    assert_pulled(f, images["img"])
    assert f.result["reference"] == f"{plain.host}/busybox:latest"
    assert f.result["media_type"] == rh.OCI_MANIFEST
    assert "index_digest" not in f.result


def test_plain_http_refused_unless_insecure(tmp, plain):
    f = fetch(tmp, f"{plain.host}/busybox:latest", conf="")
    name, message = f.error()
    assert name == "EPROTO", message
    assert f"https://{plain.host}/v2/" in message


def test_pull_by_digest(tmp, plain, images):
    img = images["img"]
    f = fetch(tmp, f"{plain.host}/busybox@{img.digest}",
              conf=insecure(plain.host))
    assert_pulled(f, img)
    missing = "sha256:" + "0" * 64
    f = fetch(tmp, f"{plain.host}/busybox@{missing}", conf=insecure(plain.host))
    name, message = f.error()
    assert name == "ENOENT", message
    assert "MANIFEST_UNKNOWN" in message


def test_unknown_repository_is_not_found(tmp, plain):
    f = fetch(tmp, f"{plain.host}/nothing/here:1", conf=insecure(plain.host))
    name, message = f.error()
    assert name == "ENOENT", message
    assert "NAME_UNKNOWN" in message or "MANIFEST_UNKNOWN" in message


def test_docker_schema2_manifest(tmp, plain, images):
    f = fetch(tmp, f"{plain.host}/team/app:1.0", conf=insecure(plain.host))
    assert f.rc == 0, f.stderr
    assert f.result["media_type"] == rh.DOCKER_MANIFEST
    # skopeo converted the manifest; the blobs are the same bytes.
    assert [l["digest"] for l in f.result["layers"]] == \
        images["img"].layer_digests
    assert sha256_file(f.outdir / "manifest.json") == \
        f.result["manifest_digest"]


def test_index_selects_this_platform(tmp, plain, images):
    f = fetch(tmp, f"{plain.host}/multi:latest", conf=insecure(plain.host))
    assert_pulled(f, images["amd64"])
    assert f.result["index_digest"] == images["multi_index"]
    f = fetch(tmp, f"{plain.host}/multi:latest", "--platform",
              "linux/arm64/v8", conf=insecure(plain.host))
    assert_pulled(f, images["arm64"])
    f = fetch(tmp, f"{plain.host}/multi:latest", "--platform", "linux/s390x",
              conf=insecure(plain.host))
    name, message = f.error()
    assert name == "ENOENT", message
    assert "linux/s390x" in message and "linux/arm64/v8" in message


def test_short_name_tries_search_registries_in_order(tmp, plain, images):
    dead = f"127.0.0.1:{rh.dead_port()}"
    f = fetch(tmp, "busybox", conf=insecure(dead, plain.host,
                                            search=[dead, plain.host]))
    assert_pulled(f, images["img"])
    assert f.result["reference"] == f"{plain.host}/busybox:latest"
    f = fetch(tmp, "team/app:1.0",
              conf=insecure(dead, plain.host, search=[dead, plain.host]))
    assert f.rc == 0, f.stderr
    # Nothing anywhere: every attempt is named.
    f = fetch(tmp, "absent", conf=insecure(dead, plain.host,
                                           search=[dead, plain.host]))
    name, message = f.error()
    assert dead in message and plain.host in message, message
    assert name == "ECONNREFUSED", message


def test_mirrors_tried_in_order_before_primary(tmp, plain, images):
    dead = f"127.0.0.1:{rh.dead_port()}"
    conf = ('[[registry]]\nprefix = "registry.example"\n'
            f'location = "{dead}"\n'
            f'[[registry.mirror]]\nlocation = "127.0.0.1:{rh.dead_port()}"\n'
            'insecure = true\n'
            f'[[registry.mirror]]\nlocation = "{plain.host}"\ninsecure = true\n')
    f = fetch(tmp, "registry.example/busybox:latest", conf=conf)
    assert_pulled(f, images["img"])
    assert f.result["mirror"] is True
    assert f.result["host"] == plain.host
    assert f.result["reference"] == "registry.example/busybox:latest"

    # A mirror without the image: the primary (with its location rewrite).
    conf = ('[[registry]]\nprefix = "registry.example/lib"\n'
            f'location = "{plain.host}"\ninsecure = true\n'
            f'[[registry.mirror]]\nlocation = "{plain.host}/empty-mirror"\n'
            'insecure = true\n')
    f = fetch(tmp, "registry.example/lib/busybox:latest", conf=conf)
    assert_pulled(f, images["img"])
    assert f.result["mirror"] is False
    assert f.result["repository"] == "busybox"


def test_blocked_registry_is_refused(tmp, plain):
    conf = insecure(plain.host) + \
        f'[[registry]]\nprefix = "{plain.host}/busybox"\nblocked = true\n'
    f = fetch(tmp, f"{plain.host}/busybox:latest", conf=conf)
    name, message = f.error()
    assert name == "EACCES", message
    assert "blocked in registries.conf" in message
    assert not f.outdir.exists()


def test_bad_reference_is_einval(tmp):
    f = fetch(tmp, "Not/A/Valid:-ref", conf="")
    name, message = f.error()
    assert name == "EINVAL", message
    assert "invalid reference format" in message


# ---- digests --------------------------------------------------------------------------------

def test_layer_digest_mismatch_rejected(tmp, tampered, images):
    f = fetch(tmp, f"{tampered.host}/layer:latest", conf=insecure(tampered.host))
    name, message = f.error()
    assert name == "EBADMSG", message
    bad = images["img"].layer_digests[-1]
    assert f"digest mismatch: expected {bad}" in message
    # The verified layer may be there; the bad one is not, not even partly.
    assert not (f.outdir / "blobs/sha256" / bad.split(":")[1]).exists()
    assert not list(f.outdir.glob("blobs/*/*.partial"))


def test_manifest_digest_mismatch_rejected(tmp, tampered, images):
    f = fetch(tmp, f"{tampered.host}/manifest:latest",
              conf=insecure(tampered.host))
    name, message = f.error()
    assert name == "EBADMSG", message
    assert f"digest mismatch: expected {images['tamper'].digest}" in message
    f = fetch(tmp, f"{tampered.host}/manifest@{images['tamper'].digest}",
              conf=insecure(tampered.host))
    assert f.error()[0] == "EBADMSG"


# ---- TLS --------------------------------------------------------------------------------------

def test_tls_with_test_ca_in_certs_d(tmp, tls, ca, images):
    certs = ca.certs_d(tmp / "certs.d", tls.host)
    f = fetch(tmp, f"{tls.host}/busybox:latest", conf="", certs=certs)
    assert_pulled(f, images["img"])


def test_tls_unknown_ca_refused(tmp, tls):
    f = fetch(tmp, f"{tls.host}/busybox:latest", conf="")
    name, message = f.error()
    assert name == "EPROTO", message
    assert "certificate" in message


def test_tls_ca_of_another_host_not_trusted(tmp, tls, ca):
    certs = ca.certs_d(tmp / "certs.d", "127.0.0.1:1")
    f = fetch(tmp, f"{tls.host}/busybox:latest", conf="", certs=certs)
    assert f.error()[0] == "EPROTO"


def test_insecure_registry_skips_tls_verification(tmp, tls, images):
    f = fetch(tmp, f"{tls.host}/busybox:latest", conf=insecure(tls.host))
    assert_pulled(f, images["img"])


def test_client_certificate_from_certs_d(tmp, mtls, ca, images):
    certs = ca.certs_d(tmp / "with-client", mtls.host, client=mtls.client)
    f = fetch(tmp, f"{mtls.host}/busybox:latest", conf="", certs=certs)
    assert_pulled(f, images["img"])
    certs = ca.certs_d(tmp / "without-client", mtls.host)
    f = fetch(tmp, f"{mtls.host}/busybox:latest", conf="", certs=certs)
    name, message = f.error()
    assert name == "EPROTO", message
    # A certificate without its key is a configuration error.
    (certs / mtls.host / "orphan.cert").write_bytes(b"")
    f = fetch(tmp, f"{mtls.host}/busybox:latest", conf="", certs=certs)
    name, message = f.error()
    assert name == "EINVAL" and "has no key" in message, message


# ---- Basic auth -----------------------------------------------------------------------------------

def test_basic_auth_with_username_and_password(tmp, basic, images):
    f = fetch(tmp, f"{basic.host}/busybox:latest", "--username", "alice",
              "--password", "s3cret:x", conf=insecure(basic.host))
    assert_pulled(f, images["img"])


def test_basic_auth_with_auth_field(tmp, basic, images):
    auth = base64.b64encode(b"alice:s3cret:x").decode()
    f = fetch(tmp, f"{basic.host}/busybox:latest", "--auth", auth,
              conf=insecure(basic.host))
    assert_pulled(f, images["img"])


def test_basic_auth_refused(tmp, basic):
    f = fetch(tmp, f"{basic.host}/busybox:latest", "--username", "alice",
              "--password", "wrong", conf=insecure(basic.host))
    name, message = f.error()
    assert name == "EACCES", message
    f = fetch(tmp, f"{basic.host}/busybox:latest", conf=insecure(basic.host))
    name, message = f.error()
    assert name == "EACCES" and "authentication required" in message, message


# ---- bearer tokens ------------------------------------------------------------------------------------

def _token_gets(ts, since):
    return [r for r in ts.token_requests()[since:] if r[0] == "GET"]


def test_bearer_token_fetched_once_per_pull(tmp, bearer, token_server, images):
    before = len(token_server.token_requests())
    f = fetch(tmp, f"{bearer.host}/busybox:latest", "--username", "bob",
              "--password", "hunter2", conf=insecure(bearer.host))
    assert_pulled(f, images["img"])
    gets = _token_gets(token_server, before)
    # manifest + config + 2 layers (in parallel) share one cached token
    assert len(gets) == 1, gets
    method, path, query, auth, _ = gets[0]
    assert query["service"] == "crio-test-registry"
    assert query["scope"] == "repository:busybox:pull"
    assert query["account"] == "bob"
    assert auth == "Basic " + base64.b64encode(b"bob:hunter2").decode()


def test_bearer_refused_credentials(tmp, bearer, token_server):
    f = fetch(tmp, f"{bearer.host}/busybox:latest", "--username", "bob",
              "--password", "nope", conf=insecure(bearer.host))
    name, message = f.error()
    assert name == "EACCES", message
    assert token_server.realm in message
    f = fetch(tmp, f"{bearer.host}/busybox:latest", conf=insecure(bearer.host))
    assert f.error()[0] == "EACCES"


def test_bearer_identity_token_refresh_grant(tmp, bearer, token_server, images):
    before = len(token_server.token_requests())
    f = fetch(tmp, f"{bearer.host}/busybox:latest", "--identity-token",
              "refresh-abc", conf=insecure(bearer.host))
    assert_pulled(f, images["img"])
    posts = [r for r in token_server.token_requests()[before:]
             if r[0] == "POST"]
    assert len(posts) == 1, token_server.token_requests()[before:]
    form = posts[0][4]
    assert form["grant_type"] == "refresh_token"
    assert form["refresh_token"] == "refresh-abc"
    assert form["scope"] == "repository:busybox:pull"
    assert form["service"] == "crio-test-registry"


def test_bearer_registry_token_used_directly(tmp, bearer, token_server,
                                            images):
    token = token_server.sign("bob", ["repository:busybox:pull"])
    before = len(token_server.token_requests())
    f = fetch(tmp, f"{bearer.host}/busybox:latest", "--registry-token", token,
              conf=insecure(bearer.host))
    assert_pulled(f, images["img"])
    assert token_server.token_requests()[before:] == []


# ---- redirects and stalls (a registry in Python) -------------------------------------------------

@pytest.fixture()
def fake(images):
    reg = rh.FakeRegistry(images["img"])
    yield reg
    reg.close()


def test_blob_redirect_does_not_forward_authorization(tmp, fake, images):
    f = fetch(tmp, f"{fake.host}/app:latest", "--username", "alice",
              "--password", "secret", conf=insecure(fake.host))
    assert_pulled(f, images["img"])
    blob_gets = [p for p, _ in fake.registry_requests if "/blobs/" in p]
    assert len(blob_gets) == 3  # config + 2 layers, each redirected
    assert len(fake.storage_requests) == 3
    for path, headers in fake.storage_requests:
        assert "Authorization" not in headers, (path, headers)
    for path, headers in fake.registry_requests:
        if path != "/v2/" or "Authorization" in headers:
            assert headers.get("Authorization") == fake.basic


def test_stalled_blob_cancelled_after_low_speed_time(tmp, fake, images):
    fake.stall.add(images["img"].layer_digests[0])
    t0 = time.monotonic()
    f = fetch(tmp, f"{fake.host}/app:latest", "--username", "alice",
              "--password", "secret", "--low-speed-time", "2",
              conf=insecure(fake.host))
    took = time.monotonic() - t0
    name, message = f.error()
    assert name == "ETIMEDOUT", message
    assert took < 15, took
    assert not list(f.outdir.glob("blobs/*/*.partial"))


def test_oversized_manifest_refused(tmp, fake):
    fake.manifest_reply = (rh.OCI_MANIFEST, b" " * (4 * 1024 * 1024 + 1))
    f = fetch(tmp, f"{fake.host}/app:latest", "--username", "alice",
              "--password", "secret", conf=insecure(fake.host))
    name, message = f.error()
    assert name == "EFBIG", message
    assert "larger than 4194304 bytes" in message


def test_schema1_manifest_refused(tmp, fake):
    fake.manifest_reply = (
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        b'{"schemaVersion":1,"name":"app","tag":"latest","fsLayers":[]}')
    f = fetch(tmp, f"{fake.host}/app:latest", "--username", "alice",
              "--password", "secret", conf=insecure(fake.host))
    name, message = f.error()
    assert name in ("ENOTSUP", "EOPNOTSUPP"), message  # one value on Linux
    assert "Docker schema 1" in message
