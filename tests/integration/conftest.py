"""Fixtures for the integration tests: a real crio on temporary directories.

- `crio` (module scope): one daemon shared by the tests of a module that do
  not disturb it; stopped with SIGTERM at the end, which must exit 0.
- `crio_factory` (function scope): starts daemons with the options a test
  needs; each is stopped at the end of the test and must exit 0 unless the
  test set `expect_clean_exit = False` on it (or stopped it itself).
- `client`: the CriClient of the module's daemon.

When a test fails, the stderr of every daemon involved in it is attached to
the report (section "crio <name> stderr").
"""

import shutil
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import crio_harness as h  # noqa: E402

LOG_TAIL_LINES = 300


# Host sysctls the CNI plugins change as a side effect (the bridge plugin
# with isGateway turns on IPv4 forwarding): put back as they were found,
# so the suite leaves the host as it found it.
HOST_SYSCTLS = ["/proc/sys/net/ipv4/ip_forward"]
_host_sysctls_before = {}


def pytest_sessionstart(session):
    # Generated once per session into a temp dir (removed at exit).
    h.api()
    for path in HOST_SYSCTLS:
        try:
            _host_sysctls_before[path] = Path(path).read_text()
        except OSError:
            pass


def pytest_sessionfinish(session, exitstatus):
    for path, value in _host_sysctls_before.items():
        try:
            if Path(path).read_text() != value:
                Path(path).write_text(value)
        except OSError:
            pass


def _require_binaries():
    missing = [str(p) for p in (h.CRIO_BIN, h.INSPECT_BIN) if not p.exists()]
    if missing:
        pytest.fail(f"not built: {', '.join(missing)} (run `make build`, or set "
                    f"CRIO_TEST_BINARY_DIR to the build dir)", pytrace=False)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    item._crio_t0 = time.monotonic()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    t0 = getattr(item, "_crio_t0", 0.0)
    for d in h.DAEMONS:
        if d.started_at is None:
            continue
        if d.stopped_at is not None and d.stopped_at < t0:
            continue
        lines = d.log().splitlines()
        if len(lines) > LOG_TAIL_LINES:
            lines = [f"... ({len(lines) - LOG_TAIL_LINES} earlier lines)"] + \
                lines[-LOG_TAIL_LINES:]
        state = (f"running, pid {d.proc.pid}" if d.running()
                 else f"exited {d.returncode}")
        report.sections.append(
            (f"crio {d.name} stderr ({state}; {' '.join(d.argv)})",
             "\n".join(lines)))


def _stop_all(daemons):
    """Stops every daemon still running; returns the failures."""
    problems = []
    for d in daemons:
        if not d.running():
            continue
        rc, took, killed = d.stop()
        if not getattr(d, "expect_clean_exit", True):
            continue
        if killed:
            problems.append(f"{d.name}: still running {took:.1f}s after SIGTERM; "
                            "SIGKILLed")
        elif rc != 0:
            problems.append(f"{d.name}: expected exit status 0 after SIGTERM, "
                            f"saw {rc}")
    return problems


@pytest.fixture(scope="module")
def crio():
    _require_binaries()
    workdir = h.new_workdir()
    daemons = []
    try:
        d = h.Daemon(workdir, name="shared")
        daemons.append(d)
        d.start()
        yield d
        problems = _stop_all(daemons)
        assert not problems, "; ".join(problems)
    finally:
        for d in daemons:
            d.kill()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def client(crio):
    return crio.client


@pytest.fixture
def workdir():
    path = h.new_workdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


class CrioFactory:
    def __init__(self, workdir):
        self.workdir = workdir
        self.daemons = []

    def daemon(self, **kwargs):
        """A Daemon, configured but not started."""
        d = h.Daemon(self.workdir, **kwargs)
        self.daemons.append(d)
        return d

    def start(self, **kwargs):
        """A Daemon, started and answering Version."""
        return self.daemon(**kwargs).start()


@pytest.fixture
def crio_factory():
    _require_binaries()
    workdir = h.new_workdir()
    factory = CrioFactory(workdir)
    try:
        yield factory
        problems = _stop_all(factory.daemons)
        assert not problems, "; ".join(problems)
    finally:
        for d in factory.daemons:
            d.kill()
        shutil.rmtree(workdir, ignore_errors=True)
