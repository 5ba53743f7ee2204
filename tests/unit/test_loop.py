"""The one lifecycle of the daemon's threads: turns until stopped, a last turn, a crash told
to the log and to the watchdog at once."""

from __future__ import annotations

import logging
import threading

from gateway.logs import KeyValueFormatter
from gateway.service.health import Heartbeats
from gateway.service.loop import Loop


def lines(caplog) -> list[str]:
    formatter = KeyValueFormatter(with_time=False)
    return [formatter.format(record) for record in caplog.records]


def test_turns_run_until_stop_then_the_last_turn_then_the_clean_up():
    beats = Heartbeats()
    events: list[str] = []
    turned = threading.Event()

    def turn():
        turned.set()
        loop.stopping.wait(5)  # a turn waits on the one stop flag

    loop = Loop("worker", turn, pulse=beats.watch("worker", 60),
                last=lambda: events.append("last"), finally_=lambda: events.append("finally"))
    loop.start()
    assert turned.wait(5) and events == []
    assert loop.stop(5)
    assert events == ["last", "finally"] and loop.ended.is_set() and not loop.crashed
    assert beats.stale() == []


def test_stop_wakes_a_turn_blocked_on_its_own_wait():
    wake = threading.Event()
    loop = Loop("waiting", lambda: wake.wait(60) and wake.clear(), wake=wake.set)
    loop.start()
    assert loop.stop(5)  # would take a minute without the wake-up


def test_stopping_a_loop_that_never_started_does_nothing():
    ran: list[str] = []
    loop = Loop("never", lambda: ran.append("turn"), last=lambda: ran.append("last"))
    assert loop.stop(1) and ran == [] and not loop.ended.is_set()


def test_a_crash_is_logged_on_one_line_and_marks_the_loop_dead_at_once(caplog):
    caplog.set_level(logging.ERROR, logger="gateway.loop")
    beats = Heartbeats()
    cleaned = threading.Event()

    def turn():
        raise ValueError("a bug")

    # A silence limit of an hour: stale at once all the same, not an hour later.
    loop = Loop("doomed", turn, pulse=beats.watch("doomed", 3600), finally_=cleaned.set)
    loop.start()
    assert loop.ended.wait(5)
    assert loop.crashed and cleaned.is_set()
    assert beats.stale() == ["doomed"]
    (line,) = lines(caplog)
    assert "\n" not in line
    assert "loop=doomed" in line and "ValueError('a bug')" in line and "trace=" in line
    assert loop.stop(1)  # stopping a crashed loop is no error
