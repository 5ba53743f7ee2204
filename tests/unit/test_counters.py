"""The counters on a real SQLite file: exact, and bumped once per name per group commit
(issue 14: each bump rewrites the counters' page)."""

from __future__ import annotations

import sqlite3

from gateway.inference.results import Outcome, ResultStore, StoredWindow
from gateway.inference.verdict import DeviceMemory, Verdict
from gateway.records import Rejection, Telemetry, Window, content_digest
from gateway.store import counters
from gateway.store.database import IntakeStore

N = 50


def _upserts(conn: sqlite3.Connection) -> list[str]:
    """Every statement that writes the counters table, as SQLite traces it (executemany traces
    each parameter set: one entry per upsert)."""
    seen: list[str] = []
    conn.set_trace_callback(lambda sql: seen.append(sql) if "INTO counters" in sql else None)
    return seen


def _telemetry(n: int) -> Telemetry:
    topic = "sensors/box-1/telemetry"
    return Telemetry("box-1", topic, n, n, content_digest(topic, str(n).encode()), "{}")


def _window(n: int) -> Window:
    topic, payload = "sensors/box-1/vibration", str(n).encode()
    return Window("box-1", "vibration", "mqtt", topic, n, n, 100.0, 3, 1, 0.01, "json",
                  content_digest(topic, payload), payload)


def _rejection(n: int) -> Rejection:
    topic = "sensors/box-1/audio"
    return Rejection(topic, n, "not_wav", "bad", 0, b"", content_digest(topic, b"r%d" % n))


def test_an_intake_batch_of_n_records_bumps_each_counter_once_by_its_total(tmp_path):
    store = IntakeStore(tmp_path / "gateway.db")
    upserts = _upserts(store.db.conn)
    store.write_batch([_telemetry(n) for n in range(N)] + [_window(n) for n in range(N)]
                      + [_rejection(n) for n in range(3)])
    store.write_batch([_telemetry(n) for n in range(N + 1)])  # N duplicates and one new
    read = counters.read_counters(store.db.conn)
    assert read.received == {"audio": 0, "vibration": N, "telemetry": N + 1}
    assert read.rejected == 3 and read.rejected_by == {"audio": {"not_wav": 3}}
    # first batch: received_telemetry, received_vibration, rejected, rejected:audio:not_wav;
    # second: received_telemetry
    assert len(upserts) == 5
    store.close()


def _verdict(memory: DeviceMemory, anomaly: bool | None) -> Verdict:
    return Verdict(memory, 1.0, None if anomaly is None else 2.0, anomaly, None, "", {})


def test_a_result_batch_of_n_bumps_each_counter_once_and_counts_only_what_stays(tmp_path):
    path = tmp_path / "gateway.db"
    intake = IntakeStore(path)
    ids = intake.write_batch([_window(n) for n in range(N)]).window_ids
    intake.close()
    results = ResultStore(path)
    windows = [StoredWindow(i, "box-1", "vibration", n, 100.0, "json", None)
               for n, i in enumerate(ids)]

    def judge(n: int):
        def verdict(memory: DeviceMemory) -> Verdict:
            if n == 7:
                raise ValueError("a bug hitting one window")
            return _verdict(memory, None if n < 10 else n % 2 == 0)
        return verdict

    upserts = _upserts(results.conn)
    saved = results.save_batch([(w, Outcome("m", None, {}), judge(n))  # type: ignore[arg-type]
                                for n, w in enumerate(windows)])
    assert isinstance(saved[7], ValueError)
    again = results.save_batch([(windows[0], Outcome("m", None, {}), judge(0))])  # type: ignore[arg-type]
    assert again == [None]  # already had a result: counted once
    read = counters.read_counters(results.conn)
    assert read.inferred == N - 1
    assert read.analysed == {"vibration": {"learning": 9, "normal": 20, "anomaly": 20}}
    assert len(upserts) == 4  # inferred and three outcomes, once each for the batch
    results.close()
