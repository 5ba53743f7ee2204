"""A dead sensor box goes noticed (issue 13.6): after ten of its usual intervals (learned per
device and stream) a stream is silent, with an alert locally and upstream, and back with its
analysis state when data comes again; the learned state survives a restart."""

from __future__ import annotations

import json

from gateway.delivery.publisher import Publisher
from gateway.records import Telemetry, content_digest
from gateway.service.silence import MIN_SILENCE_MS, SilenceCheck
from gateway.store.database import IntakeStore, open_database
from tests.support import Publisher as Box
from tests.support import Subscriber, wait_for

T0 = 1_800_000_000_000


def telemetry(device: str, received_ms: int) -> Telemetry:
    topic, data = f"sensors/{device}/telemetry", json.dumps({"at": received_ms})
    return Telemetry(device, topic, received_ms, received_ms,
                     content_digest(topic, data.encode()), data)


def feed(store: IntakeStore, device: str, start_ms: int, every_ms: int, count: int) -> int:
    for i in range(count):
        store.write_batch([telemetry(device, start_ms + i * every_ms)])
    return start_ms + (count - 1) * every_ms


def publish_waiting_alerts(store_path, broker) -> list[tuple[str, dict]]:
    """What the daemon's publisher puts on the local broker from the store, as a local
    display subscribed to the alert topics receives it."""
    display, client = Subscriber(broker.port, "gateway/gw-1/+/alert"), Box(broker.port)
    publisher = Publisher(store_path, "gateway/gw-1", client.client.publish,
                          client.client.is_connected)
    db = open_database(store_path)
    try:
        wait_for(client.client.is_connected, what="the publisher's client connected")
        expected = db.execute("SELECT count(*) FROM alerts WHERE published = 0").fetchone()[0]
        publisher._publish_some(db.conn)
        wait_for(lambda: len(display.messages) >= expected, what="the alerts received")
        return [(topic, json.loads(payload)) for topic, payload, _ in display.messages]
    finally:
        db.close()
        client.close()
        display.close()


def test_a_stream_goes_silent_after_ten_usual_intervals_and_comes_back(tmp_path, broker):
    store = IntakeStore(tmp_path / "gateway.db")
    woken = []
    # No broker connection is needed when the check runs: the alert is stored, and the
    # publisher sends it whenever the broker is there (it was lost locally before).
    check = SilenceCheck(store.path, store.activity, lambda: woken.append(1))
    last = feed(store, "box-1", T0, 30_000, 6)  # every 30 s: silent after 300 s
    feed(store, "box-2", T0, 30_000, 1)  # one message: nothing learned, never silent
    assert check.run_once(last + 299_000) == []
    alerts = check.run_once(last + 301_000)
    assert [(a["device_id"], a["stream"], a["state"]) for a in alerts] == \
        [("box-1", "telemetry", "silent")]
    assert woken == [1]
    published = publish_waiting_alerts(store.path, broker)
    assert published[0][0] == "gateway/gw-1/box-1/alert"
    assert published[0][1]["state"] == "silent" and "every 30 s" in published[0][1]["reason"]
    assert published[0][1]["id"] == alerts[0]["id"]
    assert check.run_once(last + 400_000) == []  # said once
    outbox = store.db.execute("SELECT kind, data FROM outbox WHERE kind = 'alert'").fetchall()
    # The same record as the analysis' alerts: the id and time are the record's own.
    assert [json.loads(d) for _, d in outbox] == [
        {"stream": "telemetry", "state": "silent", "score": None,
         "reason": alerts[0]["reason"]}]
    store_id = store.db.execute("SELECT value FROM meta WHERE key='store_id'").fetchone()[0]
    assert alerts[0]["id"].startswith(store_id + "-")
    check.close()
    store.close()

    store = IntakeStore(tmp_path / "gateway.db")  # a restart keeps what was learned
    check = SilenceCheck(store.path, store.activity)
    assert check.run_once(last + 500_000) == []  # still silent, not announced again
    store.write_batch([telemetry("box-1", last + 510_000)])
    back = check.run_once(last + 511_000)
    assert [(a["device_id"], a["state"]) for a in back] == [("box-1", "normal")]
    check.close()
    store.close()


def test_a_fast_sender_is_not_silent_before_the_floor(tmp_path):
    store = IntakeStore(tmp_path / "gateway.db")
    check = SilenceCheck(store.path, store.activity)
    last = feed(store, "box-1", T0, 1_000, 10)  # every second: ten intervals = 10 s
    assert check.run_once(last + MIN_SILENCE_MS - 1_000) == []
    assert len(check.run_once(last + MIN_SILENCE_MS + 1_000)) == 1
    check.close()
    store.close()
