"""The shared state of one window: its time grid, the unit's operating point, and the seeds.

Audio and vibration windows at the same (unit, t_s) see the same operating point (running,
shaft speed, load envelope, fans), so a fault's vibration and sound agree on their rhythm.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from . import dsp
from . import schedule as sch
from .keys import stream, time_key
from .unit import Unit


@dataclass
class Frame:
    """One window's grid and operating point, shared by every part synthesised in it."""

    unit: Unit
    t_s: float
    n: int
    rate: int
    t: np.ndarray  # sample times from the window start, s
    f: np.ndarray  # rfft bin frequencies, Hz
    running: bool
    defrost: bool
    load: np.ndarray  # scroll loading per sample, 0..1 (digital scroll PWM)
    head: float  # relative pressure ratio
    shaft_hz: float  # mean shaft rate while running
    shaft: np.ndarray  # shaft phase in cycles per sample (includes slip changes with load)
    cond_fan_hz: float  # 0 when stopped
    evap_fan_hz: float  # 0 when stopped
    domain: str  # "audio" | "vib": keeps the two windows' random streams apart

    def low(self) -> Frame:
        """The same window sampled at ~4 kHz, for parts with only low-frequency content; its
        shaft and load are decimated from this frame's, so they stay in step."""
        q = dsp.low_factor(self.n, self.rate)
        if q == 1 or self.rate % q:
            return self
        t, f = dsp.grid(self.n // q, self.rate // q)
        return replace(self, n=self.n // q, rate=self.rate // q, t=t, f=f, load=self.load[::q],
                       shaft=self.shaft[::q])

    def shape(self, fn: Callable[..., np.ndarray], *args: float) -> np.ndarray:
        """A filter shape fn(f, *args) on this window's grid, cached across windows."""
        return dsp.cached(fn, self.n, self.rate, *args)

    def rng(self, part: str) -> np.random.Generator:
        """The random stream of one part of this window."""
        return stream(self.domain, part, self.unit.device_id, self.unit.seed,
                      time_key(self.t_s))


def make_frame(unit: Unit, t_s: float, running: bool | None, seconds: float, rate: int,
               domain: str) -> Frame:
    """Work out the unit's state for the window [t_s, t_s + seconds)."""
    if not seconds > 0:
        raise ValueError(f"seconds must be positive, got {seconds!r}")
    n = max(int(round(seconds * rate)), 1)
    t, f = dsp.grid(n, rate)
    run = sch.running_at(unit, t_s) if running is None else bool(running)
    load = sch.load_envelope(unit, t_s, t_s + t) if run else np.zeros(n)
    head = sch.head(unit, t_s)
    mean = sch.shaft_hz(unit, t_s)
    if unit.model.drive == "inverter":
        inst = np.full(n, mean)
    else:
        # An unloaded scroll barely loads the motor, so slip (and the speed dip) follows load.
        inst = unit.mains_hz * (1.0 - unit.slip * min(head, 1.4) * (0.3 + 0.7 * load))
    shaft = (mean * t_s) % 1.0 + np.cumsum(inst) / rate
    return Frame(unit, t_s, n, rate, t, f, run, sch.in_defrost(unit, t_s), load, head,
                 mean, shaft, sch.cond_fan_hz(unit, t_s) if run else 0.0,
                 sch.evap_fan_hz(unit, t_s, run), domain)
