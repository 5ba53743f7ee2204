"""The `dead_letters` table as the operator handles it: windows the analysis gave up on
(stage "inference", ref the window id, written by inference/results.py), records the cloud
refused (stage "sync", ref the record id, written by store/outbox.py).

`list_dead_letters` reads them; `take_back` puts them back in their stage: a window is
analysed again from scratch (attempts reset), a refused record goes back into the outbox
under its original id.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Literal, NamedTuple

from gateway import strict_json
from gateway.store.database import immediate
from gateway.store.record_ids import seq_of

Stage = Literal["inference", "sync"]


class DeadLetter(NamedTuple):
    id: int
    stage: Stage
    ref: str  # window id, or upstream record id
    error: str
    attempts: int
    created_at_ms: int


class TakenBack(NamedTuple):
    window_ids: list[int]  # to queue for analysis
    records: int  # put back into the outbox


class DlqError(Exception):
    """A dead-letter operation was refused; the message says why."""


def list_dead_letters(conn: sqlite3.Connection) -> list[DeadLetter]:
    return [DeadLetter(*row) for row in conn.execute(
        "SELECT id, stage, ref, error, attempts, created_at_ms FROM dead_letters ORDER BY id")]


def take_back(conn: sqlite3.Connection, ids: list[int] | None) -> TakenBack:
    """Take entries off the list (all when ids is None) and put them back in their stage, in
    one transaction: an unknown id refuses them all."""
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
    return TakenBack(window_ids, records)


def _one(conn: sqlite3.Connection, entry: int) -> tuple:
    row = conn.execute("SELECT id, stage, ref, payload FROM dead_letters WHERE id = ?",
                       (entry,)).fetchone()
    if row is None:
        raise DlqError(f"no dead letter with id {entry} (see `gateway dlq list`)")
    return tuple(row)


def _back_to_outbox(conn: sqlite3.Connection, record_id: str, payload: str | None) -> None:
    """Same seq, so the record keeps its id at the cloud (store/record_ids.py)."""
    if not payload:
        raise DlqError(f"dead letter {record_id} has no record to resend")
    record = json.loads(payload)
    conn.execute(
        "INSERT OR IGNORE INTO outbox (seq, kind, device_id, ts_ms, created_at_ms, data) "
        "VALUES (?, ?, ?, ?, strftime('%s', 'now') * 1000, ?)",
        (seq_of(record_id), record["kind"], record["device_id"], record["ts"],
         strict_json.dumps(record["data"], separators=(",", ":"))[0]))
