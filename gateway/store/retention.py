"""Retention: how long each kind of data stays, and the disk budget of the data dir.

`Retention.run_once()` is the periodic clean-up (the policy for technicians is in
docs/retention.md). It applies the age limits, then, while the data dir is over
`disk_budget_mb` or its file system below `min_free_mb`, deletes oldest first: rejections
kept aside; raw payloads of normal windows; local copies the cloud accepted (results, alerts,
telemetry) and bare window metadata; raw payloads of dead-lettered windows; of anomalous windows. If
that is not enough, raw intake is refused (`raw_refused`, persisted in `meta` for `gateway
status`) until usage is under the low-water mark. Raw data waiting for analysis goes only
when the file system itself runs short. A record still waiting for the cloud (in the outbox,
a telemetry row above the uploader's watermark, or in the dead-letter list) is never deleted.

SQLite does not give deleted space back to the file system, it reuses free pages; so "used"
is the files minus the store's free pages, and "free" the file system's plus them. No
VACUUM: it rewrites the whole file, needing as much free space again (exactly what is
short), holds the write lock for minutes on an SD card and wears it; incremental auto-vacuum
would itself need a VACUUM to switch on.

A second writer beside the intake writer: its own connection, short transactions.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from gateway.config import RetentionSection
from gateway.logs import kv
from gateway.store.database import BUSY_TIMEOUT_MS, immediate, open_database
from gateway.store.outbox import pending_records, telemetry_mark
from gateway.store.raw_upkeep import HAS_RAW, NO_RAW, RawUpkeep
from gateway.store.record_ids import sql_record_id, sql_seq_of, store_id_of
from gateway.store.reserve import RESERVE_MAX_BYTES, DiskGuard, fs_free_bytes, out_of_space
from gateway.store.segments import raw_dir_of, segment_bytes

log = logging.getLogger("gateway.retention")

CHUNK_ROWS = 500  # per transaction: 5-35 ms on a PC (measured); the intake waits meanwhile
# After each chunk. SQLite's busy handler polls every 25-50 ms once a writer has waited a while,
# so back-to-back chunks can make a waiting intake commit miss every gap (measured: 110 ms).
CHUNK_PAUSE_S = 0.05
LOW_WATER = 0.95  # deleting for space goes this far under the budget, so intake has headroom
CHECKPOINT_BUSY_MS = 50  # a TRUNCATE checkpoint holds off writers while it waits for readers
DAY_MS = 86_400_000
MB = 1024 * 1024
FAR_FUTURE_MS = 2**62
REFUSAL_KEY = "raw_refused"
_NOT_ROWS = ("raw_bytes", "segments", "segment_bytes", "raw_moved")  # in a run's Counter

# Which windows' raw payload a class covers (alias w).
_RAW_CLASSES = {
    "normal": "EXISTS (SELECT 1 FROM results r WHERE r.window_id = w.id AND r.anomaly IS NOT 1)",
    "anomaly": "EXISTS (SELECT 1 FROM results r WHERE r.window_id = w.id AND r.anomaly = 1)",
    "dead": "NOT EXISTS (SELECT 1 FROM results r WHERE r.window_id = w.id) AND EXISTS "
            "(SELECT 1 FROM analysis a WHERE a.window_id = w.id AND a.state = 'dead')",
    "unanalysed": "NOT EXISTS (SELECT 1 FROM results r WHERE r.window_id = w.id) AND NOT EXISTS "
                  "(SELECT 1 FROM analysis a WHERE a.window_id = w.id AND a.state = 'dead')",
}
# Ordered by received_at_ms through the partial index windows_raw (migration 0003).
_RAW_CANDIDATES = (
    "SELECT w.id, coalesce(length(w.payload), w.raw_length) FROM windows w WHERE " + HAS_RAW +
    " "
    "AND w.received_at_ms < :before AND {cls} ORDER BY w.received_at_ms LIMIT :limit"
)
_RAW_CLEAR = (
    "UPDATE windows AS w SET " + NO_RAW + " WHERE w.id IN (SELECT value FROM json_each(:ids)) "
    "AND " + HAS_RAW + " AND {cls} RETURNING id"
)

# A result or alert is accepted once its outbox row is gone (the uploader deletes it on the
# cloud's 2xx) and no sync dead letter holds it (store/record_ids.py: its id holds the seq).
_ACCEPTED = (
    "NOT EXISTS (SELECT 1 FROM outbox o WHERE o.seq = "
    + sql_seq_of("{t}.record_id") + ") AND NOT EXISTS "
    "(SELECT 1 FROM dead_letters d WHERE d.stage = 'sync' AND d.ref = {t}.record_id)"
)
# A telemetry row stored since migration 0011 is its own record (its id is the seq): accepted
# once under the uploader's watermark and neither in the outbox (put back from the dead-letter
# list) nor in the dead-letter list. A row stored before went up as an outbox copy: see
# Retention._telemetry_params.
_TELEMETRY_ACCEPTED = (
    "CASE WHEN {t}.id <= :copied_to THEN {t}.id < :copies_kept_from "
    "ELSE {t}.id <= :synced_to AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.seq = {t}.id) "
    "AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.stage = 'sync' AND d.ref = "
    + sql_record_id(":store_id", "{t}.id") + ") END"
)
_COPY_WAITS = ("SELECT EXISTS (SELECT 1 FROM outbox WHERE kind = 'telemetry' AND seq <= "
               "(SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'telemetry_copies_seq_to'))")


class _Table(NamedTuple):
    """Rows of one table that may go once older than synced_days (or for space)."""

    table: str
    key: str
    time: str
    deletable: str
    also: str = ""  # run with the ids deleted, in the same transaction

    def scan_sql(self) -> str:
        t = self.table
        return (f"SELECT {t}.{self.key}, {t}.{self.time} < :before, {self._condition()} "
                f"FROM {t} WHERE {t}.{self.key} > :after ORDER BY {t}.{self.key} LIMIT :limit")

    def delete_sql(self) -> str:
        t = self.table
        return (f"DELETE FROM {t} WHERE {t}.{self.key} IN (SELECT value FROM json_each(:ids)) "
                f"AND {t}.{self.time} < :before AND {self._condition()} RETURNING {self.key}")

    def _condition(self) -> str:
        # Never the newest row: SQLite would hand its id to the next insert, and a telemetry
        # row arriving during the run could then fall under the watermark.
        t = self.table
        return (f"({t}.{self.key} < (SELECT max({self.key}) FROM {t}) "
                f"AND {self.deletable.format(t=t)})")


# In this order, so that a result goes before the metadata of its window.
_SYNCED = (
    _Table("rejected", "id", "received_at_ms", "1"),
    _Table("telemetry", "id", "received_at_ms", _TELEMETRY_ACCEPTED),
    _Table("alerts", "id", "created_at_ms", _ACCEPTED),
    # A result stays while its window keeps raw data: it says which class that data is.
    _Table("results", "window_id", "created_at_ms", _ACCEPTED + " AND NOT EXISTS (SELECT 1 "
           "FROM windows w WHERE w.id = {t}.window_id AND " + HAS_RAW + ")"),
    # Only analysed windows (state done, result gone): one not analysed or dead-lettered stays.
    _Table("windows", "id", "received_at_ms",
           "{t}.payload IS NULL AND {t}.raw_segment IS NULL AND NOT EXISTS "
           "(SELECT 1 FROM results r WHERE r.window_id = {t}.id) AND EXISTS "
           "(SELECT 1 FROM analysis a WHERE a.window_id = {t}.id AND a.state = 'done')",
           also="DELETE FROM analysis WHERE window_id IN (SELECT value FROM json_each(:ids))"),
)


def dir_bytes(path: Path) -> int:
    """Sizes of the files under path; one vanishing meanwhile (a truncated WAL) is skipped."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with suppress(FileNotFoundError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def broker_store_bytes(path: str) -> int:
    """Size of the broker's persistence file; 0 when none is named or it cannot be seen (the
    broker has not saved yet, or its folder is closed to the gateway's user)."""
    if not path:
        return 0
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def read_refusal(conn: sqlite3.Connection) -> dict | None:
    """The persisted refusal ({"since_ms", "reason"}), or None while raw intake is open."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (REFUSAL_KEY,)).fetchone()
    return json.loads(row[0]) if row else None


class Usage(NamedTuple):
    used: int  # bytes of the data dir, the store's reusable free pages not counted
    free: int  # bytes still writable: the file system's free space plus those pages


@dataclass(frozen=True)
class RetentionReport:
    used_before: int
    used_after: int
    free_after: int
    budget: int
    deleted: dict[str, int]  # raw_<class>: payloads cleared; other keys: rows deleted
    raw_bytes_deleted: int
    raw_refused: bool
    wal_truncated: bool
    seconds: float
    segments_deleted: int = 0  # raw segment files no window referenced any more
    raw_moved: int = 0  # raw payloads moved out of a mostly dead segment into the store


class Retention:
    """Runs the clean-up on its own store connection, from one thread at a time; `raw_refused`
    may be read from any thread. `data_dir` should hold `store_path`."""

    def __init__(self, section: RetentionSection, data_dir: Path, store_path: Path, *,
                 free_bytes: Callable[[Path], int] = fs_free_bytes,
                 keep_normal_raw_every: int = 1):
        self.section, self.data_dir, self._free_bytes = section, data_dir, free_bytes
        self.budget = section.disk_budget_mb * MB
        self.min_free = section.min_free_mb * MB
        self.low_used = int(self.budget * LOW_WATER)
        self.low_free = self.min_free + (self.budget - self.low_used)
        self._in_dir = store_path.resolve().is_relative_to(data_dir.resolve())
        self.raw_dir = raw_dir_of(store_path)
        self.keep_normal_raw_every = keep_normal_raw_every
        # Windows are turned away by the intake writer itself below half of min_free.
        self.disk = DiskGuard(data_dir, self.min_free // 2,
                              min(RESERVE_MAX_BYTES, self.budget // 8), free_bytes=free_bytes)
        self.disk.replenish(self.min_free)
        self.db = open_database(store_path)
        self.conn = self.db.conn
        # Losing the last deletes to a power cut only means deleting them again next run.
        self.conn.execute("PRAGMA synchronous = NORMAL")
        # Debian's SQLite zeroes every freed page (secure_delete on): deleting 16 MB of raw
        # data then writes 16 MB to the WAL and again to the file (measured: 16 MB of WAL,
        # 12x the time, against 0.3 MB). FAST zeroes only what is written anyway.
        self.conn.execute("PRAGMA secure_delete = FAST")
        self.page_size = self.conn.execute("PRAGMA page_size").fetchone()[0]
        self.store_id = store_id_of(self.conn)
        self.raw = RawUpkeep(self.conn, self.raw_dir, self._chunk)
        self._refused = threading.Event()
        if read_refusal(self.conn):  # a restart keeps refusing until a run finds room
            self._refused.set()

    @property
    def raw_refused(self) -> bool:
        return self._refused.is_set()

    def close(self) -> None:
        self.db.close()

    # -- one run

    def run_once(self, now_ms: int | None = None) -> RetentionReport:
        """One clean-up. Store errors propagate: the caller logs them and tries next time.
        A write failing for lack of space releases the reserve and the run starts again;
        failing again, raw intake is refused (in memory: the store cannot record it)."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        try:
            return self._run(now)
        except sqlite3.Error as e:
            if not out_of_space(e):
                raise
            self.disk.full("retention")
        try:
            return self._run(now)
        except sqlite3.Error as e:
            if out_of_space(e):
                self._refused_unrecorded(f"the file system is full: {e}")
            raise

    def _run(self, now: int) -> RetentionReport:
        started = time.monotonic()
        self._checkpoint()
        before = self.usage()
        deleted: Counter[str] = Counter()
        self._by_age(now, deleted)
        usage = self.usage()
        refuse = False
        if self._over(usage) or (self.raw_refused and self._need(usage) > 0):
            refuse = not self._for_space(deleted)
        usage = self.usage()
        if refuse:
            self._refuse(usage, now)
        elif self.raw_refused and self._need(usage) <= 0:
            self._reopen(usage)
        truncated = self._checkpoint()
        if not self.raw_refused:
            self.disk.replenish(self.low_free)
        after = self.usage()
        report = RetentionReport(
            used_before=before.used, used_after=after.used, free_after=after.free,
            budget=self.budget, deleted={k: n for k, n in deleted.items() if k not in _NOT_ROWS},
            raw_bytes_deleted=deleted["raw_bytes"], raw_refused=self.raw_refused,
            wal_truncated=truncated, seconds=time.monotonic() - started,
            segments_deleted=deleted["segments"], raw_moved=deleted["raw_moved"])
        self._log(report)
        return report

    def usage(self) -> Usage:
        """The reserve file counts as free: it is there to be given back. The broker's
        persistence file counts as used: it shares the card, and the gateway's own old data
        is what can make room for it."""
        free_pages = self.conn.execute("PRAGMA freelist_count").fetchone()[0] * self.page_size
        reserve = self.disk.held
        used = dir_bytes(self.data_dir) - (free_pages if self._in_dir else 0) - reserve
        if not self._in_dir:  # the segments are beside the store: used all the same
            used += segment_bytes(self.raw_dir)
        used += broker_store_bytes(self.section.broker_store)
        return Usage(used=used, free=self._free_bytes(self.data_dir) + free_pages + reserve)

    def _over(self, usage: Usage) -> bool:
        return usage.used > self.budget or usage.free < self.min_free

    def _need(self, usage: Usage) -> int:
        """Bytes to delete to be back under the low-water marks; <= 0 when there is room."""
        return max(usage.used - self.low_used, self.low_free - usage.free)

    # -- by age

    def _by_age(self, now: int, deleted: Counter) -> None:
        s = self.section
        # A dead-lettered window keeps its raw data as long as an anomaly's: time to retry it.
        ages = {"normal": s.raw_normal_days, "anomaly": s.raw_anomaly_days,
                "dead": s.raw_anomaly_days}
        for cls, days in ages.items():
            before = now - int(days * DAY_MS)
            while self._clear_raw(cls, self._raw_candidates(cls, before), deleted):
                pass
        dropped = self.raw.apply_policy(self.keep_normal_raw_every)
        if dropped:
            deleted["raw_policy"] += dropped
        self.raw.free_segments(deleted)
        params = {"before": now - int(s.synced_days * DAY_MS), **self._telemetry_params()}
        for table in _SYNCED:
            after, done = 0, False
            while not done:
                after, done = self._purge_chunk(table, after, params, deleted)

    # -- for space

    def _for_space(self, deleted: Counter) -> bool:
        """Delete in order of value until under the low-water marks. False when everything
        but raw data waiting for analysis is gone and it is still over budget or short of
        free space; that raw data then goes too, but only for a file system short of space."""
        # Rejections first: what an attacker sent is worth less than any real data.
        self._synced_for_space(deleted, _SYNCED[:1])
        self._raw_for_space("normal", deleted, self._need)
        self._synced_for_space(deleted, _SYNCED[1:])
        self._raw_for_space("dead", deleted, self._need)
        self._raw_for_space("anomaly", deleted, self._need)
        enough = not self._over(self.usage())
        self._raw_for_space("unanalysed", deleted, lambda u: self.low_free - u.free)
        return enough

    def _raw_for_space(self, cls: str, deleted: Counter, need: Callable[[Usage], int]) -> None:
        """The oldest payloads of the class, just enough of them to cover what is missing."""
        missing = need(self.usage())
        while missing > 0:
            chunk, covered = [], 0
            for window_id, size in self._raw_candidates(cls, FAR_FUTURE_MS):
                chunk.append((window_id, size))
                covered += size
                if covered >= missing:
                    break
            if not self._clear_raw(cls, chunk, deleted):
                return
            missing = need(self.usage())

    def _synced_for_space(self, deleted: Counter, tables: tuple[_Table, ...]) -> None:
        """A chunk of each table in turn, oldest first, until there is room or none is left."""
        params = {"before": FAR_FUTURE_MS, **self._telemetry_params()}
        cursors = {table: 0 for table in tables}
        while cursors and self._need(self.usage()) > 0:
            for table in list(cursors):
                after, done = self._purge_chunk(table, cursors[table], params, deleted)
                if done:
                    del cursors[table]
                else:
                    cursors[table] = after

    # -- the deleting

    def _raw_candidates(self, cls: str, before: int) -> list[tuple[int, int]]:
        sql = _RAW_CANDIDATES.format(cls=_RAW_CLASSES[cls])
        return self.conn.execute(sql, {"before": before, "limit": CHUNK_ROWS}).fetchall()

    def _clear_raw(self, cls: str, rows: list[tuple[int, int]], deleted: Counter) -> int:
        """Set the payloads to NULL (the row stays: results link to it); the class is checked
        again inside the transaction. Returns how many were cleared."""
        if not rows:
            return 0
        sizes = dict(rows)
        with self._chunk():
            cleared = [row[0] for row in self.conn.execute(
                _RAW_CLEAR.format(cls=_RAW_CLASSES[cls]), {"ids": json.dumps(list(sizes))})]
        deleted[f"raw_{cls}"] += len(cleared)
        deleted["raw_bytes"] += sum(sizes[i] for i in cleared)
        if cleared:  # a segment's space comes back once no window references it
            self.raw.free_segments(deleted)
        return len(cleared)

    def _purge_chunk(self, table: _Table, after: int, params: dict,
                     deleted: Counter) -> tuple[int, bool]:
        """Look at the next CHUNK_ROWS rows by key and delete those that may go. Returns the
        last key looked at and whether the walk is done: at the end of the table, or after a
        chunk with nothing old enough (keys grow with time, so the rest is newer still)."""
        rows = self.conn.execute(table.scan_sql(),
                                 {**params, "after": after, "limit": CHUNK_ROWS}).fetchall()
        if not rows:
            return after, True
        ids = [key for key, old, ok in rows if old and ok]
        if ids:
            with self._chunk():
                gone = [row[0] for row in self.conn.execute(
                    table.delete_sql(), {**params, "ids": json.dumps(ids)})]
                if table.also and gone:
                    self.conn.execute(table.also, {"ids": json.dumps(gone)})
            deleted[table.table] += len(gone)
        return rows[-1][0], not any(old for _, old, _ in rows)

    @contextmanager
    def _chunk(self) -> Iterator[None]:
        """One short write transaction, then a pause that lets a waiting writer in."""
        with immediate(self.conn):
            yield
        time.sleep(CHUNK_PAUSE_S)

    def _telemetry_params(self) -> dict:
        """What _TELEMETRY_ACCEPTED needs. Rows up to `copied_to` were uploaded as outbox
        copies (before migration 0011); the migration found the row of the first copy still
        waiting (`copies_kept_from`), and those rows stay while any copy made before it
        waits (copies and rows were made in the same order, and a waiting row is never
        deleted). Every other row goes by the uploader's watermark."""
        meta = dict(self.conn.execute(
            "SELECT key, CAST(value AS INTEGER) FROM meta WHERE key IN "
            "('telemetry_copied_to', 'telemetry_copies_kept_from')"))
        copied_to = meta["telemetry_copied_to"]
        copy_waits = self.conn.execute(_COPY_WAITS).fetchone()[0]
        return {"copied_to": copied_to, "store_id": self.store_id,
                "copies_kept_from": meta["telemetry_copies_kept_from"] if copy_waits
                else copied_to + 1,
                "synced_to": telemetry_mark(self.conn)}

    def _checkpoint(self) -> bool:
        """Copy the WAL into the file and truncate it, so it cannot grow without bound. Waits
        only briefly for readers, because writers wait meanwhile; True when it truncated."""
        self.conn.execute(f"PRAGMA busy_timeout = {CHECKPOINT_BUSY_MS}")
        try:
            busy = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        except sqlite3.OperationalError:
            busy = 1
        finally:
            self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return not busy

    # -- refusal

    def _refuse(self, usage: Usage, now: int) -> None:
        reason = self._refusal_reason(usage)
        since = (read_refusal(self.conn) or {}).get("since_ms", now)
        self._refused_unrecorded(reason)  # first: the write below may fail on a full disk
        with immediate(self.conn):
            self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                              (REFUSAL_KEY, json.dumps({"since_ms": since, "reason": reason})))

    def _refused_unrecorded(self, reason: str) -> None:
        if not self.raw_refused:
            self._refused.set()
            log.error("raw intake refused: new audio and vibration windows are not stored",
                      extra=kv(reason=reason, action="see docs/retention.md: free space, raise "
                               "retention.disk_budget_mb, or get the uplink working"))

    def _reopen(self, usage: Usage) -> None:
        with immediate(self.conn):
            self.conn.execute("DELETE FROM meta WHERE key = ?", (REFUSAL_KEY,))
        self._refused.clear()
        log.warning("raw intake accepted again: there is room",
                    extra=kv(used_mb=usage.used // MB, free_mb=usage.free // MB))

    def _refusal_reason(self, usage: Usage) -> str:
        parts = []
        if usage.used > self.budget:
            parts.append(f"the data dir uses {usage.used // MB} MB of its {self.budget // MB} MB"
                         " budget (retention.disk_budget_mb)")
        if usage.free < self.min_free:
            parts.append(f"only {usage.free // MB} MB free on the file system, below "
                         f"retention.min_free_mb = {self.section.min_free_mb}")
        waiting = pending_records(self.conn)
        return "; ".join(parts) + (f"; all raw data that may go is gone and {waiting} records "
                                   "wait for the cloud")

    def _log(self, report: RetentionReport) -> None:
        fields = kv(**report.deleted, raw_mb=round(report.raw_bytes_deleted / MB, 1),
                    segments=report.segments_deleted, raw_moved=report.raw_moved,
                    used_mb=round(report.used_after / MB, 1), budget_mb=report.budget // MB,
                    free_mb=report.free_after // MB, raw_refused=report.raw_refused,
                    ms=round(report.seconds * 1000))
        (log.info if report.deleted else log.debug)("retention clean-up", extra=fields)
