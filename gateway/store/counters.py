"""The `counters` table and its vocabulary: every counter's name is made here, every bump and
every read goes through here.

A counter is a row (name, value) that only grows. Names:

    received_<stream>                 messages stored, per stream
    rejected                          invalid messages kept aside (all streams)
    rejected:<stream>:<reason>        the same by stream ("unknown" when the topic named none)
                                      and reason code
    inferred                          windows with a result
    analysed:<stream>:<outcome>       windows analysed, by outcome (normal, anomaly, learning,
                                      dead)
    synced                            records the cloud accepted
    raw_dropped:policy                raw payloads of normal windows cleared after analysis by
                                      [storage] keep_normal_raw_every
    uploads:<result>                  upload batches by result (accepted, rejected, retry,
                                      paused)

Writers add up what a transaction changed (a `collections.Counter`) and bump each name once at
its end (`bump`): a group commit of N records makes one upsert per name, not one or two per
record (issue 14). The WAL gets the counters' page once per commit either way; what this saves
is the statements and the B-tree updates inside the transaction (200 results: 400 upserts -> 3).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from gateway.records import STREAMS

AnalysisOutcome = Literal["normal", "anomaly", "learning", "dead"]
UploadResult = Literal["accepted", "rejected", "retry", "paused"]

REJECTED = "rejected"
INFERRED = "inferred"
SYNCED = "synced"
RAW_DROPPED_BY_POLICY = "raw_dropped:policy"

_UPSERT = ("INSERT INTO counters (name, value) VALUES (?, ?) "
           "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value")


def received(stream: str) -> str:
    return f"received_{stream}"


def rejected(stream: str, reason: str) -> str:
    """`stream` is the topic's last level; anything that names no stream counts as unknown."""
    return f"{REJECTED}:{stream if stream in STREAMS else 'unknown'}:{reason}"


def analysed(stream: str, outcome: AnalysisOutcome) -> str:
    return f"analysed:{stream}:{outcome}"


def uploads(result: UploadResult) -> str:
    return f"uploads:{result}"


def outcome_of(anomaly: bool | None) -> AnalysisOutcome:
    """A result's outcome: its `anomaly` is None while the baseline is learned."""
    return "learning" if anomaly is None else "anomaly" if anomaly else "normal"


def bump(conn: sqlite3.Connection, counts: Mapping[str, int]) -> None:
    """Add each count to its counter: one upsert per name, inside the caller's transaction.
    Zero counts write nothing."""
    conn.executemany(_UPSERT, [(name, n) for name, n in counts.items() if n])


@dataclass(frozen=True, slots=True)
class Counters:
    """Every counter as read, with the names parsed back into their parts."""

    received: dict[str, int]  # stream -> n, every stream present
    rejected: int
    rejected_by: dict[str, dict[str, int]]  # stream -> reason -> n
    inferred: int
    analysed: dict[str, dict[str, int]]  # stream -> outcome -> n
    synced: int
    uploads: dict[str, int]  # result -> n
    raw_dropped_by_policy: int = 0


def _nested(rows: Iterable[tuple[str, int]], prefix: str) -> dict[str, dict[str, int]]:
    nested: dict[str, dict[str, int]] = {}
    for name, value in rows:
        parts = name.split(":")
        if len(parts) == 3 and parts[0] == prefix:
            nested.setdefault(parts[1], {})[parts[2]] = value
    return nested


def read_counters(conn: sqlite3.Connection) -> Counters:
    values: dict[str, int] = dict(conn.execute("SELECT name, value FROM counters"))
    rows = list(values.items())
    return Counters(
        received={s: values.get(received(s), 0) for s in STREAMS},
        rejected=values.get(REJECTED, 0),
        rejected_by=_nested(rows, REJECTED),
        inferred=values.get(INFERRED, 0),
        analysed=_nested(rows, "analysed"),
        synced=values.get(SYNCED, 0),
        uploads={k.split(":", 1)[1]: v for k, v in rows if k.startswith("uploads:")},
        raw_dropped_by_policy=values.get(RAW_DROPPED_BY_POLICY, 0))
