"""What only the running daemon knows (broker connection, queue depth, loops that stopped
reporting, what it writes to the card), kept in the store's `meta` row `daemon` for
`gateway status` in another process.

Written every few seconds by the daemon's main connection, replaced whole; read by the read
model (store/read_model.py).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Literal, NotRequired, TypedDict

_KEY = "daemon"


class ClockJumps(TypedDict):
    """service/clock.py's count of wall-clock jumps since the daemon started."""

    jumps: int
    last_jump_s: float
    last_jump_ms: int | None


CardSizeFrom = Literal["storage.card_gb", "file system", "unknown"]


class CardWear(TypedDict):
    """service/wear.py's figures: what the daemon writes to storage and the card life that
    projects (docs/performance.md, "Wear"). A figure it could not measure is None, and
    `note` says why."""

    written_bytes: int | None  # the process's write_bytes (/proc/self/io) since it started
    bytes_per_day: float | None  # over the last `measured_s` seconds
    measured_s: float
    warming_up: bool  # measured over less than a day so far
    card_bytes: int | None
    card_size_from: CardSizeFrom
    endurance_writes: int  # storage.card_endurance_writes: full writes the card endures
    card_years: float | None
    note: str  # "" when every figure is there


class DaemonState(TypedDict):
    started_ms: int
    updated_ms: int
    broker_connected: bool
    queue_depth: int
    stale_loops: list[str]  # loops past their silence limit
    unavailable: dict[str, str]  # optional part -> why it is missing
    clock: ClockJumps
    wear: NotRequired[CardWear]  # absent in a row an older version wrote


def write_daemon_state(conn: sqlite3.Connection, state: DaemonState) -> None:
    """Replace the row in a transaction of its own."""
    with conn:
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                     (_KEY, json.dumps(state)))


def read_daemon_state(conn: sqlite3.Connection) -> DaemonState | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (_KEY,)).fetchone()
    return json.loads(row[0]) if row else None
