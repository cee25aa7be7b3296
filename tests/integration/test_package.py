"""make install / make uninstall into a DESTDIR, and `make deb`: CRI-O's
file names, config files never overwritten, a CNI network only when there
is none, the package's file list, dependencies and maintainer scripts.
Nothing here touches the host: installs go to temporary dirs."""

import subprocess
from pathlib import Path

import crio_harness as h


def make(*args):
    # -o build: use the build as it is (ctest runs after it); never rebuild
    # from inside a test.
    out = subprocess.run(["make", "-o", "build", "-o", "deps", f"BUILD={h.BUILD}", *args],
                         cwd=h.REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"make {' '.join(args)}: {out.stdout}\n{out.stderr}"
    return out


def files(root):
    return sorted("/" + str(p.relative_to(root)) for p in Path(root).rglob("*") if p.is_file())


def test_install_and_uninstall_into_a_destdir(tmp_path):
    dest = tmp_path / "dest"
    make("install", f"DESTDIR={dest}", "PREFIX=/usr", "UNITDIR=/lib/systemd/system")
    installed = files(dest)
    for path in ["/usr/bin/crio", "/usr/bin/crio-pause", "/usr/bin/crio-db-inspect",
                 "/lib/systemd/system/crio.service", "/lib/systemd/system/crio-wipe.service",
                 "/lib/systemd/system/crio.socket", "/etc/crio/crio.conf",
                 "/etc/cni/net.d/10-crio-bridge.conflist",
                 "/usr/share/doc/crio/crio-help.txt"]:
        assert path in installed, f"expected {path} installed, saw {installed}"
    assert (dest / "etc/crio/crio.conf.d").is_dir()
    unit = (dest / "lib/systemd/system/crio.service").read_text()
    assert "ExecStart=/usr/bin/crio" in unit
    # The installed default config is every key commented out and reads back.
    out = subprocess.run([str(dest / "usr/bin/crio"), "-c", str(dest / "etc/crio/crio.conf"),
                          "-d", "", "config"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "unknown key" not in out.stderr, out.stderr

    # The operator's edits survive a second install.
    conf = dest / "etc/crio/crio.conf"
    conf.write_text('[crio.runtime]\nlog_level = "debug"\n')
    make("install", f"DESTDIR={dest}", "PREFIX=/usr", "UNITDIR=/lib/systemd/system")
    assert conf.read_text() == '[crio.runtime]\nlog_level = "debug"\n'

    make("uninstall", f"DESTDIR={dest}", "PREFIX=/usr", "UNITDIR=/lib/systemd/system")
    left = files(dest)
    assert left == ["/etc/cni/net.d/10-crio-bridge.conflist", "/etc/crio/crio.conf"], left


def test_install_keeps_an_existing_cni_network(tmp_path):
    dest = tmp_path / "dest"
    net = dest / "etc/cni/net.d"
    net.mkdir(parents=True)
    (net / "05-mine.conflist").write_text("{}")
    make("install", f"DESTDIR={dest}", "PREFIX=/usr")
    assert sorted(p.name for p in net.iterdir()) == ["05-mine.conflist"]


def test_deb_file_list_dependencies_and_scripts(tmp_path):
    make("deb")
    debs = sorted((h.BUILD / "deb").glob("crio-c_*.deb"))
    assert debs, "expected a .deb in the build's deb/ dir"
    deb = str(debs[-1])
    listing = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True,
                             check=True).stdout
    paths = {line.split()[-1].lstrip(".") for line in listing.splitlines()}
    for path in ["/usr/bin/crio", "/usr/bin/crio-pause", "/usr/bin/crio-db-inspect",
                 "/lib/systemd/system/crio.service", "/lib/systemd/system/crio-wipe.service",
                 "/etc/crio/crio.conf", "/etc/crio/crio.conf.d/",
                 "/usr/share/crio/10-crio-bridge.conflist"]:
        assert path in paths, f"expected {path} in the package, saw {sorted(paths)}"
    assert not any(p.startswith("/etc/cni") for p in paths), \
        "the CNI network is the postinst's to write, only when the host has none"
    depends = subprocess.run(["dpkg-deb", "-f", deb, "Depends"], capture_output=True,
                             text=True, check=True).stdout
    for dep in ["runc", "conmon", "containernetworking-plugins", "libgrpc29", "liblmdb0",
                "libprotobuf-c1"]:
        assert dep in depends, f"expected {dep} in Depends: {depends}"
    ctrl = tmp_path / "ctrl"
    subprocess.run(["dpkg-deb", "-e", deb, str(ctrl)], check=True)
    assert (ctrl / "conffiles").read_text().split() == ["/etc/crio/crio.conf"]
    for script in ["postinst", "prerm", "postrm"]:
        subprocess.run(["sh", "-n", str(ctrl / script)], check=True)
    postinst = (ctrl / "postinst").read_text()
    assert "10-crio-bridge.conflist" in postinst and "systemctl enable crio.service" in postinst
    # The packaged binary runs.
    root = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", deb, str(root)], check=True)
    out = subprocess.run([str(root / "usr/bin/crio"), "version", "-j"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0 and '"version"' in out.stdout, out.stderr
