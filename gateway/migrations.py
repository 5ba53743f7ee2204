"""Named schema migrations of the gateway's store, applied in order at start.

Never edit a migration that has shipped: add a new one. Each runs in a
transaction together with the record that it was applied.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("sensor-gateway")


@migrations(name="0001_intake")
def intake_tables(db: Database) -> None:
    db.execute(
        """CREATE TABLE windows (
            id INTEGER PRIMARY KEY,
            device_id TEXT NOT NULL,
            stream TEXT NOT NULL CHECK (stream IN ('audio', 'vibration')),
            source TEXT NOT NULL,
            topic TEXT NOT NULL,
            captured_at_ms INTEGER NOT NULL,
            received_at_ms INTEGER NOT NULL,
            sample_rate REAL NOT NULL,
            channels INTEGER NOT NULL,
            frames INTEGER NOT NULL,
            duration_s REAL NOT NULL,
            encoding TEXT NOT NULL,
            digest BLOB NOT NULL UNIQUE,
            payload BLOB
        )"""
    )
    db.execute("CREATE INDEX windows_device_time ON windows (device_id, captured_at_ms)")
    db.execute(
        """CREATE TABLE telemetry (
            id INTEGER PRIMARY KEY,
            device_id TEXT NOT NULL,
            topic TEXT NOT NULL,
            ts_ms INTEGER NOT NULL,
            received_at_ms INTEGER NOT NULL,
            digest BLOB NOT NULL UNIQUE,
            data TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX telemetry_device_time ON telemetry (device_id, ts_ms)")
    db.execute(
        """CREATE TABLE rejected (
            id INTEGER PRIMARY KEY,
            received_at_ms INTEGER NOT NULL,
            topic TEXT NOT NULL,
            reason TEXT NOT NULL,
            detail TEXT NOT NULL,
            payload_size INTEGER NOT NULL,
            sample BLOB NOT NULL,
            digest BLOB NOT NULL UNIQUE
        )"""
    )
    # Cumulative counts survive retention deleting the rows they counted.
    db.execute("CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
