"""The intake writer's linger adapts to the stream: telemetry waits for company (fewer commits,
fewer pages written to the card), a window cuts the wait short (its result is awaited)."""

from __future__ import annotations

import json
import queue
import threading
import time

from gateway.config import IntakeSection
from gateway.intake.writer import IntakeWriter
from gateway.records import Telemetry, Window, content_digest
from gateway.store.database import IntakeStore
from gateway.store.group_commit import LingerUnderLoad, linger_for_more
from tests.support import wait_for

STOP = object()
LONG_S = 3600.0  # longer than any test runs: reached only if the linger is not cut short


def telemetry(n: int) -> Telemetry:
    topic, data = "sensors/box-1/telemetry", json.dumps({"temperature": n})
    return Telemetry("box-1", topic, n, n, content_digest(topic, data.encode()), data)


def window(n: int) -> Window:
    topic, payload = "sensors/box-1/audio", n.to_bytes(4, "little") * 256
    return Window("box-1", "audio", "mqtt", topic, n, n, 16000.0, 1, 512, 0.032, "pcm16",
                  content_digest(topic, payload), payload)


def _linger_in_thread(waiting: queue.Queue, batch: list, linger_of) -> threading.Thread:
    thread = threading.Thread(target=linger_for_more,
                              args=(waiting, batch, 100, 0.005, STOP, linger_of), daemon=True)
    thread.start()
    return thread


def test_a_telemetry_batch_waits_for_later_messages_until_a_window_comes():
    waiting: queue.Queue = queue.Queue()
    batch = ["t1"]
    thread = _linger_in_thread(waiting, batch, lambda item: 0.0 if item == "w" else LONG_S)
    time.sleep(0.2)  # far beyond the window linger: a fixed short linger would have ended
    waiting.put("t2")
    time.sleep(0.2)
    assert thread.is_alive()  # still waiting for company
    waiting.put("w")
    thread.join(30)
    assert not thread.is_alive()
    assert batch == ["t1", "t2", "w"]


def test_a_window_first_in_the_batch_keeps_its_short_linger():
    waiting: queue.Queue = queue.Queue()
    batch = ["w"]
    thread = _linger_in_thread(waiting, batch, lambda item: 0.0 if item == "w" else LONG_S)
    thread.join(30)
    assert not thread.is_alive()
    assert batch == ["w"]


def test_without_linger_of_the_fixed_linger_applies():
    waiting: queue.Queue = queue.Queue()
    waiting.put("already waiting")
    batch = ["t1"]
    assert linger_for_more(waiting, batch, 100, 0.0, STOP) is False
    assert batch == ["t1", "already waiting"]


def test_telemetry_spread_over_time_is_committed_and_acknowledged_in_one_batch(tmp_path):
    store = IntakeStore(tmp_path / "gateway.db")
    writer = IntakeWriter(store, IntakeSection(max_delay_ms=0.0, telemetry_delay_ms=5000.0))
    acked: list[str] = []
    writer.start()
    try:
        for n in range(3):
            writer.submit(telemetry(n), lambda n=n: acked.append(f"t{n}"))
            time.sleep(0.1)
        writer.submit(window(9), lambda: acked.append("w"))
        wait_for(lambda: len(acked) == 4, 30, what="all four acknowledged")
    finally:
        writer.stop()
    assert writer.stats.batches == 1  # one FULL commit for all four
    assert sorted(acked) == ["t0", "t1", "t2", "w"]
    rows = store.db.execute("SELECT count(*) FROM telemetry").fetchone()[0]
    assert rows == 3
    store.close()


def test_a_telemetry_linger_shorter_than_the_window_linger_is_the_window_linger(tmp_path):
    store = IntakeStore(tmp_path / "gateway.db")
    writer = IntakeWriter(store, IntakeSection(max_delay_ms=20.0, telemetry_delay_ms=1.0))
    assert writer.telemetry_delay_s == writer.max_delay_s == 0.02
    store.close()


def test_a_linger_is_paid_only_while_the_writer_is_busy():
    linger = LingerUnderLoad(LONG_S)
    assert linger.now() == 0.0  # nothing committed lately: commit at once
    linger.committed()
    assert linger.now() == LONG_S  # a commit just ended: more is coming, wait for company


def test_an_idle_writer_commits_a_lone_window_at_once(tmp_path):
    store = IntakeStore(tmp_path / "gateway.db")
    writer = IntakeWriter(store, IntakeSection(max_delay_ms=1000.0, telemetry_delay_ms=5000.0))
    assert writer._linger_of((window(1), None)) == 0.0
    assert writer._linger_of((telemetry(1), None)) == 5.0  # telemetry keeps its own linger
    acked: list[str] = []
    writer.start()
    try:
        writer.submit(window(1), lambda: acked.append("w1"))
        wait_for(lambda: acked == ["w1"], 30, what="the lone window acknowledged")
    finally:
        writer.stop()
    assert writer.stats.batches == 1
    store.close()


def test_a_telemetry_linger_ends_once_the_batch_holds_what_the_broker_may_have_in_flight(
        tmp_path):
    # A broker passes at most `receive_maximum` unacknowledged messages: lingering on for more
    # would wait out the whole linger for messages it holds back until these are acknowledged.
    store = IntakeStore(tmp_path / "gateway.db")
    writer = IntakeWriter(store, IntakeSection(max_delay_ms=0.0, telemetry_delay_ms=5000.0),
                          inflight_limit=3)
    writer.telemetry_delay_s = LONG_S  # reached only if the in-flight count does not end it
    acked: list[int] = []
    writer.start()
    try:
        for n in range(3):
            writer.submit(telemetry(n), lambda n=n: acked.append(n))
        wait_for(lambda: len(acked) == 3, 30, what="the three in flight acknowledged")
        writer.submit(telemetry(3), None)  # not acknowledged (a mic's): does not count
        writer.submit(telemetry(4), lambda: acked.append(4))
        time.sleep(0.2)
        assert acked == [0, 1, 2]  # two awaiting acknowledgement: the linger goes on
    finally:
        writer.stop()
    assert acked == [0, 1, 2, 4]
    assert store.db.execute("SELECT count(*) FROM telemetry").fetchone()[0] == 5
    store.close()
