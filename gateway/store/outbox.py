"""The outbox in the store, as the uploader sees it: batches read oldest first, each record's
JSON built by SQLite; a batch settled in one transaction (accepted rows deleted and counted
synced, a refused record moved to the dead-letter list); and the uploader's state in
`sync_state`, which `gateway status` reads back with `read_sync_status`.

No HTTP here: the uploader (uplink.py) decides what became of a batch, this module writes it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypedDict

from gateway import strict_json
from gateway.logs import kv
from gateway.store import counters
from gateway.store.counters import UploadResult
from gateway.store.database import open_database
from gateway.store.record_ids import record_id, sql_record_id, store_id_of

log = logging.getLogger("gateway.outbox")

ENVELOPE_BYTES = 256  # reserve in batch_bytes for gateway_id, batch_id and brackets
KINDS = ("result", "alert", "telemetry")

# Each record's JSON is built by SQLite from the columns: `data` is already JSON text and is
# spliced in as is, so no record is parsed or serialised in Python on the way out.
_BATCH_SQL = (
    "SELECT seq, CAST('{\"id\":\"' || " + sql_record_id(":store", "seq")
    + " || '\",\"kind\":\"' || kind"
    " || '\",\"device_id\":' || json_quote(device_id) || ',\"ts\":' || ts_ms"
    " || ',\"data\":' || data || '}' AS BLOB), json_valid(data) FROM outbox"
    " WHERE seq > :after ORDER BY seq LIMIT :limit"
)
_SET_STATE = (
    "INSERT INTO sync_state (key, value) VALUES (?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
_DEAD_LETTER = (
    "INSERT INTO dead_letters (stage, ref, error, attempts, created_at_ms, payload) "
    "VALUES ('sync', ?, ?, 1, ?, ?) ON CONFLICT (stage, ref) DO UPDATE SET "
    "error = excluded.error, attempts = attempts + 1, created_at_ms = excluded.created_at_ms, "
    "payload = excluded.payload"
)


def now_ms() -> int:
    return int(time.time() * 1000)


# --- batches --------------------------------------------------------------------------------


@dataclass(slots=True)
class Batch:
    """Consecutive outbox rows, oldest first, each as its record's JSON bytes."""

    seqs: list[int]
    pieces: list[bytes]
    full: bool = False  # cut by a bound: more rows may be waiting

    def __len__(self) -> int:
        return len(self.seqs)

    def body(self, gateway_id: str, store_id: str) -> tuple[str, bytes]:
        """(batch id, JSON body). The id is derived from the content alone, so a resend of
        the same batch carries the same Idempotency-Key."""
        records = b",".join(self.pieces)
        batch_id = f"{store_id}-{self.seqs[0]}-{self.seqs[-1]}-{zlib.crc32(records):08x}"
        head = json.dumps({"gateway_id": gateway_id, "batch_id": batch_id})[:-1].encode()
        return batch_id, head + b',"records":[' + records + b"]}"

    def halves(self) -> tuple[Batch, Batch]:
        mid = len(self.seqs) // 2
        return (Batch(self.seqs[:mid], self.pieces[:mid]),
                Batch(self.seqs[mid:], self.pieces[mid:]))


def read_batch(conn, store_id: str, max_records: int, max_bytes: int,
               after_seq: int = 0) -> Batch:
    """The oldest rows after `after_seq`, at most max_records and max_bytes of JSON (a single
    record larger than max_bytes goes alone: the server decides whether it is too big)."""
    seqs: list[int] = []
    pieces: list[bytes] = []
    budget = max_bytes - ENVELOPE_BYTES
    cursor = conn.execute(_BATCH_SQL, {"store": store_id, "after": after_seq,
                                       "limit": max_records})
    full = False
    for seq, piece, valid in cursor:
        if not valid:
            piece = _strict_piece(piece)
        budget -= len(piece) + 1
        if budget < 0 and seqs:
            full = True
            break
        seqs.append(seq)
        pieces.append(piece)
    cursor.close()
    return Batch(seqs, pieces, full or len(seqs) == max_records)


def _strict_piece(piece: bytes) -> bytes:
    """A record whose data is not strict JSON (a non-finite score stored as Infinity or NaN,
    issue 12.6) goes out with those numbers as null: a batch must be JSON the cloud can
    parse, and the record must still go. Text that is no JSON at all is sent as it is,
    and the cloud's refusal sets that one record aside (the batch is halved to find it)."""
    try:
        text, non_finite = strict_json.canonical(piece)
    except ValueError:
        return piece
    log.warning("non-finite numbers uploaded as null", extra=kv(count=non_finite))
    return text.encode()


# --- the uploader's connection --------------------------------------------------------------


class Outbox:
    """The uploader's own connection to the store. Owned by one thread: the uplink."""

    def __init__(self, store_path: Path):
        self.db = open_database(store_path)
        # Losing the last deletes in a power cut only resends records the cloud dedupes by
        # id, so this connection need not pay an fsync per batch (the intake writer does).
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.conn = self.db.conn
        self.store_id = store_id_of(self.conn)
        # sync_state as last written: only changed keys are written again
        self.state: dict[str, str] = dict(self.conn.execute("SELECT key, value FROM sync_state"))

    def read_batch(self, max_records: int, max_bytes: int) -> Batch:
        return read_batch(self.conn, self.store_id, max_records, max_bytes)

    def accept(self, batch: Batch) -> None:
        """The cloud has the batch: its rows go, counted synced, in one transaction."""
        with self.db.atomic():
            deleted = self.conn.executemany("DELETE FROM outbox WHERE seq = ?",
                                            [(seq,) for seq in batch.seqs]).rowcount
            counters.bump(self.conn, {counters.SYNCED: deleted,
                                      counters.uploads("accepted"): 1})
            self.set_state(last_success_ms=str(now_ms()))

    def dead_letter(self, batch: Batch, error: str) -> str:
        """Move a one-record batch the cloud refused to the dead-letter list, with `error`
        (the server's answer); returns the record id."""
        refused = record_id(self.store_id, batch.seqs[0])
        with self.db.atomic():
            self.conn.execute(_DEAD_LETTER, (refused, error, now_ms(),
                                             batch.pieces[0].decode()))
            self.conn.execute("DELETE FROM outbox WHERE seq = ?", (batch.seqs[0],))
            counters.bump(self.conn, {counters.uploads("rejected"): 1})
        return refused

    def count_upload(self, result: UploadResult) -> None:
        """Count an upload round that kept its records (retry, paused)."""
        with self.db.atomic():
            counters.bump(self.conn, {counters.uploads(result): 1})

    def set_state(self, **values: str) -> None:
        """Write the keys whose value changed (inside the caller's transaction, if any)."""
        changed = [(k, v) for k, v in values.items() if self.state.get(k) != v]
        if not changed:
            return
        with self.db.atomic():
            self.conn.executemany(_SET_STATE, changed)
        self.state.update(changed)

    def close(self) -> None:
        self.db.close()


# --- status ---------------------------------------------------------------------------------


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value not in (None, "") else None


class SyncStatus(TypedDict):
    pending: dict[str, int]  # kind -> records waiting
    pending_total: int
    oldest_pending_age_ms: int | None
    paused: Literal["auth", ""]  # "auth" while the cloud refuses the token
    last_success_ms: int | None
    last_error: str
    last_error_ms: int | None
    next_attempt_ms: int | None
    consecutive_failures: int
    dead_letters: int  # records the cloud refused, set aside


def read_sync_status(conn: sqlite3.Connection, now: int | None = None) -> SyncStatus:
    """The uploader's state for `gateway status`; read-only queries only."""
    now = now_ms() if now is None else now
    pending = dict.fromkeys(KINDS, 0)
    pending.update(conn.execute("SELECT kind, count(*) FROM outbox GROUP BY kind"))
    oldest = conn.execute("SELECT created_at_ms FROM outbox ORDER BY seq LIMIT 1").fetchone()
    state = dict(conn.execute("SELECT key, value FROM sync_state"))
    dead = conn.execute("SELECT count(*) FROM dead_letters WHERE stage = 'sync'").fetchone()[0]
    return SyncStatus({
        "pending": pending,
        "pending_total": sum(pending.values()),
        "oldest_pending_age_ms": max(0, now - oldest[0]) if oldest else None,
        "paused": state.get("paused", ""),
        "last_success_ms": _int_or_none(state.get("last_success_ms")),
        "last_error": state.get("last_error", ""),
        "last_error_ms": _int_or_none(state.get("last_error_ms")),
        "next_attempt_ms": _int_or_none(state.get("next_attempt_ms")),
        "consecutive_failures": _int_or_none(state.get("consecutive_failures")) or 0,
        "dead_letters": dead,
    })
