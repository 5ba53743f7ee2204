"""Publishes stored results and alerts on the local broker, from the store.

Results and alerts are committed first and published after, by this one
thread: a broker outage delays them but loses none. A row is marked published
once the broker acknowledged it (PUBACK); a crash in between publishes it again,
with the same id, so local consumers can drop the repeat.

The marks are gathered: what the broker acknowledged is remembered (and not sent again)
and marked in one commit at most MARK_EVERY_S later, when BATCH are waiting, or at stop.
Results come one by one (a round per result at 6 windows/s), and a commit per round was
two pages per window (docs/performance.md, Wear). A crash loses at most that second's
marks: those rows are published again after the start, as a lost mark always was.
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
MARK_EVERY_S = 1.0  # acknowledged rows are marked published at most this much later


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
        # Acknowledged by the broker, not yet marked: (result keys, alert keys).
        self._acked: tuple[set[int], set[int]] = (set(), set())
        self._marks_due: float | None = None  # monotonic time the oldest unmarked ack is due
        self._db = open_database(store_path)
        self._db.conn.execute("PRAGMA synchronous = NORMAL")  # a lost mark: one re-publish
        self._loop = Loop("publisher", self._turn, pulse=pulse, wake=self._wake.set,
                          last=self._last_round, finally_=self._db.close)

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
        wait_s = IDLE_WAKE_S
        if self._marks_due is not None:
            wait_s = min(wait_s, max(self._marks_due - time.monotonic(), 0.0))
        self._wake.wait(wait_s)
        self._wake.clear()
        self._publish_waiting()

    def _last_round(self) -> None:
        self._publish_waiting()
        try:
            self._mark(self._db.conn, force=True)
        except Exception as e:  # at stop: what was not marked goes out again after the start
            log.warning("marking published results failed at stop; they are published "
                        "again after the start", extra=kv(error=repr(e)))

    def _publish_waiting(self) -> None:
        try:
            while self._connected() and self._publish_some(self._db.conn):
                self._loop.pulse.beat()
            self._mark(self._db.conn)
        except Exception as e:  # the loop must not die: try again on the next wake
            log.error("publishing results failed; retrying", extra=kv(error=repr(e)))
            self._loop.stopping.wait(IDLE_WAKE_S)

    def _publish_some(self, conn) -> bool:
        """Publish one batch of each kind (leaving out what was acknowledged and awaits its
        mark); True if there may be more."""
        acked_results, acked_alerts = self._acked
        results = [r for r in unpublished_results(conn, BATCH + len(acked_results))
                   if r[0] not in acked_results][:BATCH]
        alerts = [a for a in unpublished_alerts(conn, BATCH + len(acked_alerts))
                  if a[0] not in acked_alerts][:BATCH]
        sent_results = self._send(results, result_message, "result")
        sent_alerts = self._send(alerts, alert_message, "alert")
        acked_results.update(sent_results)
        acked_alerts.update(sent_alerts)
        if self._marks_due is None and (sent_results or sent_alerts):
            self._marks_due = time.monotonic() + MARK_EVERY_S
        self.published += len(sent_results) + len(sent_alerts)
        if len(acked_results) >= BATCH or len(acked_alerts) >= BATCH:
            self._mark(conn, force=True)
        complete = len(sent_results) == len(results) and len(sent_alerts) == len(alerts)
        return complete and (len(results) == BATCH or len(alerts) == BATCH)

    def _mark(self, conn, force: bool = False) -> None:
        """Mark what the broker acknowledged, in one commit, when it is due (or `force`)."""
        due = self._marks_due
        if due is None or (not force and time.monotonic() < due):
            return
        acked_results, acked_alerts = self._acked
        mark_published(conn, acked_results, acked_alerts)
        acked_results.clear()
        acked_alerts.clear()
        self._marks_due = None

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
