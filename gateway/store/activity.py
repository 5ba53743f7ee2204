"""When each device and stream was last heard from, and how often it usually sends: what the
silence check (service/silence.py) needs to tell a dead sensor box from a quiet one.

The intake store feeds `Activity.observe` with each committed batch, in memory only: a dict
update per device and stream in the batch, nothing written on the hot path. The silence check
reads a copy and persists it in `device_activity`, from which the next start resumes.
"""

from __future__ import annotations

import sqlite3
import statistics
from collections import deque
from dataclasses import dataclass, field

from gateway.records import Record, Telemetry, Window

ESTIMATES = 16  # the usual interval is the median of this many recent estimates
MIN_ESTIMATES = 3  # fewer: not learned yet, never called silent


@dataclass
class Seen:
    last_ms: int
    estimates: deque = field(default_factory=lambda: deque(maxlen=ESTIMATES))

    def interval_ms(self) -> int | None:
        if len(self.estimates) < MIN_ESTIMATES:
            return None
        return int(statistics.median(self.estimates))


class Activity:
    """Written by the intake thread, read (as a copy) by the silence check."""

    def __init__(self, conn: sqlite3.Connection | None = None):
        self._seen: dict[tuple[str, str], Seen] = {}
        if conn is not None:
            for device, stream, last_ms, interval in conn.execute(
                    "SELECT device_id, stream, last_ms, interval_ms FROM device_activity"):
                seen = Seen(last_ms)
                if interval:  # resume as learned: the silence before a restart still counts
                    seen.estimates.extend([interval] * MIN_ESTIMATES)
                self._seen[(device, stream)] = seen

    def observe(self, records: list[Record]) -> None:
        """One committed batch: per device and stream, the newest receipt and one estimate of
        the interval (the time since the previous batch's newest, over the messages)."""
        newest: dict[tuple[str, str], list[int]] = {}
        for record in records:
            if type(record) is Telemetry:
                key = (record.device_id, "telemetry")
            elif type(record) is Window:
                key = (record.device_id, record.stream)
            else:
                continue
            entry = newest.get(key)
            if entry is None:
                newest[key] = [record.received_at_ms, 1]
            else:
                entry[0] = max(entry[0], record.received_at_ms)
                entry[1] += 1
        for key, (last_ms, count) in newest.items():
            seen = self._seen.get(key)
            if seen is None:
                self._seen[key] = Seen(last_ms)
            elif last_ms > seen.last_ms:
                seen.estimates.append((last_ms - seen.last_ms) / count)
                seen.last_ms = last_ms

    def snapshot(self) -> dict[tuple[str, str], tuple[int, int | None]]:
        """{(device, stream): (last_ms, usual interval ms or None)}."""
        return {key: (seen.last_ms, seen.interval_ms()) for key, seen in list(self._seen.items())}


_SAVE = (
    "INSERT INTO device_activity (device_id, stream, last_ms, interval_ms, silent_since_ms) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (device_id, stream) DO UPDATE SET "
    "last_ms = excluded.last_ms, interval_ms = excluded.interval_ms, "
    "silent_since_ms = excluded.silent_since_ms"
)


def save_activity(conn: sqlite3.Connection,
                  rows: list[tuple[str, str, int, int | None, int | None]]) -> None:
    """(device, stream, last heard ms, usual interval ms, silent since ms) per stream, inside
    the caller's transaction."""
    conn.executemany(_SAVE, rows)


def read_silent(conn: sqlite3.Connection) -> dict[tuple[str, str], int]:
    """{(device, stream): silent since (ms)}, for the silence check, status and metrics."""
    return {(device, stream): since for device, stream, since in conn.execute(
        "SELECT device_id, stream, silent_since_ms FROM device_activity "
        "WHERE silent_since_ms IS NOT NULL")}
