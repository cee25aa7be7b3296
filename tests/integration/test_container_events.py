"""GetContainerEvents: a stream fed by the state log.  A container's
CREATED, STARTED, STOPPED and DELETED events arrive in order with the
pod's status and its containers' statuses; a stream opened later starts at
the log's end and does not disturb the first; a client that does not read
loses nothing (its cursor is in the log) and stalls nobody; a stream whose
client went away ends (the daemon then stops at once)."""

import threading
import time

import grpc

import containers_harness as ch
import crio_harness as h
import pods_harness as p
from containers_harness import ctr_env, ctr_env_factory, image_source  # noqa: F401 (fixtures)
from pods_harness import pod_cgroups, pod_net  # noqa: F401 (fixtures)

API = h.api()
IDLE = "trap 'exit 0' TERM; while :; do sleep 0.1; done"
CREATED = API.CONTAINER_CREATED_EVENT
STARTED = API.CONTAINER_STARTED_EVENT
STOPPED = API.CONTAINER_STOPPED_EVENT
DELETED = API.CONTAINER_DELETED_EVENT
NAMES = {CREATED: "CREATED", STARTED: "STARTED", STOPPED: "STOPPED", DELETED: "DELETED"}


class EventStream:
    """One GetContainerEvents call; with read=True a thread collects every
    event, with read=False nobody reads until read_all()."""

    def __init__(self, client, read=True):
        self.call = client._stub("GetContainerEvents")(client.request("GetContainerEvents"),
                                                       timeout=300)
        self.events = []
        self.error = None
        self.cond = threading.Condition()
        self.thread = None
        if read:
            self.start_reading()

    def start_reading(self):
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for ev in self.call:
                with self.cond:
                    self.events.append(ev)
                    self.cond.notify_all()
        except grpc.RpcError as e:
            with self.cond:
                self.error = e
                self.cond.notify_all()

    def of(self, cid):
        with self.cond:
            return [e for e in self.events if e.container_id == cid]

    def wait(self, predicate, timeout=20.0, what="events"):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {what} within {timeout}s, saw "
                                         f"{[(e.container_id[:12], NAMES[e.container_event_type]) for e in self.events]}"
                                         f" (error {self.error})")
                self.cond.wait(left)

    def wait_types(self, cid, types, timeout=20.0):
        self.wait(lambda: [e.container_event_type for e in self._of_locked(cid)] == types,
                  timeout, f"{[NAMES[t] for t in types]} for {cid[:12]}")
        return self.of(cid)

    def _of_locked(self, cid):
        return [e for e in self.events if e.container_id == cid]

    def close(self):
        self.call.cancel()
        if self.thread:
            self.thread.join(10)


def lifecycle(env, pod_id, pod_cfg, name):
    cid = ch.create_container(env.client, pod_id, ch.shell(name, env.image, IDLE), pod_cfg)
    ch.start_container(env.client, cid)
    # SIGKILL at once: a SIGTERM this early could beat the shell's trap,
    # and PID 1 ignores what it does not trap.
    ch.stop_container(env.client, cid, timeout_s=0)
    ch.remove_container(env.client, cid)
    return cid


def test_a_containers_events_arrive_in_order_with_statuses(ctr_env):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("events")
    other = ch.run_container(env, pod_id, pod_cfg, ch.shell("other", env.image, IDLE))
    stream = EventStream(env.client)
    try:
        time.sleep(0.2)
        t0 = time.time_ns()
        cid = ch.create_container(env.client, pod_id, ch.shell("app", env.image, IDLE), pod_cfg)
        created = stream.wait_types(cid, [CREATED])[0]
        ch.start_container(env.client, cid)
        ch.stop_container(env.client, cid, timeout_s=0)
        ch.remove_container(env.client, cid)
        evs = stream.wait_types(cid, [CREATED, STARTED, STOPPED, DELETED])
        assert all(e.container_id == cid for e in evs)
        times = [e.created_at for e in evs]
        assert t0 <= times[0] <= times[1] <= times[2] <= times[3] <= time.time_ns(), \
            f"expected event times in order, saw {times}"
        # Each event carries the pod's status and its containers' statuses.
        for e in evs:
            assert e.pod_sandbox_status.id == pod_id, f"saw {e.pod_sandbox_status}"
            assert e.pod_sandbox_status.state == API.SANDBOX_READY
        ids = [{s.id for s in e.containers_statuses} for e in evs]
        assert ids[0] == {other, cid} and ids[3] == {other}, f"saw {ids}"
        assert created.containers_statuses  # filled when first seen
        # Nothing about the container that did not change.
        assert stream.of(other) == []
    finally:
        stream.close()


def test_a_container_that_exits_on_its_own_is_stopped(ctr_env):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("exits")
    stream = EventStream(env.client)
    try:
        time.sleep(0.2)
        cid = ch.run_container(env, pod_id, pod_cfg, ch.shell("job", env.image, "exit 3"))
        evs = stream.wait_types(cid, [CREATED, STARTED, STOPPED])
        st = [s for s in evs[2].containers_statuses if s.id == cid][0]
        assert (st.state, st.exit_code) == (API.CONTAINER_EXITED, 3), f"saw {st}"
    finally:
        stream.close()


def test_a_later_stream_starts_at_the_end_and_both_see_new_events(ctr_env):
    env = ctr_env
    pod_id, pod_cfg = env.run_pod("two")
    first = EventStream(env.client)
    second = None
    try:
        time.sleep(0.2)
        early = lifecycle(env, pod_id, pod_cfg, "early")
        first.wait_types(early, [CREATED, STARTED, STOPPED, DELETED])
        second = EventStream(env.client)
        time.sleep(0.2)
        late = lifecycle(env, pod_id, pod_cfg, "late")
        first.wait_types(late, [CREATED, STARTED, STOPPED, DELETED])
        second.wait_types(late, [CREATED, STARTED, STOPPED, DELETED])
        assert second.of(early) == [], "expected a new stream to start at the log's end"
    finally:
        first.close()
        if second:
            second.close()


def test_a_client_that_does_not_read_stalls_nobody_and_loses_nothing(ctr_env):
    env = ctr_env
    # Many containers in one pod make every event large (each carries all
    # their statuses), so the idle stream's flow-control window (64 KiB:
    # its channel does not probe for more) fills and the daemon's send to
    # it blocks.
    pod_id, pod_cfg = env.run_pod("crowd")
    crowd = [ch.run_container(env, pod_id, pod_cfg, ch.shell(f"c{i}", env.image, IDLE))
             for i in range(12)]
    lazy_client = h.CriClient(env.daemon.socket)
    lazy_client.channel.close()
    lazy_client.channel = grpc.insecure_channel(f"unix://{env.daemon.socket}",
                                                options=[("grpc.http2.bdp_probe", 0)])
    lazy = EventStream(lazy_client, read=False)
    reader = EventStream(env.client)
    try:
        time.sleep(0.3)
        cids = []
        t0 = time.monotonic()
        for i in range(15):
            cids.append(lifecycle(env, pod_id, pod_cfg, f"churn{i}"))
        # New pods and containers come up as fast as ever meanwhile.
        ready_pod, ready_cfg = env.run_pod("meanwhile")
        ch.run_container(env, ready_pod, ready_cfg, ch.shell("m", env.image, IDLE))
        took = time.monotonic() - t0
        assert took < 60, f"expected the churn to finish promptly, took {took:.1f}s"
        for cid in cids:
            reader.wait_types(cid, [CREATED, STARTED, STOPPED, DELETED])
        size = sum(e.ByteSize() for e in reader.events)
        assert size > 256 * 1024, \
            f"expected more than a flow-control window of events, saw {size} bytes"
        # The lazy client starts reading now and gets everything, in order.
        lazy.start_reading()
        for cid in cids:
            lazy.wait_types(cid, [CREATED, STARTED, STOPPED, DELETED], timeout=30)
        order = [(e.container_id, e.container_event_type) for e in lazy.events]
        assert order[:len(reader.events)] == \
            [(e.container_id, e.container_event_type) for e in reader.events][:len(order)]
        assert set(crowd).isdisjoint({e.container_id for e in lazy.events})
    finally:
        lazy.close()
        reader.close()
        lazy_client.close()


def test_a_stream_ends_when_its_client_goes_away(ctr_env_factory):
    env = ctr_env_factory("gone")
    env.start()
    env.pull()
    pod_id, pod_cfg = env.run_pod("gone")
    stream = EventStream(env.client)
    time.sleep(0.2)
    cid = lifecycle(env, pod_id, pod_cfg, "one")
    stream.wait_types(cid, [CREATED, STARTED, STOPPED, DELETED])
    stream.close()
    time.sleep(0.5)
    # A handler still running would hold SIGTERM for the grace period.
    took = env.daemon.stop_cleanly()
    assert took < 5, f"expected the daemon to stop at once with no stream left, took {took:.1f}s"
