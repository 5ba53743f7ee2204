"""The result writer: the one thread that commits analysis results, many windows at a time.

Queue workers compute a window's outcome, hand it here and go on with the next
window. The writer takes whatever is waiting (lingering up to `LINGER_S` for
more while results keep it busy, none when it is idle; at most `MAX_BATCH`),
saves all of it in ONE synchronous=FULL transaction in arrival order (each save
judges the device memory the saves before it left, so per-device state evolves
in order), and only after the COMMIT reports each
result (publisher and uplink wake-ups, metrics). One fsync per batch instead of
one per window: on an SD card that is what kept the intake writer starved of
the store's write lock. While it lingers it holds no lock at all.

A result that fails by itself (a bug in judge for that window) is rolled back to
its own savepoint; the rest of its batch commits, and then the writer itself
applies the retry rules every failed attempt follows (attempts.py): the window
is queued again after a back-off through the `requeue` it was given, or, at its
last attempt, given up to the dead-letter list. Nothing goes back to the worker.
A failed COMMIT (I/O error, disk full, lock timeout) is retried with back-off,
never dropped.

Durability: results are derived data. A result handed here but not committed
when the process dies is lost; its window then has an `analysis` row saying
"trying" and no result, so the start-up sweep (`unanalysed`) queues it again
and it is analysed afresh (one more attempt counted: the window is given up only
once its attempts really exceed `max_attempts`). Nothing is published or
uploaded before its COMMIT (publisher and uplink read committed rows), so
nothing published or acknowledged upstream is ever lost. A graceful stop
commits everything handed here (the daemon stops the queue workers first).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import NamedTuple

from gateway.inference.attempts import RetryPolicy, failed_attempt
from gateway.inference.results import Judge, Outcome, ResultStore, StoredWindow
from gateway.inference.verdict import Verdict
from gateway.logs import kv
from gateway.service.loop import UNWATCHED, Loop, Pulse
from gateway.store.group_commit import (
    IDLE_BEAT_S,
    LingerUnderLoad,
    commit_until_done,
    linger_for_more,
)

log = logging.getLogger("gateway.inference")
MAX_BATCH = 200  # results per transaction
LINGER_S = 0.005  # how long a batch waits for more while busy; an idle writer does not wait
# Results waiting for the writer: two batches' worth, so a full batch can gather while the
# last one commits. When full, workers wait (their next windows stay in the queue).
QUEUE_SIZE = 2 * MAX_BATCH
STOP_TIMEOUT_S = 30.0
_WAKE = object()  # put by stop() so an idle writer notices at once


class PendingResult(NamedTuple):
    """One analysed window on its way to the store."""

    window: StoredWindow  # without its payload: saving needs no samples
    outcome: Outcome
    judge: Judge
    attempt: int  # which attempt at the window this is (a failed save is one more failure)
    seconds: float  # how long the analysis took, for the inference-time metric


@dataclass
class ResultWriterStats:
    """Live figures of the writer: `batches` counts committed transactions."""

    batches: int = 0
    committed: int = 0  # results in committed batches (a window that had one already included)
    analysed: int = 0  # windows given their result (committed, not had one already)
    failed: int = 0  # results whose save failed by itself and was rolled back
    commit_failures: int = 0


def _ignore(*args: object) -> None:
    pass


class ResultWriter:
    """`submit` from any worker thread; one thread commits, on its own store connection.

    After each COMMIT: `on_analysed(stream, seconds)` per saved result, `on_result(alerted)`
    per new result (publisher and uplink wake-ups); a failed save follows `retry`, its
    retry queued by `requeue(window_id, delay_s)`."""

    def __init__(self, store_path: Path, retry: RetryPolicy, *,
                 requeue: Callable[[int, float], None] = _ignore,
                 on_result: Callable[[bool], None] = _ignore,
                 on_analysed: Callable[[str, float], None] = _ignore,
                 pulse: Pulse = UNWATCHED, max_batch: int = MAX_BATCH,
                 linger_s: float = LINGER_S):
        self.store = ResultStore(store_path)  # opened here: a bad store stops the start
        self.retry, self._requeue = retry, requeue
        self._on_result, self._on_analysed = on_result, on_analysed
        self.max_batch, self.linger_s = max_batch, linger_s
        self._linger = LingerUnderLoad(linger_s)
        self.stats = ResultWriterStats()
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_SIZE)
        self._handed = self._reported = 0
        self._progress = threading.Condition()
        self._loop = Loop("result-writer", self._turn, pulse=pulse, wake=self._wake,
                          last=self._commit_the_rest, finally_=self._close)

    def start(self) -> None:
        self._loop.start()

    def submit(self, pending: PendingResult) -> None:
        """Queue a computed result; blocks while the queue is full, holding the workers back
        until the writer catches up."""
        pending = pending._replace(window=pending.window._replace(payload=None))
        while not self._loop.ended.is_set():
            try:
                self._queue.put(pending, timeout=IDLE_BEAT_S)
            except queue.Full:
                continue
            with self._progress:
                self._handed += 1
            return
        log.warning("result computed after the result writer stopped; the window is analysed "
                    "again after the next start", extra=kv(window_id=pending.window.id))

    def flush(self, timeout_s: float = STOP_TIMEOUT_S) -> bool:
        """Wait until everything submitted so far is committed and reported (for a caller
        that reads the results next: tests, tools); True if it was within timeout_s."""
        with self._progress:
            target = self._handed
            return self._progress.wait_for(lambda: self._reported >= target, timeout_s)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> bool:
        """Commit everything submitted so far, report it, end the thread; True if it did."""
        if not self._loop.started:  # never started: still commit what was submitted
            self._loop.stopping.set()
            self._loop.start()
        if self._loop.stop(timeout_s):
            return True
        log.error("result writer did not finish in time; its windows are analysed again "
                  "after the next start", extra=kv(timeout_s=timeout_s,
                                                    waiting=self._queue.qsize()))
        return False

    def _wake(self) -> None:
        # A full queue means the writer is busy: it sees the stop once the queue is empty.
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(_WAKE)

    def _turn(self) -> None:
        batch = self._collect()
        if batch:
            self._commit_until_done(batch)

    def _commit_the_rest(self) -> None:
        while not self._queue.empty():
            self._turn()

    def _close(self) -> None:
        self.store.close()
        log.info("result writer stopped", extra=kv(batches=self.stats.batches,
                                                   committed=self.stats.committed,
                                                   failed=self.stats.failed))

    def _collect(self) -> list[PendingResult]:
        """Wait for the first result, then gather what else arrives within the linger, up to
        max_batch; [] after an idle wait. No linger once a stop is asked for."""
        stopping = self._loop.stopping.is_set()
        try:  # once stopping, an empty queue means done (stop's wake-up may not have fit)
            first = self._queue.get(timeout=0 if stopping else IDLE_BEAT_S)
        except queue.Empty:
            return []
        if first is _WAKE:
            return []
        batch = [first]
        linger_for_more(self._queue, batch, self.max_batch, 0 if stopping else self._linger.now(),
                        _WAKE)
        return batch

    def _commit_failed(self, results: int, error: Exception, delay: float) -> None:
        self.stats.commit_failures += 1
        log.error("result commit failed; results kept, retrying",
                  extra=kv(results=results, error=repr(error), retry_in_s=delay))

    def _commit_until_done(self, batch: list[PendingResult]) -> None:
        entries = [(pending.window, pending.outcome, pending.judge) for pending in batch]
        started = time.monotonic()
        ((_, saved),) = commit_until_done(entries, self.store.save_batch,
                                          partial(self._commit_failed, len(batch)))
        self._linger.committed()
        self.stats.batches += 1
        log.debug("results committed", extra=kv(results=len(batch),
                                                ms=round((time.monotonic() - started) * 1000, 3)))
        for pending, verdict in zip(batch, saved, strict=True):
            if isinstance(verdict, Exception):
                self._save_failed(pending, verdict)
            else:
                self._report_saved(pending, verdict)
        with self._progress:
            self._reported += len(batch)
            self._progress.notify_all()

    def _report_saved(self, pending: PendingResult, verdict: Verdict | None) -> None:
        """Committed (verdict None: the window had a result already)."""
        self.stats.committed += 1
        try:
            self._on_analysed(pending.window.stream, pending.seconds)
            if verdict is not None:
                self.stats.analysed += 1
                self._on_result(verdict.alert is not None)
        except Exception as e:  # the result is stored; only a wake-up or a metric is lost
            log.error("reporting a committed result failed",
                      extra=kv(window_id=pending.window.id, error=repr(e)))

    def _save_failed(self, pending: PendingResult, error: Exception) -> None:
        """Rolled back alone: one more failed attempt, retried or dead-lettered here."""
        window_id = pending.window.id
        self.stats.failed += 1
        log.error("result not saved; the rest of its batch committed",
                  extra=kv(window_id=window_id, error=f"{type(error).__name__}: {error}"))
        retry_in = failed_attempt(self.store, self.retry, window_id, pending.attempt, error)
        if retry_in is None:
            return
        try:
            self._requeue(window_id, retry_in)
        except Exception as e:  # the window stays "trying": the periodic sweep queues it again
            log.error("cannot queue the retry of a result that was not saved",
                      extra=kv(window_id=window_id, error=repr(e)))
