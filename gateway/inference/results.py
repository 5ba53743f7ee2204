"""The analysis stage's reads and writes in the store, one connection per thread.

Each analysis claims its window (an attempt counter written before any work, so a
window that crashes or hangs the process is given up after `max_attempts` starts),
then writes everything the result changes together: the result, the device's
baseline and state, an alert when the state changed, their upstream outbox
records, and the analysis marked done. A window analysed twice (after a crash, or
queued twice) therefore leaves one result. `save` does that for one window in its
own transaction; `save_batch` does it for many windows in one transaction (the
result writer's group commit), each in a savepoint of its own.
"""

from __future__ import annotations

import json
import math
import random
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

from gateway.inference.baseline import Fit
from gateway.inference.verdict import DeviceMemory, Observation, Verdict
from gateway.store import counters
from gateway.store.database import (
    BUSY_TIMEOUT_MS,
    failed_in_the_database,
    immediate,
    open_database,
)
from gateway.store.record_ids import record_id, store_id_of
from gateway.store.segments import RAW_COLUMNS, raw_dir_of, window_raw
from gateway.store.vectors import blob_floats, float64_blob

ERROR_CHARS = 500
CLAIM_POLL_S = 0.0002  # how often a claim looks for the write lock while another holds it


def now_ms() -> int:
    return int(time.time() * 1000)


class StoredWindow(NamedTuple):
    id: int
    device_id: str
    stream: str
    captured_at_ms: int
    sample_rate: float
    encoding: str
    payload: bytes | None


@dataclass(frozen=True)
class Outcome:
    """What the analysis computed for one window; the published score is the verdict's."""

    model: str
    observation: Observation
    details: dict


AnalysisState = Literal["trying", "done", "dead"]


class Claim(NamedTuple):
    state: AnalysisState
    attempts: int


class Learned(NamedTuple):
    """A baselines row as read (or written) at one version: all but the drifting centre."""

    version: int
    model: str
    levels: tuple[float, ...]
    threshold: float | None
    fit: Fit | None
    learned_at_ms: int | None  # time stamp of the last window learned


_CLAIM = (
    "INSERT INTO analysis (window_id, state, attempts, updated_at_ms) VALUES (?, 'trying', 1, ?) "
    "ON CONFLICT (window_id) DO UPDATE SET "
    "attempts = attempts + (state = 'trying'), updated_at_ms = excluded.updated_at_ms "
    "RETURNING state, attempts"
)
# How an attempt ended (done, dead, failed and to be tried again), in the analysis row: the
# claim's row updated, or, for a first attempt claimed without a write, the row inserted with
# its attempt count (see ResultStore.claim).
_ENDED = (
    "INSERT INTO analysis (window_id, state, attempts, last_error, updated_at_ms) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (window_id) DO UPDATE SET state = excluded.state, "
    "last_error = excluded.last_error, updated_at_ms = excluded.updated_at_ms"
)
_OUTBOX = ("INSERT INTO outbox (kind, device_id, ts_ms, created_at_ms, data) "
           "VALUES (?, ?, ?, ?, ?) RETURNING seq")
_STATE = ("INSERT INTO device_states (device_id, stream, state, recent, last_score, last_ts_ms, "
          "updated_at_ms, alarm, centre, why) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
          "ON CONFLICT (device_id, stream) DO UPDATE SET state = excluded.state, "
          "recent = excluded.recent, last_score = excluded.last_score, "
          "last_ts_ms = excluded.last_ts_ms, updated_at_ms = excluded.updated_at_ms, "
          "alarm = excluded.alarm, centre = excluded.centre, why = excluded.why")
_SAVEPOINT = "one_result"  # each result of a batch, so one can be rolled back alone


Judge = Callable[[DeviceMemory], Verdict]
NeedsVectors = Callable[[DeviceMemory], bool]


def dumps(value) -> str:
    """Every JSON the analysis stores: compact, and never NaN or Infinity (not JSON)."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _failed_in_the_database(error: Exception, conn: sqlite3.Connection) -> bool:
    """True when a failure is the database's (I/O error, disk full, lock timeout, corruption)
    rather than one window's: then the whole batch must be tried again, and blaming (or
    dead-lettering) the window would be wrong. Some such errors also end the transaction."""
    return not conn.in_transaction or failed_in_the_database(error)


class ResultStore:
    """Owned by one thread: a queue worker, or the result writer."""

    def __init__(self, path: Path):
        self.db = open_database(path)
        self.conn = self.db.conn
        self.raw_dir = raw_dir_of(path)
        # Each result of a batch has a savepoint, whose sub-journal keeps the pages it
        # changes. SQLite spills one past 64 KiB into a temp file (a baselines row with its
        # fit is ~62 KiB) and never truncates it within the transaction: ~86 temp-file
        # writes per window, most of the result writer's system time in a burst (strace,
        # issue 14). In memory it holds one savepoint's pages at a time.
        self.conn.execute("PRAGMA temp_store = MEMORY")
        self.store_id = store_id_of(self.conn)
        # Windows above this id were stored after this connection opened, by this process:
        # no earlier process can have died analysing one (see `claim`).
        self._stored_before = self.conn.execute(
            "SELECT coalesce(max(id), 0) FROM windows").fetchone()[0]
        self._learned: dict[tuple[str, str], Learned] = {}  # (device, stream) -> as last seen

    def close(self) -> None:
        self.db.close()

    def stream_of(self, window_id: int) -> str | None:
        """The stored window's stream (None if there is no such window)."""
        row = self.conn.execute("SELECT stream FROM windows WHERE id = ?",
                                (window_id,)).fetchone()
        return row[0] if row else None

    def claim(self, window_id: int) -> Claim | None:
        """Count one more attempt at the window; None if there is no such window.

        The count is there for a window that kills or hangs the process: it must be on disk
        before the work starts. A window this process stored and never tried has no earlier
        attempt that could have died: its first attempt is counted by the write that ends it
        (the result's transaction, `record_failure`, `dead_letter`), not by a commit of its
        own (one commit and a WAL page less per window; docs/performance.md, Wear, round 8).
        If the process dies during it, the next start's sweep finds the window unclaimed and
        every later attempt is counted first: a window that kills the process is given up
        after max_attempts + 1 starts."""
        if not self.conn.execute("SELECT 1 FROM windows WHERE id = ?", (window_id,)).fetchone():
            return None
        if window_id > self._stored_before and not self.conn.execute(
                "SELECT 1 FROM analysis WHERE window_id = ?", (window_id,)).fetchone():
            return Claim("trying", 1)
        # NORMAL, not FULL: the count must survive the process dying (it does: the WAL is in
        # the page cache); after a power cut, one attempt more or less does not matter.
        self.conn.execute("PRAGMA synchronous = NORMAL")
        try:
            _begin_soon(self.conn, BUSY_TIMEOUT_MS / 1000)
            try:
                row = self.conn.execute(_CLAIM, (window_id, now_ms())).fetchone()
            except BaseException:
                self.conn.rollback()
                raise
            self.conn.commit()
        finally:
            self.conn.execute("PRAGMA synchronous = FULL")
        return Claim(*row)

    def load_window(self, window_id: int) -> StoredWindow:
        """The window with its raw bytes, read once (store/segments.py's window_raw); raises
        RawUnreadable when they are missing or fail their checksum."""
        row = self.conn.execute(
            "SELECT id, device_id, stream, captured_at_ms, sample_rate, encoding, "
            f"{RAW_COLUMNS} FROM windows WHERE id = ?", (window_id,)).fetchone()
        window_id, device_id, stream, captured_at_ms, sample_rate, encoding = row[:6]
        return StoredWindow(window_id, device_id, stream, captured_at_ms, sample_rate, encoding,
                            window_raw(self.conn, self.raw_dir, window_id, row[6:]))

    def memory(self, device_id: str, stream: str, model: str,
               with_vectors: NeedsVectors = lambda memory: False) -> DeviceMemory:
        """The device's memory as stored; its learning vectors too when with_vectors says a
        fit may be due. The baselines row is parsed once per version (a learned one is
        written once per fit); the drifting centre is the state row's, written per window."""
        key = (device_id, stream)
        version = self.conn.execute("SELECT version FROM baselines WHERE device_id = ? AND "
                                    "stream = ?", key).fetchone()
        state = self.conn.execute("SELECT state, recent, alarm, centre FROM device_states "
                                  "WHERE device_id = ? AND stream = ?", key).fetchone()
        if version is None:
            memory = DeviceMemory(model=model)
        else:
            learned = self._learned_at(key, version[0])
            memory = DeviceMemory(model=learned.model, levels=learned.levels, fit=learned.fit,
                                  centre=_centre(learned.fit, state[3] if state else None),
                                  threshold=learned.threshold,
                                  learned_at_ms=learned.learned_at_ms,
                                  state=state[0] if state else "learning",
                                  alarm=state[2] if state else "normal",
                                  recent=state[1] if state else "")
        if memory.model == model and with_vectors(memory):
            memory = _with_vectors(memory, self.conn.execute(
                "SELECT features FROM baseline_vectors WHERE device_id = ? AND stream = ? "
                "AND model = ? ORDER BY id", (device_id, stream, model)))
        return memory

    def _learned_at(self, key: tuple[str, str], version: int) -> Learned:
        cached = self._learned.get(key)
        if cached is not None and cached.version == version:
            return cached
        model, scores, threshold, learned_at_ms, fit_json = self.conn.execute(
            "SELECT model, scores, threshold, learned_at_ms, fit FROM baselines "
            "WHERE device_id = ? AND stream = ?", key).fetchone()
        fit = Fit.from_json(json.loads(fit_json)) if fit_json else None
        learned = Learned(version, model, tuple(json.loads(scores)), threshold, fit,
                          learned_at_ms)
        self._learned[key] = learned
        return learned

    def record_failure(self, window_id: int, error: str, attempt: int) -> None:
        """A failed attempt (the `attempt`-th; its claim may not have been written)."""
        with immediate(self.conn):
            self.conn.execute(_ENDED, (window_id, "trying", attempt, error[:ERROR_CHARS],
                                       now_ms()))

    def dead_letter(self, window_id: int, error: str, attempts: int) -> None:
        """Give the window up: it is listed by `gateway dlq list` until retried."""
        with immediate(self.conn):
            self.conn.execute(_ENDED, (window_id, "dead", attempts, error[:ERROR_CHARS],
                                       now_ms()))
            self.conn.execute(
                "INSERT INTO dead_letters (stage, ref, error, attempts, created_at_ms) "
                "VALUES ('inference', ?, ?, ?, ?) ON CONFLICT (stage, ref) DO UPDATE SET "
                "error = excluded.error, attempts = excluded.attempts, "
                "created_at_ms = excluded.created_at_ms",
                (str(window_id), error[:ERROR_CHARS], attempts, now_ms()))
            stream = self.conn.execute("SELECT stream FROM windows WHERE id = ?",
                                       (window_id,)).fetchone()
            if stream:
                counters.bump(self.conn, {counters.analysed(stream[0], "dead"): 1})

    def save_batch(self, entries: Iterable[tuple[StoredWindow, Outcome, Judge]]
                   ) -> list[Verdict | None | Exception]:
        """Save many windows' results in ONE transaction (one fsync), in the order given; per
        entry its verdict, None (it already had a result) or the exception that stopped it.

        Each judge sees the device memory as the entries before it left it (the writes are
        in the same transaction), so a device's state evolves in order. An entry that fails
        by itself (a bug in judge, a value the database refuses) is rolled back to its own
        savepoint and the others still commit; a failure of the database itself raises and
        commits nothing, so the caller can retry the whole batch.
        """
        with immediate(self.conn):
            saved = [(entry[0], self._save_alone(*entry)) for entry in entries]
            # Each counter once for the whole batch (issue 14: it was two upserts per
            # result), counting only the results that stay.
            counters.bump(self.conn, _counts(saved))
        return [verdict for _, verdict in saved]

    def _save_alone(self, window: StoredWindow, outcome: Outcome,
                    judge: Judge) -> Verdict | None | Exception:
        conn = self.conn
        conn.execute(f"SAVEPOINT {_SAVEPOINT}")
        try:
            verdict = self._save(window, outcome, judge)
        except Exception as e:
            if _failed_in_the_database(e, conn):
                raise
            conn.execute(f"ROLLBACK TO {_SAVEPOINT}")
            conn.execute(f"RELEASE {_SAVEPOINT}")
            return e
        conn.execute(f"RELEASE {_SAVEPOINT}")
        return verdict

    def _save(self, window: StoredWindow, outcome: Outcome, judge: Judge) -> Verdict | None:
        """The writes of one result, inside the caller's transaction."""
        conn = self.conn
        if conn.execute("SELECT 1 FROM results WHERE window_id = ?", (window.id,)).fetchone():
            conn.execute(_ENDED, (window.id, "done", 1, None, now_ms()))
            return None
        needs = getattr(judge, "needs_vectors", lambda memory: False)
        verdict = judge(self.memory(window.device_id, window.stream, outcome.model, needs))
        self._insert_result(window, outcome, verdict)
        self._remember(window, outcome, verdict)
        if verdict.alert:
            self._insert_alert(window, outcome, verdict)
        conn.execute(_ENDED, (window.id, "done", 1, None, now_ms()))
        return verdict

    def _record(self, kind: str, device_id: str, ts_ms: int, data: dict) -> str:
        seq = self.conn.execute(_OUTBOX, (kind, device_id, ts_ms, now_ms(),
                                          dumps(data))).fetchone()[0]
        return record_id(self.store_id, seq)

    def _insert_result(self, window: StoredWindow, outcome: Outcome, verdict: Verdict) -> None:
        anomaly = None if verdict.anomaly is None else bool(verdict.anomaly)
        details = {**outcome.details, **verdict.details}
        data = {"stream": window.stream, "model": outcome.model, "score": verdict.score,
                "threshold": verdict.threshold, "anomaly": anomaly, "details": details}
        record_id = self._record("result", window.device_id, window.captured_at_ms, data)
        self.conn.execute(
            "INSERT INTO results (window_id, record_id, device_id, stream, ts_ms, model, score, "
            "threshold, anomaly, details, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (window.id, record_id, window.device_id, window.stream, window.captured_at_ms,
             outcome.model, verdict.score, verdict.threshold, anomaly, dumps(details), now_ms()))

    def _insert_alert(self, window: StoredWindow, outcome: Outcome, verdict: Verdict) -> None:
        alert = {"device_id": window.device_id, "stream": window.stream,
                 "state": verdict.alert, "ts": window.captured_at_ms, "score": verdict.score,
                 "reason": verdict.reason}
        insert_alert(self.conn, self.store_id, alert, window.id, now_ms())

    def _remember(self, window: StoredWindow, outcome: Outcome, verdict: Verdict) -> None:
        memory, stamp, key = verdict.memory, now_ms(), (window.device_id, window.stream)
        if verdict.refit or verdict.learned is not None:  # learnt from, or a new fit
            self._write_learned(key, memory, stamp)
        # else only the centre moved (it goes with the state row below, the fit stays), or
        # a learning device passed over this window (too soon after the last one it took)
        if verdict.refit:
            self.conn.execute("DELETE FROM baseline_vectors WHERE device_id = ? AND stream = ?",
                              key)
        elif verdict.learned is not None:
            if len(memory.levels) == 1:  # a fresh start (new model, reset): nothing older counts
                self.conn.execute("DELETE FROM baseline_vectors WHERE device_id = ? AND "
                                  "stream = ?", key)
            # float64, not JSON: ~460 bytes in the row's leaf, where the JSON (~1.1 KB)
            # overflowed a 1 KiB page: a page more per learning window, zeroed again when
            # freed at the fit (docs/performance.md, Wear, round 8). Rows stored as JSON
            # before are read as they are (_with_vectors).
            self.conn.execute("INSERT INTO baseline_vectors (device_id, stream, model, level_db, "
                              "features) VALUES (?, ?, ?, ?, ?)",
                              (*key, memory.model, memory.levels[-1],
                               finite_blob(verdict.learned)))
        # An upsert, not INSERT OR REPLACE: a replace deletes the row and inserts it again,
        # so its primary key's index page was written with every window too. `why` (what
        # drove this result) is here for status, which read it from the latest result
        # through an index of results by device that cost a page per window (migration 0015).
        why = verdict.details.get("why", outcome.details.get("why"))
        self.conn.execute(_STATE, (*key, memory.state, memory.recent, verdict.score,
                                   window.captured_at_ms, stamp, memory.alarm,
                                   float64_blob(memory.centre) if memory.centre else None,
                                   why if isinstance(why, str) else None))

    def _write_learned(self, key: tuple[str, str], memory: DeviceMemory, stamp: int) -> None:
        """The baselines row at a new version (each version is written once, so a cached
        copy of the same version is current); the cache holds it as a read would give it."""
        levels = tuple(round(v, 2) for v in memory.levels)
        learned = Learned(random.getrandbits(62), memory.model, levels, memory.threshold,
                          memory.fit, memory.learned_at_ms)
        fit = dumps(memory.fit.to_json()) if memory.fit is not None else None
        self.conn.execute(
            "INSERT INTO baselines (device_id, stream, model, scores, threshold, fit, version, "
            "updated_at_ms, learned_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (device_id, stream) DO UPDATE SET model = excluded.model, "
            "scores = excluded.scores, threshold = excluded.threshold, fit = excluded.fit, "
            "version = excluded.version, updated_at_ms = excluded.updated_at_ms, "
            "learned_at_ms = excluded.learned_at_ms",
            (*key, learned.model, dumps(list(levels)), learned.threshold, fit,
             learned.version, stamp, learned.learned_at_ms))
        self._learned[key] = learned


def _begin_soon(conn: sqlite3.Connection, timeout_s: float) -> None:
    """BEGIN IMMEDIATE, looking for the write lock every CLAIM_POLL_S while a writer holds it.

    SQLite's own busy handler sleeps 1, 2, 5, 10... ms between looks: a claim that met the
    intake or result writer's commit (an fsync of a millisecond or two) slept 3-8 ms, 16 % of
    the worker's time in a burst (py-spy, issue 14), with the window's analysis waiting."""
    deadline = time.monotonic() + timeout_s
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as e:
                busy = (getattr(e, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_BUSY
                if not busy or time.monotonic() >= deadline:
                    raise
            time.sleep(CLAIM_POLL_S)
    finally:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


def _counts(saved: Iterable[tuple[StoredWindow, Verdict | None | Exception]]) -> Counter[str]:
    """The counters a transaction's new results move: inferred, and analysed by outcome."""
    tally: Counter[str] = Counter()
    for window, verdict in saved:
        if verdict is not None and not isinstance(verdict, Exception):
            tally[counters.INFERRED] += 1
            tally[counters.analysed(window.stream, counters.outcome_of(verdict.anomaly))] += 1
    return tally


def finite_blob(values) -> bytes:
    """A learning vector as stored: float64, refused (as its JSON was) when not finite, so a
    NaN or infinity fails its window's save instead of reaching a fit."""
    if not all(math.isfinite(v) for v in values):
        raise ValueError("a learning vector holds a value that is not finite")
    return float64_blob(values)


def _centre(fit: Fit | None, stored: bytes | None) -> tuple[float, ...] | None:
    """The drifting centre as the state row holds it; the learned one if the row has none
    (it went, or a fit came without it)."""
    if stored is not None:
        return blob_floats(stored)
    return tuple(fit.origin.tolist()) if fit is not None else None


def _with_vectors(memory: DeviceMemory, rows) -> DeviceMemory:
    vectors = tuple(blob_floats(row[0]) if isinstance(row[0], bytes) else
                    tuple(json.loads(row[0])) for row in rows)
    vectors = vectors[-len(memory.levels):] if memory.levels else ()
    if len(vectors) != len(memory.levels):  # rows lost (a half reset): learn afresh
        return DeviceMemory(model=memory.model)
    return DeviceMemory(model=memory.model, levels=memory.levels, vectors=vectors,
                        state=memory.state, alarm=memory.alarm, recent=memory.recent)


def forget_baseline(conn: sqlite3.Connection, device_id: str, streams: Iterable[str]) -> int:
    """Forget what was learned of a device's streams (its baseline and state), in one
    transaction: the next windows are learned as normal. Returns how many baselines went."""
    streams = tuple(streams)
    marks = ", ".join("?" for _ in streams)
    with immediate(conn):
        forgotten = conn.execute(f"DELETE FROM baselines WHERE device_id = ? AND stream IN "
                                 f"({marks})", (device_id, *streams)).rowcount
        conn.execute(f"DELETE FROM device_states WHERE device_id = ? AND stream IN ({marks})",
                     (device_id, *streams))
    return forgotten


_UNANALYSED = (
    "SELECT w.id FROM windows w LEFT JOIN analysis a ON a.window_id = w.id "
    "WHERE (a.window_id IS NULL AND w.received_at_ms < ?) "
    "OR (a.state = 'trying' AND a.updated_at_ms < ?) ORDER BY w.id LIMIT ?"
)


def unanalysed(conn: sqlite3.Connection, new_before_ms: int, trying_before_ms: int,
               limit: int = 100_000) -> list[int]:
    """Windows that should be in the queue but may not be: never claimed and stored before
    new_before_ms, or claimed but silent since trying_before_ms (the worker died, or the
    result was computed but died uncommitted in the result writer's queue)."""
    return [row[0] for row in conn.execute(_UNANALYSED,
                                           (new_before_ms, trying_before_ms, limit))]



def insert_alert(conn: sqlite3.Connection, store_id: str, alert: dict, window_id: int | None,
                 created_at_ms: int) -> str:
    """An alert's outbox record and its row, inside the caller's transaction; the one writer
    of `alerts`, for the analysis' alerts and the silence check's (no window, no score).
    `alert` holds device_id, stream, state, ts, score and reason. Returns its record id."""
    data = {k: alert[k] for k in ("stream", "state", "score", "reason")}
    seq = conn.execute(_OUTBOX, ("alert", alert["device_id"], alert["ts"], created_at_ms,
                                 dumps(data))).fetchone()[0]
    alert_id = record_id(store_id, seq)
    conn.execute(
        "INSERT INTO alerts (record_id, device_id, stream, state, ts_ms, score, reason, "
        "window_id, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (alert_id, alert["device_id"], alert["stream"], alert["state"], alert["ts"],
         alert["score"], alert["reason"], window_id, created_at_ms))
    return alert_id


def analysis_state(conn: sqlite3.Connection, device_id: str, stream: str) -> str:
    """The stream's state as its analysis last left it ("normal" before any)."""
    row = conn.execute("SELECT state FROM device_states WHERE device_id = ? AND stream = ?",
                       (device_id, stream)).fetchone()
    return row[0] if row else "normal"
