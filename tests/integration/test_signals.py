"""SIGHUP reloads what can change without a restart (the log level, the
default runtime for new pods) and logs what changed; SIGUSR1 dumps the
reconciler's backlog and the database's statistics to the log."""

import signal
import time


def wait_log(d, text, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in d.log():
            return True
        time.sleep(0.05)
    raise AssertionError(f"expected {text!r} in the log, saw:\n{d.log()[-3000:]}")


def test_sighup_reloads_log_level_and_default_runtime(crio_factory, tmp_path):
    conf = tmp_path / "crio.conf"
    conf.write_text('[crio.runtime]\nlog_level = "info"\ndefault_runtime = "runc"\n')
    d = crio_factory.daemon(extra_args=["--config", str(conf), "--config-dir", ""],
                            log_level=None)
    d.start()
    conf.write_text('[crio.runtime]\nlog_level = "debug"\ndefault_runtime = "crun"\n'
                    '[crio.image]\npause_image = "example.com/pause:9"\n')
    d.send_signal(signal.SIGHUP)
    wait_log(d, 'SIGHUP: log_level is now "debug"')
    wait_log(d, 'SIGHUP: default_runtime for new pods is now "crun"')
    wait_log(d, "crio.image.pause_image changed to")
    # A bad file is refused and changes nothing.
    conf.write_text('[crio.runtime]\nlog_level = "loud"\n')
    d.send_signal(signal.SIGHUP)
    wait_log(d, "SIGHUP: configuration not reloaded")
    assert d.client.version().runtime_name == "crio"


def test_sigusr1_dumps_queue_and_database_statistics(crio):
    crio.send_signal(signal.SIGUSR1)
    wait_log(crio, "SIGUSR1: database:")
    assert "reconciler backlog" in crio.log()
