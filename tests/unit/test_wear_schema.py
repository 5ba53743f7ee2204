"""Indexes chosen for the card's sake: every insert lands where the previous one did, and no
index is kept that only a rare look-up needs."""

from __future__ import annotations

from gateway.store.database import open_database
from gateway.store.outbox import _TELEMETRY_SQL


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
