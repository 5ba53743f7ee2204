"""A job run every N seconds on its own thread: for work too slow for the main loop's tick
(retention can take seconds on a big store), which must never die of one failure."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from gateway.logs import kv
from gateway.service.loop import UNWATCHED, Loop, Pulse

log = logging.getLogger("gateway.periodic")
BEAT_EVERY_S = 2.0  # while waiting for the next run, the job still shows it is alive


class PeriodicJob:
    def __init__(self, name: str, interval_s: float, job: Callable[[], object],
                 first_after_s: float = 5.0, pulse: Pulse = UNWATCHED):
        self.name, self.interval_s, self.job = name, interval_s, job
        self.first_after_s = first_after_s
        self._due = 0.0
        self._loop = Loop(name, self._turn, pulse=pulse)

    def start(self) -> None:
        self._due = time.monotonic() + self.first_after_s
        self._loop.start()

    def stop(self, timeout_s: float = 30.0) -> bool:
        return self._loop.stop(timeout_s)

    def _turn(self) -> None:
        remaining = self._due - time.monotonic()
        if remaining > 0:
            self._loop.stopping.wait(min(remaining, BEAT_EVERY_S))
            return
        try:
            self.job()
        except Exception as e:  # one failed run must not end the job
            log.error("periodic job failed; trying again at the next interval",
                      extra=kv(job=self.name, error=repr(e), retry_in_s=self.interval_s))
        self._due = time.monotonic() + self.interval_s
