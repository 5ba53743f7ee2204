"""Rolling-bearing kinematics: the defect frequencies of the compressor's main bearing.

For a bearing with n balls, ball-to-pitch diameter ratio r and contact angle a on a shaft at f:
outer race BPFO = n/2 f (1 - r cos a), inner race BPFI = n/2 f (1 + r cos a), ball spin
BSF = f / (2 r) (1 - (r cos a)^2), cage FTF = f/2 (1 - r cos a).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .unit import Unit


@dataclass(frozen=True, slots=True)
class DefectRates:
    bpfo: float
    bpfi: float
    bsf: float
    ftf: float


def defect_rates(unit: Unit, shaft_hz: float) -> DefectRates:
    rc = unit.ball_ratio * math.cos(math.radians(unit.contact_deg))
    return DefectRates(
        bpfo=unit.balls / 2.0 * shaft_hz * (1.0 - rc),
        bpfi=unit.balls / 2.0 * shaft_hz * (1.0 + rc),
        bsf=shaft_hz / (2.0 * unit.ball_ratio) * (1.0 - rc * rc),
        ftf=shaft_hz / 2.0 * (1.0 - rc),
    )
