"""Indexes chosen for the card's sake: every insert lands where the previous one did."""

from __future__ import annotations

from gateway.store.database import open_database
from gateway.store.retention import _TELEMETRY_OF


def test_telemetry_is_indexed_by_receipt_time_not_per_device(tmp_path):
    db = open_database(tmp_path / "gateway.db")
    indexes = {name for name, in db.execute(
        "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'telemetry'")}
    assert "telemetry_received" in indexes
    assert "telemetry_device_time" not in indexes
    db.close()


def test_retention_finds_an_outbox_records_telemetry_row_through_an_index(tmp_path):
    db = open_database(tmp_path / "gateway.db")
    plan = " ".join(row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {_TELEMETRY_OF}",
                                                 ("box-1", 1, 2, "{}")))
    assert "USING INDEX telemetry_received" in plan, plan
    db.close()
