"""Figures about the running daemon for the outside: Prometheus snapshots and the one-line
STATUS= that `systemctl status` shows. Reads the store through its own read-only
connection; never writes."""

from __future__ import annotations

import shutil
from typing import Any

from gateway.config import Config
from gateway.records import STREAMS
from gateway.service.silence import read_silent
from gateway.store.database import open_database
from gateway.store.retention import dir_bytes
from gateway.store.sequences import read_gaps


def _nested_counters(counters: dict[str, int], prefix: str) -> dict[str, dict[str, int]]:
    """`prefix:<a>:<b>` counters as {a: {b: n}}."""
    nested: dict[str, dict[str, int]] = {}
    for name, value in counters.items():
        parts = name.split(":")
        if len(parts) == 3 and parts[0] == prefix:
            nested.setdefault(parts[1], {})[parts[2]] = value
    return nested


def metrics_snapshot(config: Config, queue_depth: int, silence: dict[str, float], *,
                     unavailable: dict[str, str] | None = None, clock_problem: str = "",
                     clock_jumps: int = 0) -> dict:
    """The store's figures in the shape gateway.service.metrics expects (see its docstring)."""
    snap: dict[str, Any] = {"queue_depth": queue_depth, "loop_silence_seconds": silence,
                            "unavailable": {part: 1 for part in unavailable or {}},
                            "clock_wrong": int(bool(clock_problem)), "clock_jumps": clock_jumps}
    data_dir = config.gateway.data_dir
    snap["disk_used_bytes"] = dir_bytes(data_dir)
    snap["disk_budget_bytes"] = config.retention.disk_budget_mb * 1024 * 1024
    snap["disk_free_bytes"] = shutil.disk_usage(data_dir).free
    db = open_database(config.store_path, read_only=True)
    try:
        conn = db.conn
        counters = dict(conn.execute("SELECT name, value FROM counters"))
        snap["received"] = {s: counters.get(f"received_{s}", 0) for s in STREAMS}
        snap["rejected"] = _nested_counters(counters, "rejected")
        snap["analysed"] = _nested_counters(counters, "analysed")
        snap["synced"] = counters.get("synced", 0)
        snap["uploads"] = {k.split(":", 1)[1]: v for k, v in counters.items()
                           if k.startswith("uploads:")}
        snap["dead_letters"] = {"inference": 0, "sync": 0} | dict(conn.execute(
            "SELECT stage, count(*) FROM dead_letters GROUP BY stage"))
        snap["upload_backlog"] = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
        _time_and_sequences(conn, snap)
    finally:
        db.close()
    return snap


def _time_and_sequences(conn, snap: dict[str, Any]) -> None:
    gaps: dict[str, dict[str, int]] = {}
    restarts: dict[str, dict[str, int]] = {}
    for g in read_gaps(conn):
        gaps.setdefault(g["stream"], {})[g["device_id"]] = g["gaps"]
        restarts.setdefault(g["stream"], {})[g["device_id"]] = g["restarts"]
    snap["sequence_gaps"], snap["sequence_restarts"] = gaps, restarts
    flagged: dict[str, dict[str, int]] = {}
    for table, stream_sql in (("windows", "stream"), ("telemetry", "'telemetry'")):
        for stream, flag, n in conn.execute(
                f"SELECT {stream_sql}, ts_flag, count(*) FROM {table} "
                "WHERE ts_flag IS NOT NULL GROUP BY 1, 2"):
            flagged.setdefault(stream, {})[flag] = n
    snap["ts_flagged"] = flagged
    silent: dict[str, dict[str, int]] = {}
    for device, stream in read_silent(conn):
        silent.setdefault(stream, {})[device] = 1
    snap["silent"] = silent
