"""Figures about the running daemon for the outside: Prometheus snapshots and the one-line
STATUS= that `systemctl status` shows. Reads the store through its own read-only
connection; never writes."""

from __future__ import annotations

import shutil
import sqlite3

from gateway.config import Config
from gateway.service.metrics import MetricsSnapshot
from gateway.store.activity import read_silent
from gateway.store.daemon_state import CardWear
from gateway.store.database import open_database
from gateway.store.read_model import read_flagged, read_gaps, read_overview
from gateway.store.retention import dir_bytes


def metrics_snapshot(config: Config, queue_depth: int, silence: dict[str, float], *,
                     unavailable: dict[str, str] | None = None, clock_problem: str = "",
                     clock_jumps: int = 0) -> MetricsSnapshot:
    """The store's figures in the shape gateway.service.metrics expects (see its docstring)."""
    snap: MetricsSnapshot = {"queue_depth": queue_depth, "loop_silence_seconds": silence,
                             "unavailable": {part: 1 for part in unavailable or {}},
                             "clock_wrong": int(bool(clock_problem)), "clock_jumps": clock_jumps}
    data_dir = config.gateway.data_dir
    snap["disk_used_bytes"] = dir_bytes(data_dir)
    snap["disk_budget_bytes"] = config.retention.disk_budget_mb * 1024 * 1024
    snap["disk_free_bytes"] = shutil.disk_usage(data_dir).free
    db = open_database(config.store_path, read_only=True)
    try:
        overview = read_overview(db.conn)
        counts = overview.counters
        snap["received"] = counts.received
        snap["rejected"] = counts.rejected_by
        snap["analysed"] = counts.analysed
        snap["synced"] = counts.synced
        snap["uploads"] = counts.uploads
        snap["dead_letters"] = overview.dead_letters
        snap["upload_backlog"] = overview.upload_backlog
        _card_wear(overview.card_wear, snap)
        _time_and_sequences(db.conn, snap)
    finally:
        db.close()
    return snap


def _time_and_sequences(conn: sqlite3.Connection, snap: MetricsSnapshot) -> None:
    gaps: dict[str, dict[str, int]] = {}
    restarts: dict[str, dict[str, int]] = {}
    for g in read_gaps(conn):
        gaps.setdefault(g["stream"], {})[g["device_id"]] = g["gaps"]
        restarts.setdefault(g["stream"], {})[g["device_id"]] = g["restarts"]
    snap["sequence_gaps"], snap["sequence_restarts"] = gaps, restarts
    flagged: dict[str, dict[str, int]] = {}
    for f in read_flagged(conn):
        flagged.setdefault(f.stream, {})[f.flag] = f.n
    snap["ts_flagged"] = flagged
    silent: dict[str, dict[str, int]] = {}
    for device, stream in read_silent(conn):
        silent.setdefault(stream, {})[device] = 1
    snap["silent"] = silent


def _card_wear(wear: CardWear | None, snap: MetricsSnapshot) -> None:
    """The daemon's writes and the card life they project, as its state row has them (every
    10 s); a figure not measured (yet) is left out rather than served as 0."""
    if not wear or wear["written_bytes"] is None:
        return
    snap["storage_written_bytes"] = wear["written_bytes"]
    if wear["bytes_per_day"] is not None:
        snap["storage_written_bytes_per_day"] = wear["bytes_per_day"]
        snap["storage_write_window_seconds"] = wear["measured_s"]
    if wear["card_years"] is not None:
        snap["card_life_projected_years"] = wear["card_years"]
