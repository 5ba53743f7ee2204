"""Publishes stored results and alerts on the local broker, from the store.

Results and alerts are committed first and published after, by this one
thread: a broker outage delays them but loses none. A row is marked published
once the broker acknowledged it (PUBACK); a crash in between publishes it again,
with the same id, so local consumers can drop the repeat.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from gateway import strict_json
from gateway.logs import kv
from gateway.service.loop import UNWATCHED, Loop, Pulse
from gateway.store.database import open_database
from gateway.store.published import mark_published, unpublished_alerts, unpublished_results

log = logging.getLogger("gateway.publisher")
BATCH = 200
IDLE_WAKE_S = 1.0  # look again this often even when nobody wakes us (and beat the watchdog)
ACK_TIMEOUT_S = 5.0


def result_message(row: tuple) -> tuple[str, dict]:
    _, record_id, device_id, stream, ts_ms, model, score, threshold, anomaly, details = row
    return device_id, {
        "id": record_id, "device_id": device_id, "stream": stream, "ts": ts_ms, "model": model,
        "score": score, "threshold": threshold,
        "anomaly": None if anomaly is None else bool(anomaly), "details": json.loads(details)}


def alert_message(row: tuple) -> tuple[str, dict]:
    _, record_id, device_id, stream, state, ts_ms, score, reason = row
    return device_id, {"id": record_id, "device_id": device_id, "stream": stream,
                       "state": state, "ts": ts_ms, "score": score, "reason": reason}


class Delivery(Protocol):
    """What `publish` hands back (paho's MQTTMessageInfo)."""

    def wait_for_publish(self, timeout: float | None = None) -> None: ...

    def is_published(self) -> bool: ...


class Publisher:
    """`publish(topic, payload)` returns paho's MQTTMessageInfo; `connected()` says whether
    the broker session is up (nothing is handed to paho while it is not)."""

    def __init__(self, store_path: Path, out_prefix: str,
                 publish: Callable[[str, bytes], Delivery], connected: Callable[[], bool],
                 pulse: Pulse = UNWATCHED):
        self.out_prefix = out_prefix
        self._publish, self._connected = publish, connected
        self._wake = threading.Event()
        self.published = 0
        self._db = open_database(store_path)
        self._db.conn.execute("PRAGMA synchronous = NORMAL")  # a lost mark: one re-publish
        self._loop = Loop("publisher", self._turn, pulse=pulse, wake=self._wake.set,
                          last=self._publish_waiting, finally_=self._db.close)

    def start(self) -> None:
        self._loop.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout_s: float = 10.0) -> bool:
        """Publish what is waiting (if the broker is there), then end."""
        stopped = self._loop.stop(timeout_s)
        if not self._loop.started:
            self._db.close()
        return stopped

    def _turn(self) -> None:
        self._wake.wait(IDLE_WAKE_S)
        self._wake.clear()
        self._publish_waiting()

    def _publish_waiting(self) -> None:
        try:
            while self._connected() and self._publish_some(self._db.conn):
                self._loop.pulse.beat()
        except Exception as e:  # the loop must not die: try again on the next wake
            log.error("publishing results failed; retrying", extra=kv(error=repr(e)))
            self._loop.stopping.wait(IDLE_WAKE_S)

    def _publish_some(self, conn) -> bool:
        """Publish one batch of each kind; True if there may be more."""
        results = unpublished_results(conn, BATCH)
        alerts = unpublished_alerts(conn, BATCH)
        sent_results = self._send(results, result_message, "result")
        sent_alerts = self._send(alerts, alert_message, "alert")
        mark_published(conn, sent_results, sent_alerts)
        self.published += len(sent_results) + len(sent_alerts)
        complete = len(sent_results) == len(results) and len(sent_alerts) == len(alerts)
        return complete and (len(results) == BATCH or len(alerts) == BATCH)

    def _send(self, rows: list, to_message, kind: str) -> list:
        """Publish rows; return the keys of those the broker acknowledged."""
        pending = []
        for row in rows:
            device_id, message = to_message(row)
            text, non_finite = strict_json.dumps(message, separators=(",", ":"))
            if non_finite:  # Infinity/NaN are not JSON: subscribers' parsers refuse them
                log.warning("non-finite numbers published as null", extra=kv(
                    kind=kind, device_id=device_id, count=non_finite))
            payload = text.encode()
            pending.append((row[0], self._publish(f"{self.out_prefix}/{device_id}/{kind}",
                                                  payload)))
        # One deadline for the whole round: waiting ACK_TIMEOUT_S per message let a broker
        # that stopped answering hold a 200-message round for minutes, past the watchdog.
        deadline = time.monotonic() + ACK_TIMEOUT_S
        acknowledged = []
        for key, info in pending:
            # Not sent (connection lost) or not acknowledged in time: it stays unpublished
            # and goes out next round.
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(max(deadline - time.monotonic(), 0.0))
            if info.is_published():
                acknowledged.append(key)
        return acknowledged
