"""The local publisher against a real Mosquitto and a real store: what goes out is JSON."""

from __future__ import annotations

import json

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
