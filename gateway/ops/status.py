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

from gateway import strict_json
from gateway.config import Config
from gateway.delivery.uplink import sync_disabled_reason
from gateway.redaction import redact
from gateway.service.clock import clock_problem, last_receipt_ms
from gateway.service.runlock import running_pid
from gateway.service.silence import read_silent
from gateway.store.database import StoreError, open_database
from gateway.store.outbox import read_sync_status
from gateway.store.reserve import reserve_bytes
from gateway.store.retention import broker_store_bytes, dir_bytes, read_refusal
from gateway.store.sequences import read_gaps

RECENT_REJECTIONS = 5
SHOWN_DEVICES = 50  # in the human view; --json lists every one (50k devices: 2.7 MB of text)


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
    # The reserve file is room kept for the clean-up, not data (store/reserve.py).
    status["disk"] = {"used_bytes": dir_bytes(config.gateway.data_dir)
                      - reserve_bytes(config.gateway.data_dir)
                      if config.gateway.data_dir.exists() else 0,
                      "budget_bytes": config.retention.disk_budget_mb * 1024 * 1024,
                      # counted in the budget too: the broker's file shares the card
                      "broker_bytes": broker_store_bytes(config.retention.broker_store)}
    if not config.store_path.exists():
        status["note"] = "no data yet: the daemon has not stored anything in this data dir"
        fill_time_and_sequences(None, status)
        return status
    db = open_database(config.store_path, read_only=True)
    try:
        _fill_from_store(db.conn, status)
        try:
            fill_time_and_sequences(db.conn, status)
        except sqlite3.OperationalError:  # a store the upgraded daemon has not migrated yet
            fill_time_and_sequences(None, status)
    except sqlite3.DatabaseError as e:  # damaged or not a store: one line, not a traceback
        raise StoreError(f"cannot read store {config.store_path}: {e} (the daemon refuses "
                         "a damaged store at start and says what to do)") from None
    finally:
        db.close()
    # Written redacted by the uploader; masked again for a store an older version wrote.
    status["sync"]["last_error"] = redact(status["sync"]["last_error"], config.sync.token)
    return status


def fill_time_and_sequences(conn: sqlite3.Connection | None, status: dict[str, Any],
                            now_ms: int | None = None) -> None:
    """Issue 13: the gateway's own clock, messages kept with a doubtful time stamp, and gaps
    in the senders' sequence numbers (docs/mqtt.md)."""
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    last = last_receipt_ms(conn) if conn is not None else None
    daemon = status.get("daemon") or {}
    jumps = daemon.get("clock") or {"jumps": 0, "last_jump_s": 0.0, "last_jump_ms": None}
    status["clock"] = {"problem": clock_problem(now_ms, last), "last_receipt_ms": last, **jumps}
    status["ts_flagged"] = {} if conn is None else {
        f"{table}:{flag}": n for table in ("windows", "telemetry") for flag, n in conn.execute(
            f"SELECT ts_flag, count(*) FROM {table} WHERE ts_flag IS NOT NULL GROUP BY 1")}
    status["sequence_gaps"] = [] if conn is None else read_gaps(conn)
    silent = {} if conn is None else read_silent(conn)
    status["silent"] = [{"device_id": d, "stream": s, "since_ms": since}
                        for (d, s), since in sorted(silent.items())]
    for device in status.get("devices", []):
        for stream, since in silent.items():
            if stream[0] == device["device_id"]:
                device.setdefault("silent", {})[stream[1]] = since


def time_and_sequence_lines(status: dict[str, Any], now_ms: int) -> list[str]:
    clock = status.get("clock") or {}
    lines = []
    if clock.get("problem"):
        lines.append(f"CLOCK WRONG: {clock['problem']}; data is kept with its own time "
                     "stamps (timedatectl set-ntp true; check the network)")
    if clock.get("last_jump_ms"):
        lines.append(f"clock:      jumped {clock['last_jump_s']:+.0f} s "
                     f"{_ago(clock['last_jump_ms'], now_ms)} ({clock['jumps']} jumps)")
    if status.get("ts_flagged"):
        lines.append("time stamps kept but doubtful (docs/mqtt.md): " + ", ".join(
            f"{k.replace(':', ' ')}={n}" for k, n in status["ts_flagged"].items()))
    for part, why in ((status.get("daemon") or {}).get("unavailable") or {}).items():
        lines.append(f"{part.replace('_', ' ').upper()} UNAVAILABLE: {why}")
    for s in status.get("silent", []):
        lines.append(f"SILENT:     {s['device_id']} {s['stream']}: nothing received since "
                     f"{_ago(s['since_ms'], now_ms)} (docs/mqtt.md)")
    lost = [g for g in status.get("sequence_gaps", []) if g["gaps"]]
    if lost:
        lines.append("sequence gaps (messages lost before the gateway): " + ", ".join(
            f"{g['device_id']}/{g['stream']}={g['gaps']}" for g in lost))
    return lines


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
        "CASE WHEN json_valid(b.scores) THEN json_array_length(b.scores) END, b.scores, "
        "b.model, (SELECT json_extract(r.details, '$.why') "
        "FROM results r WHERE r.device_id = s.device_id AND r.stream = s.stream "
        "ORDER BY r.ts_ms DESC LIMIT 1) FROM device_states s LEFT JOIN baselines b "
        "ON b.device_id = s.device_id AND b.stream = s.stream ORDER BY s.device_id, s.stream")
    for device, stream, state, score, ts_ms, threshold, learned, scores, model, why in rows:
        if device in by_id:
            by_id[device]["streams"][stream] = {
                "state": state, "last_score": score, "last_ts_ms": ts_ms,
                "threshold": threshold, "model": model,
                "baseline_windows": learned if learned is not None else _count(scores),
                "why": why or ""}


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


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"  # inf and nan print as such


def _ago(ms: int | None, now_ms: int) -> str:
    if ms is None:
        return "never"
    seconds = max(0, (now_ms - ms) // 1000)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _stream_line(stream: dict[str, Any], needed: int) -> str:
    score = _number(stream["last_score"])
    if stream["state"] == "learning":
        return (f"learning baseline ({stream['baseline_windows']}/{needed} windows), "
                f"last score {score}")
    state = {"anomaly": "ANOMALY", "off": "off"}.get(stream["state"], stream["state"])
    line = f"{state}, last score {score} (threshold {_number(stream['threshold'])})"
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


def _device_lines(status: dict[str, Any], now_ms: int) -> list[str]:
    devices = status["devices"]
    lines = []
    for d in devices[:SHOWN_DEVICES]:
        lines.append(f"  {d['device_id']:<24} last seen {_ago(d['last_seen_ms'], now_ms)}")
        lines += [f"    {stream:<10} {_stream_line(s, status['baseline_needed'])}"
                  for stream, s in d["streams"].items()]
    hidden = devices[SHOWN_DEVICES:]
    if hidden:
        anomalous = sum(any(s["state"] == "anomaly" for s in d["streams"].values())
                        for d in hidden)
        lines.append(f"  ... and {len(hidden)} more devices ({anomalous} of them in ANOMALY); "
                     "gateway status --json lists every one")
    return lines


def render_status(status: dict[str, Any], now_ms: int | None = None) -> str:
    """One screen for a technician."""
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    running = f"running (pid {status['pid']})" if status["running"] else "stopped"
    received = status["received"]
    disk = status["disk"]
    lines = [
        f"gateway {status['gateway_id']}: {running}{_daemon_line(status, now_ms)}",
        f"data dir:   {status['data_dir']} ({disk['used_bytes'] / 2**20:.1f} MB, and the "
        f"broker's file {disk['broker_bytes'] / 2**20:.1f} MB, of "
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
    lines += time_and_sequence_lines(status, now_ms)
    refusal = status.get("raw_intake_refused")
    if refusal:
        lines.append(f"DISK FULL:  new audio/vibration refused since "
                     f"{_ago(refusal['since_ms'], now_ms)}: {refusal['reason']} "
                     f"(docs/retention.md)")
    if status["devices"]:
        lines.append("devices:")
        lines += _device_lines(status, now_ms)
    if status["recent_rejections"]:
        lines.append("recent rejections:")
        lines += [f"  {_ago(r['received_at_ms'], now_ms):>8}  {r['topic']}  {r['reason']}: "
                  f"{r['detail']}" for r in status["recent_rejections"]]
    return "\n".join(lines)


def status_json(status: dict[str, Any]) -> str:
    """Strict JSON: a non-finite score or threshold shows as null (the human view says inf)."""
    return strict_json.dumps(status, sort_keys=False)[0]
