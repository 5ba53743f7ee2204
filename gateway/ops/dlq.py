"""The dead-letter list: windows the analysis gave up on, records the cloud refused.

`gateway dlq list` shows them; `gateway dlq retry ID` / `retry --all` puts them
back: a window is analysed again from scratch (attempts reset), a refused
record goes back into the outbox under its original id.
"""

from __future__ import annotations

import json
import sqlite3
from typing import NamedTuple

from gateway import strict_json
from gateway.store.database import immediate


class DeadLetter(NamedTuple):
    id: int
    stage: str  # "inference" | "sync"
    ref: str  # window id, or upstream record id
    error: str
    attempts: int
    created_at_ms: int


class Retried(NamedTuple):
    window_ids: list[int]  # to queue for analysis
    records: int  # put back into the outbox


class DlqError(Exception):
    """A dead-letter operation was refused; the message says why."""


def list_dead_letters(conn: sqlite3.Connection) -> list[DeadLetter]:
    return [DeadLetter(*row) for row in conn.execute(
        "SELECT id, stage, ref, error, attempts, created_at_ms FROM dead_letters ORDER BY id")]


def retry(conn: sqlite3.Connection, ids: list[int] | None) -> Retried:
    """Take entries off the list (all when ids is None) and put them back in their stage."""
    with immediate(conn):
        if ids is None:
            rows = conn.execute("SELECT id, stage, ref, payload FROM dead_letters").fetchall()
        else:
            rows = [_one(conn, entry) for entry in ids]
        window_ids, records = [], 0
        for entry, stage, ref, payload in rows:
            if stage == "inference":
                conn.execute("UPDATE analysis SET state = 'trying', attempts = 0, "
                             "last_error = NULL WHERE window_id = ?", (int(ref),))
                window_ids.append(int(ref))
            else:
                _back_to_outbox(conn, ref, payload)
                records += 1
            conn.execute("DELETE FROM dead_letters WHERE id = ?", (entry,))
    return Retried(window_ids, records)


def _one(conn: sqlite3.Connection, entry: int) -> tuple:
    row = conn.execute("SELECT id, stage, ref, payload FROM dead_letters WHERE id = ?",
                       (entry,)).fetchone()
    if row is None:
        raise DlqError(f"no dead letter with id {entry} (see `gateway dlq list`)")
    return row


def _back_to_outbox(conn: sqlite3.Connection, record_id: str, payload: str | None) -> None:
    """Same seq, so the record keeps its id ("<store_id>-<seq>") at the cloud."""
    if not payload:
        raise DlqError(f"dead letter {record_id} has no record to resend")
    record = json.loads(payload)
    seq = int(record_id.rsplit("-", 1)[1])
    conn.execute(
        "INSERT OR IGNORE INTO outbox (seq, kind, device_id, ts_ms, created_at_ms, data) "
        "VALUES (?, ?, ?, ?, strftime('%s', 'now') * 1000, ?)",
        (seq, record["kind"], record["device_id"], record["ts"],
         strict_json.dumps(record["data"], separators=(",", ":"))[0]))
