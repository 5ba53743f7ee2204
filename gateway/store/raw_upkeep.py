"""Retention's care of raw segments (store/segments.py): deleting the segments no window
references, moving long-kept raw out of a mostly dead segment, and the `[storage]`
keep_normal_raw_every policy.

A segment's space comes back only when its last window lets go of it. Raw of normal windows
goes after days (or sooner, for space); raw of anomalous and dead-lettered windows is kept
for weeks, and one such window would pin its whole segment. So once a segment's live bytes
are at most COMPACT_SHARE of its size, the raw of its remaining (analysed) windows is copied
once into the store's payload BLOB, where SQLite reuses freed pages, and the file goes.
Raw of windows not analysed yet is never moved: a worker may be reading it.

Runs on retention's connection and thread.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from gateway.store import counters
from gateway.store.segments import (
    RawRef,
    RawUnreadable,
    delete_segment,
    list_segments,
    read_raw,
    segment_path,
)

COMPACT_SHARE = 0.25
POLICY_CHUNK = 500
# meta: {"mark": last window id looked at, "counts": {"<device>/<stream>": normal windows}}
POLICY_KEY = "raw_policy"

# SQL of "the window (alias w) has raw data", and of clearing it.
HAS_RAW = "(w.payload IS NOT NULL OR w.raw_segment IS NOT NULL)"
NO_RAW = "payload = NULL, raw_segment = NULL, raw_offset = NULL, raw_length = NULL, raw_crc = NULL"

_LIVE = "SELECT count(*), coalesce(sum(raw_length), 0) FROM windows WHERE raw_segment = ?"
_MOVABLE = (
    "SELECT w.id, w.raw_offset, w.raw_length, w.raw_crc, "
    "EXISTS (SELECT 1 FROM results r WHERE r.window_id = w.id) OR EXISTS (SELECT 1 FROM "
    "analysis a WHERE a.window_id = w.id AND a.state = 'dead') FROM windows w "
    "WHERE w.raw_segment = ?"
)
_MOVE = ("UPDATE windows SET payload = ?, raw_segment = NULL, raw_offset = NULL, "
         "raw_length = NULL, raw_crc = NULL WHERE id = ? AND raw_segment = ? AND raw_offset = ?")
_POLICY_SCAN = (
    "SELECT w.id, w.device_id || '/' || w.stream, r.anomaly, r.window_id IS NOT NULL, "
    "a.state, " + HAS_RAW + " "
    "FROM windows w LEFT JOIN results r ON r.window_id = w.id "
    "LEFT JOIN analysis a ON a.window_id = w.id WHERE w.id > ? ORDER BY w.id LIMIT ?"
)
_POLICY_CLEAR = ("UPDATE windows AS w SET " + NO_RAW + " WHERE w.id IN (SELECT value FROM "
                 "json_each(?)) AND " + HAS_RAW + " AND EXISTS (SELECT 1 FROM results r "
                 "WHERE r.window_id = w.id AND r.anomaly = 0) RETURNING id")


class RawUpkeep:
    def __init__(self, conn: sqlite3.Connection, raw_dir: Path,
                 transaction: Callable[[], AbstractContextManager]):
        self.conn, self.raw_dir, self._transaction = conn, raw_dir, transaction

    def free_segments(self, deleted: Counter) -> None:
        """Delete every segment but the newest (the intake writer may be appending to it)
        that no window references; move the raw out of mostly dead ones first."""
        for segment in list_segments(self.raw_dir)[:-1]:
            count, live = self.conn.execute(_LIVE, (segment,)).fetchone()
            if count and live <= COMPACT_SHARE * _size(self.raw_dir, segment):
                moved = self._move_out(segment)
                if moved:
                    deleted["raw_moved"] += moved
                    count -= moved
            if not count:
                freed = delete_segment(self.raw_dir, segment)
                deleted["segments"] += 1
                deleted["segment_bytes"] += freed

    def _move_out(self, segment: int) -> int:
        """Copy the raw of the segment's analysed windows into their rows; how many moved
        (none when any window there waits for analysis or its bytes fail their checksum:
        those stay where the analysis, or a technician, finds them)."""
        rows = self.conn.execute(_MOVABLE, (segment,)).fetchall()
        if not all(analysed for *_, analysed in rows):
            return 0
        try:
            moves = [(read_raw(self.raw_dir, RawRef(segment, offset, length, crc)), window_id,
                      segment, offset) for window_id, offset, length, crc, _ in rows]
        except RawUnreadable:
            return 0
        with self._transaction():
            return sum(self.conn.execute(_MOVE, move).rowcount for move in moves)

    def apply_policy(self, every: int) -> int:
        """keep_normal_raw_every: of each device's analysed normal windows (per stream), in
        the order they were stored, keep the raw of the 1st, (every+1)th, ...; the others' raw
        goes. Anomalous, learning-phase and dead-lettered windows keep theirs. Stops at the
        first window not analysed yet, so every window is judged once, after its analysis.
        Returns how many raw payloads it cleared (counted: counters.RAW_DROPPED_BY_POLICY)."""
        if every <= 1:
            return 0
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (POLICY_KEY,)).fetchone()
        state = json.loads(row[0]) if row else {"mark": 0, "counts": {}}
        dropped = 0
        while True:
            rows = self.conn.execute(_POLICY_SCAN, (state["mark"], POLICY_CHUNK)).fetchall()
            drop, looked = _policy_choice(rows, state, every)
            if not looked:
                return dropped
            with self._transaction():
                cleared = self.conn.execute(_POLICY_CLEAR, (json.dumps(drop),)).fetchall()
                counters.bump(self.conn, {counters.RAW_DROPPED_BY_POLICY: len(cleared)})
                self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                                  (POLICY_KEY, json.dumps(state)))
            dropped += len(cleared)
            if looked < len(rows) or len(rows) < POLICY_CHUNK:
                return dropped


def _policy_choice(rows: list, state: dict, every: int) -> tuple[list[int], int]:
    """The windows (of rows, oldest first) whose raw the policy drops, and how many rows it
    looked at; updates state's mark and per-device counts."""
    drop: list[int] = []
    looked = 0
    for window_id, key, anomaly, has_result, analysis, has_raw in rows:
        if not has_result and analysis != "dead":
            break  # not analysed yet: judged at a later run
        looked += 1
        state["mark"] = window_id
        if has_result and anomaly == 0:
            n = state["counts"].get(key, 0)
            state["counts"][key] = n + 1
            if n % every and has_raw:
                drop.append(window_id)
    return drop, looked


def _size(raw_dir: Path, segment: int) -> int:
    try:
        return segment_path(raw_dir, segment).stat().st_size
    except FileNotFoundError:
        return 0
