"""Version: the handshake the kubelet makes first."""

import subprocess

import crio_harness as h


def test_version_reports_cri_v1_and_runtime_name_crio(client):
    resp = client.version()
    assert resp.runtime_api_version == "v1", \
        f"expected runtime_api_version 'v1', saw {resp.runtime_api_version!r}"
    assert resp.runtime_name == "crio", \
        f"expected runtime_name 'crio', saw {resp.runtime_name!r}"
    assert resp.version, "expected a non-empty version, saw ''"


def test_version_runtime_version_matches_crio_version_flag(client):
    out = subprocess.run([str(h.CRIO_BIN), "--version"], capture_output=True,
                         text=True, timeout=10)
    assert out.returncode == 0, \
        f"expected `crio --version` to exit 0, saw {out.returncode}: {out.stderr}"
    resp = client.version()
    assert resp.runtime_version and resp.runtime_version in out.stdout, (
        f"expected runtime_version {resp.runtime_version!r} to appear in "
        f"`crio --version` output {out.stdout.strip()!r}")


def test_version_answers_without_a_requested_version(client):
    # The kubelet sends version "" at times; an empty request is valid.
    resp = client.call("Version", client.request("Version"))
    assert resp.runtime_api_version == "v1", \
        f"expected runtime_api_version 'v1', saw {resp.runtime_api_version!r}"
