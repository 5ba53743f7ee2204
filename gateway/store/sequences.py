"""Gaps in the senders' sequence numbers, per device and stream (docs/mqtt.md, "Sequence
numbers"): loss upstream of the gateway (a broker that lost its queue in a power cut, a box
that dropped messages) made visible instead of believed complete.

The intake store hands each batch's newly stored (device, stream, seq) to `SequenceTracker`
inside the batch's transaction; duplicates never get here, because only rows actually
inserted are reported. The state lives in memory (one dict look-up per message) and in the
`seq_state` table, written in the same transaction, so it survives restarts.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import TypedDict

_UPSERT = (
    "INSERT INTO seq_state (device_id, stream, last_seq, gaps, restarts, updated_at_ms) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (device_id, stream) DO UPDATE SET "
    "last_seq = excluded.last_seq, gaps = excluded.gaps, restarts = excluded.restarts, "
    "updated_at_ms = excluded.updated_at_ms"
)
_GAP_TO_OUTBOX = (
    "INSERT INTO outbox (kind, device_id, ts_ms, created_at_ms, data) "
    "VALUES ('telemetry', ?, ?, ?, ?)"
)
Key = tuple[str, str]  # (device_id, stream)
# Upstream, a gap is a telemetry record about the box made by the gateway (docs/upstream.md):
# its data names the observation, so the cloud tells it from what the box itself sent.
OBSERVATION = "sequence_gap"


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

    def record(self, conn: sqlite3.Connection, seen: Iterable[tuple[str, str, int, int]],
               now_ms: int) -> dict[Key, tuple[int, int, int]]:
        """Write the new state of every key in seen ((device, stream, seq, received_at_ms),
        oldest first) in the caller's transaction, and an upstream record for each gap;
        returns the new state, for `commit` once that transaction is durable."""
        changed: dict[Key, tuple[int, int, int]] = {}
        gaps = []
        for device, stream, seq, received_ms in seen:
            key = (device, stream)
            before = changed.get(key) or self._state.get(key)
            after = changed[key] = step(before, seq)
            if before is not None and after[1] > before[1]:
                gaps.append((device, received_ms, now_ms, json.dumps({
                    "gateway_observation": OBSERVATION, "stream": stream,
                    "missing": after[1] - before[1], "previous_seq": before[0], "seq": seq,
                    "restart": after[2] > before[2]})))
        if changed:
            conn.executemany(_UPSERT, [(*key, *value, now_ms) for key, value in changed.items()])
        if gaps:
            conn.executemany(_GAP_TO_OUTBOX, gaps)
        return changed

    def commit(self, changed: dict[Key, tuple[int, int, int]]) -> None:
        self._state.update(changed)


class SequenceGap(TypedDict):
    device_id: str
    stream: str
    last_seq: int
    gaps: int  # messages missing in the sender's numbers, cumulative
    restarts: int  # times the sender started again from 0
    updated_at_ms: int


def read_gaps(conn: sqlite3.Connection) -> list[SequenceGap]:
    """Every device and stream that sent sequence numbers: for status and metrics."""
    return [{"device_id": device, "stream": stream, "last_seq": last, "gaps": gaps,
             "restarts": restarts, "updated_at_ms": updated}
            for device, stream, last, gaps, restarts, updated in conn.execute(
                "SELECT device_id, stream, last_seq, gaps, restarts, updated_at_ms "
                "FROM seq_state ORDER BY device_id, stream")]
