"""The intake writer: the one thread that writes sources' records to the store.

Records from every source queue up here; the writer takes whatever is waiting
(lingering for more, at most `max_batch`: up to `max_delay_ms` while a window is
in the batch and the writer is busy, not at all for a window when it is idle,
`telemetry_delay_ms` while only telemetry is, never past the broker's in-flight limit),
commits it in
one FULL-synchronous transaction, and only then calls each record's
`on_durable` (for MQTT: the PUBACK). A commit the database fails (disk full, I/O,
lock timeout) is retried with backoff, never acknowledged, never dropped; a record
the store refuses by itself is found, kept aside as an `unstorable` rejection and
acknowledged, and the rest of its batch is stored.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from gateway.config import IntakeSection
from gateway.interfaces import OnDurable
from gateway.logs import RateLimitedLog, kv
from gateway.records import Record, Rejection, Window, storable_text
from gateway.service.loop import UNWATCHED, Loop, Pulse
from gateway.store.database import IntakeStore
from gateway.store.group_commit import (
    IDLE_BEAT_S,
    LingerUnderLoad,
    commit_until_done,
    linger_for_more,
)
from gateway.store.reserve import DiskGuard, out_of_space

log = logging.getLogger("gateway.intake")
_STOP = object()
DISK_FULL = "disk_full"  # rejection reason of windows refused for lack of disk (retention)
UNSTORABLE = "unstorable"  # rejection reason of records the store refused by themselves


class _ByteBudget:
    """Bounds the bytes of raw windows waiting in the queue: a count bound alone would let a
    queue of 60 s audio windows take hundreds of MB on a 1 GB box."""

    def __init__(self, limit: int):
        self.limit, self.used = limit, 0
        self._cond = threading.Condition()

    def take(self, size: int) -> None:
        with self._cond:
            # A window larger than the whole budget still passes when the queue is empty.
            while self.used and self.used + size > self.limit:
                self._cond.wait()
            self.used += size

    def give(self, size: int) -> None:
        if size:
            with self._cond:
                self.used -= size
                self._cond.notify_all()


def unstorable(record: Record, error: Exception, sample_bytes: int) -> Rejection:
    """What is kept of a record the store refused by itself (a value SQLite cannot bind, a
    bug of ours for that one message): a rejection with the store's answer and a sample,
    acknowledged like any invalid message, so it costs one message and never the stream."""
    if isinstance(record, Rejection):
        sample, size = record.sample, record.payload_size
    else:
        raw = record.payload if isinstance(record, Window) else \
            storable_text(record.data).encode("utf-8")
        sample, size = raw[:sample_bytes], len(raw)
    detail = storable_text(f"the store refused it: {type(error).__name__}: {error}")[:200]
    return Rejection(topic=storable_text(record.topic), received_at_ms=record.received_at_ms,
                     reason=UNSTORABLE, detail=detail, payload_size=size, sample=sample,
                     digest=record.digest)


def refused_window(window: Window) -> Rejection:
    """A valid window turned away while raw intake is refused: acknowledged (the broker would
    resend it forever), counted and kept aside like an invalid message, but without a sample,
    since the disk is what is short."""
    return Rejection(topic=window.topic, received_at_ms=window.received_at_ms,
                     reason=DISK_FULL, detail=f"raw intake refused: the disk is short; "
                     f"{window.stream} window of {len(window.payload)} bytes not stored",
                     payload_size=len(window.payload), sample=b"", digest=window.digest)


@dataclass
class IntakeStats:
    """Live figures of the writer, read by the daemon for logs and the watchdog."""

    batches: int = 0
    stored: int = 0
    duplicates: int = 0
    commit_failures: int = 0
    last_commit_monotonic: float = field(default_factory=time.monotonic)


class IntakeWriter:
    """Implements RecordSink: `submit` from any thread; one thread commits."""

    def __init__(self, store: IntakeStore, settings: IntakeSection,
                 on_windows: Callable[[list[int]], object] = lambda ids: None,
                 pulse: Pulse = UNWATCHED,
                 refuse_raw: Callable[[], bool] = lambda: False,
                 disk: DiskGuard | None = None, inflight_limit: int = 0):
        self.store = store
        # The most unacknowledged messages the broker hands over at once (MQTT: the receive
        # maximum the daemon announced, which the broker must honour): once a batch holds that
        # many, no more come until they are acknowledged, so its linger ends there. 0: none.
        self._inflight_limit = inflight_limit
        # The writer's own look at the disk: between two clean-ups the card can fill up, and
        # a full card fails every commit, telemetry's too (issue 12.5).
        self._disk = disk
        # True while retention finds the disk short: windows are then turned away (acked and
        # counted as "disk_full" rejections), telemetry is still stored. Called per window.
        self._refuse_raw = refuse_raw
        # Called with the ids of windows just committed (the next stage queues them); must not
        # block for long, and a failure is only logged: the sweep finds unqueued windows.
        self.on_windows = on_windows
        self.max_batch = settings.max_batch
        self.max_delay_s = settings.max_delay_ms / 1000
        # A window's result is awaited: it lingers only while windows keep the writer busy.
        self._window_linger = LingerUnderLoad(self.max_delay_s)
        # Never shorter than a window's: a batch of telemetry waits at least as long.
        self.telemetry_delay_s = max(settings.telemetry_delay_ms, settings.max_delay_ms) / 1000
        self._sample_bytes = settings.rejected_sample_bytes
        self.stats = IntakeStats()
        self._queue: queue.Queue = queue.Queue(maxsize=settings.queue_size)
        self._window_budget = _ByteBudget(settings.queue_bytes)
        self._rejections = RateLimitedLog(log)
        self._loop = Loop("intake-writer", self._turn, pulse=pulse, wake=self._wake,
                          last=self._commit_the_rest)

    def start(self) -> None:
        self._loop.start()

    def submit(self, record: Record, on_durable: OnDurable | None = None) -> None:
        """Queue a record; blocks when the queue is full, which pushes back on the broker."""
        if isinstance(record, Window):
            if self._refuse_raw() or self._short_of_disk():
                record = refused_window(record)
            else:
                self._window_budget.take(len(record.payload))
        self._queue.put((record, on_durable))

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Commit everything submitted so far, acknowledge it, and end the thread."""
        if self._loop.stop(timeout_s):
            return True
        log.error("intake writer did not finish in time; unacknowledged messages will be "
                  "redelivered by the broker", extra=kv(timeout_s=timeout_s))
        return False

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    def _wake(self) -> None:
        """At stop: an idle writer's wait ends at once (a full queue means it is busy)."""
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(_STOP)

    def _turn(self, wait_s: float = IDLE_BEAT_S) -> None:
        batch, _ = self._collect(wait_s)
        if batch:
            self._commit_until_done(batch)

    def _commit_the_rest(self) -> None:
        """After stop (the sources are stopped): commit what is still queued."""
        while not self._queue.empty():
            self._turn(wait_s=0)
        log.info("intake writer stopped", extra=kv(batches=self.stats.batches,
                                                   stored=self.stats.stored))

    def _collect(self, wait_s: float) -> tuple[list, bool]:
        """Wait up to wait_s for the first item, then gather until the batch is full or the
        linger ends; True once the stop marker came."""
        try:
            first = self._queue.get(timeout=wait_s)
        except queue.Empty:
            return [], False
        if first is _STOP:
            return [], True
        batch = [first]
        return batch, linger_for_more(self._queue, batch, self.max_batch, self.max_delay_s, _STOP,
                                      self._batch_linger())

    def _batch_linger(self) -> Callable[[tuple[Record, OnDurable | None]], float]:
        """Each record's linger (`_linger_of`) for one batch, cut to nothing once the batch
        holds as many unacknowledged messages as the broker may have in flight: lingering on
        would only wait for messages the broker holds back until these are acknowledged."""
        awaiting = 0

        def linger_of(item: tuple[Record, OnDurable | None]) -> float:
            nonlocal awaiting
            awaiting += item[1] is not None
            if self._inflight_limit and awaiting >= self._inflight_limit:
                return 0.0
            return self._linger_of(item)
        return linger_of

    def _linger_of(self, item: tuple[Record, OnDurable | None]) -> float:
        """How long a record may wait for company: windows are analysed and their results
        awaited (a short linger, none while the writer is idle); telemetry and rejections
        only wait for their PUBACK, and each commit costs the card a few pages whatever it
        holds (a long one)."""
        if isinstance(item[0], Window):
            return self._window_linger.now()
        return self.telemetry_delay_s

    def _short_of_disk(self) -> bool:
        return self._disk is not None and self._disk.short()

    def _admit(self, record: Record) -> Record:
        """A window still waiting when the disk ran short is turned away at commit time, so
        that a batch retried after 'disk full' does not hold the telemetry behind it."""
        if isinstance(record, Window) and self._short_of_disk():
            rejection = refused_window(record)
            self._rejections.warning(DISK_FULL, "message rejected", topic=record.topic,
                                     reason=DISK_FULL, detail=rejection.detail)
            return rejection
        return record

    def _commit_failed(self, records: int, error: Exception, delay: float) -> None:
        if self._disk is not None and out_of_space(error):
            self._disk.full("intake")
        self.stats.commit_failures += 1
        log.error("intake commit failed; messages stay unacknowledged, retrying",
                  extra=kv(records=records, error=repr(error), retry_in_s=delay))

    def _commit_until_done(self, batch: list) -> None:
        started = time.monotonic()
        # Taken by submit for the windows as they came (one may be set aside on the way).
        window_bytes = sum(len(r.payload) for r, _ in batch if isinstance(r, Window))
        committed = commit_until_done(
            batch, lambda part: self.store.write_batch([self._admit(record) for record, _ in part]),
            partial(self._commit_failed, len(batch)), self._set_aside)
        self._window_budget.give(window_bytes)
        self._window_linger.committed()
        batch = [item for part, _ in committed for item in part]
        duplicates = sum(outcome.duplicates for _, outcome in committed)
        self._after_commit(batch, duplicates, time.monotonic() - started)
        window_ids = [i for _, outcome in committed for i in outcome.window_ids]
        if window_ids:
            try:
                self.on_windows(window_ids)
            except Exception as e:
                log.error("queueing stored windows for analysis failed; the periodic sweep "
                          "will queue them", extra=kv(windows=len(window_ids), error=repr(e)))

    def _set_aside(self, item: tuple[Record, OnDurable | None], error: Exception
                   ) -> tuple[Rejection, OnDurable | None]:
        # Logged (rate-limited, with the store's answer) as a rejection once committed.
        record, on_durable = item
        return unstorable(record, error, self._sample_bytes), on_durable

    def _after_commit(self, batch: list, duplicates: int, seconds: float) -> None:
        stats = self.stats
        stats.batches += 1
        stats.stored += len(batch) - duplicates
        stats.duplicates += duplicates
        stats.last_commit_monotonic = time.monotonic()
        for record, on_durable in batch:
            if on_durable is not None:
                try:
                    on_durable()
                except Exception:
                    log.exception("acknowledging a stored message failed; the broker will "
                                  "redeliver it and it will be stored once")
            if isinstance(record, Rejection):
                self._rejections.warning(record.reason, "message rejected", topic=record.topic,
                                         reason=record.reason, detail=record.detail)
        if duplicates:
            log.info("redelivered messages already stored; acknowledged again",
                     extra=kv(duplicates=duplicates))
        log.debug("batch committed", extra=kv(records=len(batch), ms=seconds * 1000))
