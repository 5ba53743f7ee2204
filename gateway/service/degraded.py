"""Optional parts that are missing or broken: the daemon runs on without them and says so.

A missing TFLite runtime (32-bit Pi OS has no wheel) or a model that cannot load must not
become a crash loop under systemd: everything is still stored, vibration is still analysed,
audio windows wait unanalysed (never dead-lettered for this) and are caught up once the model
loads (each worker tries again every `MODEL_RETRY_S`, and after a restart). A microphone
enabled without PyAudio, or one that cannot open, is left out of the sources.

`Degraded` holds what is missing, for the STATUS line, the daemon's state (`gateway status`)
and the metrics. Thread-safe: workers report into it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from gateway.logs import kv

log = logging.getLogger("gateway.degraded")


class Degraded:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._missing: dict[str, str] = {}  # part ("audio_analysis", "mic") -> why

    def missing(self, part: str, why: str) -> None:
        with self._lock:
            known = self._missing.get(part) == why
            self._missing[part] = why
        if not known:
            log.error("running without a part; the rest goes on", extra=kv(part=part, why=why))

    def present(self, part: str) -> None:
        with self._lock:
            was = self._missing.pop(part, None)
        if was is not None:
            log.info("part available again", extra=kv(part=part))

    def snapshot(self) -> dict[str, str]:
        with self._lock:
            return dict(self._missing)

    def status_text(self) -> str:
        """For the STATUS line: "" when nothing is missing."""
        missing = self.snapshot()
        return "; ".join(f"{part.replace('_', ' ').upper()} UNAVAILABLE" for part in missing)


def watched_loader(load: Callable[[], Any], degraded: Degraded, part: str) -> Callable[[], Any]:
    """`load` that reports into degraded: a failure is recorded (and raised again), a
    success clears it."""
    def loader():
        try:
            value = load()
        except Exception as e:
            degraded.missing(part, str(e))
            raise
        degraded.present(part)
        return value
    return loader
