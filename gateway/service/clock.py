"""Is the gateway's own clock plausible? A Pi has no real-time clock: after a long power-off
it boots at its last saved time until NTP syncs, and every time stamp it makes meanwhile is
wrong. The gateway never drops data over time stamps (docs/mqtt.md); it says when its clock
looks wrong, in `gateway status`, `doctor`, the metrics and the STATUS line.

Three signs: the clock is before this software was built; it is before the last receipt
time already stored (time went backwards across a restart); it jumped while running (the
wall clock moved differently from the monotonic one).
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable

from gateway.store.daemon_state import ClockJumps

# The gateway cannot have been built before this: a clock showing an earlier date is wrong.
BUILD_DATE = datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC)
BUILD_MS = int(BUILD_DATE.timestamp() * 1000)
BEHIND_TOLERANCE_MS = 60_000  # the writer's clock read and a commit may differ this much
JUMP_S = 10.0  # a wall-clock step beyond this (against the monotonic clock) is a jump


def clock_problem(now_ms: int, last_receipt: int | None) -> str:
    """"" when the clock looks right, else one sentence saying why not."""
    if now_ms < BUILD_MS:
        return (f"the clock says {_utc(now_ms)}, before this software was built "
                f"({BUILD_DATE:%Y-%m-%d})")
    if last_receipt is not None and now_ms < last_receipt - BEHIND_TOLERANCE_MS:
        return (f"the clock says {_utc(now_ms)}, before the last message stored "
                f"({_utc(last_receipt)}): it went backwards")
    return ""


def _utc(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).strftime("%Y-%m-%d %H:%M")


class JumpWatch:
    """Notices the wall clock stepping (NTP setting a wrong clock right, or a person): fed
    once per main-loop tick, remembers the last jump."""

    def __init__(self, wall: Callable[[], float] = time.time,
                 mono: Callable[[], float] = time.monotonic) -> None:
        self._wall, self._mono = wall, mono
        self._offset = wall() - mono()
        self.jumps = 0
        self.last_jump_s = 0.0  # signed: positive when the clock moved forward
        self.last_jump_ms: int | None = None

    def check(self) -> float:
        """The step since the last call (0.0 if within JUMP_S)."""
        offset = self._wall() - self._mono()
        step = offset - self._offset
        self._offset = offset
        if abs(step) <= JUMP_S:
            return 0.0
        self.jumps += 1
        self.last_jump_s = step
        self.last_jump_ms = int(self._wall() * 1000)
        return step

    def as_dict(self) -> ClockJumps:
        return {"jumps": self.jumps, "last_jump_s": round(self.last_jump_s, 3),
                "last_jump_ms": self.last_jump_ms}
