"""The gateway's durable store: one SQLite file in WAL mode, written by several connections.

SQLite lets one transaction write at a time; each writer below holds its own connection
(owned by one thread), takes the write lock up front (`immediate`) and keeps its
transactions short, and waits out the others (busy timeout). In the daemon:

- the intake writer (`IntakeStore`, here): windows, telemetry (each row numbered from the
  upstream records' sequence, store/record_ids.py: it is uploaded from its own table),
  rejected, counters, seq_state, and the outbox's sequence gap records; synchronous=FULL,
  because a message is acknowledged to the broker once its transaction commits and must
  then survive a power cut (group commit: many records per transaction pay for one fsync).
  A window's raw bytes go to a segment file first (store/segments.py), fsync'd before
  that commit; the row says where;
- the analysis (`inference/results.py`, the queue workers' claims and the result writer's
  group commit): analysis, results, alerts, baselines, baseline_vectors, device_states,
  dead_letters, outbox, counters;
- the publisher (`store/published.py`): the `published` flag of results and alerts;
- the uploader (`store/outbox.py`): outbox deletes, sync_state (the telemetry watermark),
  dead_letters, counters;
- retention (`store/retention.py`): deletes of synced rows and raw payloads, meta;
- the silence check (`service/silence.py`): device_activity, alerts, outbox;
- the daemon's main connection: meta (`store/daemon_state.py`), and migrations at start.

Out of the daemon, `gateway dlq retry` (dead_letters, analysis, outbox) and `gateway baseline
reset` (baselines, device_states) write too. Readers (status, metrics, doctor) open
read-only connections (`store/read_model.py`).
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import cache
from itertools import chain, count
from pathlib import Path

from sqlite_utils import Database

from gateway.records import KEY_DIGEST_BYTES, STAMP_BYTES, Record, Rejection, Telemetry, Window
from gateway.store import counters, record_ids
from gateway.store.activity import Activity
from gateway.store.migrations import migrations
from gateway.store.segments import ROLL_BYTES, SegmentWriter, raw_dir_of
from gateway.store.sequences import SequenceTracker

BUSY_TIMEOUT_MS = 10_000
# Page cache per connection. A cache fills up to its limit as the file grows and stays full,
# and the daemon holds eight connections: at SQLite's default (2 MiB) they grew its RSS in
# 2 MB steps through a 10-minute soak (bench/soak.py). The OS caches the file anyway; only
# the intake writer, inserting into the digest indexes at random, keeps the default.
CACHE_KIB = 512
INTAKE_CACHE_KIB = 2048
# Page size of a new store. A WAL frame is one page, so every page a commit touches costs
# a page of writes: smaller pages cost less per small row (telemetry, counters, an index
# leaf) and the same per large one (raw audio in overflow pages). Measured in
# docs/performance.md ("Wear"). SQLite fixes the size when the file is created: an
# existing store keeps its own (only a VACUUM outside WAL mode would change it, and the
# daemon does not VACUUM).
PAGE_SIZE = 1024


ROWS_PER_STATEMENT = 100
# What is kept of a rejection, whatever the sender sent (issue 12.10: 2,000 messages with
# 60 KB topics kept 115 MB). A topic keeps its head and its last level (the stream, counted).
REJECTED_TOPIC_CHARS = 256
REJECTED_DETAIL_CHARS = 500
REJECTED_BYTES = 32 * 1024 * 1024  # all rejections kept aside, at most (bounds the row count)


class _Insert:
    """Multi-row INSERT OR IGNORE for one record type.

    Many rows per statement for small records, because sqlite3 releases the GIL on every
    statement step: one step per row lets the MQTT thread starve the writer (measured:
    ~1,000 rows/s under load, against tens of thousands with 100 rows per statement).
    Windows go one per statement: a cached statement keeps a copy of the values last bound
    to it, and with a statement per row count that held ~20 MB of audio after nine batches,
    growing with every new batch size.
    """

    def __init__(self, table: str, record_type: type[Record], returning: str = "",
                 rows_per_statement: int = ROWS_PER_STATEMENT, unless: str = "",
                 with_id: bool = False, extra: tuple[str, ...] = ()):
        self.returning = returning  # columns of the rows actually inserted, e.g. "id"
        self.rows_per_statement = rows_per_statement
        # records are named tuples in column order; with_id: each row is (id, *record);
        # `extra` columns follow the record's fields
        self.columns = ("id",) * with_id + record_type._fields + extra
        self._head = f"INSERT OR IGNORE INTO {table} ({', '.join(self.columns)}) VALUES "
        self._one = f"({', '.join('?' for _ in self.columns)})"
        # unless: a condition that skips a row besides the unique keys, on the row's values
        # as v.<column> (SQLite names them column1, column2 ... in a VALUES list)
        self._unless = unless
        for n, column in enumerate(self.columns, 1):
            self._unless = self._unless.replace(f"v.{column}", f"v.column{n}")
        self._sql: dict[int, str] = {}

    def sql(self, rows: int) -> str:
        if rows not in self._sql:
            values = ", ".join([self._one] * rows)
            if self._unless:  # "SELECT *": ON CONFLICT would be taken for an upsert's
                values = f"SELECT * FROM (VALUES {values}) AS v WHERE NOT ({self._unless})"
                self._sql[rows] = self._head.removesuffix("VALUES ") + values
            else:
                self._sql[rows] = self._head + values
        return self._sql[rows]

    def run(self, conn: sqlite3.Connection, records: list, returned: list) -> int:
        """Insert the records; return how many were new (their `returning` columns go to
        returned, if this insert returns any)."""
        stored = 0
        step = self.rows_per_statement
        for start in range(0, len(records), step):
            chunk = records[start:start + step]
            params = list(chain.from_iterable(chunk))
            if not self.returning:
                stored += conn.execute(self.sql(len(chunk)), params).rowcount
            else:
                rows = conn.execute(f"{self.sql(len(chunk))} RETURNING {self.returning}",
                                    params).fetchall()
                returned.extend(rows)
                stored += len(rows)
        return stored


# counter name -> insert; windows are counted per stream. Windows and numbered telemetry
# return what the sequence tracker needs of the rows actually inserted (never a duplicate).
_SEQ_RETURNING = "id, device_id, seq, received_at_ms"
_AUDIO, _VIBRATION = counters.received("audio"), counters.received("vibration")
_TELEMETRY = counters.received("telemetry")
# A window row: the record without its payload (NULL), then where its raw bytes are.
_RAW_REF = ("raw_segment", "raw_offset", "raw_length", "raw_crc")
_PAYLOAD = Window._fields.index("payload")
_WINDOWS = _Insert("windows", Window, returning=_SEQ_RETURNING, rows_per_statement=1,
                   extra=_RAW_REF)
_INSERTS = {
    _AUDIO: _WINDOWS,
    _VIBRATION: _WINDOWS,
    _TELEMETRY: _Insert("telemetry", Telemetry, with_id=True),
    counters.REJECTED: _Insert("rejected", Rejection, returning="topic, reason"),
}
_NUMBERED = "numbered telemetry"  # numbered ones return their rows for the sequence tracker
_INSERTS_AND_NUMBERED = {**_INSERTS, _NUMBERED: _Insert("telemetry", Telemetry, with_id=True,
                                                        returning=_SEQ_RETURNING)}


def _stored_with_prefix(prefix: str) -> str:
    """A row whose key starts with `prefix` (SQL, bytes) and is longer: the index's range
    from the prefix to the prefix followed by as many 0xff as a longer key adds."""
    # || makes text of its operands' bytes: cast back, a BLOB sorts above any text
    return (f"EXISTS (SELECT 1 FROM telemetry t WHERE t.digest > {prefix} AND t.digest <= "
            f"CAST({prefix} || x'{'ff' * (32 - KEY_DIGEST_BYTES)}' AS BLOB))")


# Rows of older schemas keep the keys they were stored with, and a message is a duplicate of
# such a row too: the new key (records.telemetry_key) is their prefix. Before migration 0009 a
# row held the bare content digest (the new key's digest part is its prefix); from 0009 to
# 0013 the stamp and the whole digest (the new key is its prefix).
_BARE_DIGEST_STORED = _stored_with_prefix(f"substr(v.digest, {STAMP_BYTES + 1})")
_WIDE_KEY_STORED = _stored_with_prefix("v.digest")


@cache
def _telemetry_inserts(bare_digests: bool, wide_keys: bool) -> dict[str, _Insert]:
    """The telemetry inserts (plain and numbered) with the look-ups of older keys needed."""
    unless = " OR ".join([_BARE_DIGEST_STORED] * bare_digests + [_WIDE_KEY_STORED] * wide_keys)
    return {_TELEMETRY: _Insert("telemetry", Telemetry, unless=unless, with_id=True),
            _NUMBERED: _Insert("telemetry", Telemetry, returning=_SEQ_RETURNING, unless=unless,
                               with_id=True)}


# SQLite's primary result codes that say the database failed (busy, locked, out of memory,
# read-only, interrupted, I/O, corrupt, full, cannot open, lock protocol, not a database),
# whatever the records were: the same transaction may succeed later. Any other failure may
# be one record's own (a value SQLite refuses, text that cannot be encoded).
_DATABASE_FAILURES = frozenset({
    sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_INTERRUPT, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_NOTADB,
})


def failed_in_the_database(error: BaseException) -> bool:
    """True when a failed write is the database's or the machine's fault (retry it as it is),
    False when it may be a record's (find the record and set it aside)."""
    if isinstance(error, OSError | MemoryError):
        return True
    code = getattr(error, "sqlite_errorcode", None)
    return isinstance(error, sqlite3.Error) and code is not None and (code & 0xFF) in \
        _DATABASE_FAILURES


class StoreError(Exception):
    """The store could not be opened or used; the message says which file and why."""


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What one committed batch did: records newly stored per counter, and duplicates skipped."""

    stored: dict[str, int]
    duplicates: int
    window_ids: list[int]  # windows newly stored, to be analysed


def _connect(path: Path, read_only: bool, cache_kib: int) -> sqlite3.Connection:
    if read_only:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute(f"PRAGMA cache_size = -{cache_kib}")
    return conn


def _rejection_counters(rows: list[tuple[str, str]]) -> Counter[str]:
    """`rejected:<stream>:<reason>` for each newly kept rejection (topic, reason); the
    stream is the topic's last level."""
    return Counter(counters.rejected(topic.rsplit("/", 1)[-1], reason) for topic, reason in rows)


def _counter_of(record: Record) -> str:
    if isinstance(record, Window):
        return counters.received(record.stream)
    if isinstance(record, Telemetry):
        return _TELEMETRY
    return counters.REJECTED


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """A write transaction that takes the write lock up front: a read-then-write transaction
    that has to upgrade its lock can fail with "database is locked" at once, without waiting
    out the busy timeout."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


def open_database(path: Path, *, read_only: bool = False,
                  cache_kib: int = CACHE_KIB) -> Database:
    """Open the store file; the writer also creates it and applies pending migrations."""
    try:
        if read_only:
            return Database(_connect(path, True, cache_kib), execute_plugins=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        db = Database(_connect(path, False, cache_kib), execute_plugins=False)
        db.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # before the first write: a new file
        db.enable_wal()
        db.execute("PRAGMA synchronous = FULL")
        migrations.apply(db)
        return db
    except (sqlite3.Error, OSError) as e:
        raise StoreError(f"cannot open store {path}: {e}") from e


def file_problems(path: Path, check: str = "quick_check") -> list[str]:
    """What SQLite's `check` (quick_check, integrity_check) finds wrong with a database
    file, up to three; ["ok"] when it is whole."""
    try:
        conn = sqlite3.connect(path)
        try:
            return [row[0] for row in conn.execute(f"PRAGMA {check}(3)")]
        finally:
            conn.close()
    except sqlite3.Error as e:
        return [str(e)]


def check_store(path: Path) -> None:
    """At start: a store that is there must be whole. A file cut to 0 bytes would be taken
    for a new, empty store and a damaged one fail later with a traceback, again at every
    restart; both are refused in one line, and the file is left as it is for a technician.
    Reads the whole file once (PRAGMA quick_check: seconds for a GB on an SD card)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return  # a new data dir: the writer creates the store
    keep = ("it is left as it is; to start with an empty store, stop the service, move it "
            "and its -wal and -shm files out of the data dir, and start the service again")
    if size == 0:
        raise StoreError(f"store {path} is empty (0 bytes): it was cut short; {keep}")
    problems = file_problems(path)
    if problems != ["ok"]:
        found = "; ".join(" ".join(p.split()) for p in problems)[:300]
        raise StoreError(f"store {path} is damaged ({found}); {keep}")


def _kept_rejection(record: Rejection, sample_bytes: int) -> Rejection:
    topic, detail = record.topic, record.detail
    if len(topic) > REJECTED_TOPIC_CHARS:
        head, _, last = topic.rpartition("/")
        last = last[:64]
        topic = f"{head[:REJECTED_TOPIC_CHARS - len(last) - 2]}…/{last}"
    if len(detail) > REJECTED_DETAIL_CHARS:
        detail = detail[:REJECTED_DETAIL_CHARS - 1] + "…"
    return record._replace(topic=topic, detail=detail, sample=record.sample[:sample_bytes])


class IntakeStore:
    """Writes batches of intake records. Owned by exactly one thread: the intake writer."""

    def __init__(self, path: Path, rejected_keep: int = 10_000,
                 rejected_sample_bytes: int = 256, raw_segment_bytes: int = ROLL_BYTES):
        self.path = path
        self.sample_bytes = rejected_sample_bytes
        # Rows kept aside, bounded by count and by bytes: each row is at most this big.
        row_bytes = REJECTED_TOPIC_CHARS * 4 + REJECTED_DETAIL_CHARS * 4 + \
            rejected_sample_bytes + 64
        self.rejected_keep = max(1, min(rejected_keep, REJECTED_BYTES // row_bytes))
        self.db = open_database(path, cache_kib=INTAKE_CACHE_KIB)
        self.segments = SegmentWriter(raw_dir_of(path), roll_bytes=raw_segment_bytes)
        self.sequences = SequenceTracker(self.db.conn)
        # Telemetry rows up to these ids hold bare digests (migration 0009), keys with the
        # whole digest (0013); 0 once none is left.
        meta = dict(self.db.execute(
            "SELECT key, value FROM meta WHERE key IN ('telemetry_bare_digests_to', "
            "'telemetry_wide_keys_to')").fetchall())
        self.bare_digests_to = int(meta["telemetry_bare_digests_to"])
        self.wide_keys_to = int(meta["telemetry_wide_keys_to"])
        self.activity = Activity(self.db.conn)

    def write_batch(self, records: list[Record]) -> BatchOutcome:
        """Store records in one transaction; one already stored (same digest) is skipped."""
        groups: dict[str, list] = {name: [] for name in _INSERTS}  # records, then rows
        for record in records:
            if isinstance(record, Rejection):
                record = _kept_rejection(record, self.sample_bytes)
            groups[_counter_of(record)].append(record)
        numbered = [r for r in groups[_TELEMETRY] if r.seq is not None]
        if numbered:
            groups[_TELEMETRY] = [r for r in groups[_TELEMETRY]
                                  if r.seq is None]
        telemetry = len(groups[_TELEMETRY]) + len(numbered)
        for name in (_AUDIO, _VIBRATION):
            # Rows, no longer records: where each window's raw bytes are, not the bytes.
            groups[name] = self._window_rows(groups[name])
        stored: dict[str, int] = {}
        returned: dict[str, list] = {name: [] for name in _INSERTS}
        conn = self.db.conn
        # IMMEDIATE: this transaction reads before it writes, and with a deferred one a commit
        # by another writer in between (results, uplink, retention) fails it at once.
        with immediate(conn):
            if telemetry:  # each message is an upstream record: its row id is its seq
                numbers = count(record_ids.last_seq(conn) + 1)
                groups[_TELEMETRY] = [(next(numbers), *r) for r in groups[_TELEMETRY]]
                numbered = [(next(numbers), *r) for r in numbered]
            inserts = self._inserts(conn)
            for name, group in groups.items():
                if group:
                    stored[name] = inserts[name].run(conn, group, returned[name])
            numbered_rows: list = []
            if numbered:
                stored[_TELEMETRY] = stored.get(_TELEMETRY, 0) + \
                    inserts[_NUMBERED].run(conn, numbered, numbered_rows)
            if stored.get(_TELEMETRY):  # before the gap records below take their seqs
                record_ids.advance_seq(conn, next(numbers) - 1)
            sequences = self._count_sequences(conn, returned, numbered_rows)
            # Once per name for the whole batch, with the batch's totals.
            counters.bump(conn, {**stored, **_rejection_counters(returned[counters.REJECTED])})
            if stored.get(counters.REJECTED):
                conn.execute("DELETE FROM rejected WHERE id <= (SELECT max(id) FROM rejected) - ?",
                             (self.rejected_keep,))
        self.sequences.commit(sequences)
        self.activity.observe(records)
        window_ids = [row[0] for row in returned[_AUDIO] + returned[_VIBRATION]]
        return BatchOutcome(stored=stored, duplicates=len(records) - sum(stored.values()),
                            window_ids=window_ids)

    def _inserts(self, conn: sqlite3.Connection) -> dict[str, _Insert]:
        """The inserts for this batch: with the look-ups of older keys while rows stored
        before migrations 0009 and 0013 remain (retention deletes oldest first: once the
        oldest row is newer, none is left)."""
        if self.bare_digests_to or self.wide_keys_to:
            oldest = conn.execute("SELECT min(id) FROM telemetry").fetchone()[0]
            if oldest is None or oldest > self.bare_digests_to:
                self.bare_digests_to = 0
            if oldest is None or oldest > self.wide_keys_to:
                self.wide_keys_to = 0
        if not (self.bare_digests_to or self.wide_keys_to):
            return _INSERTS_AND_NUMBERED
        return {**_INSERTS_AND_NUMBERED,
                **_telemetry_inserts(bool(self.bare_digests_to), bool(self.wide_keys_to))}

    def _window_rows(self, windows: list[Window]) -> list[tuple]:
        """The rows of the windows not stored yet, their raw bytes appended to a segment and
        durable first: the commit that follows (and acknowledges them) never points a row at
        bytes a power cut could take. A window stored already (a broker redelivery) is not
        written again; only the intake writer inserts windows, so the look-up cannot go
        stale before the commit."""
        new = [w for w in windows if self.db.conn.execute(
            "SELECT 1 FROM windows WHERE digest = ?", (w.digest,)).fetchone() is None]
        refs = self.segments.append([w.payload for w in new])
        return [(*w[:_PAYLOAD], None, *w[_PAYLOAD + 1:], *ref)
                for w, ref in zip(new, refs, strict=True)]

    def _count_sequences(self, conn: sqlite3.Connection, returned: dict[str, list],
                         telemetry_rows: list) -> dict:
        """Sequence gaps of the rows just inserted, oldest first (by row id)."""
        seen = []  # (row id, device, stream, seq, received); a key's rows are in one table
        for stream, rows in (("audio", returned[_AUDIO]),
                             ("vibration", returned[_VIBRATION]),
                             ("telemetry", telemetry_rows)):
            seen += [(row_id, device, stream, seq, received)
                     for row_id, device, seq, received in rows if seq is not None]
        if not seen:
            return {}
        seen.sort()
        return self.sequences.record(conn, [row[1:] for row in seen], int(time.time() * 1000))

    def close(self) -> None:
        """Close the writer's connection, checkpointing the WAL into the file first (the
        daemon closes it last): a clean stop leaves the store flushed and whole."""
        # Busy while another connection still reads; SQLite checkpoints when the last closes.
        with suppress(sqlite3.Error):
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.db.close()
        self.segments.close()
