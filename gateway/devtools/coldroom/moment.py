"""A window's moment, shared by its sound and its vibration: the sample times, the operating
state at that time (running or not, load, wear), the mains frequency, the shaft speed over the
window (steady, or a start or a stop inside it) and the shaft angle, so that faults put their
signatures at the speed the machine really turns at."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gateway.devtools.coldroom import motor as motors
from gateway.devtools.coldroom.operation import State, state_at, transition_in
from gateway.devtools.coldroom.pieces import cached


@dataclass
class Moment:
    t_s: float
    rate: float
    n: int
    t: np.ndarray  # seconds into the window
    freqs: np.ndarray  # rfft bins
    state: State
    running: bool  # running at some point in the window
    mains_hz: float
    shaft_hz: float  # steady speed at this load
    speed: np.ndarray  # Hz, per sample
    revs: np.ndarray  # shaft angle in turns, per sample
    start_at: float | None  # seconds into the window
    stop_at: float | None
    poles: int

    @property
    def slip(self) -> float:
        return 1.0 - self.shaft_hz / (2.0 * self.mains_hz / self.poles)

    def times_at_revs(self, targets: np.ndarray) -> np.ndarray:
        """Sample times at which the shaft reaches the given angles (turns)."""
        return np.interp(targets, self.revs, self.t, left=-1.0, right=-1.0)

    def rev_span(self) -> tuple[int, int]:
        return int(np.floor(self.revs[0])) - 1, int(np.ceil(self.revs[-1])) + 1


def moment_for(unit, t_s: float, rate: float, seconds: float,
               running: bool | None) -> Moment:
    """`running` forces the compressor on or off for the whole window (None: its duty cycle,
    with a start or a stop inside the window when one falls there)."""
    n = int(round(rate * seconds))
    t = np.arange(n) / rate
    state = state_at(unit.duty, t_s)
    start_at = stop_at = None
    if running is None:
        edge = transition_in(unit.duty, t_s, seconds)
        if edge is not None:
            start_at, stop_at = (edge, None) if not state.running else (None, edge)
        running = state.running or start_at is not None
    mains = motors.mains_at(unit.motor, t_s)
    shaft = unit.motor.shaft_hz(state.load, mains)
    speed = motors.speed_profile(unit.motor, shaft, t, start_at, stop_at) if running else \
        np.zeros(n)
    revs = np.cumsum(speed) / rate + (shaft * t_s) % 1.0
    return Moment(t_s, rate, n, t, np.fft.rfftfreq(n, 1.0 / rate), state, bool(running),
                  mains, shaft, speed, revs, start_at, stop_at, unit.motor.poles)


def response(unit, m: Moment, name: str, build) -> np.ndarray:
    """A frequency response of this unit over this window's bins, computed once."""
    return cached((unit.device_id, unit.seed, name, m.n, m.rate), build)
