"""One lifecycle for every long-running thread of the daemon (huey's `_create_process`).

A stage writes only one turn of its work; `Loop` runs it on its own thread until the stop
Event is set, beats the stage's heartbeat before every turn, and then runs the stage's
`last` turn once (a writer commits what is still queued, the publisher sends what is
ready). A turn waits at most a few seconds (on `loop.stopping`, a queue, a Condition), so
an idle loop still beats. A stage handles the failures it expects inside its turn; an
exception escaping a turn is a bug: it is logged on one line with its trace, the loop's
heartbeat is marked dead at once, so the watchdog pings stop and systemd restarts the
daemon (a loop that died silently would leave a daemon that looks alive and does nothing).

One convention for every stage: `start()` returns None; `stop(timeout_s)` sets the Event,
calls the stage's `wake()` (so a turn blocked on its own queue or Condition returns now),
joins, and returns whether the thread ended in time. Stopping a loop that never started
does nothing.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from typing import Protocol

from gateway.logs import kv

log = logging.getLogger("gateway.loop")


class Pulse(Protocol):
    """A loop's line to the watchdog (`Heartbeats.watch` in health.py gives one)."""

    def beat(self) -> None: ...

    def dead(self) -> None: ...


class _Unwatched:
    """The pulse of a loop nobody watches (tests, tools)."""

    def beat(self) -> None:
        pass

    def dead(self) -> None:
        pass


UNWATCHED: Pulse = _Unwatched()


def _nothing() -> None:
    pass


class Loop:
    """`turn()` over and over on a thread named `name`; see the module docstring."""

    def __init__(self, name: str, turn: Callable[[], None], *, pulse: Pulse = UNWATCHED,
                 wake: Callable[[], None] = _nothing, last: Callable[[], None] = _nothing,
                 finally_: Callable[[], None] = _nothing):
        self.name = name
        self.pulse = pulse
        self.stopping = threading.Event()  # the one stop flag; a turn may wait on it
        self.ended = threading.Event()  # the thread is over (stopped, or crashed)
        self.crashed = False
        self._turn, self._wake, self._last, self._finally = turn, wake, last, finally_
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def started(self) -> bool:
        return self._thread.ident is not None

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float) -> bool:
        """Ask the loop to end, wake it, wait up to timeout_s; True if it ended in time."""
        self.stopping.set()
        if not self.started:
            return True
        self._wake()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.error("loop did not stop in time", extra=kv(loop=self.name, timeout_s=timeout_s))
            return False
        return True

    def _run(self) -> None:
        try:
            while not self.stopping.is_set():
                self.pulse.beat()
                self._turn()
            self._last()
        except Exception as e:  # a bug: said once, and the watchdog told at once
            self.crashed = True
            self.pulse.dead()
            log.error("loop crashed; no more watchdog pings, systemd will restart us",
                      extra=kv(loop=self.name, error=repr(e), trace=traceback.format_exc()))
        finally:
            try:
                self._finally()
            finally:
                self.ended.set()
