"""Rolling-element bearing kinematics: defect frequencies from the bearing's geometry.

With n balls of diameter d on pitch diameter D at contact angle phi, per revolution of
the inner ring (outer ring fixed):
  cage (FTF)  = 1/2 (1 - d/D cos phi)
  outer race  = n/2 (1 - d/D cos phi)      a defect on the fixed race: steady impacts
  inner race  = n/2 (1 + d/D cos phi)      the defect turns through the load zone: 1x AM
  ball spin   = D/(2d) (1 - (d/D cos phi)^2); a ball defect strikes both races, so twice
                per spin, and rides with the cage through the load zone: FTF AM.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .units import Bearing


@dataclass(frozen=True)
class DefectOrders:
    """Defect frequencies as orders of the shaft speed (multiply by rev/s for Hz)."""

    cage: float
    outer: float
    inner: float
    spin: float


def defect_orders(b: Bearing) -> DefectOrders:
    ratio = b.ball_mm / b.pitch_mm * math.cos(math.radians(b.contact_deg))
    return DefectOrders(cage=0.5 * (1 - ratio), outer=b.balls / 2 * (1 - ratio),
                        inner=b.balls / 2 * (1 + ratio),
                        spin=b.pitch_mm / (2 * b.ball_mm) * (1 - ratio * ratio))


def defect_hz(b: Bearing, shaft_hz: float) -> dict[str, float]:
    o = defect_orders(b)
    return {"cage": o.cage * shaft_hz, "outer": o.outer * shaft_hz,
            "inner": o.inner * shaft_hz, "ball": 2 * o.spin * shaft_hz}
