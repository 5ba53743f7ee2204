"""Results and alerts waiting to be published on the local broker, as the publisher
(delivery/publisher.py) reads and marks them. The rows are written by the analysis
(inference/results.py) and the silence check; only their `published` flag is written here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

_RESULTS = (
    "SELECT window_id, record_id, device_id, stream, ts_ms, model, score, threshold, anomaly, "
    "details FROM results WHERE published = 0 ORDER BY window_id LIMIT ?"
)
_ALERTS = (
    "SELECT id, record_id, device_id, stream, state, ts_ms, score, reason FROM alerts "
    "WHERE published = 0 ORDER BY id LIMIT ?"
)


def unpublished_results(conn: sqlite3.Connection, limit: int) -> list[tuple]:
    """(window_id, record_id, device_id, stream, ts_ms, model, score, threshold, anomaly,
    details), oldest first."""
    return conn.execute(_RESULTS, (limit,)).fetchall()


def unpublished_alerts(conn: sqlite3.Connection, limit: int) -> list[tuple]:
    """(id, record_id, device_id, stream, state, ts_ms, score, reason), oldest first."""
    return conn.execute(_ALERTS, (limit,)).fetchall()


def mark_published(conn: sqlite3.Connection, result_keys: Iterable[int],
                   alert_keys: Iterable[int]) -> None:
    """The broker acknowledged these (by their first column), in one transaction."""
    with conn:
        conn.executemany("UPDATE results SET published = 1 WHERE window_id = ?",
                         [(key,) for key in result_keys])
        conn.executemany("UPDATE alerts SET published = 1 WHERE id = ?",
                         [(key,) for key in alert_keys])
