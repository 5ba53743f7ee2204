"""The six vibration faults at the discharge-end bearing housing (m/s2 added per axis).

Bearing defects are impacts at their defect frequency (from the bearing's geometry and the
male rotor's speed) exciting the housing's resonance: the outer race's at BPFO with a steady
strength (it sits in the load zone), the inner race's at BPFI modulated once per revolution
as the defect passes through the load zone, a rolling element's at twice BSF (it strikes
both races) modulated at the cage (FTF). Imbalance raises 1x radially; misalignment raises
2x and 1x, axially most; looseness brings a comb of 1x harmonics, half orders and a truncated,
knocking response. Severity 1 takes a unit to ISO zone C/D (about 7-11 mm/s); 0.1 is barely
above the healthy spread. Their randomness is their own: severity 0 adds nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gateway.devtools.screwhall.operation import Moment
from gateway.devtools.screwhall.pieces import (
    impulses,
    periodic_times,
    ring,
    ringing_response,
    tones,
)
from gateway.devtools.screwhall.units import Unit
from gateway.devtools.screwhall.vibration import AXIS_GAIN, velocity_to_accel

VIBRATION_FAULTS = ("bearing_outer", "bearing_inner", "bearing_ball", "imbalance",
                    "misalignment", "looseness")
IMPACT_RMS = 6.0  # m/s2 RMS of a bearing defect's ringing at severity 1
TONE_MM_S = 7.0  # mm/s of the raised lines at severity 1


class VibCtx:
    def __init__(self, unit: Unit, m: Moment, t_s: float, n: int, rng: np.random.Generator):
        self.unit, self.m, self.t_s, self.n, self.rng = unit, m, t_s, n, rng
        self.rate = unit.vib_rate
        self.t = np.arange(n) / self.rate
        self.f = m.speed_hz
        self.seconds = n / self.rate

    def resonance_modes(self) -> list[tuple[float, float]]:
        top = 0.4 * self.rate
        modes = [(f0, q) for f0, q in self.unit.frame_modes if f0 < top]
        return modes + [(min(top * 0.8, 2600.0), 12.0)]


def _impacts(c: VibCtx, rate_hz: float, amps: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    times = periodic_times(rate_hz, c.seconds, c.rng.random(), 0.005, c.rng)
    train = impulses(times, amps(times) * c.rng.uniform(0.7, 1.0, times.size), c.n, c.rate)
    freqs = np.fft.rfftfreq(c.n, 1 / c.rate)
    x = ring(train, ringing_response(freqs, c.resonance_modes()))
    x /= max(float(np.sqrt(np.mean(x ** 2))), 1e-12)
    return IMPACT_RMS * AXIS_GAIN[:, None] * x[None, :]


def bearing_outer(c: VibCtx) -> np.ndarray:
    return _impacts(c, c.unit.bearing.bpfo * c.f, lambda t: np.ones(t.size))


def bearing_inner(c: VibCtx) -> np.ndarray:
    zone = c.rng.random()
    return _impacts(c, c.unit.bearing.bpfi * c.f,
                    lambda t: (0.5 + 0.5 * np.cos(2 * np.pi * (c.f * t + zone))) ** 1.5 + 0.1)


def bearing_ball(c: VibCtx) -> np.ndarray:
    cage = c.unit.bearing.ftf * c.f
    zone = c.rng.random()
    return _impacts(c, 2 * c.unit.bearing.bsf * c.f,
                    lambda t: (0.5 + 0.5 * np.cos(2 * np.pi * (cage * t + zone))) + 0.15)


def _lines(c: VibCtx, orders: np.ndarray, per_axis_mm_s: np.ndarray) -> np.ndarray:
    """Lines at orders of the male rotor speed, per axis velocity (mm/s peak) to m/s2."""
    freqs = orders * c.f
    out = np.empty((3, c.n))
    for axis in range(3):
        accel = velocity_to_accel(per_axis_mm_s[axis], freqs)
        phases = c.rng.uniform(0, 2 * np.pi, orders.size) + 2 * np.pi * np.mod(freqs * c.t_s, 1)
        if axis == 1:
            phases[0] = phases[0] + np.pi / 2
        out[axis] = tones(freqs, accel, phases, c.t, c.rate)
    return out


def imbalance(c: VibCtx) -> np.ndarray:
    return _lines(c, np.array([1.0]), TONE_MM_S * np.array([[1.0], [0.9], [0.15]]))


def misalignment(c: VibCtx) -> np.ndarray:
    return _lines(c, np.array([1.0, 2.0, 3.0]),
                  TONE_MM_S * np.array([[0.4, 0.7, 0.2], [0.35, 0.6, 0.15], [0.7, 1.0, 0.3]]))


def looseness(c: VibCtx) -> np.ndarray:
    orders = np.concatenate([np.arange(1, 11), np.arange(0.5, 6.0, 1.0)])
    weights = np.where(orders % 1 == 0, 0.8 / orders ** 0.5, 0.35)
    lines = _lines(c, orders, TONE_MM_S * 0.6 * AXIS_GAIN[:, None] * weights[None, :])
    knocks = _impacts(c, c.f, lambda t: np.ones(t.size)) * 0.3
    return lines + knocks


VIB_FAULTS: dict[str, Callable[[VibCtx], np.ndarray]] = {
    "bearing_outer": bearing_outer, "bearing_inner": bearing_inner,
    "bearing_ball": bearing_ball, "imbalance": imbalance, "misalignment": misalignment,
    "looseness": looseness,
}


def fault_vibration(fault: str, c: VibCtx, severity: float) -> np.ndarray:
    if fault not in VIB_FAULTS:
        raise ValueError(f"unknown vibration fault {fault!r}; expected one of "
                         f"{VIBRATION_FAULTS}")
    if not c.m.running:
        return np.zeros((3, c.n))
    return VIB_FAULTS[fault](c) * severity ** 1.3
