"""Loop heartbeats and the watchdog pinger, on an injected clock (no long sleeps)."""

from __future__ import annotations

import socket
import time

import pytest

from gateway.service.health import Heartbeats, WatchdogPinger
from gateway.service.sdnotify import Notifier


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class RecordingNotifier(Notifier):
    """A Notifier whose datagrams are kept in a list instead of sent."""

    def __init__(self, watchdog_usec: int | None = 10_000_000):
        super().__init__("/unused", watchdog_usec)
        self.sent: list[str] = []

    def notify(self, *assignments: str) -> bool:
        self.sent.extend(assignments)
        return True

    def take(self) -> list[str]:
        sent, self.sent = self.sent, []
        return sent


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def beats(clock):
    hb = Heartbeats(clock)
    hb.register("intake", 10)
    hb.register("uplink", 60)
    return hb


def test_fresh_loops_are_not_stale(beats, clock):
    clock.now += 10
    assert beats.stale() == []


def test_a_silent_loop_goes_stale_and_a_beat_revives_it(beats, clock):
    clock.now += 11
    assert beats.stale() == ["intake"]
    beats.beat("intake")
    assert beats.stale() == []
    clock.now += 61
    assert beats.stale() == ["intake", "uplink"]
    assert beats.silence() == {"intake": 61, "uplink": 72}


def test_unregistered_loops_are_not_watched(beats, clock):
    beats.unregister("intake")
    beats.beat("never-registered")
    clock.now += 30
    assert beats.stale() == []


def test_max_silence_must_be_positive(beats):
    with pytest.raises(ValueError):
        beats.register("x", 0)


def test_pinger_pings_only_while_all_loops_are_fresh(beats, clock, caplog):
    notifier = RecordingNotifier()
    pinger = WatchdogPinger(notifier, beats, status=lambda: "ok: 3 windows")
    assert pinger.interval_s == 5.0  # half of a 10 s WatchdogSec
    assert pinger.run_once()
    assert notifier.take() == ["WATCHDOG=1", "STATUS=ok: 3 windows"]
    clock.now += 11
    assert not pinger.run_once()
    assert notifier.take() == ["STATUS=stuck: intake; waiting for the watchdog"]
    assert not pinger.run_once()
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "intake" in errors[0]._kv["loops"]  # logged once, not per round
    beats.beat("intake")
    assert pinger.run_once()
    assert "WATCHDOG=1" in notifier.take()


def test_without_a_watchdog_only_the_status_is_sent(beats):
    notifier = RecordingNotifier(watchdog_usec=None)
    pinger = WatchdogPinger(notifier, beats, status=lambda: "ok")
    assert pinger.interval_s == 15.0
    assert not pinger.run_once()
    assert notifier.take() == ["STATUS=ok"]


def test_a_failing_status_summary_does_not_stop_the_pings(beats):
    notifier = RecordingNotifier()

    def broken() -> str:
        raise RuntimeError("database is locked")

    pinger = WatchdogPinger(notifier, beats, status=broken)
    assert pinger.run_once() and pinger.run_once()
    assert notifier.take() == ["WATCHDOG=1", "WATCHDOG=1"]


def test_the_thread_pings_a_real_socket_and_stops(tmp_path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "notify"))
        sock.settimeout(2)
        notifier = Notifier(str(tmp_path / "notify"), watchdog_usec=40_000)  # ping every 20 ms
        beats = Heartbeats()
        beats.register("loop", 60)
        pinger = WatchdogPinger(notifier, beats)
        pinger.start()
        pings = [sock.recv(100) for _ in range(3)]
        assert pinger.stop()
        assert pings == [b"WATCHDOG=1"] * 3
        sock.setblocking(False)
        while True:  # drain what was sent before stop() returned
            try:
                sock.recv(100)
            except BlockingIOError:
                break
        time.sleep(0.1)  # five intervals: a pinger still running would have sent again
        with pytest.raises(BlockingIOError):
            sock.recv(100)
