"""Indexes chosen for the card's sake: every insert lands where the previous one did, and no
index is kept that only a rare look-up needs."""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database

from gateway.store.database import open_database
from gateway.store.migrations import migrations
from gateway.store.outbox import _TELEMETRY_SQL
from gateway.store.read_model import read_details


def test_telemetry_has_no_index_per_device_or_receipt_time(tmp_path):
    db = open_database(tmp_path / "gateway.db")
    indexes = {name for name, in db.execute(
        "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'telemetry'")}
    # the duplicate key (digest UNIQUE) and the few flagged time stamps (partial) only
    assert indexes == {"sqlite_autoindex_telemetry_1", "telemetry_ts_flagged"}, indexes
    db.close()


def test_the_uploader_reads_telemetry_by_row_id(tmp_path):
    db = open_database(tmp_path / "gateway.db")
    plan = " ".join(row[3] for row in db.execute(
        f"EXPLAIN QUERY PLAN {_TELEMETRY_SQL}",
        {"store": "s", "after": 0, "mark": 0, "limit": 10}))
    assert "USING INTEGER PRIMARY KEY" in plan and "TEMP B-TREE" not in plan, plan
    db.close()


BEFORE_0015 = "0015_no_index_by_device_for_windows_and_results"
_LAST_HEARD = ("SELECT device_id, max(last) FROM ("
               " SELECT device_id, max(received_at_ms) AS last FROM windows GROUP BY device_id"
               " UNION ALL"
               " SELECT device_id, max(received_at_ms) FROM telemetry GROUP BY device_id"
               ") GROUP BY device_id ORDER BY device_id")


def test_windows_keep_only_the_indexes_a_query_uses(tmp_path):
    db = open_database(tmp_path / "gateway.db")
    indexes = {name for name, in db.execute(
        "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'windows'")}
    # the duplicate key, the flagged time stamps, retention's raw by age, raw by segment
    assert indexes == {"sqlite_autoindex_windows_1", "windows_ts_flagged", "windows_raw",
                       "windows_segment"}, indexes
    results = {name for name, in db.execute(
        "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'results'")}
    assert results == {"sqlite_autoindex_results_1", "results_unpublished"}, results
    # status's "last heard from" reads every window either way, as it reads all telemetry
    plan = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {_LAST_HEARD}")]
    assert "SCAN windows" in plan and "SCAN telemetry" in plan, plan
    db.close()


def test_migration_0015_drops_the_device_index_and_keeps_every_window(tmp_path):
    path = tmp_path / "gateway.db"
    old = Database(sqlite3.connect(path))
    old.execute("PRAGMA page_size = 1024")
    old.enable_wal()
    migrations.apply(old, stop_before=BEFORE_0015)
    with old.conn:  # windows of the old schema, the index holding them
        old.conn.executemany(
            "INSERT INTO windows (device_id, stream, source, topic, captured_at_ms, "
            "received_at_ms, sample_rate, channels, frames, duration_s, encoding, digest, "
            "payload) VALUES (?, 'audio', 'mqtt', 't', ?, ?, 16000, 1, 16000, 1.0, 'pcm16', "
            "?, ?)", [(f"box-{n % 3}", 1000 + n, 2000 + n, n.to_bytes(32, "big"), b"raw")
                      for n in range(3000)])
        # two streams' results, the latest (by time) first in id order; one without a why
        old.conn.executemany(
            "INSERT INTO results (window_id, record_id, device_id, stream, ts_ms, model, score, "
            "details, created_at_ms) VALUES (?, ?, ?, 'audio', ?, 'm', 1.0, ?, 1)",
            [(1, "s-1", "box-0", 9, '{"why": "rotation line up 12 dB"}'),
             (2, "s-2", "box-0", 3, '{"why": "older"}'),
             (3, "s-3", "box-1", 5, '{"analysis_ms": 2}')])
        old.conn.executemany(
            "INSERT INTO device_states (device_id, stream, state, recent, updated_at_ms) "
            "VALUES (?, 'audio', 'normal', '', 1)", [("box-0",), ("box-1",), ("box-2",)])
    assert old.execute("SELECT count(*) FROM sqlite_schema WHERE name IN "
                       "('windows_device_time', 'results_device_time')").fetchone() == (2,)
    old.close()

    db = open_database(path)  # 0015 at start
    try:
        assert db.execute("SELECT count(*) FROM sqlite_schema WHERE name IN "
                          "('windows_device_time', 'results_device_time')").fetchone() == (0,)
        # status's "why" of each stream, as it read it from the latest result before
        assert [(s["device_id"], s["streams"]["audio"]["why"]) for s in read_details(
            db.conn, 0).devices] == [("box-0", "rotation line up 12 dB"), ("box-1", ""),
                                         ("box-2", "")]
        assert db.execute("SELECT count(*), sum(received_at_ms), count(DISTINCT digest) FROM "
                          "windows").fetchone() == (3000, sum(range(2000, 5000)), 3000)
        assert db.execute(_LAST_HEARD).fetchall() == [("box-0", 4997), ("box-1", 4998),
                                                      ("box-2", 4999)]
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        db.close()
    again = open_database(path)  # applied once: nothing left to do at the next start
    assert again.execute("SELECT count(*) FROM _sqlite_migrations WHERE name = ?",
                         (BEFORE_0015,)).fetchone() == (1,)
    again.close()
