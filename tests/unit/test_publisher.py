"""The publisher on a real Mosquitto and a real store: what goes out is JSON, and how long a
round may take when the broker stops answering."""

from __future__ import annotations

import json
import os
import signal
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.delivery import publisher as publisher_module
from gateway.delivery.publisher import Publisher
from gateway.store.database import open_database
from tests.support import Publisher as Box
from tests.support import Subscriber, wait_for


def strict_loads(payload: bytes):
    def refuse(name):
        raise ValueError(f"not JSON: {name}")
    return json.loads(payload, parse_constant=refuse)


def test_a_non_finite_score_is_published_as_null_not_as_infinity(tmp_path, broker):
    # Issue 12.6: results and alerts went out as `Infinity`/`NaN`, which JSON parsers refuse.
    store = tmp_path / "gateway.db"
    db = open_database(store)
    with db.atomic():
        db.conn.execute(
            "INSERT INTO results (window_id, record_id, device_id, stream, ts_ms, model, score, "
            "threshold, anomaly, details, created_at_ms) VALUES (1, 'r-1', 'box-1', 'vibration',"
            " 1, 'm', ?, ?, 1, ?, 1)",
            (float("inf"), 0.5, json.dumps({"kurtosis": float("nan"), "rms": 1.0})))
    db.close()
    watcher = Subscriber(broker.port, "gateway/gw-p/#")
    box = Box(broker.port)
    publisher = Publisher(store, "gateway/gw-p", box.client.publish, box.client.is_connected)
    try:
        wait_for(lambda: box.publish("gateway/gw-p/probe", b"{}") and any(
            t.endswith("/probe") for t, _, _ in watcher.messages), what="watcher subscribed")
        publisher.start()
        publisher.wake()
        wait_for(lambda: any(t.endswith("/result") for t, _, _ in watcher.messages),
                 what="the result published")
    finally:
        publisher.stop()
        box.close()
        watcher.close()
    ((topic, payload, _),) = [m for m in watcher.messages if m[0].endswith("/result")]
    message = strict_loads(payload)
    assert topic == "gateway/gw-p/box-1/result"
    assert (message["score"], message["threshold"], message["details"]) == (
        None, 0.5, {"kurtosis": None, "rms": 1.0})


def _store_with_results(path, count: int) -> None:
    db = open_database(path)
    with db.conn:
        db.conn.executemany(
            "INSERT INTO results (window_id, record_id, device_id, stream, ts_ms, model, score, "
            "threshold, anomaly, details, created_at_ms) VALUES (?, ?, 'box-1', 'audio', ?, 'm', "
            "0.5, 1.0, 0, '{}', ?)", [(n, f"s-{n}", n, n) for n in range(1, count + 1)])
    db.close()


def test_a_broker_that_stops_answering_costs_one_ack_timeout_per_round_not_per_message(
        tmp_path, broker, monkeypatch):
    monkeypatch.setattr(publisher_module, "ACK_TIMEOUT_S", 0.5)
    store = tmp_path / "gateway.db"
    _store_with_results(store, 20)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    wait_for(client.is_connected, what="the client connected")
    publisher = Publisher(store, "gateway/gw-1",
                          lambda topic, payload: client.publish(topic, payload, qos=1),
                          client.is_connected)
    db = open_database(store)
    os.kill(broker.process.pid, signal.SIGSTOP)  # alive, connected, but no PUBACK comes
    try:
        started = time.monotonic()
        publisher._publish_some(db.conn)
        elapsed = time.monotonic() - started
    finally:
        os.kill(broker.process.pid, signal.SIGCONT)
        db.close()
        client.loop_stop()
    # Waiting 0.5 s for each of the 20 messages took 10 s (200 messages at 5 s: 17 minutes,
    # far past the watchdog); one deadline for the whole round bounds it.
    assert elapsed < 2.0, f"a round took {elapsed:.1f} s"
    unpublished = open_database(store, read_only=True).conn.execute(
        "SELECT count(*) FROM results WHERE published = 0").fetchone()[0]
    assert unpublished == 20  # nothing acknowledged, nothing marked


def _add_result(path, n: int) -> None:
    db = open_database(path)
    with db.conn:
        db.conn.execute(
            "INSERT INTO results (window_id, record_id, device_id, stream, ts_ms, model, score, "
            "threshold, anomaly, details, created_at_ms) VALUES (?, ?, 'box-1', 'audio', ?, 'm', "
            "0.5, 1.0, 0, '{}', ?)", (n, f"s-{n}", n, n))
    db.close()


def _marked(path) -> int:
    conn = open_database(path, read_only=True).conn
    try:
        return conn.execute("SELECT count(*) FROM results WHERE published = 1").fetchone()[0]
    finally:
        conn.close()


def _running_publisher(path, broker):
    watcher = Subscriber(broker.port, "gateway/gw-m/#")
    box = Box(broker.port)
    wait_for(lambda: box.publish("gateway/gw-m/probe", b"{}") and any(
        t.endswith("/probe") for t, _, _ in watcher.messages), what="watcher subscribed")
    publisher = Publisher(path, "gateway/gw-m", box.client.publish, box.client.is_connected)
    publisher.start()
    return publisher, box, watcher


def _result_ids(watcher) -> list[str]:
    return [json.loads(p)["id"] for t, p, _ in list(watcher.messages) if t.endswith("/result")]


def test_results_published_one_round_each_are_marked_together_and_sent_once(
        tmp_path, broker, monkeypatch):
    # Wear: a mark commit per round was two pages per window, rounds being one result each.
    monkeypatch.setattr(publisher_module, "MARK_EVERY_S", 3600.0)  # only the stop marks them
    store = tmp_path / "gateway.db"
    open_database(store).close()
    publisher, box, watcher = _running_publisher(store, broker)
    try:
        for n in range(1, 11):  # each in its own round: published before the next comes
            _add_result(store, n)
            publisher.wake()
            wait_for(lambda n=n: len(_result_ids(watcher)) >= n, what=f"result {n} published")
        assert _marked(store) == 0  # acknowledged, remembered, not yet marked ...
        publisher.wake()
        time.sleep(0.3)  # ... and a further round does not send them again
        assert publisher.stop()
        assert _result_ids(watcher) == [f"s-{n}" for n in range(1, 11)]
        assert _marked(store) == 10  # the stop marked all ten
    finally:
        publisher.stop()
        box.close()
        watcher.close()


def test_acknowledged_results_are_marked_when_due_without_another_result(
        tmp_path, broker, monkeypatch):
    monkeypatch.setattr(publisher_module, "MARK_EVERY_S", 0.2)
    store = tmp_path / "gateway.db"
    _store_with_results(store, 3)
    publisher, box, watcher = _running_publisher(store, broker)
    try:
        publisher.wake()
        wait_for(lambda: _marked(store) == 3, what="the three marked while running")
        assert sorted(_result_ids(watcher)) == ["s-1", "s-2", "s-3"]
    finally:
        publisher.stop()
        box.close()
        watcher.close()
