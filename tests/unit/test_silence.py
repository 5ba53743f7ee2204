"""A dead sensor box goes noticed (issue 13.6): after ten of its usual intervals (learned per
device and stream) a stream is silent, with an alert locally and upstream, and back with its
analysis state when data comes again; the learned state survives a restart."""

from __future__ import annotations

import json

from gateway.records import Telemetry, content_digest
from gateway.service.silence import MIN_SILENCE_MS, SilenceCheck
from gateway.store.database import IntakeStore

T0 = 1_800_000_000_000


def telemetry(device: str, received_ms: int) -> Telemetry:
    topic, data = f"sensors/{device}/telemetry", json.dumps({"at": received_ms})
    return Telemetry(device, topic, received_ms, received_ms,
                     content_digest(topic, data.encode()), data)


def feed(store: IntakeStore, device: str, start_ms: int, every_ms: int, count: int) -> int:
    for i in range(count):
        store.write_batch([telemetry(device, start_ms + i * every_ms)])
    return start_ms + (count - 1) * every_ms


def test_a_stream_goes_silent_after_ten_usual_intervals_and_comes_back(tmp_path):
    store = IntakeStore(tmp_path / "gateway.db")
    published = []
    check = SilenceCheck(store.path, store.activity, "gateway/gw-1",
                         lambda topic, payload: published.append((topic, json.loads(payload))),
                         lambda: True)
    last = feed(store, "box-1", T0, 30_000, 6)  # every 30 s: silent after 300 s
    feed(store, "box-2", T0, 30_000, 1)  # one message: nothing learned, never silent
    assert check.run_once(last + 299_000) == []
    alerts = check.run_once(last + 301_000)
    assert [(a["device_id"], a["stream"], a["state"]) for a in alerts] == \
        [("box-1", "telemetry", "silent")]
    assert published[0][0] == "gateway/gw-1/box-1/alert"
    assert published[0][1]["state"] == "silent" and "every 30 s" in published[0][1]["reason"]
    assert check.run_once(last + 400_000) == []  # said once
    outbox = store.db.execute("SELECT kind, data FROM outbox WHERE kind = 'alert'").fetchall()
    assert [json.loads(d)["state"] for _, d in outbox] == ["silent"]
    store_id = store.db.execute("SELECT value FROM meta WHERE key='store_id'").fetchone()[0]
    assert json.loads(outbox[0][1])["id"].startswith(store_id + "-")
    check.close()
    store.close()

    store = IntakeStore(tmp_path / "gateway.db")  # a restart keeps what was learned
    check = SilenceCheck(store.path, store.activity, "gateway/gw-1",
                         lambda topic, payload: published.append((topic, json.loads(payload))),
                         lambda: True)
    assert check.run_once(last + 500_000) == []  # still silent, not announced again
    store.write_batch([telemetry("box-1", last + 510_000)])
    back = check.run_once(last + 511_000)
    assert [(a["device_id"], a["state"]) for a in back] == [("box-1", "normal")]
    check.close()
    store.close()


def test_a_fast_sender_is_not_silent_before_the_floor(tmp_path):
    store = IntakeStore(tmp_path / "gateway.db")
    check = SilenceCheck(store.path, store.activity, "gw", lambda t, p: None, lambda: False)
    last = feed(store, "box-1", T0, 1_000, 10)  # every second: ten intervals = 10 s
    assert check.run_once(last + MIN_SILENCE_MS - 1_000) == []
    assert len(check.run_once(last + MIN_SILENCE_MS + 1_000)) == 1
    check.close()
    store.close()
