"""RuntimeConfig: the cgroup driver the kubelet must match."""

import os

import pytest

import crio_harness as h


def _driver_name(value):
    return h.api().CgroupDriver.Name(value)


def test_cgroup_driver_defaults_to_what_pid1_implies(client):
    # sd_booted(): systemd is PID 1 exactly when /run/systemd/system exists.
    systemd = os.path.isdir("/run/systemd/system")
    expected = h.api().SYSTEMD if systemd else h.api().CGROUPFS
    resp = client.runtime_config()
    assert resp.HasField("linux"), "expected the linux part of RuntimeConfigResponse"
    seen = resp.linux.cgroup_driver
    assert seen == expected, (f"expected cgroup_driver {_driver_name(expected)} "
                              f"(systemd PID 1: {systemd}), saw {_driver_name(seen)}")


@pytest.mark.parametrize("manager, driver", [("cgroupfs", "CGROUPFS"),
                                             ("systemd", "SYSTEMD")])
def test_cgroup_driver_follows_cgroup_manager_flag(crio_factory, manager, driver):
    d = crio_factory.start(extra_args=["--cgroup-manager", manager])
    seen = d.client.runtime_config().linux.cgroup_driver
    assert seen == getattr(h.api(), driver), \
        f"expected {driver} with --cgroup-manager {manager}, saw {_driver_name(seen)}"


def test_unknown_cgroup_manager_is_refused_at_start(workdir):
    d = h.Daemon(workdir, extra_args=["--cgroup-manager", "bogus"])
    rc, out = h.run_daemon_to_exit(d.argv)
    assert rc != 0, f"expected a non-zero exit for --cgroup-manager bogus, saw {rc}"
    assert "bogus" in out, f"expected the message to name the bad value, saw {out!r}"
