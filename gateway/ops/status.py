"""`gateway status`: counts and state read from the data dir.

Reads the store through its own read-only connection, so it works the same
while the daemon runs (WAL lets readers in beside the writer) and while it is
stopped. Never writes.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from gateway.config import Config
from gateway.delivery.uplink import sync_disabled_reason
from gateway.service.runlock import running_pid
from gateway.store.database import open_database
from gateway.store.outbox import read_sync_status
from gateway.store.retention import dir_bytes, read_refusal

RECENT_REJECTIONS = 5


def collect_status(config: Config) -> dict[str, Any]:
    """The status document; the keys of INTERFACES.md first, details after."""
    status: dict[str, Any] = {
        "received": {"audio": 0, "vibration": 0, "telemetry": 0},
        "rejected": 0, "inferred": 0, "pending_inference": 0,
        "pending_sync": 0, "synced": 0, "dead_letters": 0,
    }
    pid = running_pid(config.gateway.data_dir)
    status.update({"gateway_id": config.gateway.id, "running": pid is not None, "pid": pid,
                   "baseline_needed": config.inference.baseline_windows,
                   "sync_off": sync_disabled_reason(config.sync) or "",
                   "data_dir": str(config.gateway.data_dir), "devices": [],
                   "rejected_by_reason": {}, "recent_rejections": []})
    status["disk"] = {"used_bytes": dir_bytes(config.gateway.data_dir)
                      if config.gateway.data_dir.exists() else 0,
                      "budget_bytes": config.retention.disk_budget_mb * 1024 * 1024}
    if not config.store_path.exists():
        status["note"] = "no data yet: the daemon has not stored anything in this data dir"
        return status
    db = open_database(config.store_path, read_only=True)
    try:
        _fill_from_store(db.conn, status)
    finally:
        db.close()
    return status


def _fill_from_store(conn: sqlite3.Connection, status: dict[str, Any]) -> None:
    counters = dict(conn.execute("SELECT name, value FROM counters"))
    for stream in status["received"]:
        status["received"][stream] = counters.get(f"received_{stream}", 0)
    status["rejected"] = counters.get("rejected", 0)
    status["inferred"] = counters.get("inferred", 0)
    status["synced"] = counters.get("synced", 0)
    status["pending_inference"] = conn.execute(
        "SELECT count(*) FROM windows w LEFT JOIN analysis a ON a.window_id = w.id "
        "WHERE a.state IS NULL OR a.state = 'trying'").fetchone()[0]
    status["sync"] = read_sync_status(conn)
    status["pending_sync"] = status["sync"]["pending_total"]
    status["dead_letters"] = conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0]
    status["raw_intake_refused"] = read_refusal(conn)
    row = conn.execute("SELECT value FROM meta WHERE key = 'daemon'").fetchone()
    status["daemon"] = json.loads(row[0]) if row else None
    status["rejected_by_reason"] = dict(conn.execute(
        "SELECT reason, count(*) FROM rejected GROUP BY reason ORDER BY 2 DESC"))
    status["recent_rejections"] = [
        {"received_at_ms": ts, "topic": topic, "reason": reason, "detail": detail}
        for ts, topic, reason, detail in conn.execute(
            "SELECT received_at_ms, topic, reason, detail FROM rejected ORDER BY id DESC "
            "LIMIT ?", (RECENT_REJECTIONS,))
    ]
    status["devices"] = [
        {"device_id": device, "last_seen_ms": last_seen, "streams": {}}
        for device, last_seen in conn.execute(
            "SELECT device_id, max(last) FROM ("
            " SELECT device_id, max(received_at_ms) AS last FROM windows GROUP BY device_id"
            " UNION ALL"
            " SELECT device_id, max(received_at_ms) FROM telemetry GROUP BY device_id"
            ") GROUP BY device_id ORDER BY device_id")
    ]
    _fill_device_states(conn, status["devices"])


def _fill_device_states(conn: sqlite3.Connection, devices: list[dict[str, Any]]) -> None:
    """Per device and stream: state, last score, threshold and baseline progress."""
    by_id = {d["device_id"]: d for d in devices}
    # "why": what drove the device's latest result (details.why, written by the analysis).
    rows = conn.execute(
        "SELECT s.device_id, s.stream, s.state, s.last_score, s.last_ts_ms, b.threshold, "
        "json_array_length(b.scores), b.model, (SELECT json_extract(r.details, '$.why') "
        "FROM results r WHERE r.device_id = s.device_id AND r.stream = s.stream "
        "ORDER BY r.ts_ms DESC LIMIT 1) FROM device_states s LEFT JOIN baselines b "
        "ON b.device_id = s.device_id AND b.stream = s.stream ORDER BY s.device_id, s.stream")
    for device, stream, state, score, ts_ms, threshold, learned, model, why in rows:
        if device in by_id:
            by_id[device]["streams"][stream] = {
                "state": state, "last_score": score, "last_ts_ms": ts_ms,
                "threshold": threshold, "baseline_windows": learned or 0, "model": model,
                "why": why or ""}


def _ago(ms: int | None, now_ms: int) -> str:
    if ms is None:
        return "never"
    seconds = max(0, (now_ms - ms) // 1000)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _stream_line(stream: dict[str, Any], needed: int) -> str:
    score = "-" if stream["last_score"] is None else f"{stream['last_score']:.4g}"
    if stream["state"] == "learning":
        return (f"learning baseline ({stream['baseline_windows']}/{needed} windows), "
                f"last score {score}")
    state = {"anomaly": "ANOMALY", "off": "off"}.get(stream["state"], stream["state"])
    threshold = "-" if stream["threshold"] is None else f"{stream['threshold']:.4g}"
    line = f"{state}, last score {score} (threshold {threshold})"
    return line + (f": {stream['why']}" if stream.get("why") else "")


def _daemon_line(status: dict[str, Any], now_ms: int) -> str:
    daemon = status.get("daemon")
    if not status["running"] or not daemon:
        return ""
    up = _ago(daemon["started_ms"], now_ms).replace(" ago", "")
    broker = "broker connected" if daemon["broker_connected"] else "BROKER NOT CONNECTED"
    stuck = f", STUCK: {','.join(daemon['stale_loops'])}" if daemon["stale_loops"] else ""
    return f", up {up}, {broker}, queue {daemon['queue_depth']}{stuck}"


def _sync_line(status: dict[str, Any], now_ms: int) -> str:
    line = f"sync:       {status['synced']} sent, {status['pending_sync']} waiting"
    sync = status.get("sync")
    if status["sync_off"]:
        return f"{line} (sync off: {status['sync_off']})"
    if not sync:
        return line
    if sync["pending_total"]:
        line += f", oldest {_ago(now_ms - sync['oldest_pending_age_ms'], now_ms)}"
    line += f"; last success {_ago(sync['last_success_ms'], now_ms)}"
    if sync["paused"] == "auth":
        line += "\n            PAUSED: the cloud refused the token (check sync.token_file)"
    elif sync["consecutive_failures"]:
        line += (f"\n            failing ({sync['consecutive_failures']} in a row): "
                 f"{sync['last_error']}")
    return line


def render_status(status: dict[str, Any], now_ms: int | None = None) -> str:
    """One screen for a technician."""
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    running = f"running (pid {status['pid']})" if status["running"] else "stopped"
    received = status["received"]
    disk = status["disk"]
    lines = [
        f"gateway {status['gateway_id']}: {running}{_daemon_line(status, now_ms)}",
        f"data dir:   {status['data_dir']} ({disk['used_bytes'] / 2**20:.1f} MB of "
        f"{disk['budget_bytes'] / 2**20:.0f} MB budget)",
        f"received:   audio {received['audio']}, vibration {received['vibration']}, "
        f"telemetry {received['telemetry']}",
        f"rejected:   {status['rejected']}" + "".join(
            f"  {reason}={n}" for reason, n in status["rejected_by_reason"].items()),
        f"inference:  {status['inferred']} analysed, {status['pending_inference']} waiting, "
        f"{status['dead_letters']} dead letters",
        _sync_line(status, now_ms),
    ]
    if status.get("note"):
        lines.append(status["note"])
    refusal = status.get("raw_intake_refused")
    if refusal:
        lines.append(f"DISK FULL:  new audio/vibration refused since "
                     f"{_ago(refusal['since_ms'], now_ms)}: {refusal['reason']} "
                     f"(docs/retention.md)")
    if status["devices"]:
        lines.append("devices:")
        for d in status["devices"]:
            lines.append(f"  {d['device_id']:<24} last seen {_ago(d['last_seen_ms'], now_ms)}")
            lines += [f"    {stream:<10} {_stream_line(s, status['baseline_needed'])}"
                      for stream, s in d["streams"].items()]
    if status["recent_rejections"]:
        lines.append("recent rejections:")
        lines += [f"  {_ago(r['received_at_ms'], now_ms):>8}  {r['topic']}  {r['reason']}: "
                  f"{r['detail']}" for r in status["recent_rejections"]]
    return "\n".join(lines)


def status_json(status: dict[str, Any]) -> str:
    return json.dumps(status, sort_keys=False)
