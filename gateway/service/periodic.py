"""A job run every N seconds on its own thread: for work too slow for the main loop's tick
(retention can take seconds on a big store), which must never die of one failure."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from gateway.logs import kv

log = logging.getLogger("gateway.periodic")


class PeriodicJob:
    def __init__(self, name: str, interval_s: float, job: Callable[[], object],
                 first_after_s: float = 5.0):
        self.name, self.interval_s, self.job = name, interval_s, job
        self.first_after_s = first_after_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> PeriodicJob:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        wait = self.first_after_s
        while not self._stop.wait(wait):
            try:
                self.job()
            except Exception as e:  # one failed run must not end the job
                log.error("periodic job failed; trying again at the next interval",
                          extra=kv(job=self.name, error=repr(e), retry_in_s=self.interval_s))
            wait = self.interval_s
