"""A window's time axis and the rotating phases everything periodic is read along.

Phases are anchored to absolute time (f * t_s plus a fixed offset per unit), so consecutive
windows join up and the microphone and the accelerometer see the same shaft.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .keys import time_key, unit_interval
from .operating import OperatingPoint, operating_point
from .unit import Unit


@dataclass(frozen=True)
class Frame:
    unit: Unit
    t_s: float
    rate: int
    n: int
    key: int  # the window's start in milliseconds, for noise seeds
    op: OperatingPoint
    t: np.ndarray  # seconds from the window start

    def phase(self, hz: float, name: str) -> np.ndarray:
        """Rotation phase in cycles of something turning at `hz` (named for its fixed offset)."""
        offset = unit_interval("phase", self.unit.device_id, self.unit.seed, name)
        start = (hz * self.t_s + offset) % 1.0
        return start + hz * self.t

    def shaft_phase(self) -> np.ndarray:
        return self.phase(self.op.shaft_hz, "shaft")

    def mains_phase(self) -> np.ndarray:
        return self.phase(self.unit.mains_hz, "mains")


def make_frame(unit: Unit, t_s: float, rate: int, seconds: float,
               running: bool | None) -> Frame:
    if not seconds > 0:
        raise ValueError(f"seconds must be positive, got {seconds!r}")
    n = max(1, int(round(float(seconds) * rate)))
    op = operating_point(unit, float(t_s), running)
    return Frame(unit, float(t_s), int(rate), n, time_key(t_s), op, np.arange(n) / float(rate))
