"""The upstream records in the store, as the uploader sees them: the outbox (results, alerts,
the gateway's own telemetry records, copies made before migration 0011, records put back
from the dead-letter list) and the telemetry table's rows above the watermark
`telemetry_synced_to` (a telemetry row is its own record since 0011: store/record_ids.py).
Batches are read from both, oldest first by seq, each record's JSON built by SQLite; a batch
is settled in one transaction (accepted outbox rows deleted, the watermark moved past the
accepted telemetry rows, all counted synced; a refused record moved to the dead-letter list,
the watermark past it); and the uploader's state in `sync_state`, which `gateway status`
reads back with `read_sync_status`.

Settled telemetry rows always form a prefix of those above the watermark: a batch holds the
oldest rows above it, its halves go in order, and a round stops at the first half kept for
a later try. So one number says which rows are still to go.

No HTTP here: the uploader (uplink.py) decides what became of a batch, this module writes it.
"""

from __future__ import annotations

import heapq
import json
import logging
import sqlite3
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
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

MARK = "telemetry_synced_to"  # sync_state: telemetry rows up to this id are settled


def _record_json(seq: str, kind: str) -> str:
    """A record's JSON, built by SQLite from the columns: `data` is already JSON text and is
    spliced in as is, so no record is parsed or serialised in Python on the way out."""
    return ("CAST('{\"id\":\"' || " + sql_record_id(":store", seq) + " || '\",\"kind\":\"' || "
            + kind + " || '\",\"device_id\":' || json_quote(device_id) || ',\"ts\":' || ts_ms"
            " || ',\"data\":' || data || '}' AS BLOB), json_valid(data)")


# (seq, JSON, valid, from the telemetry table)
_OUTBOX_SQL = ("SELECT seq, " + _record_json("seq", "kind") + ", 0 FROM outbox"
               " WHERE seq > :after ORDER BY seq LIMIT :limit")
_TELEMETRY_SQL = ("SELECT id, " + _record_json("id", "'telemetry'") + ", 1 FROM telemetry"
                  " WHERE id > max(:after, :mark) ORDER BY id LIMIT :limit")
_READ_MARK = ("SELECT coalesce((SELECT CAST(value AS INTEGER) FROM sync_state "
              f"WHERE key = '{MARK}'), 0)")
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
    """Consecutive upstream records, oldest first, each as its record's JSON bytes."""

    seqs: list[int]
    pieces: list[bytes]
    in_table: list[bool]  # per record: a telemetry row (True) or an outbox row
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
        return (Batch(self.seqs[:mid], self.pieces[:mid], self.in_table[:mid]),
                Batch(self.seqs[mid:], self.pieces[mid:], self.in_table[mid:]))

    def table_seqs(self) -> list[int]:
        return [seq for seq, in_table in zip(self.seqs, self.in_table, strict=True) if in_table]

    def outbox_seqs(self) -> list[int]:
        return [seq for seq, in_table in zip(self.seqs, self.in_table, strict=True)
                if not in_table]


def telemetry_mark(conn: sqlite3.Connection) -> int:
    """The watermark: telemetry rows up to this id are settled (accepted or set aside)."""
    return int(conn.execute(_READ_MARK).fetchone()[0])


def read_batch(conn, store_id: str, max_records: int, max_bytes: int,
               after_seq: int = 0) -> Batch:
    """The oldest records after `after_seq` (outbox rows, and telemetry rows above the
    watermark), at most max_records and max_bytes of JSON (a single record larger than
    max_bytes goes alone: the server decides whether it is too big)."""
    batch = Batch([], [], [])
    budget = max_bytes - ENVELOPE_BYTES
    params = {"store": store_id, "after": after_seq, "limit": max_records,
              "mark": telemetry_mark(conn)}
    cursors = [conn.execute(_OUTBOX_SQL, params), conn.execute(_TELEMETRY_SQL, params)]
    full = False
    for seq, piece, valid, in_table in heapq.merge(*cursors):
        if not valid:
            piece = _strict_piece(piece)
        budget -= len(piece) + 1
        if (budget < 0 and batch.seqs) or len(batch.seqs) == max_records:
            full = True
            break
        batch.seqs.append(seq)
        batch.pieces.append(piece)
        batch.in_table.append(bool(in_table))
    for cursor in cursors:
        cursor.close()
    batch.full = full or len(batch.seqs) == max_records
    return batch


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
        """The cloud has the batch: its outbox rows go and the watermark moves past its
        telemetry rows, counted synced, in one transaction."""
        with self._settling():
            deleted = self.conn.executemany("DELETE FROM outbox WHERE seq = ?",
                                            [(seq,) for seq in batch.outbox_seqs()]).rowcount
            counters.bump(self.conn, {counters.SYNCED: deleted + self._past(batch),
                                      counters.uploads("accepted"): 1})
            self.set_state(last_success_ms=str(now_ms()))

    def dead_letter(self, batch: Batch, error: str) -> str:
        """Move a one-record batch the cloud refused to the dead-letter list, with `error`
        (the server's answer); returns the record id. A telemetry row stays where it is (the
        watermark moves past it); `gateway dlq retry` puts the record into the outbox."""
        refused = record_id(self.store_id, batch.seqs[0])
        with self._settling():
            self.conn.execute(_DEAD_LETTER, (refused, error, now_ms(),
                                             batch.pieces[0].decode()))
            if batch.outbox_seqs():
                self.conn.execute("DELETE FROM outbox WHERE seq = ?", (batch.seqs[0],))
            self._past(batch)
            counters.bump(self.conn, {counters.uploads("rejected"): 1})
        return refused

    def _past(self, batch: Batch) -> int:
        """Move the watermark past the batch's telemetry rows (the oldest above it, so the
        rows under it stay a prefix); returns how many it passed."""
        mark = telemetry_mark(self.conn)
        passed = [seq for seq in batch.table_seqs() if seq > mark]
        if passed:
            self.set_state(**{MARK: str(max(passed))})
        return len(passed)

    @contextmanager
    def _settling(self) -> Iterator[None]:
        """One transaction; if it fails, the state as last written is read again (set_state
        noted values the rollback took back)."""
        try:
            with self.db.atomic():
                yield
        except BaseException:
            self.state = dict(self.conn.execute("SELECT key, value FROM sync_state"))
            raise

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


_TABLE_PENDING = "SELECT count(*) FROM telemetry WHERE id > ?"
# The first record by seq of each source; when it was stored.
_OLDEST_PENDING = (
    "SELECT min(t) FROM (SELECT (SELECT created_at_ms FROM outbox ORDER BY seq LIMIT 1) AS t "
    "UNION ALL SELECT (SELECT received_at_ms FROM telemetry WHERE id > ? ORDER BY id LIMIT 1))"
)


def pending_records(conn: sqlite3.Connection) -> int:
    """Upstream records waiting for the cloud: the outbox's and the telemetry rows above
    the watermark."""
    return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
               + conn.execute(_TABLE_PENDING, (telemetry_mark(conn),)).fetchone()[0])


def read_sync_status(conn: sqlite3.Connection, now: int | None = None) -> SyncStatus:
    """The uploader's state for `gateway status`; read-only queries only."""
    now = now_ms() if now is None else now
    pending = dict.fromkeys(KINDS, 0)
    pending.update(conn.execute("SELECT kind, count(*) FROM outbox GROUP BY kind"))
    mark = telemetry_mark(conn)
    pending["telemetry"] += conn.execute(_TABLE_PENDING, (mark,)).fetchone()[0]
    oldest = conn.execute(_OLDEST_PENDING, (mark,)).fetchone()[0]
    state = dict(conn.execute("SELECT key, value FROM sync_state"))
    dead = conn.execute("SELECT count(*) FROM dead_letters WHERE stage = 'sync'").fetchone()[0]
    return SyncStatus({
        "pending": pending,
        "pending_total": sum(pending.values()),
        "oldest_pending_age_ms": max(0, now - oldest) if oldest is not None else None,
        "paused": state.get("paused", ""),
        "last_success_ms": _int_or_none(state.get("last_success_ms")),
        "last_error": state.get("last_error", ""),
        "last_error_ms": _int_or_none(state.get("last_error_ms")),
        "next_attempt_ms": _int_or_none(state.get("next_attempt_ms")),
        "consecutive_failures": _int_or_none(state.get("consecutive_failures")) or 0,
        "dead_letters": dead,
    })
