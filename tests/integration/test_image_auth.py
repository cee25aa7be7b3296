"""PullImage with credentials and transport security: htpasswd Basic auth
and the bearer-token flow (registry_harness.TokenServer) from the request's
AuthConfig, TLS verified against a CA in the configured certs dir,
registries.conf mirrors and blocked registries.  Credentials are never
stored: the database and the log must not contain them."""

import base64
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import crio_harness as h  # noqa: E402
import images_harness as ih  # noqa: E402
import registry_harness as rh  # noqa: E402

PASSWORD = "s3cret:x"


@pytest.fixture(scope="module")
def work():
    w = rh.Workdir(prefix="crio-image-auth-")
    yield w
    w.close()


@pytest.fixture(scope="module")
def image(work):
    img = rh.build_image("auth")
    layout = work.sub("layout")
    rh.write_oci_layout(layout, {"latest": img})
    img.layout = layout
    img.id = img.config_digest.split(":", 1)[1]
    return img


def _registry(work, name, image, **kw):
    reg = rh.Registry(work.sub(name), **kw).start()
    try:
        reg.push(image.layout, "latest", "secure/app:1")
    except Exception:
        reg.stop()
        raise
    return reg


@pytest.fixture(scope="module")
def basic(work, image):
    reg = _registry(work, "basic", image, htpasswd={"alice": PASSWORD})
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def token_server(work):
    ts = rh.TokenServer(work.sub("token"), users={"bob": "hunter2"},
                        refresh_tokens={"refresh-abc": "bob"})
    yield ts
    ts.close()


@pytest.fixture(scope="module")
def bearer(work, image, token_server):
    reg = _registry(work, "bearer", image, token=token_server)
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def ca(work):
    return rh.TestCA(work.sub("ca"))


@pytest.fixture(scope="module")
def tls(work, image, ca):
    reg = _registry(work, "tls", image, tls=ca.issue("server"))
    yield reg
    reg.stop()


def daemon(crio_factory, work, name, certs_dir=None, **conf):
    path = ih.registries_conf(work.path / f"{name}.conf", **conf)
    return ih.image_daemon(crio_factory, path, certs_dir=certs_dir).start()


def secrets_absent(d, *secrets):
    """No secret in the database file or the daemon's log."""
    db = (Path(d.root) / "db" / "data.mdb").read_bytes()
    log = d.log()
    for s in secrets:
        assert s.encode() not in db, f"secret {s!r} found in the database"
        assert s not in log, f"secret {s!r} found in the daemon log"


def test_basic_auth_with_username_password_and_with_auth_field(crio_factory, work, basic, image):
    d = daemon(crio_factory, work, "basic", insecure=[basic.host])
    c = d.client
    with pytest.raises(grpc.RpcError) as e:
        ih.pull(c, f"{basic.host}/secure/app:1")
    assert e.value.code() in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED,
                              grpc.StatusCode.NOT_FOUND), e.value.details()
    ref = ih.pull(c, f"{basic.host}/secure/app:1",
                  auth_config=ih.auth(username="alice", password=PASSWORD))
    assert ref == image.id
    ih.remove(c, ref)
    token = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    assert ih.pull(c, f"{basic.host}/secure/app:1", auth_config=ih.auth(auth=token)) == image.id
    secrets_absent(d, PASSWORD, token)


def test_basic_auth_wrong_password_fails_with_the_registrys_message(crio_factory, work, basic):
    d = daemon(crio_factory, work, "basic-wrong", insecure=[basic.host])
    with pytest.raises(grpc.RpcError) as e:
        ih.pull(d.client, f"{basic.host}/secure/app:1",
                auth_config=ih.auth(username="alice", password="wrong"))
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED, e.value.details()
    details = e.value.details()
    assert "UNAUTHORIZED" in details or "authentication required" in details, details
    assert ih.list_images(d.client) == [] and ih.layer_dirs(d) == (set(), set())


def test_bearer_token_with_password_and_identity_token(crio_factory, work, bearer, token_server,
                                                       image):
    d = daemon(crio_factory, work, "bearer", insecure=[bearer.host])
    c = d.client
    ref = ih.pull(c, f"{bearer.host}/secure/app:1",
                  auth_config=ih.auth(username="bob", password="hunter2"))
    assert ref == image.id
    gets = [r for r in token_server.token_requests() if r[0] == "GET"]
    assert gets and gets[-1][2].get("scope") == "repository:secure/app:pull", gets[-1]
    ih.remove(c, ref)
    ref = ih.pull(c, f"{bearer.host}/secure/app:1",
                  auth_config=ih.auth(identity_token="refresh-abc"))
    assert ref == image.id
    posts = [r for r in token_server.token_requests() if r[0] == "POST"]
    assert posts and posts[-1][4].get("grant_type") == "refresh_token"
    secrets_absent(d, "hunter2", "refresh-abc")


def test_bearer_wrong_password_fails_with_the_token_servers_message(crio_factory, work, bearer):
    d = daemon(crio_factory, work, "bearer-wrong", insecure=[bearer.host])
    with pytest.raises(grpc.RpcError) as e:
        ih.pull(d.client, f"{bearer.host}/secure/app:1",
                auth_config=ih.auth(username="bob", password="nope"))
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED, e.value.details()
    assert "wrong credentials" in e.value.details(), e.value.details()


def test_tls_verified_with_the_ca_in_the_certs_dir(crio_factory, work, tls, ca, image):
    certs = ca.certs_d(work.sub("certs.d"), tls.host)
    d = daemon(crio_factory, work, "tls", secure=[tls.host], certs_dir=certs)
    assert ih.pull(d.client, f"{tls.host}/secure/app:1") == image.id


def test_tls_without_the_ca_is_refused(crio_factory, work, tls):
    d = daemon(crio_factory, work, "tls-noca", secure=[tls.host])
    with pytest.raises(grpc.RpcError) as e:
        ih.pull(d.client, f"{tls.host}/secure/app:1")
    assert "certificate" in e.value.details().lower() or "tls" in e.value.details().lower(), \
        e.value.details()
    assert ih.list_images(d.client) == []


def test_blocked_registry_is_a_clear_error(crio_factory, work, basic):
    d = daemon(crio_factory, work, "blocked", blocked=[basic.host])
    with pytest.raises(grpc.RpcError) as e:
        ih.pull(d.client, f"{basic.host}/secure/app:1",
                auth_config=ih.auth(username="alice", password=PASSWORD))
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED, e.value.details()
    assert "blocked" in e.value.details(), e.value.details()
    with pytest.raises(grpc.RpcError) as e:
        ih.pull(d.client, "busybox")
    assert "blocked" in e.value.details(), "docker.io is blocked in the tests' config"


def test_mirror_serves_when_the_primary_is_down(crio_factory, work, basic, image):
    dead = f"127.0.0.1:{rh.dead_port()}"
    path = work.path / "mirror.conf"
    path.write_text(f'[[registry]]\nlocation = "{dead}"\ninsecure = true\n'
                    f'[[registry.mirror]]\nlocation = "{basic.host}"\ninsecure = true\n'
                    '[[registry]]\nlocation = "docker.io"\nblocked = true\n')
    d = ih.image_daemon(crio_factory, path).start()
    ref = ih.pull(d.client, f"{dead}/secure/app:1",
                  auth_config=ih.auth(username="alice", password=PASSWORD))
    assert ref == image.id
    assert list(ih.status(d.client, ref).image.repo_tags) == [f"{dead}/secure/app:1"], \
        "the image is named as requested, not after the mirror"


def test_pull_progress_timeout_flag_and_config_are_accepted(crio_factory, work, basic):
    path = ih.registries_conf(work.path / "timeout.conf", insecure=[basic.host])
    d = ih.image_daemon(crio_factory, path, extra=["--pull-progress-timeout", "1m30s"])
    d.start()
    bad = ih.image_daemon(crio_factory, path, extra=["--pull-progress-timeout", "soon"])
    bad.expect_clean_exit = False
    with pytest.raises(h.DaemonExited) as e:
        bad.start()
    assert "--pull-progress-timeout" in str(e.value)
