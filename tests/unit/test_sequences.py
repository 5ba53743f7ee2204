"""Per-box sequence numbers (INTERFACES v1.1, issue 13.4): gaps counted per device and
stream from what the intake store actually inserted, duplicates stored once and not counted,
a restart from 0 after a reboot not mistaken for loss, the state kept across restarts."""

from __future__ import annotations

import json

import numpy as np

from gateway.config import IntakeSection
from gateway.intake.payloads import Inbound, parse_message
from gateway.store.database import IntakeStore
from gateway.store.sequences import read_gaps, step
from gateway.wav import encode_wav

RX = 1_732_350_005_000


def telemetry(seq, n: int | None = None):
    doc = {"n": seq if n is None else n, "seq": seq}
    return parse_message(Inbound("sensors/box-1/telemetry", json.dumps(doc).encode(), RX),
                         "sensors", IntakeSection())


def vibration(seq: str, n: int):
    doc = {"sample_rate": 100, "x": [float(n)] * 16, "y": [0.0] * 16, "z": [0.0] * 16}
    return parse_message(Inbound("sensors/box-1/vibration", json.dumps(doc).encode(), RX,
                                 seq_property=seq), "sensors", IntakeSection())


def gaps(store: IntakeStore) -> dict:
    return {(g["device_id"], g["stream"]): (g["last_seq"], g["gaps"], g["restarts"])
            for g in read_gaps(store.db.conn)}


def test_step_counts_skipped_numbers_and_restarts():
    assert step(None, 7) == (7, 0, 0)
    assert step((7, 0, 0), 8) == (8, 0, 0)
    assert step((8, 0, 0), 12) == (12, 3, 0)
    assert step((12, 3, 0), 0) == (0, 3, 1)  # rebooted, nothing lost
    assert step((12, 3, 0), 2) == (2, 5, 1)  # rebooted, 0 and 1 lost


def test_gaps_are_counted_per_device_and_stream_and_duplicates_stored_once(tmp_path):
    store = IntakeStore(tmp_path / "gateway.db")
    store.write_batch([telemetry(s) for s in (0, 1, 2, 5)])
    # a broker redelivery of 5 (same bytes) and a restart from 0
    outcome = store.write_batch([telemetry(5), telemetry(0, n=100), telemetry(1, n=101)])
    assert outcome.duplicates == 1
    store.write_batch([vibration("10", 1), vibration("11", 2), vibration("14", 3)])
    assert gaps(store) == {("box-1", "telemetry"): (1, 2, 1), ("box-1", "vibration"): (14, 2, 0)}
    assert store.db.execute("SELECT count(*) FROM telemetry").fetchone()[0] == 6
    store.close()
    again = IntakeStore(tmp_path / "gateway.db")  # the state survives a restart
    again.write_batch([telemetry(3, n=102)])
    assert gaps(again)[("box-1", "telemetry")] == (3, 3, 1)
    again.close()


def test_audio_seq_property_counts_and_tells_identical_windows_apart(tmp_path):
    silence = encode_wav(np.zeros(4000, np.float32), 16_000, "pcm16")

    def audio(seq: str):
        return parse_message(Inbound("sensors/box-1/audio", silence, RX, seq_property=seq),
                             "sensors", IntakeSection())

    store = IntakeStore(tmp_path / "gateway.db")
    outcome = store.write_batch([audio("1"), audio("2"), audio("4")])
    assert len(outcome.window_ids) == 3  # byte-identical, told apart by their seq
    assert gaps(store) == {("box-1", "audio"): (4, 1, 0)}
    store.close()


def test_a_seq_that_is_not_an_unsigned_integer_keeps_the_data_without_counting(tmp_path):
    store = IntakeStore(tmp_path / "gateway.db")
    records = [telemetry(s) for s in (-1, "7", True, 2**63, 1.5)] + [vibration("+3", 1)]
    assert all(r.seq is None for r in records)
    outcome = store.write_batch(records)
    assert outcome.stored == {"received_telemetry": 5, "received_vibration": 1}
    assert gaps(store) == {}
    store.close()


def test_each_gap_goes_upstream_as_a_gateway_observation(tmp_path):
    store = IntakeStore(tmp_path / "gateway.db")
    store.write_batch([telemetry(s) for s in (0, 1, 4)])
    store.write_batch([vibration("7", 1), vibration("9", 2)])
    rows = store.db.execute("SELECT kind, device_id, ts_ms, data FROM outbox ORDER BY seq "
                            ).fetchall()
    gaps = [(kind, device, ts, json.loads(data)) for kind, device, ts, data in rows
            if "gateway_observation" in json.loads(data)]
    assert [(g[0], g[1], g[2]) for g in gaps] == [("telemetry", "box-1", RX)] * 2
    assert [(g[3]["stream"], g[3]["missing"], g[3]["previous_seq"], g[3]["seq"])
            for g in gaps] == [("telemetry", 2, 1, 4), ("vibration", 1, 7, 9)]
    assert all(g[3]["gateway_observation"] == "sequence_gap" for g in gaps)
    store.close()
