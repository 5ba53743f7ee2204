"""The gateway's durable store: one SQLite file in WAL mode, one writer.

The writer commits with synchronous=FULL, because a message is acknowledged
to the broker once its transaction commits and must then survive a power
cut; group commit (many records per transaction) pays for the fsync.
Readers (status, later stages) open their own connections.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, fields
from operator import attrgetter
from pathlib import Path

from sqlite_utils import Database

from gateway.migrations import migrations
from gateway.records import Record, Rejection, Telemetry, Window

BUSY_TIMEOUT_MS = 10_000


def _insert_sql(table: str, record_type: type) -> tuple[str, attrgetter]:
    """The INSERT for a record type and a fast getter of its row, in column order."""
    columns = [f.name for f in fields(record_type)]
    sql = (f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}) "
           f"VALUES ({', '.join('?' for _ in columns)})")
    return sql, attrgetter(*columns)


# counter name -> (INSERT statement, row getter); windows are counted per stream
_INSERTS = {
    "received_audio": _insert_sql("windows", Window),
    "received_vibration": _insert_sql("windows", Window),
    "received_telemetry": _insert_sql("telemetry", Telemetry),
    "rejected": _insert_sql("rejected", Rejection),
}
_BUMP_COUNTER = (
    "INSERT INTO counters (name, value) VALUES (?, ?) "
    "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value"
)


class StoreError(Exception):
    """The store could not be opened or used; the message says which file and why."""


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What one committed batch did: records newly stored per counter, and duplicates skipped."""

    stored: dict[str, int]
    duplicates: int


def _connect(path: Path, read_only: bool) -> sqlite3.Connection:
    if read_only:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


def _counter_of(record: Record) -> str:
    if isinstance(record, Window):
        return f"received_{record.stream}"
    if isinstance(record, Telemetry):
        return "received_telemetry"
    return "rejected"


def open_database(path: Path, *, read_only: bool = False) -> Database:
    """Open the store file; the writer also creates it and applies pending migrations."""
    try:
        if read_only:
            return Database(_connect(path, read_only=True), execute_plugins=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        db = Database(_connect(path, read_only=False), execute_plugins=False)
        db.enable_wal()
        db.execute("PRAGMA synchronous = FULL")
        migrations.apply(db)
        return db
    except (sqlite3.Error, OSError) as e:
        raise StoreError(f"cannot open store {path}: {e}") from e


class IntakeStore:
    """Writes batches of intake records. Owned by exactly one thread: the intake writer."""

    def __init__(self, path: Path, rejected_keep: int = 10_000):
        self.path = path
        self.rejected_keep = rejected_keep
        self.db = open_database(path)

    def write_batch(self, records: list[Record]) -> BatchOutcome:
        """Store records in one transaction; one already stored (same digest) is skipped."""
        groups: dict[str, list[Record]] = {name: [] for name in _INSERTS}
        for record in records:
            groups[_counter_of(record)].append(record)
        stored: dict[str, int] = {}
        conn = self.db.conn
        with self.db.atomic():
            for name, group in groups.items():
                if group:
                    sql, row_of = _INSERTS[name]
                    stored[name] = conn.executemany(sql, map(row_of, group)).rowcount
            conn.executemany(_BUMP_COUNTER, [(k, n) for k, n in stored.items() if n])
            if stored.get("rejected"):
                conn.execute("DELETE FROM rejected WHERE id <= (SELECT max(id) FROM rejected) - ?",
                             (self.rejected_keep,))
        return BatchOutcome(stored=stored, duplicates=len(records) - sum(stored.values()))

    def close(self) -> None:
        self.db.close()
