"""The store as the outside reads it: the one read model shared by `gateway status`
(ops/status.py), the metrics (service/observe.py) and the demo (which shows the status).

Read-only queries on a connection the caller opened (read-only, so they run beside the
daemon's writers in WAL mode), each returning typed rows. `read_overview` is what the
metrics scrape every few seconds: a few aggregates, no per-device scan; `read_details` adds
what a technician looks at once (devices, rejections, the uploader's and daemon's state);
`read_flagged` and `read_gaps` (issue 13) apart, as a store not migrated yet lacks them;
`read_card_wear` alone for doctor, which needs nothing else.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Literal, NamedTuple, TypedDict

from gateway.store.counters import Counters, read_counters
from gateway.store.daemon_state import CardWear, DaemonState, read_daemon_state
from gateway.store.outbox import SyncStatus, pending_records, read_sync_status
from gateway.store.retention import read_refusal
from gateway.store.sequences import SequenceGap, read_gaps

__all__ = ["CardWear", "Details", "DeviceSeen", "Flagged", "Overview", "Rejected",
           "SequenceGap", "StreamState", "read_card_wear", "read_details", "read_flagged",
           "read_gaps", "read_overview"]

DEAD_LETTER_STAGES = ("inference", "sync")
DeviceState = Literal["learning", "normal", "anomaly", "off"]  # docs/inference.md
TsFlag = Literal["ahead", "before_2000", "unusable"]  # docs/mqtt.md


class Flagged(NamedTuple):
    """Stored messages kept with a doubtful time stamp (docs/mqtt.md)."""

    table: Literal["windows", "telemetry"]
    stream: str
    flag: TsFlag
    n: int


@dataclass(frozen=True, slots=True)
class Overview:
    counters: Counters
    pending_inference: int  # windows without a result, not given up
    dead_letters: dict[str, int]  # stage -> n, every stage present
    upload_backlog: int  # records waiting for the cloud (outbox, telemetry above the mark)
    card_wear: CardWear | None  # as the daemon last wrote it; None before it has


class Rejected(TypedDict):
    received_at_ms: int
    topic: str
    reason: str
    detail: str


class StreamState(TypedDict):
    """A device's stream as the analysis left it."""

    state: DeviceState
    last_score: float | None
    last_ts_ms: int | None
    threshold: float | None
    model: str | None
    baseline_windows: int  # windows learned so far
    why: str  # what drove the latest result


class DeviceSeen(TypedDict):
    device_id: str
    last_seen_ms: int
    streams: dict[str, StreamState]


@dataclass(frozen=True, slots=True)
class Details:
    sync: SyncStatus
    raw_intake_refused: dict | None  # {"since_ms", "reason"} while raw intake is refused
    daemon: DaemonState | None  # as the running daemon last wrote it
    rejected_by_reason: dict[str, int]  # most frequent first
    recent_rejections: list[Rejected]  # newest first
    devices: list[DeviceSeen]  # by device id


def read_overview(conn: sqlite3.Connection) -> Overview:
    dead = dict.fromkeys(DEAD_LETTER_STAGES, 0)
    dead.update(conn.execute("SELECT stage, count(*) FROM dead_letters GROUP BY stage"))
    return Overview(
        counters=read_counters(conn),
        pending_inference=conn.execute(
            "SELECT count(*) FROM windows w LEFT JOIN analysis a ON a.window_id = w.id "
            "WHERE a.state IS NULL OR a.state = 'trying'").fetchone()[0],
        dead_letters=dead,
        upload_backlog=pending_records(conn),
        card_wear=read_card_wear(conn))


def read_card_wear(conn: sqlite3.Connection) -> CardWear | None:
    """What the daemon writes to storage and the card life it projects (service/wear.py),
    from the daemon's state row: as of its last write, whether it still runs or not."""
    state = read_daemon_state(conn)
    return state.get("wear") if state else None


def read_flagged(conn: sqlite3.Connection) -> list[Flagged]:
    """Per table, stream and flag, in that order (a store without migration 0004 raises
    sqlite3.OperationalError)."""
    tables: tuple[tuple[Literal["windows", "telemetry"], str], ...] = (
        ("windows", "stream"), ("telemetry", "'telemetry'"))
    return [Flagged(table, *row) for table, stream_sql in tables
            for row in conn.execute(f"SELECT {stream_sql}, ts_flag, count(*) FROM {table} "
                                    "WHERE ts_flag IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2")]


def read_details(conn: sqlite3.Connection, recent_rejections: int) -> Details:
    devices = [DeviceSeen(device_id=device, last_seen_ms=last_seen, streams={})
               for device, last_seen in conn.execute(
                   "SELECT device_id, max(last) FROM ("
                   " SELECT device_id, max(received_at_ms) AS last FROM windows GROUP BY device_id"
                   " UNION ALL"
                   " SELECT device_id, max(received_at_ms) FROM telemetry GROUP BY device_id"
                   ") GROUP BY device_id ORDER BY device_id")]
    _fill_stream_states(conn, devices)
    return Details(
        sync=read_sync_status(conn),
        raw_intake_refused=read_refusal(conn),
        daemon=read_daemon_state(conn),
        rejected_by_reason=dict(conn.execute(
            "SELECT reason, count(*) FROM rejected GROUP BY reason ORDER BY 2 DESC")),
        recent_rejections=[
            Rejected(received_at_ms=ts, topic=topic, reason=reason, detail=detail)
            for ts, topic, reason, detail in conn.execute(
                "SELECT received_at_ms, topic, reason, detail FROM rejected ORDER BY id DESC "
                "LIMIT ?", (recent_rejections,))],
        devices=devices)


def _fill_stream_states(conn: sqlite3.Connection, devices: list[DeviceSeen]) -> None:
    """Per device and stream: state, last score, threshold and baseline progress."""
    by_id = {d["device_id"]: d for d in devices}
    # "why": what drove the stream's latest result, kept with its state by the analysis.
    rows = conn.execute(
        "SELECT s.device_id, s.stream, s.state, s.last_score, s.last_ts_ms, b.threshold, "
        "CASE WHEN json_valid(b.scores) THEN json_array_length(b.scores) END, b.scores, "
        "b.model, s.why FROM device_states s LEFT JOIN baselines b "
        "ON b.device_id = s.device_id AND b.stream = s.stream ORDER BY s.device_id, s.stream")
    for device, stream, state, score, ts_ms, threshold, learned, scores, model, why in rows:
        if device in by_id:
            by_id[device]["streams"][stream] = StreamState(
                state=state, last_score=score, last_ts_ms=ts_ms, threshold=threshold,
                model=model, baseline_windows=learned if learned is not None else _count(scores),
                why=why or "")


def _count(scores: str | None) -> int:
    """Baseline scores SQLite calls malformed: Python's json reads Infinity and NaN, which
    a non-finite score left there (issue 12.6); status shows them rather than crashing."""
    if scores is None:
        return 0
    try:
        parsed = json.loads(scores)
    except ValueError:
        return 0
    return len(parsed) if isinstance(parsed, list) else 0


def last_receipt_ms(conn: sqlite3.Connection) -> int | None:
    """The receipt time of the newest stored message (by row id, so no scan)."""
    times = [row[0] for table in ("windows", "telemetry") for row in conn.execute(
        f"SELECT received_at_ms FROM {table} ORDER BY id DESC LIMIT 1")]
    return max(times) if times else None
