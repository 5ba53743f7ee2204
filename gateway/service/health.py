"""Liveness of the daemon's loops, fed to the systemd watchdog.

Each loop (intake writer, queue workers, publisher, uplink, ...) registers a name with the
longest silence it may keep, and calls `beat(name)` every time round, also when idle: a loop
that waits on a queue wakes up every few seconds to beat. `WatchdogPinger` pings systemd
only while no loop is stale, so a stuck loop stops the pings and systemd restarts the
service after WatchdogSec=, which is better than a daemon that looks alive and does nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from gateway.logs import kv
from gateway.service.loop import Loop
from gateway.service.sdnotify import Notifier

log = logging.getLogger("gateway.health")
# Without a watchdog (no WatchdogSec=, or not under systemd), STATUS= is still refreshed.
DEFAULT_INTERVAL_S = 15.0


class Heartbeats:
    """Last beat of each registered loop. `beat` is a bare dict assignment (atomic under the
    GIL), because the loops call it on every round; registering takes a lock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._limits: dict[str, float] = {}
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def register(self, name: str, max_silence_s: float) -> None:
        """Start watching a loop; it counts as having just beaten."""
        if max_silence_s <= 0:
            raise ValueError(f"max_silence_s must be positive, got {max_silence_s!r}")
        with self._lock:
            self._last[name] = self._clock()
            self._limits = {**self._limits, name: max_silence_s}

    def unregister(self, name: str) -> None:
        """Stop watching a loop that ends on purpose (at shutdown)."""
        with self._lock:
            self._limits = {k: v for k, v in self._limits.items() if k != name}

    def beat(self, name: str) -> None:
        self._last[name] = self._clock()

    def dead(self, name: str) -> None:
        """A loop that crashed: stale from now on, without waiting out its silence."""
        self._last[name] = float("-inf")

    def watch(self, name: str, max_silence_s: float) -> LoopPulse:
        """Register a loop and hand back its pulse (loop.py's `Pulse`)."""
        self.register(name, max_silence_s)
        return LoopPulse(self, name)

    def silence(self) -> dict[str, float]:
        """Seconds since each registered loop last beat."""
        return self._silence(self._limits)

    def stale(self) -> list[str]:
        """Names of the loops silent for longer than they may be, sorted."""
        limits = self._limits  # replaced on (un)register, never mutated: a consistent view
        return sorted(name for name, quiet in self._silence(limits).items()
                      if quiet > limits[name])

    def _silence(self, limits: dict[str, float]) -> dict[str, float]:
        now = self._clock()
        return {name: now - self._last.get(name, now) for name in limits}


class LoopPulse:
    """One registered loop's beat and death notice."""

    def __init__(self, heartbeats: Heartbeats, name: str):
        self.heartbeats, self.name = heartbeats, name

    def beat(self) -> None:
        self.heartbeats.beat(self.name)

    def dead(self) -> None:
        self.heartbeats.dead(self.name)


class WatchdogPinger:
    """A thread that pings the systemd watchdog while every loop is fresh, and keeps
    STATUS= (the line `systemctl status` shows) up to date from `status()`.

    `status()` runs in this thread after the ping, so it must be quick (in-memory figures,
    not a count over a big table): a slow one delays the next ping towards WatchdogSec=."""

    def __init__(self, notifier: Notifier, heartbeats: Heartbeats,
                 status: Callable[[], str] | None = None, interval_s: float | None = None):
        self.notifier, self.heartbeats, self.status = notifier, heartbeats, status
        self.interval_s = interval_s or notifier.watchdog_interval_s or DEFAULT_INTERVAL_S
        self._reported: list[str] = []
        self._status_failed = False
        # Not watched itself: it is the watcher, and systemd watches it.
        self._loop = Loop("watchdog-pinger", self._turn)

    def start(self) -> None:
        self._loop.start()

    def stop(self, timeout_s: float = 5.0) -> bool:
        return self._loop.stop(timeout_s)

    def _turn(self) -> None:
        try:
            self.run_once()
        except Exception as e:  # the pinger must outlive any surprise
            log.error("watchdog round failed", extra=kv(error=repr(e)))
        self._loop.stopping.wait(self.interval_s)

    def run_once(self) -> bool:
        """One round: ping if all loops are fresh, refresh the status; True if pinged."""
        stale = self.heartbeats.stale()
        self._report_change(stale)
        pinged = not stale and self.notifier.watchdog_interval_s is not None
        if pinged:
            self.notifier.watchdog()
        if stale:
            self.notifier.status("stuck: " + ", ".join(stale) + "; waiting for the watchdog")
        else:
            self._send_status()
        return pinged

    def _report_change(self, stale: list[str]) -> None:
        """Log when loops go stale (error, once) and when all are alive again."""
        new = [name for name in stale if name not in self._reported]
        if new:
            silence = self.heartbeats.silence()
            log.error("loop stopped beating; no more watchdog pings, systemd will restart us",
                      extra=kv(loops=",".join(new),
                               silent_s=",".join(f"{silence.get(n, 0):.0f}" for n in new)))
        elif self._reported and not stale:
            log.warning("all loops beating again", extra=kv(were_stale=",".join(self._reported)))
        self._reported = stale

    def _send_status(self) -> None:
        if self.status is None:
            return
        try:
            text = self.status()
        except Exception as e:
            if not self._status_failed:
                log.warning("status summary failed; keeping the last one (logged once)",
                            extra=kv(error=repr(e)))
            self._status_failed = True
            return
        self._status_failed = False
        self.notifier.status(text)
