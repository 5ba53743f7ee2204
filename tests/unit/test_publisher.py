"""The publisher on a real Mosquitto and a real store: how long a round may take when the broker
stops answering."""

from __future__ import annotations

import os
import signal
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.delivery import publisher as publisher_module
from gateway.delivery.publisher import Publisher
from gateway.store.database import open_database
from tests.support import wait_for


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
