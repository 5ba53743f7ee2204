"""Rolling-element bearing kinematics of the unit's main (motor-end) bearing.

The defect frequencies follow from the geometry alone: with n balls of diameter d on a pitch
diameter D at contact angle theta, and r = d/D cos(theta),

* FTF  (cage)        = f/2 (1 - r)
* BPFO (outer race)  = n f/2 (1 - r)
* BPFI (inner race)  = n f/2 (1 + r)
* BSF  (ball spin)   = D/(2d) f (1 - r^2)

A spalled ball strikes both races once per spin, so its impacts come at 2 x BSF.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from .units import Unit


class Defects(NamedTuple):
    """Defect frequencies in Hz (or orders of shaft speed when shaft_hz = 1)."""

    ftf: float
    bsf: float
    bpfo: float
    bpfi: float


def frequencies(unit: Unit, shaft_hz: float = 1.0) -> Defects:
    """The bearing's defect frequencies at a shaft speed (orders when shaft_hz is 1)."""
    balls, ball_d, pitch_d, contact_deg = unit.machine.bearing
    ratio = ball_d / pitch_d * math.cos(math.radians(contact_deg))
    f = float(shaft_hz)
    return Defects(
        ftf=f / 2 * (1 - ratio),
        bsf=pitch_d / (2 * ball_d) * f * (1 - ratio * ratio),
        bpfo=balls * f / 2 * (1 - ratio),
        bpfi=balls * f / 2 * (1 + ratio),
    )
