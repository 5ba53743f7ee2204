"""Gaps in the senders' sequence numbers, per device and stream (docs/mqtt.md, "Sequence
numbers"): loss upstream of the gateway (a broker that lost its queue in a power cut, a box
that dropped messages) made visible instead of believed complete.

The intake store hands each batch's newly stored (device, stream, seq) to `SequenceTracker`
inside the batch's transaction; duplicates never get here, because only rows actually
inserted are reported. The state lives in memory (one dict look-up per message) and in the
`seq_state` table, written in the same transaction, so it survives restarts.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

_UPSERT = (
    "INSERT INTO seq_state (device_id, stream, last_seq, gaps, restarts, updated_at_ms) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (device_id, stream) DO UPDATE SET "
    "last_seq = excluded.last_seq, gaps = excluded.gaps, restarts = excluded.restarts, "
    "updated_at_ms = excluded.updated_at_ms"
)
Key = tuple[str, str]  # (device_id, stream)


def step(state: tuple[int, int, int] | None, seq: int) -> tuple[int, int, int]:
    """(last_seq, gaps, restarts) after one new message numbered seq.

    +1 is the normal case; a jump forward counts the numbers skipped as missing; a step back
    (duplicates are never reported here) is the box starting again after a reboot, and the
    numbers below seq since that restart are missing too."""
    if state is None:
        return seq, 0, 0
    last, gaps, restarts = state
    if seq > last:
        return seq, gaps + seq - last - 1, restarts
    return seq, gaps + seq, restarts + 1


class SequenceTracker:
    """Owned by the intake store's thread."""

    def __init__(self, conn: sqlite3.Connection):
        self._state: dict[Key, tuple[int, int, int]] = {
            (device, stream): (last, gaps, restarts) for device, stream, last, gaps, restarts
            in conn.execute("SELECT device_id, stream, last_seq, gaps, restarts FROM seq_state")}

    def record(self, conn: sqlite3.Connection, seen: Iterable[tuple[str, str, int]],
               now_ms: int) -> dict[Key, tuple[int, int, int]]:
        """Write the new state of every key in seen (oldest first) in the caller's
        transaction; returns it, for `commit` once that transaction is durable."""
        changed: dict[Key, tuple[int, int, int]] = {}
        for device, stream, seq in seen:
            key = (device, stream)
            changed[key] = step(changed.get(key) or self._state.get(key), seq)
        if changed:
            conn.executemany(_UPSERT, [(*key, *value, now_ms) for key, value in changed.items()])
        return changed

    def commit(self, changed: dict[Key, tuple[int, int, int]]) -> None:
        self._state.update(changed)


def read_gaps(conn: sqlite3.Connection) -> list[dict]:
    """Every device and stream that sent sequence numbers: for status and metrics."""
    return [{"device_id": device, "stream": stream, "last_seq": last, "gaps": gaps,
             "restarts": restarts, "updated_at_ms": updated}
            for device, stream, last, gaps, restarts, updated in conn.execute(
                "SELECT device_id, stream, last_seq, gaps, restarts, updated_at_ms "
                "FROM seq_state ORDER BY device_id, stream")]
