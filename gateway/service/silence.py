"""A dead sensor box must not go unnoticed (issue 13.6): a periodic check, outside the
analysis, marks a device's stream `silent` once nothing came for SILENT_AFTER_INTERVALS of
its usual intervals (learned per device and stream, store/activity.py; never less than
MIN_SILENCE_MS), and back when data comes again.

Each change is an alert (docs/mqtt.md): `state` "silent", and on return the stream's analysis
state (learning, normal, anomaly; "normal" for telemetry). It takes the path of every alert:
the `alerts` row and its outbox record, committed in the same transaction as the state; the
publisher puts it on the local alert topic (again after a broker outage) and the uplink
sends it upstream.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from gateway.inference.results import analysis_state, insert_alert
from gateway.logs import kv
from gateway.store.activity import Activity, read_silent, save_activity
from gateway.store.database import immediate, open_database
from gateway.store.record_ids import store_id_of

log = logging.getLogger("gateway.silence")
SILENT_AFTER_INTERVALS = 10
MIN_SILENCE_MS = 60_000
CHECK_EVERY_S = 10.0
# A stream whose silence changed: (device_id, stream), "silent" or None (heard again), reason.
Change = tuple[tuple[str, str], str | None, str]

Key = tuple[str, str]


def silent_after_ms(interval_ms: int | None) -> int | None:
    """How long a stream may say nothing before it is silent; None while not learned."""
    if interval_ms is None:
        return None
    return max(SILENT_AFTER_INTERVALS * interval_ms, MIN_SILENCE_MS)


class SilenceCheck:
    def __init__(self, store_path: Path, activity: Activity,
                 wake_publisher: Callable[[], None] = lambda: None):
        self.db = open_database(store_path)
        self.activity, self._wake_publisher = activity, wake_publisher
        self.silent: dict[Key, int] = read_silent(self.db.conn)

    def run_once(self, now_ms: int | None = None) -> list[dict]:
        """Check every known stream; returns the alerts made."""
        now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
        snapshot = self.activity.snapshot()
        changes: list[Change] = []
        for key, (last_ms, interval) in snapshot.items():
            limit = silent_after_ms(interval)
            quiet = limit is not None and now_ms - last_ms > limit
            if quiet and interval is not None and key not in self.silent:
                self.silent[key] = now_ms
                changes.append((key, "silent", f"nothing received for {(now_ms - last_ms) // 1000}"
                                f" s; it usually sends every {interval / 1000:.3g} s"))
            elif not quiet and key in self.silent:
                del self.silent[key]
                changes.append((key, None, "data received again"))
        alerts = self._save(snapshot, changes, now_ms)
        for alert in alerts:
            log.warning("device silent" if alert["state"] == "silent" else "device heard again",
                        extra=kv(device_id=alert["device_id"], stream=alert["stream"],
                                 reason=alert["reason"]))
        if alerts:
            self._wake_publisher()
        return alerts

    def _save(self, snapshot: dict, changes: list[Change], now_ms: int) -> list[dict]:
        conn = self.db.conn
        alerts = []
        with immediate(conn):
            save_activity(conn, [(*key, last, interval, self.silent.get(key))
                                 for key, (last, interval) in snapshot.items()])
            store_id = store_id_of(conn)
            for (device, stream), state, reason in changes:
                alert = {"device_id": device, "stream": stream,
                         "state": state or analysis_state(conn, device, stream),
                         "ts": now_ms, "score": None, "reason": reason}
                alerts.append({"id": insert_alert(conn, store_id, alert, None, now_ms), **alert})
        return alerts

    def close(self) -> None:
        self.db.close()

