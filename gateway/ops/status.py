"""`gateway status`: counts and state read from the data dir.

Reads the store through its own read-only connection, so it works the same
while the daemon runs (WAL lets readers in beside the writer) and while it is
stopped. Never writes.
"""

from __future__ import annotations

import sqlite3
import time
from typing import NotRequired, TypedDict

from gateway import strict_json
from gateway.config import Config
from gateway.delivery.uplink import sync_disabled_reason
from gateway.inference.features import (
    DEFAULT_ISO_CLASS,
    ISO_CLASS_MACHINES,
    ISO_CLASSES,
    iso_zone,
    severe_zone,
)
from gateway.inference.verdict import spacing_text
from gateway.redaction import redact
from gateway.service.clock import clock_problem
from gateway.service.runlock import running_pid
from gateway.service.wear import LIFE_WARN_YEARS, card_bytes, span_text
from gateway.store.activity import read_silent
from gateway.store.daemon_state import CardWear, ClockJumps, DaemonState
from gateway.store.database import StoreError, open_database
from gateway.store.outbox import SyncStatus
from gateway.store.read_model import (
    DeviceSeen,
    Rejected,
    SequenceGap,
    StreamState,
    last_receipt_ms,
    read_details,
    read_flagged,
    read_gaps,
    read_overview,
)
from gateway.store.reserve import reserve_bytes
from gateway.store.retention import broker_store_bytes, dir_bytes

RECENT_REJECTIONS = 5
SHOWN_DEVICES = 50  # in the human view; --json lists every one (50k devices: 2.7 MB of text)


class Disk(TypedDict):
    used_bytes: int  # the data dir, its reserve file not counted
    budget_bytes: int
    broker_bytes: int  # the broker's own file, counted in the budget too


class Clock(ClockJumps):
    problem: str  # "" while the gateway's clock looks right
    last_receipt_ms: int | None


class Silent(TypedDict):
    device_id: str
    stream: str
    since_ms: int


class DeviceStatus(DeviceSeen):
    silent: NotRequired[dict[str, int]]  # stream -> silent since (ms)
    hints: NotRequired[list[str]]  # what the technician may want to configure


class Status(TypedDict):
    """The status document (`gateway status --json`): the keys of INTERFACES.md first, in this
    order, details after. A key is absent when what fills it could not be read (no store)."""

    received: dict[str, int]
    rejected: int
    inferred: int
    pending_inference: int
    pending_sync: int
    synced: int
    dead_letters: int
    gateway_id: str
    running: bool
    pid: int | None
    baseline_needed: int
    baseline_spacing_s: float  # one learning window taken per this many seconds (0: all)
    sync_off: str  # why sync is off, "" when on
    data_dir: str
    devices: list[DeviceStatus]
    rejected_by_reason: dict[str, int]
    recent_rejections: list[Rejected]
    disk: Disk
    note: NotRequired[str]
    sync: NotRequired[SyncStatus]
    raw_intake_refused: NotRequired[dict | None]
    daemon: NotRequired[DaemonState | None]
    clock: NotRequired[Clock]
    ts_flagged: NotRequired[dict[str, int]]  # "<table>:<flag>" -> n
    sequence_gaps: NotRequired[list[SequenceGap]]
    silent: NotRequired[list[Silent]]
    card_wear: NotRequired[CardWear]  # the running daemon's, else figures None and a note
    # Raw payloads of normal windows cleared after analysis by [storage] keep_normal_raw_every
    raw_dropped_by_policy: NotRequired[int]


def collect_status(config: Config) -> Status:
    """The status document, read from the data dir."""
    data_dir = config.gateway.data_dir
    pid = running_pid(data_dir)
    status: Status = {
        "received": {"audio": 0, "vibration": 0, "telemetry": 0},
        "rejected": 0, "inferred": 0, "pending_inference": 0,
        "pending_sync": 0, "synced": 0, "dead_letters": 0,
        "gateway_id": config.gateway.id, "running": pid is not None, "pid": pid,
        "baseline_needed": config.inference.baseline_windows,
        "baseline_spacing_s": round(config.inference.baseline_hours * 3600
                                    / config.inference.baseline_windows, 1),
        "sync_off": sync_disabled_reason(config.sync) or "",
        "data_dir": str(data_dir), "devices": [], "rejected_by_reason": {},
        "recent_rejections": [],
        # The reserve file is room kept for the clean-up, not data (store/reserve.py).
        "disk": {"used_bytes": dir_bytes(data_dir) - reserve_bytes(data_dir)
                 if data_dir.exists() else 0,
                 "budget_bytes": config.retention.disk_budget_mb * 1024 * 1024,
                 "broker_bytes": broker_store_bytes(config.retention.broker_store)}}
    if not config.store_path.exists():
        status["note"] = "no data yet: the daemon has not stored anything in this data dir"
        fill_time_and_sequences(None, status)
        fill_card_wear(status, None, config)
        return status
    db = open_database(config.store_path, read_only=True)
    try:
        _fill_from_store(db.conn, status, config)
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
    sync = status["sync"]
    sync["last_error"] = redact(sync["last_error"], config.sync.token)
    return status


def fill_time_and_sequences(conn: sqlite3.Connection | None, status: Status,
                            now_ms: int | None = None) -> None:
    """Issue 13: the gateway's own clock, messages kept with a doubtful time stamp, and gaps
    in the senders' sequence numbers (docs/mqtt.md)."""
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    last = last_receipt_ms(conn) if conn is not None else None
    daemon = status.get("daemon")
    jumps: ClockJumps = (daemon.get("clock") if daemon else None) or \
        {"jumps": 0, "last_jump_s": 0.0, "last_jump_ms": None}
    status["clock"] = {"problem": clock_problem(now_ms, last), "last_receipt_ms": last, **jumps}
    status["ts_flagged"] = {} if conn is None else _flagged_by_table(conn)
    status["sequence_gaps"] = [] if conn is None else read_gaps(conn)
    silent = {} if conn is None else read_silent(conn)
    status["silent"] = [Silent(device_id=d, stream=s, since_ms=since)
                        for (d, s), since in sorted(silent.items())]
    for device in status.get("devices", []):
        for stream, since in silent.items():
            if stream[0] == device["device_id"]:
                device.setdefault("silent", {})[stream[1]] = since


def _flagged_by_table(conn: sqlite3.Connection) -> dict[str, int]:
    counts: dict[str, int] = {}
    for f in read_flagged(conn):
        counts[f"{f.table}:{f.flag}"] = counts.get(f"{f.table}:{f.flag}", 0) + f.n
    tables = ("windows", "telemetry")
    return dict(sorted(counts.items(), key=lambda kv: (tables.index(kv[0].split(":")[0]),
                                                        kv[0])))


def time_and_sequence_lines(status: Status, now_ms: int) -> list[str]:
    clock = status.get("clock")
    lines = []
    if clock and clock["problem"]:
        lines.append(f"CLOCK WRONG: {clock['problem']}; data is kept with its own time "
                     "stamps (timedatectl set-ntp true; check the network)")
    if clock and clock["last_jump_ms"]:
        lines.append(f"clock:      jumped {clock['last_jump_s']:+.0f} s "
                     f"{_ago(clock['last_jump_ms'], now_ms)} ({clock['jumps']} jumps)")
    if status.get("ts_flagged"):
        lines.append("time stamps kept but doubtful (docs/mqtt.md): " + ", ".join(
            f"{k.replace(':', ' ')}={n}" for k, n in status["ts_flagged"].items()))
    daemon = status.get("daemon")
    for part, why in ((daemon.get("unavailable") if daemon else None) or {}).items():
        lines.append(f"{part.replace('_', ' ').upper()} UNAVAILABLE: {why}")
    for s in status.get("silent", []):
        lines.append(f"SILENT:     {s['device_id']} {s['stream']}: nothing received since "
                     f"{_ago(s['since_ms'], now_ms)} (docs/mqtt.md)")
    lost = [g for g in status.get("sequence_gaps", []) if g["gaps"]]
    if lost:
        lines.append("sequence gaps (messages lost before the gateway): " + ", ".join(
            f"{g['device_id']}/{g['stream']}={g['gaps']}" for g in lost))
    return lines


def _fill_from_store(conn: sqlite3.Connection, status: Status, config: Config) -> None:
    overview = read_overview(conn)
    details = read_details(conn, RECENT_REJECTIONS)
    counts = overview.counters
    status["received"] = dict(counts.received)
    status["rejected"] = counts.rejected
    status["inferred"] = counts.inferred
    status["synced"] = counts.synced
    status["raw_dropped_by_policy"] = counts.raw_dropped_by_policy
    status["pending_inference"] = overview.pending_inference
    status["sync"] = details.sync
    status["pending_sync"] = details.sync["pending_total"]
    status["dead_letters"] = sum(overview.dead_letters.values())
    status["raw_intake_refused"] = details.raw_intake_refused
    daemon = details.daemon
    if daemon:  # its card figures are shown as card_wear, and only while it runs
        daemon.pop("wear", None)
    status["daemon"] = daemon
    status["rejected_by_reason"] = details.rejected_by_reason
    status["recent_rejections"] = details.recent_rejections
    status["devices"] = [DeviceStatus(**d) for d in details.devices]
    for device in status["devices"]:
        hint = class_hint(device, config)
        if hint:
            device["hints"] = [hint]
    fill_card_wear(status, overview.card_wear, config)


def class_hint(device: DeviceSeen, config: Config) -> str:
    """When a device's vibration alerts on the ISO 10816 limit of its class and would not in
    a larger machine's class: the likely cause is a class never configured (the default is
    the smallest machines'), so say which class would call it what, and where to set it."""
    stream = device["streams"].get("vibration")
    severe = severe_zone(stream["why"]) if stream and stream["state"] == "anomaly" else None
    machine = config.machines.get(device["device_id"])
    configured = machine.iso_class if machine else DEFAULT_ISO_CLASS
    if severe is None or severe.iso_class != configured:
        return ""
    classes = list(ISO_CLASSES)
    larger = classes[classes.index(configured) + 1:]
    zones = [(c, iso_zone(severe.velocity_mm_s, c)) for c in larger]
    calmer = [(c, zone) for c, zone in zones if zone in ("A", "B")]
    if not calmer:
        return ""
    other = ", ".join(f"zone {zone} in class {c} ({ISO_CLASS_MACHINES[c]})" for c, zone in calmer)
    return (f"{severe.velocity_mm_s:.2f} mm/s is zone {severe.zone} in class {configured} "
            f"({ISO_CLASS_MACHINES[configured]}), {other}: if the machine is larger, set "
            f"iso_class in [machines.{device['device_id']}] (docs/configuration.md)")


def fill_card_wear(status: Status, stored: CardWear | None, config: Config) -> None:
    """The daemon's own figures while it runs; a stopped daemon's last ones are not today's,
    so then the figures are None and the note says why."""
    if status["running"] and stored:
        status["card_wear"] = stored
        return
    size, size_from = card_bytes(config.storage, config.gateway.data_dir)
    why = ("the daemon is not running (it measures its own writes while it runs)"
           if not status["running"] else "the daemon has not recorded its writes yet")
    status["card_wear"] = CardWear(
        written_bytes=None, bytes_per_day=None, measured_s=0.0, warming_up=True,
        card_bytes=size, card_size_from=size_from,
        endurance_writes=config.storage.card_endurance_writes, card_years=None,
        note=f"not measured: {why}")


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


def _stream_line(stream: StreamState, needed: int, spacing_s: float) -> str:
    score = _number(stream["last_score"])
    if stream["state"] == "learning":
        spread = f", one every {spacing_text(spacing_s)}" if spacing_s else ""
        return (f"learning baseline ({stream['baseline_windows']}/{needed} windows{spread}), "
                f"last score {score}")
    state = {"anomaly": "ANOMALY", "off": "off"}.get(stream["state"], stream["state"])
    line = f"{state}, last score {score} (threshold {_number(stream['threshold'])})"
    return line + (f": {stream['why']}" if stream.get("why") else "")


def _daemon_line(status: Status, now_ms: int) -> str:
    daemon = status.get("daemon")
    if not status["running"] or not daemon:
        return ""
    up = _ago(daemon["started_ms"], now_ms).replace(" ago", "")
    broker = "broker connected" if daemon["broker_connected"] else "BROKER NOT CONNECTED"
    stuck = f", STUCK: {','.join(daemon['stale_loops'])}" if daemon["stale_loops"] else ""
    return f", up {up}, {broker}, queue {daemon['queue_depth']}{stuck}"


def _bytes(n: float) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def card_wear_line(wear: CardWear) -> str:
    """Bytes written per day and the card life they project (docs/performance.md, "Wear")."""
    if wear["bytes_per_day"] is None:
        return f"card:       {wear['note']}"
    rate = (f"{_bytes(wear['bytes_per_day'])} written per day, over the last "
            f"{span_text(wear['measured_s'])}")
    if wear["warming_up"]:
        rate += " (warming up: the figure settles over a day)"
    years = wear["card_years"]
    if years is None or wear["card_bytes"] is None:
        return f"card:       {rate}; {wear['note']}"
    card = (f"{_bytes(wear['card_bytes'])} card ({wear['card_size_from']}) enduring "
            f"{wear['endurance_writes']:,} full writes")
    if years < LIFE_WARN_YEARS:
        return (f"CARD WEAR:  {rate}; a {card} lasts {years:.2g} years at this rate, under "
                f"{LIFE_WARN_YEARS:g} (gateway doctor)")
    return f"card:       {rate}; a {card} lasts {years:.1f} years"


def _sync_line(status: Status, now_ms: int) -> str:
    line = f"sync:       {status['synced']} sent, {status['pending_sync']} waiting"
    sync = status.get("sync")
    if status["sync_off"]:
        return f"{line} (sync off: {status['sync_off']})"
    if not sync:
        return line
    age = sync["oldest_pending_age_ms"]
    if sync["pending_total"] and age is not None:
        line += f", oldest {_ago(now_ms - age, now_ms)}"
    line += f"; last success {_ago(sync['last_success_ms'], now_ms)}"
    if sync["paused"] == "auth":
        line += "\n            PAUSED: the cloud refused the token (check sync.token_file)"
    elif sync["consecutive_failures"]:
        line += (f"\n            failing ({sync['consecutive_failures']} in a row): "
                 f"{sync['last_error']}")
    return line


def _device_lines(status: Status, now_ms: int) -> list[str]:
    devices = status["devices"]
    lines = []
    for d in devices[:SHOWN_DEVICES]:
        lines.append(f"  {d['device_id']:<24} last seen {_ago(d['last_seen_ms'], now_ms)}")
        lines += [f"    {stream:<10} "
                  f"{_stream_line(s, status['baseline_needed'], status['baseline_spacing_s'])}"
                  for stream, s in d["streams"].items()]
        lines += [f"    hint:      {hint}" for hint in d.get("hints", [])]
    hidden = devices[SHOWN_DEVICES:]
    if hidden:
        anomalous = sum(any(s["state"] == "anomaly" for s in d["streams"].values())
                        for d in hidden)
        lines.append(f"  ... and {len(hidden)} more devices ({anomalous} of them in ANOMALY); "
                     "gateway status --json lists every one")
    return lines


def render_status(status: Status, now_ms: int | None = None) -> str:
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
    if status.get("raw_dropped_by_policy"):
        lines.append(f"raw kept:   {status['raw_dropped_by_policy']} normal windows' raw data "
                     "dropped after analysis (storage.keep_normal_raw_every)")
    if status.get("card_wear"):
        lines.append(card_wear_line(status["card_wear"]))
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


def status_json(status: Status) -> str:
    """Strict JSON: a non-finite score or threshold shows as null (the human view says inf)."""
    return strict_json.dumps(status, sort_keys=False)[0]
